//! One sync of a DaemonSet (upstream `syncDaemonSet`, `manage`,
//! `syncNodes`, `constructHistory`, `updateDaemonSetStatus`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Resource, ResourceExt};

use super::node_fit::{add_daemon_tolerations, node_should_run, pin_to_node, target_node};
use super::{BURST_REPLICAS, DaemonSetReconciler, SyncError, TEMPLATE_GENERATION_LABEL};
use crate::controllers::deployment::replicas::scaled_value;
use crate::framework::api_errors;
use crate::framework::controller_history::{
    CONTROLLER_REVISION_HASH_LABEL, create_revision, delete_revision, equal_revision, new_revision,
    next_revision, sort_revisions, update_revision_number,
};
use crate::framework::controller_ref::{Owner, claim, claim_candidates};
use crate::framework::events::EventType;
use crate::framework::pod_control::{PodControl, pod_from_template, slow_start_batch};
use crate::framework::pod_create::create_pod;
use crate::framework::pod_readiness::{is_available, is_ready, phase, pod_key};
use crate::framework::selector::Selector;
use crate::framework::worker::Action;

/// The DaemonSet's selector, if valid.
pub(super) fn selector_of(ds: &DaemonSet) -> Option<Selector> {
    Selector::from_label_selector(ds.spec.as_ref().map(|s| &s.selector)).ok()
}

/// Upstream `getPatch`: what a revision stores.
pub(super) fn revision_patch(ds: &DaemonSet) -> serde_json::Value {
    let mut template =
        serde_json::to_value(ds.spec.as_ref().map(|s| &s.template)).unwrap_or_default();
    if let Some(obj) = template.as_object_mut() {
        obj.insert("$patch".to_string(), serde_json::Value::from("replace"));
    }
    serde_json::json!({"spec": {"template": template}})
}

/// Whether `pod` runs the revision `hash` (upstream `IsPodUpdated`).
pub(super) fn is_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let by_generation = generation.is_some_and(|g| {
        labels.get(TEMPLATE_GENERATION_LABEL).map(String::as_str) == Some(g.to_string().as_str())
    });
    let by_hash = labels
        .get(CONTROLLER_REVISION_HASH_LABEL)
        .is_some_and(|h| h == hash);
    by_hash || by_generation
}

