//! ControllerRevisions: the template history of DaemonSets and
//! StatefulSets (upstream `pkg/controller/history`).
//!
//! A revision holds a patch that restores its owner's template, is named
//! `<owner>-<hash>` (the hash of its data and the owner's collision
//! count, [`controller_revision_hash`]) and labelled with
//! `controller-revision-hash`. Creating a revision whose name is taken by
//! a revision with different data bumps the collision count and retries
//! (upstream `CreateControllerRevision`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::api_errors;
use super::controller_ref::Owner;
use super::hashing::{controller_revision_hash, semantic_form};

/// The label with a revision's hash, also put on the pods it made.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// Upstream `ControllerRevisionName`: `<prefix>-<hash>`, the prefix cut to
/// 223 characters.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut cut = prefix.len().min(223);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", &prefix[..cut])
}

/// The revision's data as a JSON value.
pub fn revision_data(rev: &ControllerRevision) -> serde_json::Value {
    rev.data.as_ref().map(|d| d.0.clone()).unwrap_or_default()
}

/// Upstream `NewControllerRevision`: a revision of `owner` with `data`,
/// `template_labels` plus the hash label.
pub fn new_revision(
    owner: &Owner,
    template_labels: &BTreeMap<String, String>,
    data: serde_json::Value,
    revision: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let raw = serde_json::to_vec(&data).unwrap_or_default();
    let hash = controller_revision_hash(&raw, collision_count);
    let mut labels = template_labels.clone();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_string(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(&owner.name, &hash)),
            namespace: Some(owner.namespace.clone()),
            labels: Some(labels),
            owner_references: Some(vec![owner.controller_ref()]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// Upstream `EqualRevision`: the same data (semantically).
pub fn equal_revision(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    semantic_form(revision_data(a)) == semantic_form(revision_data(b))
}

/// Sorted by revision number, then name (upstream `SortControllerRevisions`).
pub fn sort_revisions(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
}

/// One more than the highest revision number (1 when there is none).
pub fn next_revision(revisions: &[ControllerRevision]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// Creates `rev` (built with [`new_revision`] from `owner`); on a name
/// collision with different data, bumps `collision_count` and retries
/// with the new hash. Returns the stored revision.
pub async fn create_revision(
    client: &Client,
    owner: &Owner,
    template_labels: &BTreeMap<String, String>,
    data: serde_json::Value,
    revision: i64,
    collision_count: &mut i32,
) -> Result<ControllerRevision, kube::Error> {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), &owner.namespace);
    loop {
        let rev = new_revision(
            owner,
            template_labels,
            data.clone(),
            revision,
            Some(*collision_count),
        );
        match api.create(&PostParams::default(), &rev).await {
            Ok(created) => return Ok(created),
            Err(err) if api_errors::is_already_exists(&err) => {
                let existing = api.get(&rev.name_any()).await?;
                if equal_revision(&existing, &rev) {
                    return Ok(existing);
                }
                *collision_count += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Sets a revision's number (upstream `UpdateControllerRevision`).
pub async fn update_revision_number(
    client: &Client,
    rev: &ControllerRevision,
    revision: i64,
) -> Result<ControllerRevision, kube::Error> {
    let api: Api<ControllerRevision> =
        Api::namespaced(client.clone(), &rev.namespace().unwrap_or_default());
    api.patch(
        &rev.name_any(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"revision": revision})),
    )
    .await
}

/// Deletes a revision (a missing one is fine).
pub async fn delete_revision(client: &Client, rev: &ControllerRevision) -> Result<(), kube::Error> {
    let api: Api<ControllerRevision> =
        Api::namespaced(client.clone(), &rev.namespace().unwrap_or_default());
    match api.delete(&rev.name_any(), &Default::default()).await {
        Ok(_) => Ok(()),
        Err(err) if api_errors::is_not_found(&err) => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DaemonSet;

    #[test]
    fn revisions_are_named_and_labelled_by_hash() {
        let ds: DaemonSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "agent", "namespace": "ns", "uid": "u"}
        }))
        .unwrap();
        let owner = Owner::of(&ds);
        let labels = BTreeMap::from([("app".to_string(), "agent".to_string())]);
        let data = serde_json::json!({"spec": {"template": {"$patch": "replace"}}});
        let a = new_revision(&owner, &labels, data.clone(), 1, None);
        let hash = a.labels()[CONTROLLER_REVISION_HASH_LABEL].clone();
        assert_eq!(a.name_any(), format!("agent-{hash}"));
        assert_eq!(a.labels()["app"], "agent");
        assert_eq!(a.owner_references()[0].kind, "DaemonSet");
        let b = new_revision(&owner, &labels, data, 2, Some(1));
        assert_ne!(a.name_any(), b.name_any());
        assert!(equal_revision(&a, &b));
        let mut revs = vec![b.clone(), a.clone()];
        sort_revisions(&mut revs);
        assert_eq!(revs[0].revision, 1);
        assert_eq!(next_revision(&revs), 3);
        assert_eq!(revision_name(&"x".repeat(300), "h").len(), 225);
    }
}
