//! One sync of a StatefulSet (upstream `StatefulSetControl.UpdateStatefulSet`:
//! `getStatefulSetRevisions`, `updateStatefulSet`, `truncateHistory`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};

use super::identity::{
    claim_owner_refs, claims_for, fix_identity_and_storage, identity_matches, new_pod, ordinal,
    pod_name, pod_revision, replicas, start_ordinal, storage_matches,
};
use super::{StatefulSetReconciler, SyncError};
use crate::framework::api_errors;
use crate::framework::controller_history::{
    create_revision, delete_revision, equal_revision, new_revision, next_revision, revision_data,
    sort_revisions, update_revision_number,
};
use crate::framework::controller_ref::{Owner, claim, claim_candidates};
use crate::framework::events::EventType;
use crate::framework::pod_readiness::{is_available, is_ready, phase};
use crate::framework::selector::Selector;
use crate::framework::worker::Action;

/// The StatefulSet's selector, if valid.
pub(super) fn selector_of(set: &StatefulSet) -> Option<Selector> {
    Selector::from_label_selector(set.spec.as_ref().map(|s| &s.selector)).ok()
}

/// What a revision stores (upstream `getPatch`).
pub(super) fn revision_patch(set: &StatefulSet) -> serde_json::Value {
    let mut template =
        serde_json::to_value(set.spec.as_ref().map(|s| &s.template)).unwrap_or_default();
    if let Some(obj) = template.as_object_mut() {
        obj.insert("$patch".to_string(), serde_json::Value::from("replace"));
    }
    serde_json::json!({"spec": {"template": template}})
}

/// The template a revision restores (upstream `ApplyRevision`).
pub(super) fn template_of(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision_data(rev).pointer("/spec/template")?.clone();
    template.as_object_mut()?.remove("$patch");
    serde_json::from_value(template).ok()
}

pub(super) fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

pub(super) fn is_healthy(pod: &Pod, min_ready: i32, now: Timestamp) -> bool {
    running_and_ready(pod) && !is_terminating(pod) && is_available(pod, min_ready, now)
}