/// Oldest first, running before pending (upstream `podByCreationTimestampAndPhase`).
pub(super) fn sort_oldest_first(pods: &mut [Arc<Pod>]) {
    pods.sort_by(|a, b| {
        let running = |p: &Pod| phase(p) == "Running";
        let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        running(b)
            .cmp(&running(a))
            .then_with(|| created(a).cmp(&created(b)))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
}

/// The pods to delete and nodes to create pods on, decided in a sync.
#[derive(Debug, Default)]
pub(super) struct NodeChanges {
    pub create_on: Vec<String>,
    pub delete: Vec<Arc<Pod>>,
}

pub(super) fn surge_allowed(ds: &DaemonSet) -> bool {
    rolling_params(ds).is_some_and(|(surge, _)| surge.is_some())
}

/// `maxSurge` / `maxUnavailable` (raw) of a RollingUpdate DaemonSet.
pub(super) fn rolling_params(
    ds: &DaemonSet,
) -> Option<(
    Option<k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
    Option<k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
)> {
    let strategy = ds.spec.as_ref()?.update_strategy.as_ref()?;
    if strategy.type_.as_deref().unwrap_or("RollingUpdate") != "RollingUpdate" {
        return None;
    }
    let ru = strategy.rolling_update.clone().unwrap_or_default();
    let surge = ru
        .max_surge
        .filter(|s| scaled_value(s, 1, true).unwrap_or(0) > 0);
    Some((surge, ru.max_unavailable))
}

impl DaemonSetReconciler {
    /// Upstream `syncDaemonSet`.
    pub(super) async fn sync(&self, key: &str, ds: DaemonSet) -> Result<Action, SyncError> {
        let Some(selector) = selector_of(&ds).filter(|s| !s.is_everything()) else {
            self.recorder.event(
                &ds,
                EventType::Warning,
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            );
            return Ok(Action::await_change());
        };
        let namespace = ds.namespace().unwrap_or_default();
        let owner = Owner::of(&ds);
        let nodes = self.nodes.list();
        let (current, old, collision_count) = self.construct_history(&ds, &owner).await?;
        let hash = current
            .labels()
            .get(CONTROLLER_REVISION_HASH_LABEL)
            .cloned()
            .unwrap_or_default();
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let claimed = claim(
            &self.client,
            &pods_api,
            &owner,
            claim_candidates(&self.pods, &owner.uid, &namespace, &selector),
            |p: &Pod| selector.matches(p.metadata.labels.as_ref()),
        )
        .await?;
        let by_node = pods_by_node(&claimed);
        let mut requeue: Option<Duration> = None;
        if ds.metadata.deletion_timestamp.is_none() && self.expectations.satisfied(key) {
            let mut changes = self.manage(&ds, &nodes, &by_node, &hash, &mut requeue);
            if let Some((max_surge, max_unavailable)) = rolling_params(&ds) {
                let rolling = super::rolling::rolling_update(
                    &ds,
                    &nodes,
                    &by_node,
                    &hash,
                    max_surge,
                    max_unavailable,
                    Timestamp::now(),
                );
                changes.create_on.extend(rolling.create_on);
                for pod in rolling.delete {
                    if !changes.delete.iter().any(|p| p.uid() == pod.uid()) {
                        changes.delete.push(pod);
                    }
                }
            }
            self.sync_nodes(key, &ds, &hash, changes).await?;
            self.cleanup_history(&ds, &claimed, &old).await?;
        }
        let status = calculate_status(
            &ds,
            &nodes,
            &by_node,
            &hash,
            collision_count,
            Timestamp::now(),
        );
        self.update_status(&ds, status).await?;
        // Pods turn available after minReadySeconds: look again then.
        let min_ready = ds
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        if min_ready > 0 {
            let after = Duration::from_secs(u64::try_from(min_ready).unwrap_or(0));
            requeue = Some(requeue.map_or(after, |r| r.min(after)));
        }
        Ok(requeue.map_or_else(Action::await_change, Action::requeue))
    }

    /// Upstream `constructHistory`: (current revision, old revisions,
    /// collision count).
    async fn construct_history(
        &self,
        ds: &DaemonSet,
        owner: &Owner,
    ) -> Result<(ControllerRevision, Vec<ControllerRevision>, i32), SyncError> {
        let namespace = ds.namespace().unwrap_or_default();
        let selector = selector_of(ds).unwrap_or(Selector::Nothing);
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &namespace);
        let claimed = claim(
            &self.client,
            &api,
            owner,
            claim_candidates(&self.revisions, &owner.uid, &namespace, &selector),
            |r: &ControllerRevision| selector.matches(r.metadata.labels.as_ref()),
        )
        .await?;
        let mut revisions: Vec<ControllerRevision> =
            claimed.into_iter().map(|r| (*r).clone()).collect();
        sort_revisions(&mut revisions);
        let template_labels = ds
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let mut collision_count = ds
            .status
            .as_ref()
            .and_then(|s| s.collision_count)
            .unwrap_or(0);
        let wanted = new_revision(
            owner,
            &template_labels,
            revision_patch(ds),
            0,
            Some(collision_count),
        );
        let (mut current, old): (Vec<ControllerRevision>, Vec<ControllerRevision>) = revisions
            .iter()
            .cloned()
            .partition(|r| equal_revision(r, &wanted));
        let max = next_revision(&revisions) - 1;
        let current = match current.pop() {
            // Duplicates of the current data (older numbers) are dropped.
            Some(cur) => {
                for dup in &current {
                    delete_revision(&self.client, dup).await?;
                }
                if cur.revision < max {
                    update_revision_number(&self.client, &cur, max + 1).await?
                } else {
                    cur
                }
            }
            None => {
                create_revision(
                    &self.client,
                    owner,
                    &template_labels,
                    revision_patch(ds),
                    max + 1,
                    &mut collision_count,
                )
                .await?
            }
        };
        Ok((current, old, collision_count))
    }

    /// Upstream `cleanupHistory`: old revisions that no pod runs, beyond
    /// `revisionHistoryLimit` (default 10), oldest first.
    async fn cleanup_history(
        &self,
        ds: &DaemonSet,
        pods: &[Arc<Pod>],
        old: &[ControllerRevision],
    ) -> Result<(), SyncError> {
        let limit = ds
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(10);
        let limit = usize::try_from(limit).unwrap_or(0);
        let live: Vec<String> = pods
            .iter()
            .filter_map(|p| p.labels().get(CONTROLLER_REVISION_HASH_LABEL).cloned())
            .collect();
        let mut unused: Vec<&ControllerRevision> = old
            .iter()
            .filter(|r| {
                r.labels()
                    .get(CONTROLLER_REVISION_HASH_LABEL)
                    .is_none_or(|h| !live.contains(h))
            })
            .collect();
        if old.len() <= limit || unused.is_empty() {
            return Ok(());
        }
        let extra = (old.len() - limit).min(unused.len());
        unused.sort_by_key(|r| r.revision);
        for rev in unused.into_iter().take(extra) {
            delete_revision(&self.client, rev).await?;
        }
        Ok(())
    }

    /// Upstream `manage` / `podsShouldBeOnNode`: what each node needs.
    fn manage(
        &self,
        ds: &DaemonSet,
        nodes: &[Arc<Node>],
        by_node: &HashMap<String, Vec<Arc<Pod>>>,
        hash: &str,
        requeue: &mut Option<Duration>,
    ) -> NodeChanges {
        let template = ds
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.clone())
            .unwrap_or_default();
        let surge = surge_allowed(ds);
        let min_ready = ds
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        let now = Timestamp::now();
        let mut changes = NodeChanges::default();
        for node in nodes {
            let name = node.name_any();
            let (should_run, keep_running) = node_should_run(&template, node);
            let pods: Vec<Arc<Pod>> = by_node.get(&name).cloned().unwrap_or_default();
            let exists = !pods.is_empty();
            if should_run && !exists {
                changes.create_on.push(name);
                continue;
            }
            if keep_running {
                let mut running = Vec::new();
                for pod in pods
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                {
                    match phase(pod) {
                        "Failed" => {
                            let backoff_key = format!("{}/{name}", ds.uid().unwrap_or_default());
                            if let Some(wait) = self.failed_pod_backoff(&backoff_key) {
                                *requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
                                continue;
                            }
                            self.recorder.event(
                                ds,
                                EventType::Warning,
                                "FailedDaemonPod",
                                &format!(
                                    "Found failed daemon pod {}/{} on node {name}, will try to kill it",
                                    pod.namespace().unwrap_or_default(),
                                    pod.name_any()
                                ),
                            );
                            changes.delete.push(pod.clone());
                        }
                        "Succeeded" => changes.delete.push(pod.clone()),
                        _ => running.push(pod.clone()),
                    }
                }
                sort_oldest_first(&mut running);
                if !surge {
                    changes.delete.extend(running.iter().skip(1).cloned());
                    continue;
                }
                if running.is_empty() {
                    if should_run {
                        changes.create_on.push(name);
                    }
                    continue;
                }
                // Surging: at most the oldest new and the oldest old pod.
                let mut oldest_new = None;
                let mut oldest_old = None;
                for pod in running {
                    let slot = if pod
                        .labels()
                        .get(CONTROLLER_REVISION_HASH_LABEL)
                        .map(String::as_str)
                        == Some(hash)
                    {
                        &mut oldest_new
                    } else {
                        &mut oldest_old
                    };
                    if slot.is_none() {
                        *slot = Some(pod);
                    } else {
                        changes.delete.push(pod);
                    }
                }
                if let (Some(new), Some(old)) = (oldest_new, oldest_old)
                    && (!is_ready(&old) || is_available(&new, min_ready, now))
                {
                    changes.delete.push(old);
                }
            } else if exists {
                changes.delete.extend(
                    pods.iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none())
                        .cloned(),
                );
            }
        }
        // Upstream `getUnscheduledPodsWithoutNode`: pods pinned to a node
        // that no longer exists will never be scheduled.
        let existing: std::collections::HashSet<String> =
            nodes.iter().map(|n| n.name_any()).collect();
        for (node, pods) in by_node {
            if existing.contains(node) {
                continue;
            }
            changes.delete.extend(
                pods.iter()
                    .filter(|p| {
                        p.metadata.deletion_timestamp.is_none()
                            && p.spec
                                .as_ref()
                                .and_then(|s| s.node_name.as_deref())
                                .is_none_or(str::is_empty)
                    })
                    .cloned(),
            );
        }
        changes
    }

    /// `None`: delete now (and back off longer next time); `Some(d)`: wait.
    fn failed_pod_backoff(&self, key: &str) -> Option<Duration> {
        let mut map = self
            .failed_backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = tokio::time::Instant::now();
        match map.get(key).copied() {
            Some((at, delay)) if now < at + delay => Some(at + delay - now),
            Some((_, delay)) => {
                map.insert(
                    key.to_string(),
                    (now, (delay * 2).min(Duration::from_secs(900))),
                );
                None
            }
            None => {
                map.insert(key.to_string(), (now, Duration::from_secs(1)));
                None
            }
        }
    }

    /// Upstream `syncNodes`: creates daemon pods (slow start) and deletes
    /// pods, at most [`BURST_REPLICAS`] each.
    async fn sync_nodes(
        &self,
        key: &str,
        ds: &DaemonSet,
        hash: &str,
        mut changes: NodeChanges,
    ) -> Result<(), SyncError> {
        changes.create_on.sort();
        changes.create_on.dedup();
        changes.create_on.truncate(BURST_REPLICAS);
        changes.delete.truncate(BURST_REPLICAS);
        let namespace = ds.namespace().unwrap_or_default();
        let reference = ds.object_ref(&());
        let owner = Owner::of(ds);
        let mut template = ds.spec.clone().unwrap_or_default().template;
        let labels = template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default);
        labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_string(), hash.to_string());
        if let Some(generation) = ds.metadata.generation {
            labels.insert(
                TEMPLATE_GENERATION_LABEL.to_string(),
                generation.to_string(),
            );
        }
        if let Some(spec) = template.spec.as_mut() {
            add_daemon_tolerations(spec);
        }
        let mut first_error = None;
        let creates = changes.create_on.len();
        if creates > 0 {
            self.expectations.expect_creations(key, creates);
            let nodes = std::sync::Mutex::new(changes.create_on.clone().into_iter());
            let (created, error) = slow_start_batch(creates, 1, || {
                let node = nodes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .next()
                    .unwrap_or_default();
                let mut pod =
                    pod_from_template(&template, &ds.name_any(), Some(owner.controller_ref()));
                if let Some(spec) = pod.spec.as_mut() {
                    spec.affinity = Some(pin_to_node(spec.affinity.take(), &node));
                }
                let (namespace, reference) = (&namespace, &reference);
                async move {
                    match create_pod(&self.client, &self.recorder, namespace, &pod, reference).await
                    {
                        Ok(_) => Ok(()),
                        Err(err) if err.is_namespace_terminating() => Ok(()),
                        Err(err) => Err(err.to_string()),
                    }
                }
            })
            .await;
            for _ in created..creates {
                self.expectations.creation_observed(key);
            }
            first_error = error;
        }
        if !changes.delete.is_empty() {
            self.expectations
                .expect_deletions(key, changes.delete.iter().map(|p| pod_key(p)));
            let control = PodControl::new(self.client.clone(), self.recorder.clone());
            let results = futures::future::join_all(changes.delete.iter().map(|pod| {
                let (control, namespace, reference) = (&control, &namespace, &reference);
                async move {
                    let result = control
                        .delete_pod(namespace, &pod.name_any(), reference)
                        .await;
                    if result.is_err() {
                        self.expectations.deletion_observed(key, &pod_key(pod));
                    }
                    result.err().filter(|e| !api_errors::is_not_found(e))
                }
            }))
            .await;
            if let Some(err) = results.into_iter().flatten().next() {
                first_error.get_or_insert(api_errors::message(&err));
            }
        }
        match first_error {
            Some(err) => Err(SyncError::Pods(err)),
            None => Ok(()),
        }
    }

    /// Writes the status if it changed (one retry on a fresh copy).
    async fn update_status(
        &self,
        ds: &DaemonSet,
        status: DaemonSetStatus,
    ) -> Result<(), SyncError> {
        let mut status = status;
        status.observed_generation = ds.metadata.generation;
        status.conditions = ds.status.as_ref().and_then(|s| s.conditions.clone());
        if ds.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let api: Api<DaemonSet> =
            Api::namespaced(self.client.clone(), &ds.namespace().unwrap_or_default());
        let mut current = ds.clone();
        for attempt in 0..2 {
            current.status = Some(status.clone());
            match api
                .replace_status(&current.name_any(), &PostParams::default(), &current)
                .await
            {
                Ok(_) => return Ok(()),
                Err(err) if api_errors::is_not_found(&err) => return Ok(()),
                Err(err) if attempt == 0 && api_errors::is_conflict(&err) => {
                    current = api.get(&ds.name_any()).await?;
                    status.observed_generation = current.metadata.generation;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

/// Pods by the node they run on (or are pinned to); pods without a node
/// are left out.
pub(super) fn pods_by_node(pods: &[Arc<Pod>]) -> HashMap<String, Vec<Arc<Pod>>> {
    let mut map: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
    for pod in pods {
        if let Some(node) = target_node(pod) {
            map.entry(node).or_default().push(pod.clone());
        }
    }
    map
}

/// Upstream `updateDaemonSetStatus`'s counts.
pub(super) fn calculate_status(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    by_node: &HashMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    collision_count: i32,
    now: Timestamp,
) -> DaemonSetStatus {
    let template = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .unwrap_or_default();
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let mut counts: BTreeMap<&str, i32> = BTreeMap::new();
    for node in nodes {
        let (should_run, _) = node_should_run(&template, node);
        let mut pods: Vec<Arc<Pod>> = by_node
            .get(&node.name_any())
            .into_iter()
            .flatten()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect();
        let scheduled = !pods.is_empty();
        if !should_run {
            if scheduled {
                *counts.entry("misscheduled").or_default() += 1;
            }
            continue;
        }
        *counts.entry("desired").or_default() += 1;
        if !scheduled {
            continue;
        }
        *counts.entry("current").or_default() += 1;
        sort_oldest_first(&mut pods);
        let pod = &pods[0];
        if is_ready(pod) {
            *counts.entry("ready").or_default() += 1;
            if is_available(pod, min_ready, now) {
                *counts.entry("available").or_default() += 1;
            }
        }
        if is_updated(pod, hash, ds.metadata.generation) {
            *counts.entry("updated").or_default() += 1;
        }
    }
    let get = |k: &str| counts.get(k).copied().unwrap_or(0);
    DaemonSetStatus {
        collision_count: (collision_count > 0).then_some(collision_count),
        conditions: None,
        current_number_scheduled: get("current"),
        desired_number_scheduled: get("desired"),
        number_available: Some(get("available")),
        number_misscheduled: get("misscheduled"),
        number_ready: get("ready"),
        number_unavailable: Some(get("desired") - get("available")),
        observed_generation: ds.metadata.generation,
        updated_number_scheduled: Some(get("updated")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn revisions_store_a_replace_patch_of_the_template() {
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "a"}},
                    "spec": {"containers": [{"name": "c", "image": "agent:1"}]}}}
        }))
        .unwrap();
        let patch = revision_patch(&ds);
        assert_eq!(patch["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            patch["spec"]["template"]["spec"]["containers"][0]["image"],
            "agent:1"
        );
    }
}
