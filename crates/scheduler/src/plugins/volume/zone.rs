//! VolumeZone: a pod's bound volumes must be reachable from the node's zone
//! and region (the PV's topology labels).

use super::{bound_volume, claim, claim_class, pod_claim_names, volume_events};
use crate::cache::Snapshot;
use crate::framework::{
    ClusterEventWithHint, ExtensionPoints, NodeInfo, Plugin, PodInfo, PreFilterOutput, StateData,
    Status, state_ref,
};

/// Plugin name.
pub const NAME: &str = "VolumeZone";
/// Upstream `ErrReasonConflict`.
pub const ERR_REASON_CONFLICT: &str = "node(s) had no available volume zone";

const TOPOLOGY_LABELS: [&str; 4] = [
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
];

/// The VolumeZone plugin.
#[derive(Debug, Default)]
pub struct VolumeZone;

/// (label, allowed values) of each bound PV topology label.
#[derive(Clone)]
struct PreFilterState {
    constraints: Vec<(String, Vec<String>)>,
}

impl Plugin for VolumeZone {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_FILTER.or(ExtensionPoints::FILTER)
    }

    fn pre_filter(&self, pod: &PodInfo, snapshot: &Snapshot) -> PreFilterOutput {
        let names = pod_claim_names(&pod.pod);
        if names.is_empty() {
            return PreFilterOutput::status(Status::skip());
        }
        let mut constraints = Vec::new();
        for name in names {
            let Some(pvc) = claim(snapshot, &pod.namespace, &name) else {
                return PreFilterOutput::status(Status::unresolvable(format!(
                    "persistentvolumeclaim {name:?} not found"
                )));
            };
            let volume_name = pvc
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.clone())
                .unwrap_or_default();
            if volume_name.is_empty() {
                let class_name = claim_class(pvc);
                if class_name.is_empty() {
                    return PreFilterOutput::status(Status::unresolvable(
                        "PersistentVolumeClaim had no pv name and storageClass name",
                    ));
                }
                let Some(class) = snapshot.listers.storage_classes.get(&class_name) else {
                    return PreFilterOutput::status(Status::unresolvable(format!(
                        "storageclass.storage.k8s.io {class_name:?} not found"
                    )));
                };
                match class.volume_binding_mode.as_deref() {
                    Some("WaitForFirstConsumer") => continue,
                    None => {
                        return PreFilterOutput::status(Status::unresolvable(format!(
                            "VolumeBindingMode not set for StorageClass {class_name:?}"
                        )));
                    }
                    Some(_) => {
                        return PreFilterOutput::status(Status::unresolvable(
                            "PersistentVolume had no name",
                        ));
                    }
                }
            }
            let Some(pv) = bound_volume(snapshot, pvc) else {
                return PreFilterOutput::status(Status::unresolvable(format!(
                    "persistentvolume {volume_name:?} not found"
                )));
            };
            for label in TOPOLOGY_LABELS {
                if let Some(value) = pv.metadata.labels.as_ref().and_then(|l| l.get(label)) {
                    constraints.push((
                        label.to_string(),
                        value.split("__").map(str::to_string).collect(),
                    ));
                }
            }
        }
        if constraints.is_empty() {
            return PreFilterOutput::status(Status::skip());
        }
        PreFilterOutput::with_state(PreFilterState { constraints })
    }

    fn filter(
        &self,
        state: Option<&dyn StateData>,
        _pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        let Some(s) = state_ref::<PreFilterState>(state) else {
            return Status::success();
        };
        let labels = node.labels();
        if !TOPOLOGY_LABELS.iter().any(|l| labels.contains_key(*l)) {
            return Status::success();
        }
        for (label, values) in &s.constraints {
            match labels.get(label) {
                Some(v) if values.contains(v) => {}
                _ => return Status::unresolvable(ERR_REASON_CONFLICT),
            }
        }
        Status::success()
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        volume_events()
    }
}
