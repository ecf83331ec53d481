//! A profile's plugins, instantiated and run extension point by extension
//! point (upstream `frameworkImpl`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::events::ClusterEventWithHint;
use super::parallelize::Parallelizer;
pub use super::resolve::{ResolvedProfile, resolve_profile};
use super::{
    ClusterApi, Code, CycleState, MAX_NODE_SCORE, MIN_NODE_SCORE, NodeInfo, Plugin, PodInfo,
    PostFilterContext, PostFilterResult, Status,
};
use crate::cache::Snapshot;
use crate::metrics;
use crate::plugins::{Handle, descriptor};

/// What PreFilter decided about the candidate nodes.
#[derive(Debug, Clone, Default)]
pub struct PreFilterRun {
    /// The only nodes worth filtering (`None`: all).
    pub node_names: Option<Vec<String>>,
    /// The plugins that restricted them.
    pub restricting: Vec<&'static str>,
}

/// The instantiated plugins of one profile.
pub struct Framework {
    /// `schedulerName`.
    pub profile_name: String,
    /// The profile's `percentageOfNodesToScore`.
    pub percentage_of_nodes_to_score: Option<i32>,
    plugins: Vec<Arc<dyn Plugin>>,
    pre_enqueue: Vec<usize>,
    pre_filter: Vec<usize>,
    filter: Vec<usize>,
    post_filter: Vec<usize>,
    pre_score: Vec<usize>,
    score: Vec<(usize, i64)>,
    reserve: Vec<usize>,
    permit: Vec<usize>,
    pre_bind: Vec<usize>,
    bind: Vec<usize>,
    post_bind: Vec<usize>,
    api: Arc<dyn ClusterApi>,
}

