//! One scheduling cycle (upstream `schedulingCycle` and `SchedulePod`):
//! PreFilter, Filter over enough nodes, PreScore/Score, host selection,
//! assume, Reserve, Permit, then the asynchronous binding.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::Scheduler;
use super::binding::spawn_binding;
use super::failure::Failure;
use crate::cache::Snapshot;
use crate::framework::fit_error::NO_NODES_AVAILABLE;
use crate::framework::parallelize::Parallelizer;
use crate::framework::{
    Code, CycleState, Diagnosis, FitError, Framework, NodeInfo, PodInfo, PostFilterContext, Status,
};
use crate::metrics;
use crate::queue::QueuedPodInfo;

/// Below this many nodes, every node is evaluated.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this.
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;

/// Why a pod was not placed in a cycle.
pub(super) enum ScheduleError {
    /// No node fits.
    Fit(FitError),
    /// No node exists at all.
    NoNodes,
    /// Something went wrong (not a scheduling decision).
    Internal(String),
}

/// Upstream `numFeasibleNodesToFind`.
pub fn num_feasible_nodes_to_find(percentage: i32, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut pct = i64::from(percentage);
    if pct == 0 {
        pct = (50 - i64::try_from(num_all_nodes / 125).unwrap_or(i64::MAX))
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    let n =
        usize::try_from(i64::try_from(num_all_nodes).unwrap_or(i64::MAX) * pct / 100).unwrap_or(0);
    n.max(MIN_FEASIBLE_NODES_TO_FIND)
}

impl Scheduler {
    /// Runs one scheduling cycle for a popped pod.
    pub(super) fn schedule_one(&mut self, queued: QueuedPodInfo) {
        let pod = queued.pod.clone();
        let Some(fwk) = self.profiles.get(&pod.scheduler_name).cloned() else {
            self.queue.done(&pod.uid);
            return;
        };
        if pod.is_terminating() || self.snapshot.contains_pod(&pod.uid) {
            self.queue.done(&pod.uid);
            return;
        }
        self.stats.attempts += 1;
        let start = Instant::now();
        self.snapshot.prepare();
        let mut state = fwk.new_cycle_state();
        let node = match self.schedule_pod(&fwk, &mut state, &pod) {
            Ok(node) => node,
            Err(ScheduleError::Fit(mut fit)) => {
                let mut nominated = None;
                if fwk.has_post_filter_plugins() {
                    let ctx = PostFilterContext {
                        framework: &fwk,
                        snapshot: &self.snapshot,
                        state: &state,
                        statuses: &fit.diagnosis.node_to_status,
                        api: &self.api,
                    };
                    let (result, status) = fwk.run_post_filter(&ctx, &pod);
                    if status.code() == Code::Error {
                        tracing::error!(pod = %pod.key(), status = %status, "running PostFilter plugins");
                    }
                    fit.diagnosis.post_filter_msg = status.message();
                    nominated = result.nominated_node_name;
                }
                self.handle_failure(&fwk, queued, Failure::Fit(fit), nominated, start);
                return;
            }
            Err(ScheduleError::NoNodes) => {
                let clear = (!pod.nominated_node_name().is_empty()).then(String::new);
                self.handle_failure(
                    &fwk,
                    queued,
                    Failure::Rejected(NO_NODES_AVAILABLE.to_string()),
                    clear,
                    start,
                );
                return;
            }
            Err(ScheduleError::Internal(message)) => {
                tracing::error!(pod = %pod.key(), error = %message, "error selecting node for pod");
                let clear = (!pod.nominated_node_name().is_empty()).then(String::new);
                self.handle_failure(&fwk, queued, Failure::Error(message), clear, start);
                return;
            }
        };
        self.assume_and_bind(fwk, queued, node, start);
    }

    fn assume_and_bind(
        &mut self,
        fwk: Arc<Framework>,
        queued: QueuedPodInfo,
        node: String,
        start: Instant,
    ) {
        let pod = queued.pod.clone();
        let assumed = Arc::new(pod.assumed_on(&node));
        if let Err(err) = self.snapshot.assume_pod(assumed.clone()) {
            self.handle_failure(&fwk, queued, Failure::Error(err.to_string()), None, start);
            return;
        }
        let reserve = match self.snapshot.node(&node) {
            Some(info) => fwk.run_reserve(&assumed, info, &self.snapshot),
            None => Status::error(format!("node {node:?} not found")),
        };
        let reserve = if reserve.is_success() {
            fwk.run_permit(&assumed, &node)
        } else {
            reserve
        };
        if !reserve.is_success() {
            fwk.run_unreserve(&assumed, &node);
            self.snapshot.forget_pod(&pod.uid);
            let failure = if reserve.is_rejected() {
                let mut diagnosis = Diagnosis::default();
                diagnosis.unschedulable_plugins.insert(reserve.plugin());
                Failure::Plugin(reserve.message(), diagnosis)
            } else {
                Failure::Error(reserve.message())
            };
            self.handle_failure(&fwk, queued, failure, None, start);
            return;
        }
        self.snapshot.nominations.remove(&pod.uid);
        self.stats.assumed += 1;
        spawn_binding(
            fwk,
            assumed,
            node,
            queued,
            start,
            self.results_tx.clone(),
            self.api.clone(),
        );
    }

    /// Upstream `SchedulePod`: the node to bind to, or why there is none.
    pub(super) fn schedule_pod(
        &mut self,
        fwk: &Framework,
        state: &mut CycleState,
        pod: &PodInfo,
    ) -> Result<String, ScheduleError> {
        if self.snapshot.num_nodes() == 0 {
            return Err(ScheduleError::NoNodes);
        }
        let (feasible, diagnosis) = self.find_nodes_that_fit(fwk, state, pod)?;
        if feasible.is_empty() {
            return Err(ScheduleError::Fit(FitError {
                num_all_nodes: self.snapshot.num_nodes(),
                diagnosis,
            }));
        }
        if feasible.len() == 1 {
            return Ok(self.snapshot.slot(feasible[0]).name.clone());
        }
        let nodes: Vec<&NodeInfo> = feasible.iter().map(|&s| self.snapshot.slot(s)).collect();
        let status = fwk.run_pre_score(state, pod, &nodes, &self.snapshot);
        if !status.is_success() {
            return Err(ScheduleError::Internal(status.message()));
        }
        let scores = fwk
            .run_score(
                state,
                pod,
                &nodes,
                &self.snapshot,
                self.snapshot.parallelizer(),
            )
            .map_err(|s| ScheduleError::Internal(s.message()))?;
        Ok(select_host(&nodes, &scores))
    }

    fn find_nodes_that_fit(
        &mut self,
        fwk: &Framework,
        state: &mut CycleState,
        pod: &PodInfo,
    ) -> Result<(Vec<usize>, Diagnosis), ScheduleError> {
        let mut diagnosis = Diagnosis::default();
        let (run, status) = fwk.run_pre_filter(state, pod, &self.snapshot);
        if !status.is_success() {
            if !status.is_rejected() {
                return Err(ScheduleError::Internal(status.message()));
            }
            diagnosis.pre_filter_msg = status.message();
            if !status.plugin().is_empty() {
                diagnosis.unschedulable_plugins.insert(status.plugin());
            }
            diagnosis.node_to_status.absent = status;
            return Ok((Vec::new(), diagnosis));
        }
        let nominated = pod.nominated_node_name();
        if !nominated.is_empty()
            && let Some(slot) = self.snapshot.slot_of(nominated)
            && fwk
                .run_filter_with_nominated_pods(
                    state,
                    pod,
                    self.snapshot.slot(slot),
                    &self.snapshot,
                )
                .is_success()
        {
            return Ok((vec![slot], diagnosis));
        }
        let pct = fwk
            .percentage_of_nodes_to_score
            .unwrap_or(self.percentage_of_nodes_to_score);
        let feasible = match &run.node_names {
            None => pass_filters(
                &self.snapshot,
                &mut self.next_start_node_index,
                pct,
                fwk,
                state,
                pod,
                &mut diagnosis,
                self.snapshot.order(),
                self.snapshot.parallelizer(),
            )?,
            Some(names) => {
                let mut plugins = run.restricting.clone();
                plugins.sort_unstable();
                diagnosis.node_to_status.absent = Status::unresolvable(format!(
                    "node(s) didn't satisfy plugin(s) [{}]",
                    plugins.join(" ")
                ));
                let nodes: Vec<usize> = names
                    .iter()
                    .filter_map(|n| self.snapshot.slot_of(n))
                    .collect();
                pass_filters(
                    &self.snapshot,
                    &mut self.next_start_node_index,
                    pct,
                    fwk,
                    state,
                    pod,
                    &mut diagnosis,
                    &nodes,
                    self.snapshot.parallelizer(),
                )?
            }
        };
        Ok((feasible, diagnosis))
    }
}

/// What Filter said about one node of a chunk.
enum Verdict {
    Feasible(usize),
    Rejected(usize, Status),
    Error(Status),
}

/// Filters `nodes` (starting at the round-robin index) until enough are
/// feasible (upstream `findNodesThatPassFilters`). With several workers,
/// chunks of nodes are filtered in parallel and merged in node order, so
/// the feasible nodes, the statuses kept for the diagnosis and the next
/// start index are exactly those of a sequential run.
fn pass_filters(
    snapshot: &Snapshot,
    next_start_node_index: &mut usize,
    percentage: i32,
    fwk: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    diagnosis: &mut Diagnosis,
    nodes: &[usize],
    parallelizer: &Parallelizer,
) -> Result<Vec<usize>, ScheduleError> {
    let n = nodes.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let wanted = num_feasible_nodes_to_find(percentage, n);
    let start_index = *next_start_node_index % n;
    let mut feasible = Vec::with_capacity(wanted.min(n));
    if !fwk.has_filter_plugins() {
        feasible.extend((0..wanted.min(n)).map(|i| nodes[(start_index + i) % n]));
        *next_start_node_index = (start_index + feasible.len()) % n;
        return Ok(feasible);
    }
    let started = std::time::Instant::now();
    // One chunk of everything on the calling thread, unless spreading pays.
    let chunk = if parallelizer.is_parallel_for(n) {
        parallelizer.chunk_size(n)
    } else {
        n
    };
    let found = AtomicUsize::new(0);
    let chunks = parallelizer.run_chunks(n, chunk, |range| {
        let mut verdicts = Vec::with_capacity(range.len());
        let mut local = 0;
        for i in range {
            let slot = nodes[(start_index + i) % n];
            let status =
                fwk.run_filter_with_nominated_pods(state, pod, snapshot.slot(slot), snapshot);
            if status.is_success() {
                verdicts.push(Verdict::Feasible(slot));
                local += 1;
                // This chunk alone has enough: the sequential cut is at or
                // before this node whatever the earlier chunks found.
                if local >= wanted {
                    break;
                }
            } else if status.is_rejected() {
                verdicts.push(Verdict::Rejected(slot, status));
            } else {
                verdicts.push(Verdict::Error(status));
                return (verdicts, true);
            }
        }
        let total = found.fetch_add(local, Ordering::AcqRel) + local;
        (verdicts, total >= wanted)
    });
    let mut processed = 0;
    'merge: for verdict in chunks.into_iter().flatten() {
        processed += 1;
        match verdict {
            Verdict::Feasible(slot) => {
                feasible.push(slot);
                if feasible.len() >= wanted {
                    break 'merge;
                }
            }
            Verdict::Rejected(slot, status) => {
                if status.code() == Code::Pending {
                    diagnosis.pending_plugins.insert(status.plugin());
                } else {
                    diagnosis.unschedulable_plugins.insert(status.plugin());
                }
                diagnosis
                    .node_to_status
                    .statuses
                    .insert(snapshot.slot(slot).name.clone(), status);
            }
            Verdict::Error(status) => return Err(ScheduleError::Internal(status.message())),
        }
    }
    metrics::observe_extension_point(
        "Filter",
        Code::Success,
        &fwk.profile_name,
        started.elapsed(),
    );
    *next_start_node_index = (start_index + processed) % n;
    Ok(feasible)
}

/// The highest-scoring node; ties are broken uniformly at random
/// (reservoir sampling, like upstream).
pub(super) fn select_host(nodes: &[&NodeInfo], scores: &[i64]) -> String {
    let mut best = 0;
    let mut max = i64::MIN;
    let mut ties = 0usize;
    for (i, &score) in scores.iter().enumerate() {
        if score > max {
            max = score;
            best = i;
            ties = 1;
        } else if score == max {
            ties += 1;
            if crate::rng::below(ties) == 0 {
                best = i;
            }
        }
    }
    nodes.get(best).map(|n| n.name.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feasible_node_counts_match_upstream() {
        assert_eq!(num_feasible_nodes_to_find(0, 10), 10);
        assert_eq!(num_feasible_nodes_to_find(0, 99), 99);
        // 50 - 1000/125 = 42%
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        // 50 - 5000/125 = 10%
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        // Floor at 5%.
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300);
        assert_eq!(num_feasible_nodes_to_find(0, 15000), 750);
        assert_eq!(num_feasible_nodes_to_find(100, 5000), 5000);
        assert_eq!(num_feasible_nodes_to_find(1, 5000), 100);
    }
}