fn is_rolling(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

pub(super) fn min_ready_seconds(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

pub(super) fn partition(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
}

/// Upstream `computeReplicaStatus` plus `completeRollingUpdate`.
pub(super) fn compute_status(
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    current: &str,
    update: &str,
    collision_count: i32,
    now: Timestamp,
) -> StatefulSetStatus {
    let min_ready = set
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: Some(current.to_string()),
        update_revision: Some(update.to_string()),
        collision_count: Some(collision_count),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
        ..StatefulSetStatus::default()
    };
    let (mut ready, mut available, mut cur, mut upd) = (0, 0, 0, 0);
    for pod in pods {
        let created = !phase(pod).is_empty();
        if created {
            status.replicas += 1;
        }
        if running_and_ready(pod) {
            ready += 1;
            if is_available(pod, min_ready, now) {
                available += 1;
            }
        }
        if created && !is_terminating(pod) {
            if pod_revision(pod) == current {
                cur += 1;
            }
            if pod_revision(pod) == update {
                upd += 1;
            }
        }
    }
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(cur);
    status.updated_replicas = Some(upd);
    if is_rolling(set) && upd == status.replicas && ready == status.replicas {
        status.current_replicas = Some(upd);
        status.current_revision = Some(update.to_string());
    }
    status
}

/// Why processing stopped early.
enum Step {
    /// Go on with the next pod.
    Next,
    /// OrderedReady: wait for this pod.
    Wait,
}

impl StatefulSetReconciler {
    /// Upstream `UpdateStatefulSet`.
    pub(super) async fn sync(&self, set: StatefulSet) -> Result<Action, SyncError> {
        let Some(selector) = selector_of(&set) else {
            self.recorder.event(
                &set,
                EventType::Warning,
                "InvalidSelector",
                "error converting StatefulSet selector",
            );
            return Ok(Action::await_change());
        };
        let namespace = set.namespace().unwrap_or_default();
        let owner = Owner::of(&set);
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let pods = claim(
            &self.client,
            &pods_api,
            &owner,
            claim_candidates(&self.pods, &owner.uid, &namespace, &selector),
            |p: &Pod| {
                selector.matches(p.metadata.labels.as_ref())
                    && super::identity::is_member_of(&set, p)
            },
        )
        .await?;
        let (current, update, collision_count, revisions) =
            self.revisions_for(&set, &owner, &selector).await?;
        let current_template = template_of(&current).unwrap_or_default();
        let update_template = template_of(&update).unwrap_or_default();
        let now = Timestamp::now();
        let mut requeue = None;
        let mut errors = Vec::new();
        if set.metadata.deletion_timestamp.is_none() {
            self.update_pods(
                &set,
                &pods,
                (&current, &current_template),
                (&update, &update_template),
                now,
                &mut requeue,
                &mut errors,
            )
            .await;
        }
        let status = compute_status(
            &set,
            &pods,
            &current.name_any(),
            &update.name_any(),
            collision_count,
            now,
        );
        self.update_status(&set, status).await?;
        self.truncate_history(&set, &pods, &revisions, &current, &update)
            .await?;
        if !errors.is_empty() {
            return Err(SyncError::Pods(errors.join("; ")));
        }
        Ok(requeue.map_or_else(Action::await_change, Action::requeue))
    }

    /// Upstream `getStatefulSetRevisions`: (current, update, collision
    /// count, all revisions).
    async fn revisions_for(
        &self,
        set: &StatefulSet,
        owner: &Owner,
        selector: &Selector,
    ) -> Result<
        (
            ControllerRevision,
            ControllerRevision,
            i32,
            Vec<ControllerRevision>,
        ),
        SyncError,
    > {
        let namespace = set.namespace().unwrap_or_default();
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &namespace);
        let claimed = claim(
            &self.client,
            &api,
            owner,
            claim_candidates(&self.revisions, &owner.uid, &namespace, selector),
            |r: &ControllerRevision| selector.matches(r.metadata.labels.as_ref()),
        )
        .await?;
        let mut revisions: Vec<ControllerRevision> =
            claimed.into_iter().map(|r| (*r).clone()).collect();
        sort_revisions(&mut revisions);
        let mut collision_count = set
            .status
            .as_ref()
            .and_then(|s| s.collision_count)
            .unwrap_or(0);
        let labels = set
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let next = next_revision(&revisions);
        let wanted = new_revision(
            owner,
            &labels,
            revision_patch(set),
            next,
            Some(collision_count),
        );
        let equal: Vec<&ControllerRevision> = revisions
            .iter()
            .filter(|r| equal_revision(r, &wanted))
            .collect();
        let update = match (equal.last(), revisions.last()) {
            (Some(eq), Some(last)) if eq.name_any() == last.name_any() => (*eq).clone(),
            // A rollback: the old revision becomes the newest.
            (Some(eq), _) => update_revision_number(&self.client, eq, next).await?,
            (None, _) => {
                create_revision(
                    &self.client,
                    owner,
                    &labels,
                    revision_patch(set),
                    next,
                    &mut collision_count,
                )
                .await?
            }
        };
        let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone());
        let current = revisions
            .iter()
            .find(|r| Some(r.name_any()) == current_name && r.name_any() != update.name_any())
            .cloned()
            .unwrap_or_else(|| update.clone());
        if !revisions.iter().any(|r| r.name_any() == update.name_any()) {
            revisions.push(update.clone());
        }
        Ok((current, update, collision_count, revisions))
    }

    /// Steps 3 to 6 of the module documentation.
    async fn update_pods(
        &self,
        set: &StatefulSet,
        pods: &[Arc<Pod>],
        current: (&ControllerRevision, &PodTemplateSpec),
        update: (&ControllerRevision, &PodTemplateSpec),
        now: Timestamp,
        requeue: &mut Option<Duration>,
        errors: &mut Vec<String>,
    ) {
        let start = start_ordinal(set);
        let count = replicas(set).max(0);
        let mut slots: Vec<Option<Arc<Pod>>> = vec![None; usize::try_from(count).unwrap_or(0)];
        let mut condemned: Vec<Arc<Pod>> = Vec::new();
        for pod in pods {
            match ordinal(pod) {
                Some(o) if o >= start && o < start + count => {
                    slots[usize::try_from(o - start).unwrap_or(0)] = Some(pod.clone());
                }
                Some(_) => condemned.push(pod.clone()),
                None => {}
            }
        }
        condemned.sort_by_key(|p| std::cmp::Reverse(ordinal(p).unwrap_or(0)));
        let monotonic = set
            .spec
            .as_ref()
            .and_then(|s| s.pod_management_policy.as_deref())
            != Some("Parallel");
        let min_ready = set
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        // Upstream looks at the kept ordinals, then at the condemned ones
        // from the lowest: with every condemned pod unhealthy that is the
        // lowest one, so the scale-down (highest first) waits.
        let first_unhealthy = slots
            .iter()
            .flatten()
            .chain(condemned.iter().rev())
            .find(|p| !running_and_ready(p) || is_terminating(p))
            .map(|p| p.name_any());

        for (i, slot) in slots.iter().enumerate() {
            let ord = start + i32::try_from(i).unwrap_or(0);
            let step = match slot {
                None => {
                    let use_current = is_rolling(set)
                        && ord < partition(set)
                        && current.0.name_any() != update.0.name_any();
                    let (rev, template) = if use_current { current } else { update };
                    let pod = new_pod(set, template, ord, &rev.name_any());
                    if let Err(err) = self.create_pod(set, &pod, ord).await {
                        errors.push(err);
                    }
                    // OrderedReady creates one pod and waits for it.
                    Step::Wait
                }
                Some(pod) => {
                    self.process_existing(set, pod, ord, min_ready, now, requeue, errors)
                        .await
                }
            };
            if monotonic && matches!(step, Step::Wait) {
                return;
            }
        }

        for pod in &condemned {
            if is_terminating(pod) {
                if monotonic {
                    return;
                }
                continue;
            }
            if monotonic
                && !running_and_ready(pod)
                && first_unhealthy.as_deref() != Some(pod.name_any().as_str())
            {
                return;
            }
            self.fix_claim_owners(set, pod, true).await;
            if let Err(err) = self.delete_pod(set, pod).await {
                errors.push(err);
            }
            if monotonic {
                return;
            }
        }

        if !is_rolling(set) {
            return;
        }
        match super::rolling::targets(set, &slots, &update.0.name_any(), now) {
            Ok(pods) => {
                for pod in pods {
                    tracing::info!(pod = %pod.name_any(), "Pod of StatefulSet is terminating for update");
                    if let Err(err) = self.delete_pod(set, pod).await {
                        errors.push(err);
                    }
                }
            }
            Err(err) => errors.push(err),
        }
    }

    /// One existing pod of the kept ordinals (upstream `processReplica`).
    async fn process_existing(
        &self,
        set: &StatefulSet,
        pod: &Arc<Pod>,
        ord: i32,
        min_ready: i32,
        now: Timestamp,
        requeue: &mut Option<Duration>,
        errors: &mut Vec<String>,
    ) -> Step {
        if matches!(phase(pod), "Failed" | "Succeeded") {
            // Recreated once it is gone.
            if !is_terminating(pod)
                && let Err(err) = self.delete_pod(set, pod).await
            {
                errors.push(err);
            }
            return Step::Wait;
        }
        if phase(pod) == "Pending"
            && let Err(err) = self.create_claims(set, pod, ord).await
        {
            errors.push(err);
            return Step::Wait;
        }
        if is_terminating(pod) || !running_and_ready(pod) {
            return Step::Wait;
        }
        if !is_available(pod, min_ready, now) {
            let after = Duration::from_secs(u64::try_from(min_ready).unwrap_or(0));
            *requeue = Some(requeue.map_or(after, |r| r.min(after)));
            return Step::Wait;
        }
        if !identity_matches(set, pod) || !storage_matches(set, pod) {
            let mut fixed = (**pod).clone();
            fix_identity_and_storage(set, &mut fixed);
            let api: Api<Pod> =
                Api::namespaced(self.client.clone(), &set.namespace().unwrap_or_default());
            match api
                .replace(&pod.name_any(), &PostParams::default(), &fixed)
                .await
            {
                Ok(_) => self.recorder.event(
                    set,
                    EventType::Normal,
                    "SuccessfulUpdate",
                    &format!(
                        "update Pod {} in StatefulSet {} successful",
                        pod.name_any(),
                        set.name_any()
                    ),
                ),
                Err(err) => {
                    self.recorder.event(
                        set,
                        EventType::Warning,
                        "FailedUpdate",
                        &format!(
                            "update Pod {} in StatefulSet {} failed error: {}",
                            pod.name_any(),
                            set.name_any(),
                            api_errors::message(&err)
                        ),
                    );
                    errors.push(api_errors::message(&err));
                }
            }
        }
        self.fix_claim_owners(set, pod, false).await;
        Step::Next
    }

    /// Creates the pod's missing claims (upstream `createPersistentVolumeClaims`).
    async fn create_claims(&self, set: &StatefulSet, pod: &Pod, ord: i32) -> Result<(), String> {
        let namespace = set.namespace().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &namespace);
        for (_, mut claim) in claims_for(set, ord) {
            let name = claim.name_any();
            if let Some(existing) = self.claims.get(Some(&namespace), &name) {
                if existing.metadata.deletion_timestamp.is_some() {
                    return Err(format!("pvc {name} is being deleted"));
                }
                continue;
            }
            let refs = claim_owner_refs(set, pod, &[], false);
            claim.metadata.owner_references = (!refs.is_empty()).then_some(refs);
            match api.create(&PostParams::default(), &claim).await {
                Ok(_) => self.recorder.event(
                    set,
                    EventType::Normal,
                    "SuccessfulCreate",
                    &format!(
                        "create Claim {name} Pod {} in StatefulSet {} success",
                        pod.name_any(),
                        set.name_any()
                    ),
                ),
                Err(err) if api_errors::is_already_exists(&err) => {}
                Err(err) => {
                    let message = format!(
                        "create Claim {name} for Pod {} in StatefulSet {} failed error: {}",
                        pod.name_any(),
                        set.name_any(),
                        api_errors::message(&err)
                    );
                    self.recorder
                        .event(set, EventType::Warning, "FailedCreate", &message);
                    return Err(message);
                }
            }
        }
        Ok(())
    }

    /// Claims then the pod (upstream `CreateStatefulPod`).
    async fn create_pod(&self, set: &StatefulSet, pod: &Pod, ord: i32) -> Result<(), String> {
        self.create_claims(set, pod, ord).await?;
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &set.namespace().unwrap_or_default());
        let name = pod_name(set, ord);
        match api.create(&PostParams::default(), pod).await {
            Ok(_) => {
                self.recorder.event(
                    set,
                    EventType::Normal,
                    "SuccessfulCreate",
                    &format!(
                        "create Pod {name} in StatefulSet {} successful",
                        set.name_any()
                    ),
                );
                Ok(())
            }
            // Our cache has not seen it yet.
            Err(err) if api_errors::is_already_exists(&err) => Ok(()),
            Err(err)
                if api_errors::has_status_cause(&err, api_errors::NAMESPACE_TERMINATING_CAUSE) =>
            {
                Ok(())
            }
            Err(err) => {
                let message = format!(
                    "create Pod {name} in StatefulSet {} failed error: {}",
                    set.name_any(),
                    api_errors::message(&err)
                );
                self.recorder
                    .event(set, EventType::Warning, "FailedCreate", &message);
                Err(message)
            }
        }
    }

    /// Deletes a pod with its UID as precondition (upstream `DeleteStatefulPod`).
    async fn delete_pod(&self, set: &StatefulSet, pod: &Pod) -> Result<(), String> {
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &set.namespace().unwrap_or_default());
        let params = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: pod.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&pod.name_any(), &params).await {
            Ok(_) => {
                self.recorder.event(
                    set,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!(
                        "delete Pod {} in StatefulSet {} successful",
                        pod.name_any(),
                        set.name_any()
                    ),
                );
                Ok(())
            }
            Err(err) if api_errors::is_not_found(&err) => Ok(()),
            Err(err) => {
                let message = format!(
                    "delete Pod {} in StatefulSet {} failed error: {}",
                    pod.name_any(),
                    set.name_any(),
                    api_errors::message(&err)
                );
                self.recorder
                    .event(set, EventType::Warning, "FailedDelete", &message);
                Err(message)
            }
        }
    }

    /// Puts the retention policy's owner references on the pod's claims.
    async fn fix_claim_owners(&self, set: &StatefulSet, pod: &Pod, scaled_down: bool) {
        let Some(ord) = ordinal(pod) else { return };
        let namespace = set.namespace().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &namespace);
        for (_, claim) in claims_for(set, ord) {
            let Some(existing) = self.claims.get(Some(&namespace), &claim.name_any()) else {
                continue;
            };
            let current = existing
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default();
            let wanted = claim_owner_refs(set, pod, &current, scaled_down);
            if wanted == current {
                continue;
            }
            let patch = serde_json::json!({"metadata": {
                "ownerReferences": wanted,
                "resourceVersion": existing.metadata.resource_version,
            }});
            if let Err(err) = api
                .patch(
                    &existing.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await
            {
                tracing::warn!(claim = %existing.name_any(), error = %api_errors::message(&err), "could not update claim owner references");
            }
        }
    }

    async fn update_status(
        &self,
        set: &StatefulSet,
        status: StatefulSetStatus,
    ) -> Result<(), SyncError> {
        if set.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let api: Api<StatefulSet> =
            Api::namespaced(self.client.clone(), &set.namespace().unwrap_or_default());
        let mut current = set.clone();
        for attempt in 0..2 {
            let mut status = status.clone();
            status.observed_generation = current.metadata.generation;
            current.status = Some(status);
            match api
                .replace_status(&current.name_any(), &PostParams::default(), &current)
                .await
            {
                Ok(_) => return Ok(()),
                Err(err) if api_errors::is_not_found(&err) => return Ok(()),
                Err(err) if attempt == 0 && api_errors::is_conflict(&err) => {
                    current = api.get(&set.name_any()).await?;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Upstream `truncateHistory`: revisions other than the current and
    /// update ones that no pod uses, beyond `revisionHistoryLimit`.
    async fn truncate_history(
        &self,
        set: &StatefulSet,
        pods: &[Arc<Pod>],
        revisions: &[ControllerRevision],
        current: &ControllerRevision,
        update: &ControllerRevision,
    ) -> Result<(), SyncError> {
        let limit = usize::try_from(
            set.spec
                .as_ref()
                .and_then(|s| s.revision_history_limit)
                .unwrap_or(10),
        )
        .unwrap_or(0);
        let live: Vec<&str> = pods.iter().map(|p| pod_revision(p)).collect();
        let mut history: Vec<&ControllerRevision> = revisions
            .iter()
            .filter(|r| {
                let name = r.name_any();
                name != current.name_any()
                    && name != update.name_any()
                    && !live.contains(&name.as_str())
            })
            .collect();
        if history.len() <= limit {
            return Ok(());
        }
        history.sort_by_key(|r| r.revision);
        let extra = history.len() - limit;
        for rev in history.into_iter().take(extra) {
            delete_revision(&self.client, rev).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::statefulset::fixtures::{pod, set};
    use serde_json::json;

    #[test]
    fn status_counts_and_completes_rollouts() {
        let s = set(json!({"type": "RollingUpdate"}));
        let now = Timestamp::now();
        let pods = vec![pod("web-0", "r1", true), pod("web-1", "r2", false)];
        let st = compute_status(&s, &pods, "r1", "r2", 0, now);
        assert_eq!(st.replicas, 2);
        assert_eq!(
            (st.ready_replicas, st.current_replicas, st.updated_replicas),
            (Some(1), Some(1), Some(1))
        );
        assert_eq!(st.current_revision.as_deref(), Some("r1"));
        assert_eq!(st.observed_generation, Some(3));
        let pods = vec![pod("web-0", "r2", true), pod("web-1", "r2", true)];
        let st = compute_status(&s, &pods, "r1", "r2", 0, now);
        assert_eq!(st.current_revision.as_deref(), Some("r2"));
        assert_eq!(st.current_replicas, Some(2));
        let ondelete = set(json!({"type": "OnDelete"}));
        let st = compute_status(&ondelete, &pods, "r1", "r2", 0, now);
        assert_eq!(st.current_revision.as_deref(), Some("r1"));
    }

    #[test]
    fn revisions_round_trip_the_template() {
        let s = set(json!({}));
        let rev = new_revision(
            &Owner::of(&s),
            &Default::default(),
            revision_patch(&s),
            1,
            None,
        );
        assert_eq!(template_of(&rev), Some(s.spec.unwrap().template));
    }
}
