//! NodeVolumeLimits: the CSI volumes on a node must stay within what each
//! driver reports in the node's CSINode (`drivers[].allocatable.count`).

use std::collections::{BTreeMap, BTreeSet};

use super::{bound_volume, claim, claim_class, pod_claim_names, volume_events};
use crate::cache::Snapshot;
use crate::framework::{
    ClusterEventWithHint, ExtensionPoints, NodeInfo, Plugin, PodInfo, PreFilterOutput, StateData,
    Status,
};

/// Plugin name.
pub const NAME: &str = "NodeVolumeLimits";
/// Upstream `ErrReasonMaxVolumeCountExceeded`.
pub const ERR_MAX_VOLUME_COUNT: &str = "node(s) exceed max volume count";

/// The NodeVolumeLimits plugin.
#[derive(Debug, Default)]
pub struct NodeVolumeLimits;

/// driver -> volume handles used by `pod`.
fn csi_volumes(pod: &PodInfo, snapshot: &Snapshot) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in pod_claim_names(&pod.pod) {
        let Some(pvc) = claim(snapshot, &pod.namespace, &name) else {
            continue;
        };
        if let Some(pv) = bound_volume(snapshot, pvc) {
            if let Some(csi) = pv.spec.as_ref().and_then(|s| s.csi.as_ref()) {
                out.entry(csi.driver.clone())
                    .or_default()
                    .insert(csi.volume_handle.clone());
            }
            continue;
        }
        let class = claim_class(pvc);
        if let Some(sc) = snapshot.listers.storage_classes.get(&class) {
            out.entry(sc.provisioner.clone())
                .or_default()
                .insert(format!("{}/{name}", pod.namespace));
        }
    }
    out
}

impl Plugin for NodeVolumeLimits {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_FILTER.or(ExtensionPoints::FILTER)
    }

    fn pre_filter(&self, pod: &PodInfo, _snapshot: &Snapshot) -> PreFilterOutput {
        if pod_claim_names(&pod.pod).is_empty() {
            return PreFilterOutput::status(Status::skip());
        }
        PreFilterOutput::default()
    }

    fn filter(
        &self,
        _state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Status {
        let Some(csi_node) = snapshot.listers.csi_nodes.get(&node.name) else {
            return Status::success();
        };
        let wanted = csi_volumes(pod, snapshot);
        if wanted.is_empty() {
            return Status::success();
        }
        let mut attached: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for existing in &node.pods {
            for (driver, handles) in csi_volumes(existing, snapshot) {
                attached.entry(driver).or_default().extend(handles);
            }
        }
        for driver in &csi_node.spec.drivers {
            let Some(limit) = driver.allocatable.as_ref().and_then(|a| a.count) else {
                continue;
            };
            let Some(new) = wanted.get(&driver.name) else {
                continue;
            };
            let used = attached.get(&driver.name);
            let added = new
                .iter()
                .filter(|h| used.is_none_or(|u| !u.contains(*h)))
                .count();
            let total = used.map_or(0, BTreeSet::len) + added;
            if total > usize::try_from(limit).unwrap_or(0) {
                return Status::unschedulable(ERR_MAX_VOLUME_COUNT);
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

    #[test]
    fn csi_limits_are_enforced() {
        let mut snap = Snapshot::new();
        snap.listers.csi_nodes.insert("n".into(), Arc::new(serde_json::from_value(json!({
            "metadata": {"name": "n"}, "spec": {"drivers": [{"name": "ebs.csi", "nodeID": "n", "allocatable": {"count": 1}}]}})).unwrap()));
        for (claim, pv) in [("a", "pv-a"), ("b", "pv-b")] {
            snap.listers.pvcs.insert(
                format!("ns/{claim}"),
                Arc::new(
                    serde_json::from_value(json!({
                "metadata": {"name": claim, "namespace": "ns"}, "spec": {"volumeName": pv}}))
                    .unwrap(),
                ),
            );
            snap.listers.pvs.insert(pv.into(), Arc::new(serde_json::from_value(json!({
                "metadata": {"name": pv}, "spec": {"csi": {"driver": "ebs.csi", "volumeHandle": pv}}})).unwrap()));
        }
        let pod = |uid: &str, claim: &str| {
            Arc::new(PodInfo::new(Arc::new(serde_json::from_value(json!({
            "metadata": {"name": uid, "uid": uid, "namespace": "ns"},
            "spec": {"nodeName": "n", "containers": [], "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}})).unwrap())))
        };
        let mut node = NodeInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap(),
        ));
        assert!(
            NodeVolumeLimits
                .filter(None, &pod("x", "a"), &node, &snap)
                .is_success()
        );
        node.add_pod(pod("x", "a"));
        // The same volume again is fine; a second one exceeds the limit.
        assert!(
            NodeVolumeLimits
                .filter(None, &pod("y", "a"), &node, &snap)
                .is_success()
        );
        assert_eq!(
            NodeVolumeLimits
                .filter(None, &pod("z", "b"), &node, &snap)
                .message(),
            ERR_MAX_VOLUME_COUNT
        );
    }
}
