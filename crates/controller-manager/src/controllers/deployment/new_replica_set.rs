//! Finding (or creating) a Deployment's new ReplicaSet, and keeping
//! revisions in sync (upstream `getAllReplicaSetsAndSyncRevision` and
//! `getNewReplicaSet`).

use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::PostParams;

use super::annotations::{self, MAX_REVISION_HISTORY_CHARS};
use super::conditions::{
    self, FAILED_RS_CREATE_REASON, FOUND_NEW_RS_REASON, NEW_RS_REASON, PROGRESSING,
};
use super::replicas;
use super::{DeploymentReconciler, SyncError};
use crate::framework::api_errors::{self, NAMESPACE_TERMINATING_CAUSE};
use crate::framework::controller_ref::{Owner, controller_of};
use crate::framework::events::EventType;
use crate::framework::hashing::{
    POD_TEMPLATE_HASH_LABEL, pod_template_hash, templates_equal_ignoring_hash,
};

/// Upstream `ReplicaSetsByCreationTimestamp`: older first, then by name.
pub(super) fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The Deployment's template.
fn template(d: &Deployment) -> k8s_openapi::api::core::v1::PodTemplateSpec {
    d.spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default()
}

/// Upstream `FindNewReplicaSet`: the oldest ReplicaSet whose template
/// equals the Deployment's (ignoring the hash label).
pub(super) fn find_new<'a>(d: &Deployment, rs_list: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    let wanted = template(d);
    let mut sorted: Vec<&ReplicaSet> = rs_list.iter().collect();
    sorted.sort_by(|a, b| by_creation(a, b));
    sorted.into_iter().find(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| templates_equal_ignoring_hash(t, &wanted))
    })
}

/// Every ReplicaSet but the new one.
pub(super) fn find_old(d: &Deployment, rs_list: &[ReplicaSet]) -> Vec<ReplicaSet> {
    let new_uid = find_new(d, rs_list).and_then(|rs| rs.uid());
    rs_list
        .iter()
        .filter(|rs| new_uid.is_none() || rs.uid() != new_uid)
        .cloned()
        .collect()
}

impl DeploymentReconciler {
    /// The new ReplicaSet (created if `create` and missing) and the old
    /// ones, with revisions synced; `rs_list` is updated with what was
    /// written.
    pub(super) async fn get_all_replica_sets_and_sync_revision(
        &self,
        d: &mut Deployment,
        rs_list: &mut Vec<ReplicaSet>,
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), SyncError> {
        let old = find_old(d, rs_list);
        let new = self.get_new_replica_set(d, rs_list, &old, create).await?;
        if let Some(rs) = &new {
            match rs_list.iter_mut().find(|r| r.uid() == rs.uid()) {
                Some(slot) => *slot = rs.clone(),
                None => rs_list.push(rs.clone()),
            }
        }
        Ok((new, old))
    }

