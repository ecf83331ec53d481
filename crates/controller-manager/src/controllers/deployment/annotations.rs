//! The annotations a Deployment keeps on its ReplicaSets and on itself
//! (upstream `deploymentutil`): revisions, revision history, and the
//! replica counts a ReplicaSet was sized for.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The rollout sequence number of a ReplicaSet (and the current one on the
/// Deployment).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet had before it was rolled back to.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last sized.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas + maxSurge when the ReplicaSet was last sized.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The extensions/v1beta1 rollback request (not copied).
pub const DEPRECATED_ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// kubectl's client-side apply record (not copied).
pub const LAST_APPLIED_CONFIGURATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Longest `revision-history` value (upstream `maxRevHistoryLengthInChars`).
pub const MAX_REVISION_HISTORY_CHARS: usize = 2000;

fn skip_copy(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED_CONFIGURATION
            | REVISION
            | REVISION_HISTORY
            | DESIRED_REPLICAS
            | MAX_REPLICAS
            | DEPRECATED_ROLLBACK_TO
    )
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Upstream `Revision`: the revision annotation (absent: 0).
pub fn revision(meta: &ObjectMeta) -> Result<i64, std::num::ParseIntError> {
    match annotation(meta, REVISION) {
        None => Ok(0),
        Some(v) => v.parse(),
    }
}

/// The highest parsable revision among `rss` (0 if none).
pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter()
        .filter_map(|rs| revision(&rs.metadata).ok())
        .max()
        .unwrap_or(0)
}

/// The `desired-replicas` annotation.
pub fn desired_replicas(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, DESIRED_REPLICAS)?.parse().ok()
}

/// The `max-replicas` annotation.
pub fn max_replicas(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, MAX_REPLICAS)?.parse().ok()
}

/// Whether `desired-replicas`/`max-replicas` differ from these values.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// Sets `desired-replicas`/`max-replicas`; whether anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

/// Copies the Deployment's annotations (except the ones it manages) onto
/// the ReplicaSet; whether anything changed.
fn copy_deployment_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in d.metadata.annotations.iter().flatten() {
        if skip_copy(key) || annotations.get(key) == Some(value) {
            continue;
        }
        annotations.insert(key.clone(), value.clone());
        changed = true;
    }
    changed
}

/// Upstream `SetNewReplicaSetAnnotations`: copies the Deployment's
/// annotations, raises the revision to `new_revision` (recording the old
/// one in `revision-history` when a ReplicaSet is reused by a rollback),
/// and for a ReplicaSet about to be created (`exists == false`) sets the
/// replica annotations. Whether anything changed.
pub fn set_new_replica_set_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: &str,
    exists: bool,
    max_history_chars: usize,
    max_replicas_now: i32,
) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old_revision = annotations.get(REVISION).cloned();
    let old_revision_number: i64 = match old_revision.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse() {
            Ok(n) => n,
            Err(_) => {
                tracing::info!(revision = v, "replica set revision is not a number");
                return false;
            }
        },
    };
    let Ok(new_revision_number) = new_revision.parse::<i64>() else {
        return false;
    };
    if old_revision_number < new_revision_number {
        annotations.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old_revision {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.to_string(), old);
            } else {
                let mut entries: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > max_history_chars && start < entries.len() {
                    total -= entries[start].len() + 1;
                    start += 1;
                }
                if total <= max_history_chars {
                    entries = entries.split_off(start);
                    entries.push(&old);
                    annotations.insert(REVISION_HISTORY.to_string(), entries.join(","));
                } else {
                    tracing::info!("not appending revision: revision history length limit reached");
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, super::replicas::desired(d), max_replicas_now) {
        changed = true;
    }
    changed
}

/// Upstream `SetDeploymentRevision`; whether it changed.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let annotations = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
    if annotations.get(REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION.to_string(), revision.to_string());
    true
}

/// The Deployment's own revision annotation.
pub fn deployment_revision(d: &Deployment) -> Option<&str> {
    annotation(&d.metadata, REVISION)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_annotations(pairs: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            annotations: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn new_replica_sets_get_revision_copies_and_sizes() {
        let d = Deployment {
            metadata: with_annotations(&[
                ("kubernetes.io/change-cause", "bump"),
                (REVISION, "7"),
                (LAST_APPLIED_CONFIGURATION, "{}"),
            ]),
            ..Deployment::default()
        };
        let mut rs = ReplicaSet::default();
        assert!(set_new_replica_set_annotations(
            &d, &mut rs, "3", false, 2000, 4
        ));
        let a = rs.metadata.annotations.clone().unwrap();
        assert_eq!(a["kubernetes.io/change-cause"], "bump");
        assert_eq!(a[REVISION], "3");
        assert_eq!(a[DESIRED_REPLICAS], "1");
        assert_eq!(a[MAX_REPLICAS], "4");
        assert!(!a.contains_key(LAST_APPLIED_CONFIGURATION));
        assert!(!a.contains_key(REVISION_HISTORY));
        // Nothing more to do the second time.
        assert!(!set_new_replica_set_annotations(
            &d, &mut rs, "3", true, 2000, 4
        ));
    }

    #[test]
    fn reused_replica_sets_record_their_history() {
        let d = Deployment::default();
        let mut rs = ReplicaSet {
            metadata: with_annotations(&[(REVISION, "1")]),
            ..ReplicaSet::default()
        };
        assert!(set_new_replica_set_annotations(
            &d, &mut rs, "3", true, 2000, 0
        ));
        assert!(set_new_replica_set_annotations(
            &d, &mut rs, "5", true, 2000, 0
        ));
        let a = rs.metadata.annotations.clone().unwrap();
        assert_eq!(a[REVISION], "5");
        assert_eq!(a[REVISION_HISTORY], "1,3");
        // A lower revision never replaces a higher one.
        assert!(!set_new_replica_set_annotations(
            &d, &mut rs, "4", true, 2000, 0
        ));
        // The history is trimmed from the front to fit.
        assert!(set_new_replica_set_annotations(
            &d, &mut rs, "10", true, 4, 0
        ));
        assert_eq!(rs.metadata.annotations.unwrap()[REVISION_HISTORY], "3,5");
    }

    #[test]
    fn revisions_parse_and_compare() {
        let rs = |v: &str| ReplicaSet {
            metadata: with_annotations(&[(REVISION, v)]),
            ..ReplicaSet::default()
        };
        let all = [rs("2"), rs("x"), rs("11"), ReplicaSet::default()];
        assert_eq!(max_revision(&all), 11);
        assert!(revision(&all[1].metadata).is_err());
        let mut d = Deployment::default();
        assert!(set_deployment_revision(&mut d, "4"));
        assert!(!set_deployment_revision(&mut d, "4"));
        assert_eq!(deployment_revision(&d), Some("4"));
    }
}
