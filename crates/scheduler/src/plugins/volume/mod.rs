//! The volume plugins: VolumeRestrictions, NodeVolumeLimits, VolumeZone and
//! VolumeBinding, to the extent PersistentVolumes and claims exist in a
//! Corten cluster.

pub mod binding;
pub mod limits;
pub mod restrictions;
pub mod zone;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};

use crate::cache::Snapshot;
use crate::framework::{ActionType, ClusterEventWithHint, EventResource};

/// The claim names a pod uses: its PVC volumes and the claims of its
/// generic ephemeral volumes (`<pod>-<volume>`).
pub fn pod_claim_names(pod: &Pod) -> Vec<String> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| {
            if let Some(claim) = &v.persistent_volume_claim {
                Some(claim.claim_name.clone())
            } else {
                v.ephemeral
                    .as_ref()
                    .map(|_| format!("{pod_name}-{}", v.name))
            }
        })
        .collect()
}

/// Looks up a claim of the pod's namespace.
pub fn claim<'a>(
    snapshot: &'a Snapshot,
    namespace: &str,
    name: &str,
) -> Option<&'a Arc<PersistentVolumeClaim>> {
    snapshot.listers.pvcs.get(&format!("{namespace}/{name}"))
}

/// The PV a claim is bound to, if it exists.
pub fn bound_volume<'a>(
    snapshot: &'a Snapshot,
    claim: &PersistentVolumeClaim,
) -> Option<&'a Arc<PersistentVolume>> {
    let name = claim
        .spec
        .as_ref()?
        .volume_name
        .as_deref()
        .filter(|n| !n.is_empty())?;
    snapshot.listers.pvs.get(name)
}

/// The storage class name of a claim (`spec.storageClassName` or the beta
/// annotation).
pub fn claim_class(claim: &PersistentVolumeClaim) -> String {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .or_else(|| {
            claim
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class").cloned())
        })
        .unwrap_or_default()
}

/// Events after which volume-related rejections are retried.
pub fn volume_events() -> Vec<ClusterEventWithHint> {
    vec![
        ClusterEventWithHint::always(
            EventResource::PersistentVolumeClaim,
            ActionType::ADD.or(ActionType::UPDATE),
        ),
        ClusterEventWithHint::always(
            EventResource::PersistentVolume,
            ActionType::ADD.or(ActionType::UPDATE),
        ),
        ClusterEventWithHint::always(
            EventResource::StorageClass,
            ActionType::ADD.or(ActionType::UPDATE),
        ),
        ClusterEventWithHint::always(
            EventResource::CsiNode,
            ActionType::ADD.or(ActionType::UPDATE),
        ),
        ClusterEventWithHint::always(
            EventResource::Node,
            ActionType::ADD.or(ActionType::UPDATE_NODE_LABEL),
        ),
        ClusterEventWithHint::always(EventResource::AssignedPod, ActionType::DELETE),
    ]
}