    async fn get_new_replica_set(
        &self,
        d: &mut Deployment,
        rs_list: &[ReplicaSet],
        old: &[ReplicaSet],
        create: bool,
    ) -> Result<Option<ReplicaSet>, SyncError> {
        let namespace = d.namespace().unwrap_or_default();
        let new_revision = (annotations::max_revision(old) + 1).to_string();
        let max_replicas_now = replicas::desired(d).saturating_add(replicas::max_surge(d));
        if let Some(existing) = find_new(d, rs_list) {
            let mut rs = existing.clone();
            let annotations_updated = annotations::set_new_replica_set_annotations(
                d,
                &mut rs,
                &new_revision,
                true,
                MAX_REVISION_HISTORY_CHARS,
                max_replicas_now,
            );
            let min_ready = replicas::min_ready_seconds(d);
            let spec = rs.spec.get_or_insert_with(ReplicaSetSpec::default);
            let min_ready_changed = spec.min_ready_seconds.unwrap_or(0) != min_ready;
            if annotations_updated || min_ready_changed {
                spec.min_ready_seconds = Some(min_ready);
                let updated = self
                    .rs_api(&namespace)
                    .replace(&rs.name_any(), &PostParams::default(), &rs)
                    .await?;
                return Ok(Some(updated));
            }
            let revision = rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(annotations::REVISION))
                .cloned()
                .unwrap_or_default();
            let mut needs_update = annotations::set_deployment_revision(d, &revision);
            let status = d.status.get_or_insert_with(Default::default);
            if conditions::has_progress_deadline_of(d.spec.as_ref())
                && conditions::get_condition(status, PROGRESSING).is_none()
            {
                conditions::set_condition(
                    status,
                    conditions::new_condition(
                        PROGRESSING,
                        "True",
                        FOUND_NEW_RS_REASON,
                        &format!("Found new replica set {:?}", rs.name_any()),
                    ),
                );
                needs_update = true;
            }
            if needs_update {
                self.update_status(d).await?;
            }
            return Ok(Some(rs));
        }
        if !create {
            return Ok(None);
        }
        self.create_new_replica_set(d, old, &new_revision, max_replicas_now)
            .await
            .map(Some)
    }

    async fn create_new_replica_set(
        &self,
        d: &mut Deployment,
        old: &[ReplicaSet],
        new_revision: &str,
        max_replicas_now: i32,
    ) -> Result<ReplicaSet, SyncError> {
        let namespace = d.namespace().unwrap_or_default();
        let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
        let mut new_template = template(d);
        let hash = pod_template_hash(&new_template, collision_count);
        new_template
            .metadata
            .get_or_insert_with(ObjectMeta::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone());
        let mut selector = d
            .spec
            .as_ref()
            .map(|s| s.selector.clone())
            .unwrap_or_default();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone());
        let name = format!("{}-{hash}", d.name_any());
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                owner_references: Some(vec![Owner::of(&*d).controller_ref()]),
                labels: new_template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: Some(replicas::min_ready_seconds(d)),
                selector,
                template: Some(new_template),
            }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(&new_rs)).collect();
        let new_replicas = replicas::new_rs_new_replicas(d, &all, 0).map_err(SyncError::Invalid)?;
        if let Some(spec) = new_rs.spec.as_mut() {
            spec.replicas = Some(new_replicas);
        }
        annotations::set_new_replica_set_annotations(
            d,
            &mut new_rs,
            new_revision,
            false,
            MAX_REVISION_HISTORY_CHARS,
            max_replicas_now,
        );
        let (created, already_existed) = match self
            .rs_api(&namespace)
            .create(&PostParams::default(), &new_rs)
            .await
        {
            Ok(created) => (created, false),
            Err(err) if api_errors::is_already_exists(&err) => {
                // A slow cache, or a hash collision with a ReplicaSet that
                // is not ours or has another template.
                let Some(existing) = self.replica_sets.get(Some(&namespace), &name) else {
                    return Err(err.into());
                };
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|r| Some(r.uid.as_str()) == d.metadata.uid.as_deref());
                let same_template = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| templates_equal_ignoring_hash(t, &template(d)));
                if !(ours && same_template) {
                    let status = d.status.get_or_insert_with(Default::default);
                    let count = status.collision_count.unwrap_or(0).saturating_add(1);
                    status.collision_count = Some(count);
                    if self.update_status(d).await.is_ok() {
                        tracing::info!(
                            collision_count = count,
                            "found a hash collision for deployment; bumped collisionCount"
                        );
                    }
                    return Err(err.into());
                }
                ((*existing).clone(), true)
            }
            Err(err) if api_errors::has_status_cause(&err, NAMESPACE_TERMINATING_CAUSE) => {
                return Err(err.into());
            }
            Err(err) => {
                let message = format!(
                    "Failed to create new replica set {name:?}: {}",
                    api_errors::message(&err)
                );
                if conditions::has_progress_deadline_of(d.spec.as_ref()) {
                    let status = d.status.get_or_insert_with(Default::default);
                    conditions::set_condition(
                        status,
                        conditions::new_condition(
                            PROGRESSING,
                            "False",
                            FAILED_RS_CREATE_REASON,
                            &message,
                        ),
                    );
                    // The failure below is what matters.
                    let _ = self.update_status(d).await;
                }
                self.recorder
                    .event(&*d, EventType::Warning, FAILED_RS_CREATE_REASON, &message);
                return Err(err.into());
            }
        };
        if !already_existed && new_replicas > 0 {
            self.recorder.event(
                &*d,
                EventType::Normal,
                "ScalingReplicaSet",
                &format!("Scaled up replica set {name} from 0 to {new_replicas}"),
            );
        }
        let mut needs_update = annotations::set_deployment_revision(d, new_revision);
        if !already_existed && conditions::has_progress_deadline_of(d.spec.as_ref()) {
            let status = d.status.get_or_insert_with(Default::default);
            conditions::set_condition(
                status,
                conditions::new_condition(
                    PROGRESSING,
                    "True",
                    NEW_RS_REASON,
                    &format!("Created new replica set {name:?}"),
                ),
            );
            needs_update = true;
        }
        if needs_update {
            self.update_status(d).await?;
        }
        Ok(created)
    }
}
