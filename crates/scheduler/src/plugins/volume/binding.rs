//! VolumeBinding: bound claims must be usable from the node (PV node
//! affinity); unbound `WaitForFirstConsumer` claims need a matching static
//! PV or a provisioner that can serve the node; unbound `Immediate` claims
//! keep the pod pending. PreBind writes the choices (PV `claimRef`, or the
//! claim's `volume.kubernetes.io/selected-node` annotation).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use serde_json::json;

use super::{bound_volume, claim, claim_class, pod_claim_names, volume_events};
use crate::cache::Snapshot;
use crate::config::args::{VolumeBindingArgs, decode};
use crate::framework::node_selector::{CompiledNodeSelector, CompiledTerm};
use crate::framework::resource::quantity_value;
use crate::framework::{
    ClusterApi, ClusterEventWithHint, ExtensionPoints, NodeInfo, Plugin, PodInfo, PreFilterOutput,
    StateData, Status, StatusFuture, state_ref,
};

/// Plugin name.
pub const NAME: &str = "VolumeBinding";
/// Upstream `ErrReasonBindConflict`.
pub const ERR_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// Upstream `ErrReasonNodeConflict`.
pub const ERR_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// Upstream `ErrReasonPVNotExist`.
pub const ERR_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// Upstream's message for unbound Immediate claims.
pub const ERR_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// What PreBind must write for one claim.
#[derive(Debug, Clone)]
enum Action {
    /// Bind static PV `pv` to the claim.
    Static {
        pv: String,
        claim: Arc<PersistentVolumeClaim>,
    },
    /// Ask for provisioning on the node.
    Provision { claim: Arc<PersistentVolumeClaim> },
}

/// The VolumeBinding plugin.
pub struct VolumeBinding {
    api: Arc<dyn ClusterApi>,
    reserved: Mutex<HashMap<String, Vec<Action>>>,
}

impl std::fmt::Debug for VolumeBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VolumeBinding")
    }
}

#[derive(Clone)]
struct PreFilterState {
    bound: Vec<Arc<PersistentVolume>>,
    missing_pv: bool,
    delayed: Vec<Arc<PersistentVolumeClaim>>,
}

impl VolumeBinding {
    /// Builds the plugin from its args.
    pub fn new(args: Option<&serde_json::Value>, api: Arc<dyn ClusterApi>) -> Result<Self, String> {
        let args: VolumeBindingArgs = decode(args, "args")?;
        let errors = args.validate("args");
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(VolumeBinding {
            api,
            reserved: Mutex::new(HashMap::new()),
        })
    }
}

fn pv_fits_node(pv: &PersistentVolume, node: &Node) -> bool {
    pv.spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .is_none_or(|required| CompiledNodeSelector::new(required).matches(node))
}

fn requested_storage(claim: &PersistentVolumeClaim) -> i64 {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map_or(0, |q| quantity_value("storage", q))
}

/// Whether static `pv` can serve `claim` on `node`.
fn pv_matches(pv: &PersistentVolume, claim: &PersistentVolumeClaim, node: &Node) -> bool {
    let Some(spec) = pv.spec.as_ref() else {
        return false;
    };
    let claim_ns = claim.metadata.namespace.as_deref().unwrap_or("");
    let claim_name = claim.metadata.name.as_deref().unwrap_or("");
    let available = spec.claim_ref.as_ref().is_none_or(|r| {
        r.namespace.as_deref() == Some(claim_ns) && r.name.as_deref() == Some(claim_name)
    });
    let phase_ok = pv
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_none_or(|p| p == "Available" || p == "Pending");
    let same_class = spec.storage_class_name.clone().unwrap_or_default() == claim_class(claim);
    let capacity = spec
        .capacity
        .as_ref()
        .and_then(|c| c.get("storage"))
        .map_or(0, |q| quantity_value("storage", q));
    let wanted_modes = claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.clone())
        .unwrap_or_default();
    let modes = spec.access_modes.clone().unwrap_or_default();
    let mode = |m: Option<&String>| m.cloned().unwrap_or_else(|| "Filesystem".to_string());
    let volume_mode_ok = mode(spec.volume_mode.as_ref())
        == mode(claim.spec.as_ref().and_then(|s| s.volume_mode.as_ref()));
    available
        && phase_ok
        && same_class
        && capacity >= requested_storage(claim)
        && wanted_modes.iter().all(|m| modes.contains(m))
        && volume_mode_ok
        && pv_fits_node(pv, node)
}

