//! `persistentvolume-protection-controller`: every PersistentVolume carries
//! the `kubernetes.io/pv-protection` finalizer, so deleting a volume that
//! is bound to a claim only marks it; the finalizer is removed once the
//! volume is no longer `Bound`.

use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "persistentvolume-protection-controller";
/// The finalizer.
pub const FINALIZER: &str = "kubernetes.io/pv-protection";

/// Whether the volume is in use (upstream: its phase is `Bound`).
pub fn is_used(volume: &PersistentVolume) -> bool {
    volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
}

/// Builds the controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let volumes = ctx.informers.informer::<PersistentVolume>();
    let queue = WorkQueue::<String>::new("pvprotection");
    {
        let queue = queue.clone();
        volumes.add_event_handler(move |change: Change<'_, PersistentVolume>| {
            if !matches!(change, Change::Deleted(_)) {
                queue.add(change.object().name_any());
            }
        });
    }
    let reconciler = PvProtection {
        client: ctx.client.clone(),
        volumes: volumes.clone(),
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 1, ctx).wait_for(volumes),
    )))
}

/// Adds and removes the finalizer of one volume.
pub struct PvProtection {
    client: Client,
    volumes: Informer<PersistentVolume>,
}

impl Reconciler<String> for PvProtection {
    type Error = String;

    async fn reconcile(&self, name: &String) -> Result<Action, String> {
        let Some(volume) = self.volumes.get(None, name) else {
            return Ok(Action::await_change());
        };
        let has = volume.finalizers().iter().any(|f| f == FINALIZER);
        let deleting = volume.metadata.deletion_timestamp.is_some();
        let mut updated = (*volume).clone();
        if !deleting && !has {
            updated
                .metadata
                .finalizers
                .get_or_insert_with(Vec::new)
                .push(FINALIZER.to_string());
        } else if deleting && has && !is_used(&volume) {
            if let Some(finalizers) = updated.metadata.finalizers.as_mut() {
                finalizers.retain(|f| f != FINALIZER);
            }
        } else {
            return Ok(Action::await_change());
        }
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        match api.replace(name, &PostParams::default(), &updated).await {
            Ok(_) => Ok(Action::await_change()),
            Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
            Err(err) => Err(format!(
                "updating the pv-protection finalizer: {}",
                api_errors::message(&err)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_bound_volumes_are_used() {
        let pv = |phase: &str| -> PersistentVolume {
            serde_json::from_value(json!({"metadata": {"name": "v"}, "status": {"phase": phase}}))
                .unwrap()
        };
        assert!(is_used(&pv("Bound")));
        for phase in ["Available", "Released", "Failed", "Pending"] {
            assert!(!is_used(&pv(phase)), "{phase}");
        }
    }
}
