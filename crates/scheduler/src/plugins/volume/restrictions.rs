//! VolumeRestrictions: a node cannot mount the same exclusive disk twice
//! (GCE PD, AWS EBS, RBD, iSCSI), and a ReadWriteOncePod claim can be used
//! by one pod only.

use k8s_openapi::api::core::v1::Volume;

use super::{claim, pod_claim_names, volume_events};
use crate::cache::Snapshot;
use crate::framework::{
    ClusterEventWithHint, ExtensionPoints, NodeInfo, Plugin, PodInfo, PreFilterOutput, StateData,
    Status,
};

/// Plugin name.
pub const NAME: &str = "VolumeRestrictions";
/// Upstream `ErrReasonDiskConflict`.
pub const ERR_DISK_CONFLICT: &str = "node(s) had no available disk";
/// Upstream `ErrReasonReadWriteOncePodConflict`.
pub const ERR_RWOP_CONFLICT: &str =
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode";

/// The VolumeRestrictions plugin.
#[derive(Debug, Default)]
pub struct VolumeRestrictions;

fn exclusive(v: &Volume) -> bool {
    v.gce_persistent_disk.is_some()
        || v.aws_elastic_block_store.is_some()
        || v.rbd.is_some()
        || v.iscsi.is_some()
}

/// Upstream `isVolumeConflict`.
fn conflicts(a: &Volume, b: &Volume) -> bool {
    if let (Some(x), Some(y)) = (&a.gce_persistent_disk, &b.gce_persistent_disk) {
        return x.pd_name == y.pd_name
            && !(x.read_only.unwrap_or(false) && y.read_only.unwrap_or(false));
    }
    if let (Some(x), Some(y)) = (&a.aws_elastic_block_store, &b.aws_elastic_block_store) {
        return x.volume_id == y.volume_id;
    }
    if let (Some(x), Some(y)) = (&a.iscsi, &b.iscsi) {
        return x.iqn == y.iqn && !(x.read_only.unwrap_or(false) && y.read_only.unwrap_or(false));
    }
    if let (Some(x), Some(y)) = (&a.rbd, &b.rbd) {
        let shares_monitor = x.monitors.iter().any(|m| y.monitors.contains(m));
        return shares_monitor
            && x.pool == y.pool
            && x.image == y.image
            && !(x.read_only.unwrap_or(false) && y.read_only.unwrap_or(false));
    }
    false
}

fn volumes(pod: &PodInfo) -> &[Volume] {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or(&[])
}

impl Plugin for VolumeRestrictions {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_FILTER.or(ExtensionPoints::FILTER)
    }

    fn pre_filter(&self, pod: &PodInfo, snapshot: &Snapshot) -> PreFilterOutput {
        let has_exclusive = volumes(pod).iter().any(exclusive);
        let mut rwop_claims = Vec::new();
        for name in pod_claim_names(&pod.pod) {
            let Some(pvc) = claim(snapshot, &pod.namespace, &name) else {
                continue;
            };
            let rwop = pvc
                .spec
                .as_ref()
                .and_then(|s| s.access_modes.as_ref())
                .is_some_and(|m| m.iter().any(|m| m == "ReadWriteOncePod"));
            if rwop {
                rwop_claims.push(format!("{}/{name}", pod.namespace));
            }
        }
        if !has_exclusive && rwop_claims.is_empty() {
            return PreFilterOutput::status(Status::skip());
        }
        if !rwop_claims.is_empty() {
            let in_use = snapshot.nodes().any(|n| {
                rwop_claims.iter().any(|c| {
                    n.pvc_ref_counts.get(c).is_some_and(|count| *count > 0)
                        && !n.pods.iter().any(|p| p.uid == pod.uid)
                })
            });
            if in_use {
                return PreFilterOutput::status(Status::unschedulable(ERR_RWOP_CONFLICT));
            }
        }
        PreFilterOutput::default()
    }

    fn filter(
        &self,
        _state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        for v in volumes(pod).iter().filter(|v| exclusive(v)) {
            for existing in &node.pods {
                if volumes(existing).iter().any(|e| conflicts(v, e)) {
                    return Status::unschedulable(ERR_DISK_CONFLICT);
                }
            }
        }
        Status::success()
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        volume_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn pod(uid: &str, volumes: serde_json::Value) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(
                json!({"metadata": {"name": uid, "uid": uid, "namespace": "ns"},
            "spec": {"nodeName": "n", "containers": [], "volumes": volumes}}),
            )
            .unwrap(),
        )))
    }

    #[test]
    fn gce_disks_conflict_unless_both_read_only() {
        let snap = Snapshot::new();
        let mut node = NodeInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap(),
        ));
        node.add_pod(pod(
            "a",
            json!([{"name": "v", "gcePersistentDisk": {"pdName": "disk", "readOnly": true}}]),
        ));
        let rw = pod(
            "b",
            json!([{"name": "v", "gcePersistentDisk": {"pdName": "disk"}}]),
        );
        assert_eq!(
            VolumeRestrictions.filter(None, &rw, &node, &snap).message(),
            ERR_DISK_CONFLICT
        );
        let ro = pod(
            "c",
            json!([{"name": "v", "gcePersistentDisk": {"pdName": "disk", "readOnly": true}}]),
        );
        assert!(
            VolumeRestrictions
                .filter(None, &ro, &node, &snap)
                .is_success()
        );
        let other = pod(
            "d",
            json!([{"name": "v", "awsElasticBlockStore": {"volumeID": "x"}}]),
        );
        assert!(
            VolumeRestrictions
                .filter(None, &other, &node, &snap)
                .is_success()
        );
    }

    #[test]
    fn read_write_once_pod_claims_are_exclusive() {
        let mut snap = Snapshot::new();
        snap.listers.pvcs.insert("ns/data".into(), Arc::new(serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns"}, "spec": {"accessModes": ["ReadWriteOncePod"]}})).unwrap()));
        snap.upsert_node(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap(),
        ));
        let volumes = json!([{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]);
        let newcomer = pod("b", volumes.clone());
        snap.prepare();
        assert!(
            VolumeRestrictions
                .pre_filter(&newcomer, &snap)
                .status
                .is_success()
        );
        snap.upsert_pod(pod("a", volumes));
        snap.prepare();
        assert_eq!(
            VolumeRestrictions
                .pre_filter(&newcomer, &snap)
                .status
                .message(),
            ERR_RWOP_CONFLICT
        );
    }
}
