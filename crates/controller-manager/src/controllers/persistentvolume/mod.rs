//! `persistentvolume-binder-controller`: binds PersistentVolumeClaims to
//! PersistentVolumes and back, reclaims volumes of deleted claims, and
//! provisions hostPath volumes for StorageClasses whose provisioner is
//! Corten's own [`HOSTPATH_PROVISIONER`] (upstream `pkg/controller/volume/
//! persistentvolume`).
//!
//! Two kinds of keys share one work queue: a claim (`namespace/name`) and a
//! volume (`name`). Every change of either side enqueues both ends of a
//! binding, and everything is looked at again every 15 s (upstream's
//! `--pvclaimbinder-sync-period`), so a lost event only delays a binding.
//!
//! | module | job |
//! | --- | --- |
//! | [`matching`] | which volume fits a claim (no I/O) |
//! | [`binder`] | `syncClaim` / `syncVolume`: binding, phases, reclaiming |
//! | [`provision`] | the hostPath provisioner and deleter |
//! | [`recycle`] | the recycler pod of `Recycle` volumes (hostPath, nfs) |

pub mod binder;
pub mod matching;
pub mod provision;
pub mod recycle;

use std::fmt;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;

use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::Change;
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;

pub use provision::HOSTPATH_PROVISIONER;

/// Upstream name.
pub const NAME: &str = "persistentvolume-binder-controller";
/// The source component of its events (upstream's).
pub const EVENT_SOURCE: &str = "persistentvolume-controller";
/// How often every volume and claim is synced regardless of events.
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);

/// On a claim: the binding is complete (the claim side is written).
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a volume or claim: the controller (not a user) chose the binding.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// On a volume: the provisioner that created it.
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// On a claim: the provisioner expected to serve it.
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// The beta spelling of [`ANN_STORAGE_PROVISIONER`], still written upstream.
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// On a claim: the node the scheduler picked (`WaitForFirstConsumer`).
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a StorageClass: the default class.
pub const ANN_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// A work item: one claim or one volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PvKey {
    /// A PersistentVolumeClaim.
    Claim(ObjectKey),
    /// A PersistentVolume (cluster-scoped).
    Volume(String),
}

impl fmt::Display for PvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PvKey::Claim(key) => write!(f, "claim {key}"),
            PvKey::Volume(name) => write!(f, "volume {name}"),
        }
    }
}

/// The claim key a volume's `claimRef` names, if any.
pub fn claim_ref_key(volume: &PersistentVolume) -> Option<PvKey> {
    let claim_ref = volume.spec.as_ref()?.claim_ref.as_ref()?;
    Some(PvKey::Claim(ObjectKey {
        namespace: claim_ref.namespace.clone(),
        name: claim_ref.name.clone()?,
    }))
}

/// Builds the controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let volumes = ctx.informers.informer::<PersistentVolume>();
    let claims = ctx.informers.informer::<PersistentVolumeClaim>();
    let classes = ctx.informers.informer::<StorageClass>();
    let queue = WorkQueue::<PvKey>::new("volumes");
    {
        let queue = queue.clone();
        volumes.add_event_handler(move |change: Change<'_, PersistentVolume>| {
            let volume = change.object();
            if !matches!(change, Change::Deleted(_)) {
                queue.add(PvKey::Volume(volume.name_any()));
            }
            if let Some(key) = claim_ref_key(volume) {
                queue.add(key);
            }
        });
    }
    {
        let queue = queue.clone();
        claims.add_event_handler(move |change: Change<'_, PersistentVolumeClaim>| {
            let claim = change.object();
            if !matches!(change, Change::Deleted(_)) {
                queue.add(PvKey::Claim(ObjectKey::of(claim)));
            }
            if let Some(volume) = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref())
                && !volume.is_empty()
            {
                queue.add(PvKey::Volume(volume.to_string()));
            }
        });
    }
    {
        // A new or changed class may let pending claims be provisioned.
        let queue = queue.clone();
        let claims = claims.clone();
        classes.add_event_handler(move |change: Change<'_, StorageClass>| {
            if matches!(change, Change::Deleted(_)) {
                return;
            }
            for claim in claims.list() {
                if claim.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
                    queue.add(PvKey::Claim(ObjectKey::of(claim.as_ref())));
                }
            }
        });
    }
    let reconciler = binder::Binder::new(
        ctx.client.clone(),
        volumes.clone(),
        claims.clone(),
        classes.clone(),
        ctx.recorder(EVENT_SOURCE),
        ctx.config.volume.clone(),
        queue.clone(),
    );
    let resync = {
        let queue = queue.clone();
        let volumes = volumes.clone();
        let claims = claims.clone();
        move || {
            for volume in volumes.list() {
                queue.add(PvKey::Volume(volume.name_any()));
            }
            for claim in claims.list() {
                queue.add(PvKey::Claim(ObjectKey::of(claim.as_ref())));
            }
        }
    };
    let controller = QueueController::new(NAME, queue, reconciler, 1, ctx)
        .wait_for(volumes)
        .wait_for(claims)
        .wait_for(classes)
        .resync_every(SYNC_PERIOD, resync);
    Ok(Some(Box::new(controller)))
}