/// Chooses how to satisfy each delayed claim on `node`.
fn plan(
    delayed: &[Arc<PersistentVolumeClaim>],
    node: &Node,
    snapshot: &Snapshot,
) -> Option<Vec<Action>> {
    let mut taken: Vec<String> = Vec::new();
    let mut actions = Vec::new();
    for claim in delayed {
        let mut pvs: Vec<&Arc<PersistentVolume>> = snapshot
            .listers
            .pvs
            .values()
            .filter(|pv| {
                !taken.contains(&pv.metadata.name.clone().unwrap_or_default())
                    && pv_matches(pv, claim, node)
            })
            .collect();
        pvs.sort_by_key(|pv| {
            pv.spec
                .as_ref()
                .and_then(|s| s.capacity.as_ref())
                .and_then(|c| c.get("storage"))
                .map_or(0, |q| quantity_value("storage", q))
        });
        if let Some(pv) = pvs.first() {
            let name = pv.metadata.name.clone().unwrap_or_default();
            taken.push(name.clone());
            actions.push(Action::Static {
                pv: name,
                claim: claim.clone(),
            });
            continue;
        }
        let class = snapshot.listers.storage_classes.get(&claim_class(claim))?;
        if class.provisioner == "kubernetes.io/no-provisioner" {
            return None;
        }
        let topology_ok = class.allowed_topologies.as_ref().is_none_or(|terms| {
            terms.is_empty()
                || terms.iter().any(|t| {
                    let exprs = t
                        .match_label_expressions
                        .iter()
                        .flatten()
                        .map(|e| k8s_openapi::api::core::v1::NodeSelectorRequirement {
                            key: e.key.clone(),
                            operator: "In".into(),
                            values: Some(e.values.clone()),
                        })
                        .collect();
                    CompiledTerm::new(&k8s_openapi::api::core::v1::NodeSelectorTerm {
                        match_expressions: Some(exprs),
                        match_fields: None,
                    })
                    .matches(node)
                })
        });
        if !topology_ok {
            return None;
        }
        actions.push(Action::Provision {
            claim: claim.clone(),
        });
    }
    Some(actions)
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_FILTER
            .or(ExtensionPoints::FILTER)
            .or(ExtensionPoints::RESERVE)
            .or(ExtensionPoints::PRE_BIND)
    }

    fn pre_filter(&self, pod: &PodInfo, snapshot: &Snapshot) -> PreFilterOutput {
        let names = pod_claim_names(&pod.pod);
        if names.is_empty() {
            return PreFilterOutput::status(Status::skip());
        }
        let mut state = PreFilterState {
            bound: Vec::new(),
            missing_pv: false,
            delayed: Vec::new(),
        };
        let mut immediate = false;
        for name in names {
            let Some(pvc) = claim(snapshot, &pod.namespace, &name) else {
                return PreFilterOutput::status(Status::unresolvable(format!(
                    "persistentvolumeclaim {name:?} not found"
                )));
            };
            if pvc.metadata.deletion_timestamp.is_some() {
                return PreFilterOutput::status(Status::unresolvable(format!(
                    "persistentvolumeclaim {name:?} is being deleted"
                )));
            }
            let bound_name = pvc
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.as_deref())
                .unwrap_or("");
            if !bound_name.is_empty() {
                match bound_volume(snapshot, pvc) {
                    Some(pv) => state.bound.push(pv.clone()),
                    None => state.missing_pv = true,
                }
                continue;
            }
            let wffc = snapshot
                .listers
                .storage_classes
                .get(&claim_class(pvc))
                .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"));
            if wffc {
                state.delayed.push(pvc.clone());
            } else {
                immediate = true;
            }
        }
        if immediate {
            return PreFilterOutput::status(Status::unresolvable(ERR_UNBOUND_IMMEDIATE));
        }
        PreFilterOutput::with_state(state)
    }

    fn filter(
        &self,
        state: Option<&dyn StateData>,
        _pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Status {
        let Some(s) = state_ref::<PreFilterState>(state) else {
            return Status::success();
        };
        if s.missing_pv {
            return Status::unresolvable(ERR_PV_NOT_EXIST);
        }
        if s.bound.iter().any(|pv| !pv_fits_node(pv, &node.node)) {
            return Status::unresolvable(ERR_NODE_CONFLICT);
        }
        if !s.delayed.is_empty() && plan(&s.delayed, &node.node, snapshot).is_none() {
            return Status::unresolvable(ERR_BIND_CONFLICT);
        }
        Status::success()
    }

    fn reserve(&self, pod: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) -> Status {
        let delayed: Vec<Arc<PersistentVolumeClaim>> = pod_claim_names(&pod.pod)
            .iter()
            .filter_map(|n| claim(snapshot, &pod.namespace, n))
            .filter(|c| {
                c.spec
                    .as_ref()
                    .and_then(|s| s.volume_name.as_deref())
                    .is_none_or(str::is_empty)
            })
            .cloned()
            .collect();
        if delayed.is_empty() {
            return Status::success();
        }
        match plan(&delayed, &node.node, snapshot) {
            Some(actions) => {
                self.reserved
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(pod.uid.clone(), actions);
                Status::success()
            }
            None => Status::unresolvable(ERR_BIND_CONFLICT),
        }
    }

    fn unreserve(&self, pod: &PodInfo, _node: &str) {
        self.reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&pod.uid);
    }

    fn pre_bind(&self, pod: Arc<PodInfo>, node: String) -> StatusFuture {
        let actions = self
            .reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&pod.uid)
            .unwrap_or_default();
        let api = self.api.clone();
        Box::pin(async move {
            for action in actions {
                let result = match &action {
                    Action::Static { pv, claim } => {
                        let patch = json!({
                            "metadata": {"annotations": {"pv.kubernetes.io/bound-by-controller": "yes"}},
                            "spec": {"claimRef": {
                                "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                "namespace": claim.metadata.namespace, "name": claim.metadata.name,
                                "uid": claim.metadata.uid, "resourceVersion": claim.metadata.resource_version}}
                        });
                        api.patch_core("persistentvolumes", "", pv, patch).await
                    }
                    Action::Provision { claim } => {
                        let patch = json!({"metadata": {"annotations": {"volume.kubernetes.io/selected-node": node}}});
                        let ns = claim.metadata.namespace.clone().unwrap_or_default();
                        let name = claim.metadata.name.clone().unwrap_or_default();
                        api.patch_core("persistentvolumeclaims", &ns, &name, patch)
                            .await
                    }
                };
                if let Err(err) = result {
                    return Status::error(format!("binding volumes: {err}"));
                }
            }
            Status::success()
        })
    }

    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        volume_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::FakeApi;

    fn setup() -> (Snapshot, NodeInfo) {
        let mut snap = Snapshot::new();
        let node: Node =
            serde_json::from_value(json!({"metadata": {"name": "n1", "labels": {"zone": "a"}}}))
                .unwrap();
        snap.upsert_node(Arc::new(node.clone()));
        snap.prepare();
        snap.listers.storage_classes.insert("local".into(), Arc::new(serde_json::from_value(json!({
            "metadata": {"name": "local"}, "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"})).unwrap()));
        snap.listers.storage_classes.insert("fast".into(), Arc::new(serde_json::from_value(json!({
            "metadata": {"name": "fast"}, "provisioner": "csi.example.com", "volumeBindingMode": "Immediate"})).unwrap()));
        (snap, NodeInfo::new(Arc::new(node)))
    }

    fn pod(claim: &str) -> PodInfo {
        PodInfo::new(Arc::new(serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns", "uid": "p"},
            "spec": {"containers": [], "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}})).unwrap()))
    }

    fn add_claim(snap: &mut Snapshot, name: &str, class: &str, volume: &str) {
        snap.listers.pvcs.insert(format!("ns/{name}"), Arc::new(serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"storageClassName": class, "volumeName": volume, "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}}})).unwrap()));
    }

    fn run(plugin: &VolumeBinding, snap: &Snapshot, node: &NodeInfo, p: &PodInfo) -> Status {
        let out = plugin.pre_filter(p, snap);
        if !out.status.is_success() {
            return out.status;
        }
        plugin.filter(out.state.as_deref(), p, node, snap)
    }

    #[test]
    fn claims_are_checked() {
        let plugin = VolumeBinding::new(None, Arc::new(FakeApi::recording())).unwrap();
        let (mut snap, node) = setup();
        assert_eq!(
            run(&plugin, &snap, &node, &pod("nope")).message(),
            "persistentvolumeclaim \"nope\" not found"
        );
        add_claim(&mut snap, "imm", "fast", "");
        assert_eq!(
            run(&plugin, &snap, &node, &pod("imm")).message(),
            ERR_UNBOUND_IMMEDIATE
        );
        add_claim(&mut snap, "late", "local", "");
        assert_eq!(
            run(&plugin, &snap, &node, &pod("late")).message(),
            ERR_BIND_CONFLICT
        );
        snap.listers.pvs.insert("pv1".into(), Arc::new(serde_json::from_value(json!({
            "metadata": {"name": "pv1"}, "spec": {"storageClassName": "local", "capacity": {"storage": "2Gi"},
                "accessModes": ["ReadWriteOnce"],
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
            "status": {"phase": "Available"}})).unwrap()));
        assert!(run(&plugin, &snap, &node, &pod("late")).is_success());
        add_claim(&mut snap, "bound", "local", "pv-gone");
        assert_eq!(
            run(&plugin, &snap, &node, &pod("bound")).message(),
            ERR_PV_NOT_EXIST
        );
        add_claim(&mut snap, "bound", "local", "pv1");
        let other: Node =
            serde_json::from_value(json!({"metadata": {"name": "n2", "labels": {"zone": "b"}}}))
                .unwrap();
        assert_eq!(
            run(
                &plugin,
                &snap,
                &NodeInfo::new(Arc::new(other)),
                &pod("bound")
            )
            .message(),
            ERR_NODE_CONFLICT
        );
    }
}