impl std::fmt::Debug for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Framework")
            .field("profile", &self.profile_name)
            .field(
                "plugins",
                &self.plugins.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn timed<T>(point: &'static str, profile: &str, f: impl FnOnce() -> (T, Status)) -> (T, Status) {
    let start = Instant::now();
    let (value, status) = f();
    metrics::observe_extension_point(point, status.code(), profile, start.elapsed());
    (value, status)
}

impl Framework {
    /// Instantiates the plugins of `resolved`.
    pub fn new(resolved: &ResolvedProfile, handle: &Handle) -> Result<Self, String> {
        let mut plugins: Vec<Arc<dyn Plugin>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut slots =
            |names: &[String], plugins: &mut Vec<Arc<dyn Plugin>>| -> Result<Vec<usize>, String> {
                let mut out = Vec::new();
                for name in names {
                    let at = match index.get(name) {
                        Some(at) => *at,
                        None => {
                            let d = descriptor(name)
                                .ok_or_else(|| format!("plugin {name:?} does not exist"))?;
                            let plugin = (d.build)(resolved.args.get(name), handle)
                                .map_err(|e| format!("initializing plugin {name:?}: {e}"))?;
                            plugins.push(plugin);
                            index.insert(name.clone(), plugins.len() - 1);
                            plugins.len() - 1
                        }
                    };
                    out.push(at);
                }
                Ok(out)
            };
        let mut take = |point: &str| slots(resolved.plugins_at(point), &mut plugins);
        let pre_enqueue = take("preEnqueue")?;
        let _queue_sort = take("queueSort")?;
        let pre_filter = take("preFilter")?;
        let filter = take("filter")?;
        let post_filter = take("postFilter")?;
        let pre_score = take("preScore")?;
        let score_slots = take("score")?;
        let reserve = take("reserve")?;
        let permit = take("permit")?;
        let pre_bind = take("preBind")?;
        let bind = take("bind")?;
        let post_bind = take("postBind")?;
        let score = score_slots
            .into_iter()
            .map(|i| {
                let name = plugins[i].name();
                (i, resolved.weights.get(name).copied().unwrap_or(1))
            })
            .collect();
        Ok(Framework {
            profile_name: resolved.scheduler_name.clone(),
            percentage_of_nodes_to_score: resolved.percentage_of_nodes_to_score,
            plugins,
            pre_enqueue,
            pre_filter,
            filter,
            post_filter,
            pre_score,
            score,
            reserve,
            permit,
            pre_bind,
            bind,
            post_bind,
            api: handle.api.clone(),
        })
    }

    /// The API the profile writes through.
    pub fn api(&self) -> &Arc<dyn ClusterApi> {
        &self.api
    }

    /// A fresh cycle state sized for this profile.
    pub fn new_cycle_state(&self) -> CycleState {
        CycleState::new(self.plugins.len())
    }

    /// Names of the plugins at each point (for logs and tests).
    pub fn plugin_names(&self, point: &str) -> Vec<&'static str> {
        let slots: Vec<usize> = match point {
            "preEnqueue" => self.pre_enqueue.clone(),
            "preFilter" => self.pre_filter.clone(),
            "filter" => self.filter.clone(),
            "postFilter" => self.post_filter.clone(),
            "preScore" => self.pre_score.clone(),
            "score" => self.score.iter().map(|(i, _)| *i).collect(),
            "reserve" => self.reserve.clone(),
            "permit" => self.permit.clone(),
            "preBind" => self.pre_bind.clone(),
            "bind" => self.bind.clone(),
            "postBind" => self.post_bind.clone(),
            _ => Vec::new(),
        };
        slots.into_iter().map(|i| self.plugins[i].name()).collect()
    }

    /// Score weights by plugin name.
    pub fn score_weights(&self) -> Vec<(&'static str, i64)> {
        self.score
            .iter()
            .map(|(i, w)| (self.plugins[*i].name(), *w))
            .collect()
    }

    /// Every (plugin name, registered event) of the profile's plugins that
    /// can reject pods.
    pub fn events_to_register(&self) -> Vec<(&'static str, ClusterEventWithHint)> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for &i in self
            .pre_enqueue
            .iter()
            .chain(&self.pre_filter)
            .chain(&self.filter)
            .chain(&self.reserve)
            .chain(&self.permit)
        {
            if seen.contains(&i) {
                continue;
            }
            seen.push(i);
            let plugin = &self.plugins[i];
            out.extend(
                plugin
                    .events_to_register()
                    .into_iter()
                    .map(|e| (plugin.name(), e)),
            );
        }
        out
    }

    /// Whether there are Filter plugins.
    pub fn has_filter_plugins(&self) -> bool {
        !self.filter.is_empty()
    }

    /// Whether there are Score plugins.
    pub fn has_score_plugins(&self) -> bool {
        !self.score.is_empty()
    }

    /// Whether there are PostFilter plugins.
    pub fn has_post_filter_plugins(&self) -> bool {
        !self.post_filter.is_empty()
    }

    /// PreEnqueue: the first plugin that does not admit the pod.
    pub fn run_pre_enqueue(&self, pod: &PodInfo) -> Status {
        for &i in &self.pre_enqueue {
            let status = self.plugins[i].pre_enqueue(pod);
            if !status.is_success() {
                return status.with_plugin(self.plugins[i].name());
            }
        }
        Status::success()
    }

    /// PreFilter: stores each plugin's state; returns the candidate node
    /// names (intersection of plugin results), the plugins that restricted
    /// them, and the first rejection.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterRun, Status) {
        timed("PreFilter", &self.profile_name, || {
            let mut result: Option<Vec<String>> = None;
            let mut restricting: Vec<&'static str> = Vec::new();
            for &i in &self.pre_filter {
                let plugin = &self.plugins[i];
                let output = plugin.pre_filter(pod, snapshot);
                state.set_pre_filter(i, output.state);
                match output.status.code() {
                    Code::Success => {}
                    Code::Skip => {
                        state.skip_filter(i);
                        continue;
                    }
                    Code::Error => {
                        let message = format!(
                            "running PreFilter plugin {:?}: {}",
                            plugin.name(),
                            output.status.message()
                        );
                        return (
                            PreFilterRun::default(),
                            Status::error(message).with_plugin(plugin.name()),
                        );
                    }
                    _ => {
                        return (
                            PreFilterRun::default(),
                            output.status.with_plugin(plugin.name()),
                        );
                    }
                }
                if let Some(mut names) = output.node_names {
                    restricting.push(plugin.name());
                    result = Some(match result {
                        None => names,
                        Some(prev) => {
                            names.retain(|n| prev.contains(n));
                            names
                        }
                    });
                    if result.as_ref().is_some_and(Vec::is_empty) {
                        let message = if restricting.len() == 1 {
                            format!("node(s) didn't satisfy plugin {}", restricting[0])
                        } else {
                            format!(
                                "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                                restricting.join(" ")
                            )
                        };
                        let run = PreFilterRun {
                            node_names: result,
                            restricting,
                        };
                        return (
                            run,
                            Status::unresolvable(message).with_plugin(plugin.name()),
                        );
                    }
                }
            }
            (
                PreFilterRun {
                    node_names: result,
                    restricting,
                },
                Status::success(),
            )
        })
    }

    /// Filter: the first plugin that rejects the pod on `node`.
    pub fn run_filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Status {
        for &i in &self.filter {
            if state.skips_filter(i) {
                continue;
            }
            let plugin = &self.plugins[i];
            let status = plugin.filter(state.pre_filter(i), pod, node, snapshot);
            if !status.is_success() {
                if !status.is_rejected() {
                    let message = format!(
                        "running {:?} filter plugin: {}",
                        plugin.name(),
                        status.message()
                    );
                    return Status::error(message).with_plugin(plugin.name());
                }
                return status.with_plugin(plugin.name());
            }
        }
        Status::success()
    }

    /// Filter with the node's nominated pods of equal or higher priority
    /// counted as if they ran there (upstream
    /// `RunFilterPluginsWithNominatedPods`): a pod must fit both with and
    /// without them.
    pub fn run_filter_with_nominated_pods(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Status {
        if snapshot.nominations.is_empty() {
            return self.run_filter(state, pod, node, snapshot);
        }
        let nominated: Vec<&Arc<PodInfo>> = snapshot
            .nominated_pods(&node.name)
            .iter()
            .filter(|p| p.priority >= pod.priority && p.uid != pod.uid)
            .collect();
        if nominated.is_empty() {
            return self.run_filter(state, pod, node, snapshot);
        }
        let mut state_with = state.clone();
        let mut node_with = node.clone();
        for added in nominated {
            node_with.add_pod(added.clone());
            self.run_pre_filter_add_pod(&mut state_with, pod, added, &node_with);
        }
        let status = self.run_filter(&state_with, pod, &node_with, snapshot);
        if !status.is_success() {
            return status;
        }
        self.run_filter(state, pod, node, snapshot)
    }

    /// PreFilter extensions: `added` now runs on `node`.
    pub fn run_pre_filter_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &PodInfo,
        node: &NodeInfo,
    ) {
        for &i in &self.pre_filter {
            let plugin = &self.plugins[i];
            if state.skips_filter(i) || !plugin.has_pre_filter_extensions() {
                continue;
            }
            if let Some(s) = state.pre_filter_mut(i) {
                plugin.add_pod(s, pod, added, node);
            }
        }
    }

    /// PreFilter extensions: `removed` no longer runs on `node`.
    pub fn run_pre_filter_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
    ) {
        for &i in &self.pre_filter {
            let plugin = &self.plugins[i];
            if state.skips_filter(i) || !plugin.has_pre_filter_extensions() {
                continue;
            }
            if let Some(s) = state.pre_filter_mut(i) {
                plugin.remove_pod(s, pod, removed, node);
            }
        }
    }

    /// PostFilter: the first plugin that succeeds (or errors) wins.
    pub fn run_post_filter(
        &self,
        ctx: &PostFilterContext<'_>,
        pod: &PodInfo,
    ) -> (PostFilterResult, Status) {
        timed("PostFilter", &self.profile_name, || {
            let mut reasons = Vec::new();
            let mut result = PostFilterResult::default();
            for &i in &self.post_filter {
                let plugin = &self.plugins[i];
                let (r, status) = plugin.post_filter(ctx, pod);
                match status.code() {
                    Code::Success => return (r, status),
                    Code::Error => return (r, status.with_plugin(plugin.name())),
                    _ => {
                        if r.nominated_node_name.is_some() {
                            result = r;
                        }
                        reasons.extend(status.reasons().iter().filter(|r| !r.is_empty()).cloned());
                    }
                }
            }
            (result, Status::with_reasons(Code::Unschedulable, reasons))
        })
    }

    /// PreScore: stores state, marks Skip-ped Score plugins.
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        timed("PreScore", &self.profile_name, || {
            for &i in &self.pre_score {
                let plugin = &self.plugins[i];
                let (data, status) = plugin.pre_score(pod, nodes, snapshot);
                state.set_pre_score(i, data);
                match status.code() {
                    Code::Success => {}
                    Code::Skip => state.skip_score(i),
                    _ => {
                        let message = format!(
                            "running PreScore plugin {:?}: {}",
                            plugin.name(),
                            status.message()
                        );
                        return ((), Status::error(message).with_plugin(plugin.name()));
                    }
                }
            }
            ((), Status::success())
        })
        .1
    }

    /// Score and NormalizeScore of every plugin; returns the weighted total
    /// per node (in `nodes` order). Raw scores are computed in chunks of
    /// nodes on `parallelizer`'s workers (each node's score depends only on
    /// the node and the cycle state, so the totals, and the first error
    /// reported, are those of a sequential run); normalizing and weighting
    /// stay sequential, plugin by plugin.
    pub fn run_score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
        parallelizer: &Parallelizer,
    ) -> Result<Vec<i64>, Status> {
        let (totals, status) = timed("Score", &self.profile_name, || {
            let n = nodes.len();
            let mut totals = vec![0i64; n];
            let active: Vec<(usize, i64)> = self
                .score
                .iter()
                .filter(|(i, _)| !state.skips_score(*i))
                .copied()
                .collect();
            if active.is_empty() || n == 0 {
                return (totals, Status::success());
            }
            let chunk = if parallelizer.is_parallel_for(n) {
                parallelizer.chunk_size(n)
            } else {
                n
            };
            // Per chunk: raw scores plugin-major, complete for every plugin
            // before the chunk's first failure (plugin position, node
            // index, status), if any.
            let chunks = parallelizer.run_chunks(n, chunk, |range| {
                let mut raw = Vec::with_capacity(active.len() * range.len());
                for (at, &(i, _)) in active.iter().enumerate() {
                    let plugin = &self.plugins[i];
                    let data = state.pre_score(i);
                    for node in range.clone() {
                        match plugin.score(data, pod, nodes[node], snapshot) {
                            Ok(score) => raw.push(score),
                            Err(status) => return ((raw, Some((at, node, status))), false),
                        }
                    }
                }
                ((raw, None), false)
            });
            // Sequentially, plugin `at` fails before any later plugin runs
            // and at its lowest failing node.
            let mut failure: Option<(usize, usize, Status)> = None;
            for (_, failed) in &chunks {
                if let Some((at, node, status)) = failed
                    && failure
                        .as_ref()
                        .is_none_or(|(a, nd, _)| (*at, *node) < (*a, *nd))
                {
                    failure = Some((*at, *node, status.clone()));
                }
            }
            let mut scores = vec![0i64; n];
            for (at, &(i, weight)) in active.iter().enumerate() {
                let plugin = &self.plugins[i];
                if let Some((failed_at, _, status)) = &failure
                    && *failed_at == at
                {
                    let message = format!(
                        "running Score plugin {:?}: {}",
                        plugin.name(),
                        status.message()
                    );
                    return (totals, Status::error(message).with_plugin(plugin.name()));
                }
                let mut offset = 0;
                for (raw, _) in &chunks {
                    // Plugins before the first failure are complete in every chunk.
                    let len = chunk.min(n - offset);
                    scores[offset..offset + len].copy_from_slice(&raw[at * len..(at + 1) * len]);
                    offset += len;
                }
                let data = state.pre_score(i);
                let status = plugin.normalize_scores(data, pod, &mut scores);
                if !status.is_success() {
                    let message =
                        format!("running Normalize on Score plugins: {}", status.message());
                    return (totals, Status::error(message).with_plugin(plugin.name()));
                }
                for (total, (score, node)) in totals.iter_mut().zip(scores.iter().zip(nodes)) {
                    if !(MIN_NODE_SCORE..=MAX_NODE_SCORE).contains(score) {
                        let message = format!(
                            "plugin {:?} returns an invalid score {score} for node {:?}, it should in the range of [{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing",
                            plugin.name(),
                            node.name
                        );
                        return (totals, Status::error(message).with_plugin(plugin.name()));
                    }
                    *total += score * weight;
                }
            }
            (totals, Status::success())
        });
        if status.is_success() {
            Ok(totals)
        } else {
            Err(status)
        }
    }

    /// Reserve, in order; on failure the caller runs Unreserve.
    pub fn run_reserve(&self, pod: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) -> Status {
        timed("Reserve", &self.profile_name, || {
            for &i in &self.reserve {
                let status = self.plugins[i].reserve(pod, node, snapshot);
                if !status.is_success() {
                    return ((), status.with_plugin(self.plugins[i].name()));
                }
            }
            ((), Status::success())
        })
        .1
    }

    /// Unreserve, in reverse order.
    pub fn run_unreserve(&self, pod: &PodInfo, node: &str) {
        for &i in self.reserve.iter().rev() {
            self.plugins[i].unreserve(pod, node);
        }
    }

    /// Permit: the first rejection. `Wait` is not supported by any Corten
    /// plugin; it counts as a rejection.
    pub fn run_permit(&self, pod: &PodInfo, node: &str) -> Status {
        timed("Permit", &self.profile_name, || {
            for &i in &self.permit {
                let status = self.plugins[i].permit(pod, node);
                match status.code() {
                    Code::Success | Code::Skip => {}
                    _ => return ((), status.with_plugin(self.plugins[i].name())),
                }
            }
            ((), Status::success())
        })
        .1
    }

    /// PreBind, in order (async).
    pub async fn run_pre_bind(&self, pod: &Arc<PodInfo>, node: &str) -> Status {
        let start = Instant::now();
        let mut result = Status::success();
        for &i in &self.pre_bind {
            let status = self.plugins[i]
                .pre_bind(pod.clone(), node.to_string())
                .await;
            if !status.is_success() && !status.is_skip() {
                let name = self.plugins[i].name();
                result = if status.is_rejected() {
                    status.with_plugin(name)
                } else {
                    Status::error(format!(
                        "running PreBind plugin {name:?}: {}",
                        status.message()
                    ))
                    .with_plugin(name)
                };
                break;
            }
        }
        metrics::observe_extension_point(
            "PreBind",
            result.code(),
            &self.profile_name,
            start.elapsed(),
        );
        result
    }

    /// Bind: the first plugin that does not Skip decides.
    pub async fn run_bind(&self, pod: &Arc<PodInfo>, node: &str) -> Status {
        let start = Instant::now();
        let mut result = Status::error("no bind plugin bound the pod");
        for &i in &self.bind {
            let status = self.plugins[i].bind(pod.clone(), node.to_string()).await;
            if status.is_skip() {
                continue;
            }
            let name = self.plugins[i].name();
            result = if status.is_success() || status.is_rejected() {
                status.with_plugin(name)
            } else {
                Status::error(format!(
                    "running Bind plugin {name:?}: {}",
                    status.message()
                ))
                .with_plugin(name)
            };
            break;
        }
        metrics::observe_extension_point(
            "Bind",
            result.code(),
            &self.profile_name,
            start.elapsed(),
        );
        result
    }

    /// PostBind (informational).
    pub fn run_post_bind(&self, pod: &PodInfo, node: &str) {
        for &i in &self.post_bind {
            self.plugins[i].post_bind(pod, node);
        }
    }
}
