//! `persistentvolumeclaim-protection-controller`: every claim carries the
//! `kubernetes.io/pvc-protection` finalizer, so deleting a claim that a
//! pod still uses only marks it; the finalizer is removed (and the claim
//! goes) once no scheduled, non-terminated pod of its namespace references
//! it, directly or as the claim of a generic ephemeral volume.
//!
//! The apiserver's StorageObjectInUseProtection admission adds the
//! finalizer at creation upstream; this controller adds it to claims that
//! lack it either way.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "persistentvolumeclaim-protection-controller";
/// The finalizer.
pub const FINALIZER: &str = "kubernetes.io/pvc-protection";

/// The claims a pod references (`persistentVolumeClaim` volumes, and the
/// `<pod>-<volume>` claims of ephemeral volumes).
pub fn pod_claims(pod: &Pod) -> Vec<String> {
    let pod_name = pod.name_any();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
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

/// Whether `pod` keeps `claim` in use: it is scheduled (the kubelet only
/// sees scheduled pods, and refuses to start one whose claim is being
/// deleted), has not terminated, and references the claim.
pub fn pod_uses_claim(pod: &Pod, claim: &str) -> bool {
    let spec = pod.spec.as_ref();
    if spec
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
        .is_empty()
    {
        return false;
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    pod_claims(pod).iter().any(|c| c == claim)
}

fn has_finalizer(claim: &PersistentVolumeClaim) -> bool {
    claim.finalizers().iter().any(|f| f == FINALIZER)
}

/// Builds the controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let claims = ctx.informers.informer::<PersistentVolumeClaim>();
    let pods = ctx.informers.informer::<Pod>();
    let queue = WorkQueue::<ObjectKey>::new("pvcprotection");
    {
        let queue = queue.clone();
        claims.add_event_handler(move |change: Change<'_, PersistentVolumeClaim>| {
            if !matches!(change, Change::Deleted(_)) {
                queue.add(ObjectKey::of(change.object()));
            }
        });
    }
    {
        // A pod that goes away, terminates or changes may free its claims.
        let queue = queue.clone();
        pods.add_event_handler(move |change: Change<'_, Pod>| {
            let pod = change.object();
            for claim in pod_claims(pod) {
                queue.add(ObjectKey {
                    namespace: pod.namespace(),
                    name: claim,
                });
            }
        });
    }
    let reconciler = PvcProtection {
        client: ctx.client.clone(),
        claims: claims.clone(),
        pods: pods.clone(),
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 1, ctx)
            .wait_for(claims)
            .wait_for(pods),
    )))
}

/// Adds and removes the finalizer of one claim.
pub struct PvcProtection {
    client: Client,
    claims: Informer<PersistentVolumeClaim>,
    pods: Informer<Pod>,
}

impl PvcProtection {
    /// Whether a pod uses the claim: the cache first, then (before letting
    /// the claim go) a live list, since the cache may not show a pod that
    /// was just created.
    async fn in_use(&self, namespace: &str, claim: &str) -> Result<bool, String> {
        if self
            .pods
            .list_namespace(namespace)
            .iter()
            .any(|p| pod_uses_claim(p, claim))
        {
            return Ok(true);
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pods = api
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("listing pods: {}", api_errors::message(&e)))?;
        Ok(pods.items.iter().any(|p| pod_uses_claim(p, claim)))
    }
}

impl Reconciler<ObjectKey> for PvcProtection {
    type Error = String;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, String> {
        let namespace = key.namespace.as_deref().unwrap_or_default();
        let Some(claim) = self.claims.get(Some(namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        let deleting = claim.metadata.deletion_timestamp.is_some();
        let mut updated = (*claim).clone();
        if !deleting && !has_finalizer(&claim) {
            updated
                .metadata
                .finalizers
                .get_or_insert_with(Vec::new)
                .push(FINALIZER.to_string());
        } else if deleting && has_finalizer(&claim) && !self.in_use(namespace, &key.name).await? {
            if let Some(finalizers) = updated.metadata.finalizers.as_mut() {
                finalizers.retain(|f| f != FINALIZER);
            }
        } else {
            return Ok(Action::await_change());
        }
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        match api
            .replace(&key.name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(Action::await_change()),
            Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
            Err(err) => Err(format!(
                "updating the pvc-protection finalizer: {}",
                api_errors::message(&err)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(node: &str, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"nodeName": node, "containers": [], "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                {"name": "tmp", "emptyDir": {}}
            ]},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    #[test]
    fn claims_of_a_pod() {
        assert_eq!(pod_claims(&pod("n", "Running")), ["data", "web-scratch"]);
    }

    #[test]
    fn only_scheduled_live_pods_use_claims() {
        assert!(pod_uses_claim(&pod("n", "Running"), "data"));
        assert!(pod_uses_claim(&pod("n", "Pending"), "web-scratch"));
        assert!(!pod_uses_claim(&pod("n", "Running"), "other"));
        assert!(!pod_uses_claim(&pod("", "Pending"), "data"));
        assert!(!pod_uses_claim(&pod("n", "Succeeded"), "data"));
        assert!(!pod_uses_claim(&pod("n", "Failed"), "data"));
    }
}
