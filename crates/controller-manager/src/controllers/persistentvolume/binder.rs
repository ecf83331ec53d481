//! The binder's reconcile: upstream's `syncClaim` and `syncVolume`.
//!
//! A binding is written in four steps, each a separate update so any of
//! them can be retried: the volume's `claimRef`, the volume's phase
//! `Bound`, the claim's `volumeName` with `pv.kubernetes.io/bind-completed`,
//! and the claim's phase `Bound` with the volume's capacity and access
//! modes. The claim's annotation `bind-completed` is what tells a claim
//! that is bound from one still being bound.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    PersistentVolumeStatus, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use super::matching::{
    check_volume_satisfies_claim, claim_class, find_best_match, is_volume_bound_to_claim,
};
use super::provision::{self, HOSTPATH_PROVISIONER};
use super::recycle;
use super::{
    ANN_BETA_STORAGE_PROVISIONER, ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ANN_DEFAULT_CLASS,
    ANN_PROVISIONED_BY, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER, PvKey,
};
use crate::config::VolumeConfig;
use crate::framework::api_errors;
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::informer::Informer;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Why a sync failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// An API call failed.
    #[error("{what}: {}", api_errors::message(.source))]
    Api {
        /// What was being done.
        what: String,
        /// The error.
        source: kube::Error,
    },
    /// The state is inconsistent in a way that needs a retry.
    #[error("{0}")]
    Invalid(String),
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> SyncError {
    let what = what.into();
    move |source| SyncError::Api { what, source }
}

type Result<T, E = SyncError> = std::result::Result<T, E>;

/// The reconciler of the binder.
pub struct Binder {
    client: Client,
    volumes: Informer<PersistentVolume>,
    claims: Informer<PersistentVolumeClaim>,
    classes: Informer<StorageClass>,
    recorder: EventRecorder,
    config: VolumeConfig,
    /// The binder's own queue: recycler pod watches put volumes back.
    queue: WorkQueue<PvKey>,
    /// Volumes whose recycler pod is being watched.
    watching: Arc<Mutex<HashSet<String>>>,
}

impl Reconciler<PvKey> for Binder {
    type Error = SyncError;

    async fn reconcile(&self, key: &PvKey) -> Result<Action> {
        match key {
            PvKey::Claim(key) => {
                let namespace = key.namespace.as_deref().unwrap_or_default();
                if let Some(claim) = self.claims.get(Some(namespace), &key.name) {
                    self.sync_claim(&claim).await?;
                }
            }
            PvKey::Volume(name) => {
                if let Some(volume) = self.volumes.get(None, name) {
                    self.sync_volume(&volume).await?;
                }
            }
        }
        Ok(Action::await_change())
    }
}

fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn set_annotation(
    meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
    value: &str,
) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

fn claim_phase(claim: &PersistentVolumeClaim) -> &str {
    claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn volume_phase(volume: &PersistentVolume) -> &str {
    volume
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn volume_name_of(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("")
}

fn reclaim_policy(volume: &PersistentVolume) -> &str {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain")
}

/// The reference a bound volume keeps to its claim.
pub fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Picks the default StorageClass like upstream `GetDefaultClass`: among
/// classes annotated as default, the newest (then the first by name).
pub fn default_class(classes: &[Arc<StorageClass>]) -> Option<Arc<StorageClass>> {
    let mut defaults: Vec<&Arc<StorageClass>> = classes
        .iter()
        .filter(|c| annotation(&c.metadata, ANN_DEFAULT_CLASS) == Some("true"))
        .collect();
    defaults.sort_by(|a, b| {
        let at = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let bt = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
        bt.cmp(&at).then_with(|| a.name_any().cmp(&b.name_any()))
    });
    defaults.first().map(|c| (*c).clone())
}

impl Binder {
    /// A binder over the shared caches.
    pub fn new(
        client: Client,
        volumes: Informer<PersistentVolume>,
        claims: Informer<PersistentVolumeClaim>,
        classes: Informer<StorageClass>,
        recorder: EventRecorder,
        config: VolumeConfig,
        queue: WorkQueue<PvKey>,
    ) -> Self {
        Self {
            client,
            volumes,
            claims,
            classes,
            recorder,
            config,
            queue,
            watching: Arc::default(),
        }
    }

    fn volume_api(&self) -> Api<PersistentVolume> {
        Api::all(self.client.clone())
    }

    fn claim_api(&self, claim: &PersistentVolumeClaim) -> Api<PersistentVolumeClaim> {
        Api::namespaced(
            self.client.clone(),
            claim.metadata.namespace.as_deref().unwrap_or("default"),
        )
    }

    // ---- claims -------------------------------------------------------

    async fn sync_claim(&self, claim: &PersistentVolumeClaim) -> Result<()> {
        if claim.metadata.deletion_timestamp.is_some() && claim_phase(claim) != "Bound" {
            // Nothing to bind for a claim on its way out.
            return Ok(());
        }
        if annotation(&claim.metadata, ANN_BIND_COMPLETED).is_none() {
            self.sync_unbound_claim(claim).await
        } else {
            self.sync_bound_claim(claim).await
        }
    }

    async fn sync_unbound_claim(&self, claim: &PersistentVolumeClaim) -> Result<()> {
        let volume_name = volume_name_of(claim);
        if volume_name.is_empty() {
            if self.assign_default_class(claim).await? {
                return Ok(());
            }
            let delay = self.delay_binding(claim);
            let all = self.volumes.list();
            let found = find_best_match(claim, all.iter().map(Arc::as_ref), delay);
            if let Some(volume) = found {
                return self.bind(volume, claim).await;
            }
            let class = claim_class(claim);
            if delay {
                self.recorder.event(
                    claim,
                    EventType::Normal,
                    "WaitForFirstConsumer",
                    "waiting for first consumer to be created before binding",
                );
            } else if !class.is_empty() {
                self.provision_claim(claim, &class).await?;
            } else {
                self.recorder.event(
                    claim,
                    EventType::Normal,
                    "FailedBinding",
                    "no persistent volumes available for this claim and no storage class is set",
                );
            }
            return self.set_claim_pending(claim).await;
        }
        // The user asked for a particular volume.
        let Some(volume) = self.volumes.get(None, volume_name) else {
            return self.set_claim_pending(claim).await;
        };
        let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        if claim_ref.is_none() {
            if let Err(reason) = check_volume_satisfies_claim(&volume, claim) {
                self.recorder.event(
                    claim,
                    EventType::Warning,
                    "VolumeMismatch",
                    &format!("Cannot bind to requested volume {volume_name:?}: {reason}"),
                );
                return self.set_claim_pending(claim).await;
            }
            return self.bind(&volume, claim).await;
        }
        if is_volume_bound_to_claim(&volume, claim) {
            return self.bind(&volume, claim).await;
        }
        if annotation(&claim.metadata, ANN_BOUND_BY_CONTROLLER).is_some() {
            return Err(SyncError::Invalid(format!(
                "invalid binding of claim {}/{} to volume {volume_name}: the volume is bound to another claim",
                claim.namespace().unwrap_or_default(),
                claim.name_any()
            )));
        }
        self.recorder.event(
            claim,
            EventType::Warning,
            "FailedBinding",
            &format!("volume {volume_name:?} already bound to a different claim."),
        );
        self.set_claim_pending(claim).await
    }

    async fn sync_bound_claim(&self, claim: &PersistentVolumeClaim) -> Result<()> {
        let volume_name = volume_name_of(claim);
        if volume_name.is_empty() {
            return self
                .set_claim_lost(
                    claim,
                    "ClaimLost",
                    "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
                )
                .await;
        }
        let Some(volume) = self.volumes.get(None, volume_name) else {
            return self
                .set_claim_lost(
                    claim,
                    "ClaimLost",
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                )
                .await;
        };
        let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        if claim_ref.is_none() || is_volume_bound_to_claim(&volume, claim) {
            // Unbound volume (fix it) or a binding to finish or confirm.
            return self.bind(&volume, claim).await;
        }
        self.set_claim_lost(
            claim,
            "ClaimMisbound",
            "Two claims are bound to the same volume, this one is bound incorrectly",
        )
        .await
    }

    /// Upstream's retroactive default class: a claim without any class gets
    /// the default one, once a default exists. `true` when written.
    async fn assign_default_class(&self, claim: &PersistentVolumeClaim) -> Result<bool> {
        let has_class = claim
            .spec
            .as_ref()
            .is_some_and(|s| s.storage_class_name.is_some())
            || annotation(
                &claim.metadata,
                super::matching::BETA_STORAGE_CLASS_ANNOTATION,
            )
            .is_some();
        if has_class {
            return Ok(false);
        }
        let Some(class) = default_class(&self.classes.list()) else {
            return Ok(false);
        };
        let mut updated = claim.clone();
        updated
            .spec
            .get_or_insert_with(Default::default)
            .storage_class_name = Some(class.name_any());
        self.claim_api(claim)
            .replace(&claim.name_any(), &PostParams::default(), &updated)
            .await
            .map_err(api_err("assigning the default storage class"))?;
        tracing::info!(claim = %claim.name_any(), class = %class.name_any(), "assigned the default storage class");
        Ok(true)
    }

    /// Whether binding waits for a pod: the class is `WaitForFirstConsumer`
    /// and the scheduler has not picked a node yet.
    fn delay_binding(&self, claim: &PersistentVolumeClaim) -> bool {
        let class = claim_class(claim);
        if class.is_empty() || annotation(&claim.metadata, ANN_SELECTED_NODE).is_some() {
            return false;
        }
        self.classes
            .get(None, &class)
            .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
    }

    async fn provision_claim(&self, claim: &PersistentVolumeClaim, class_name: &str) -> Result<()> {
        let Some(class) = self.classes.get(None, class_name) else {
            self.recorder.event(
                claim,
                EventType::Warning,
                "ProvisioningFailed",
                &format!("storageclass.storage.k8s.io {class_name:?} not found"),
            );
            return Ok(());
        };
        let claim = self
            .set_claim_provisioner(claim, &class.provisioner)
            .await?;
        if class.provisioner != HOSTPATH_PROVISIONER {
            self.recorder.event(
                &claim,
                EventType::Normal,
                "ExternalProvisioning",
                &format!(
                    "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
                    class.provisioner
                ),
            );
            return Ok(());
        }
        let volume = match provision::hostpath_volume(&claim, &class, &self.config.hostpath_dir) {
            Ok(volume) => volume,
            Err(message) => {
                self.recorder
                    .event(&claim, EventType::Warning, "ProvisioningFailed", &message);
                return Ok(());
            }
        };
        let name = volume.name_any();
        if self.volumes.get(None, &name).is_some() {
            // Provisioned already; the binding follows from the volume.
            return Ok(());
        }
        match self
            .volume_api()
            .create(&PostParams::default(), &volume)
            .await
        {
            Ok(_) => {
                self.recorder.event(
                    &claim,
                    EventType::Normal,
                    "ProvisioningSucceeded",
                    &format!("Successfully provisioned volume {name} using {HOSTPATH_PROVISIONER}"),
                );
                Ok(())
            }
            Err(err) if api_errors::is_already_exists(&err) => Ok(()),
            Err(err) => {
                self.recorder.event(
                    &claim,
                    EventType::Warning,
                    "ProvisioningFailed",
                    &format!(
                        "Failed to create volume {name}: {}",
                        api_errors::message(&err)
                    ),
                );
                Err(api_err("creating the provisioned volume")(err))
            }
        }
    }

    /// Marks the claim with the provisioner expected to serve it.
    async fn set_claim_provisioner(
        &self,
        claim: &PersistentVolumeClaim,
        provisioner: &str,
    ) -> Result<PersistentVolumeClaim> {
        if annotation(&claim.metadata, ANN_STORAGE_PROVISIONER) == Some(provisioner)
            && annotation(&claim.metadata, ANN_BETA_STORAGE_PROVISIONER) == Some(provisioner)
        {
            return Ok(claim.clone());
        }
        let mut updated = claim.clone();
        set_annotation(&mut updated.metadata, ANN_STORAGE_PROVISIONER, provisioner);
        set_annotation(
            &mut updated.metadata,
            ANN_BETA_STORAGE_PROVISIONER,
            provisioner,
        );
        self.claim_api(claim)
            .replace(&claim.name_any(), &PostParams::default(), &updated)
            .await
            .map_err(api_err("annotating the claim with its provisioner"))
    }

    async fn set_claim_pending(&self, claim: &PersistentVolumeClaim) -> Result<()> {
        if claim_phase(claim) == "Pending" {
            return Ok(());
        }
        let mut updated = claim.clone();
        updated.status.get_or_insert_with(Default::default).phase = Some("Pending".into());
        self.claim_api(claim)
            .replace_status(&claim.name_any(), &PostParams::default(), &updated)
            .await
            .map_err(api_err("setting the claim Pending"))?;
        Ok(())
    }

    async fn set_claim_lost(
        &self,
        claim: &PersistentVolumeClaim,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        if claim_phase(claim) == "Lost" {
            return Ok(());
        }
        let mut updated = claim.clone();
        updated.status.get_or_insert_with(Default::default).phase = Some("Lost".into());
        self.claim_api(claim)
            .replace_status(&claim.name_any(), &PostParams::default(), &updated)
            .await
            .map_err(api_err("setting the claim Lost"))?;
        self.recorder
            .event(claim, EventType::Warning, reason, message);
        Ok(())
    }

    /// Writes both sides of a binding (each step only when needed).
    async fn bind(&self, volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> Result<()> {
        let volume_name = volume.name_any();
        // 1. The volume's claimRef.
        let mut volume = volume.clone();
        let needs_ref = volume
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .is_none_or(|r| {
                r.uid.as_deref().unwrap_or("") != claim.metadata.uid.as_deref().unwrap_or("")
                    || r.name != claim.metadata.name
                    || r.namespace != claim.metadata.namespace
            });
        if needs_ref {
            let pre_bound = is_volume_bound_to_claim(&volume, claim);
            let spec = volume.spec.get_or_insert_with(Default::default);
            spec.claim_ref = Some(claim_reference(claim));
            if !pre_bound {
                set_annotation(&mut volume.metadata, ANN_BOUND_BY_CONTROLLER, "yes");
            }
            volume = self
                .volume_api()
                .replace(&volume_name, &PostParams::default(), &volume)
                .await
                .map_err(api_err(format!("binding volume {volume_name}")))?;
        }
        // 2. The volume's phase.
        self.set_volume_phase(&volume, "Bound", None).await?;
        // 3. The claim's volumeName and annotations.
        let mut claim = claim.clone();
        let claim_name = claim.name_any();
        let user_chose = !volume_name_of(&claim).is_empty();
        if volume_name_of(&claim) != volume_name
            || annotation(&claim.metadata, ANN_BIND_COMPLETED).is_none()
        {
            claim.spec.get_or_insert_with(Default::default).volume_name = Some(volume_name.clone());
            set_annotation(&mut claim.metadata, ANN_BIND_COMPLETED, "yes");
            if !user_chose {
                set_annotation(&mut claim.metadata, ANN_BOUND_BY_CONTROLLER, "yes");
            }
            claim = self
                .claim_api(&claim)
                .replace(&claim_name, &PostParams::default(), &claim)
                .await
                .map_err(api_err(format!("binding claim {claim_name}")))?;
        }
        // 4. The claim's status.
        let spec = volume.spec.clone().unwrap_or_default();
        let status = claim.status.clone().unwrap_or_default();
        if status.phase.as_deref() != Some("Bound")
            || status.capacity != spec.capacity
            || status.access_modes != spec.access_modes
        {
            claim.status = Some(PersistentVolumeClaimStatus {
                phase: Some("Bound".into()),
                capacity: spec.capacity.clone(),
                access_modes: spec.access_modes.clone(),
                ..status
            });
            self.claim_api(&claim)
                .replace_status(&claim_name, &PostParams::default(), &claim)
                .await
                .map_err(api_err(format!(
                    "updating the status of claim {claim_name}"
                )))?;
            tracing::info!(claim = %claim_name, volume = %volume_name, "bound");
        }
        Ok(())
    }

    // ---- volumes ------------------------------------------------------

    async fn set_volume_phase(
        &self,
        volume: &PersistentVolume,
        phase: &str,
        message: Option<&str>,
    ) -> Result<PersistentVolume> {
        let current = volume.status.as_ref();
        if current.and_then(|s| s.phase.as_deref()) == Some(phase)
            && current.and_then(|s| s.message.as_deref()) == message
        {
            return Ok(volume.clone());
        }
        let mut updated = volume.clone();
        let changed = volume_phase(volume) != phase;
        let old = updated.status.take().unwrap_or_default();
        updated.status = Some(PersistentVolumeStatus {
            phase: Some(phase.to_string()),
            message: message.map(str::to_string),
            reason: None,
            last_phase_transition_time: if changed {
                Some(Time(
                    Timestamp::from_second(Timestamp::now().as_second())
                        .unwrap_or(Timestamp::UNIX_EPOCH),
                ))
            } else {
                old.last_phase_transition_time
            },
        });
        self.volume_api()
            .replace_status(&volume.name_any(), &PostParams::default(), &updated)
            .await
            .map_err(api_err(format!(
                "setting volume {} {phase}",
                volume.name_any()
            )))
    }

    async fn sync_volume(&self, volume: &PersistentVolume) -> Result<()> {
        let Some(claim_ref) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
            self.set_volume_phase(volume, "Available", None).await?;
            return Ok(());
        };
        if claim_ref.uid.as_deref().unwrap_or("").is_empty() {
            // Pre-bound by a user to a claim that has not bound yet.
            self.set_volume_phase(volume, "Available", None).await?;
            return Ok(());
        }
        let namespace = claim_ref.namespace.clone().unwrap_or_default();
        let name = claim_ref.name.clone().unwrap_or_default();
        let mut claim = self.claims.get(Some(&namespace), &name);
        let settled = matches!(volume_phase(volume), "Released" | "Failed");
        if !settled
            && claim
                .as_ref()
                .is_none_or(|c| c.metadata.uid != claim_ref.uid)
        {
            // The cache may lag behind; ask the apiserver before releasing.
            let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &namespace);
            claim = api
                .get_opt(&name)
                .await
                .map_err(api_err("reading the bound claim"))?
                .map(Arc::new);
        }
        let claim = claim.filter(|c| c.metadata.uid == claim_ref.uid);
        let Some(claim) = claim else {
            // The claim is gone: release and reclaim. A volume that failed
            // to be reclaimed waits for an administrator (no event storm),
            // except that recycling is tried again on every sync, as
            // upstream does.
            if volume_phase(volume) == "Failed"
                && !(reclaim_policy(volume) == "Recycle" && recycle::is_recyclable(volume))
            {
                return Ok(());
            }
            let volume = if settled {
                volume.clone()
            } else {
                self.set_volume_phase(volume, "Released", None).await?
            };
            return self.reclaim(&volume).await;
        };
        let claim_volume = volume_name_of(&claim);
        if claim_volume.is_empty() {
            // The claim has not bound yet; its own sync finishes the job.
            return Ok(());
        }
        if claim_volume == volume.name_any() {
            self.set_volume_phase(volume, "Bound", None).await?;
            return Ok(());
        }
        // The claim is bound to another volume.
        let dynamically = annotation(&volume.metadata, ANN_PROVISIONED_BY).is_some();
        if dynamically && reclaim_policy(volume) == "Delete" {
            let volume = self.set_volume_phase(volume, "Released", None).await?;
            return self.reclaim(&volume).await;
        }
        if annotation(&volume.metadata, ANN_BOUND_BY_CONTROLLER).is_some() {
            let mut updated = volume.clone();
            if let Some(spec) = updated.spec.as_mut() {
                spec.claim_ref = None;
            }
            if let Some(annotations) = updated.metadata.annotations.as_mut() {
                annotations.remove(ANN_BOUND_BY_CONTROLLER);
            }
            let updated = self
                .volume_api()
                .replace(&volume.name_any(), &PostParams::default(), &updated)
                .await
                .map_err(api_err("unbinding the volume"))?;
            self.set_volume_phase(&updated, "Available", None).await?;
        }
        Ok(())
    }

    /// Applies the reclaim policy of a released volume.
    async fn reclaim(&self, volume: &PersistentVolume) -> Result<()> {
        let name = volume.name_any();
        match reclaim_policy(volume) {
            "Retain" => Ok(()),
            "Recycle" => self.recycle(volume).await,
            "Delete" => {
                let provisioner = annotation(&volume.metadata, ANN_PROVISIONED_BY);
                if provisioner.is_some_and(|p| p != HOSTPATH_PROVISIONER) {
                    // Another provisioner deletes its own volumes.
                    return Ok(());
                }
                if provisioner.is_none() {
                    let message = format!(
                        "error getting deleter volume plugin for volume {name:?}: no deletable volume plugin matched"
                    );
                    self.set_volume_phase(volume, "Failed", Some(&message))
                        .await?;
                    self.recorder
                        .event(volume, EventType::Warning, "VolumeFailedDelete", &message);
                    return Ok(());
                }
                if let Err(message) = provision::delete_hostpath(volume, &self.config.hostpath_dir)
                {
                    self.set_volume_phase(volume, "Failed", Some(&message))
                        .await?;
                    self.recorder
                        .event(volume, EventType::Warning, "VolumeFailedDelete", &message);
                    return Ok(());
                }
                match self
                    .volume_api()
                    .delete(&name, &DeleteParams::default())
                    .await
                {
                    Ok(_) => {
                        tracing::info!(volume = %name, "deleted the released volume");
                        Ok(())
                    }
                    Err(err) if api_errors::is_not_found(&err) => Ok(()),
                    Err(err) => Err(api_err(format!("deleting volume {name}"))(err)),
                }
            }
            _ => {
                self.fail_with_event(
                    volume,
                    "VolumeUnknownReclaimPolicy",
                    "Volume has unrecognized PersistentVolumeReclaimPolicy",
                )
                .await
            }
        }
    }

    /// Upstream `updateVolumePhaseWithEvent` for `Failed`: the phase and
    /// message, and an event only when the phase changes.
    async fn fail_with_event(
        &self,
        volume: &PersistentVolume,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        if volume_phase(volume) == "Failed" {
            return Ok(());
        }
        let updated = self
            .set_volume_phase(volume, "Failed", Some(message))
            .await?;
        self.recorder
            .event(&updated, EventType::Warning, reason, message);
        Ok(())
    }

    /// Upstream `recycleVolumeOperation`, as steps over the recycler pod so
    /// that the one worker never waits for it: no pod yet -> create it and
    /// watch it; pod finished -> delete it, then `Available` again
    /// (`VolumeRecycled`) or `Failed` (`VolumeFailedRecycle` "Recycle
    /// failed: ..."); pod still running -> wait for the watch.
    async fn recycle(&self, volume: &PersistentVolume) -> Result<()> {
        let Some(template) = recycle::recycler_pod(volume, &self.config.recycler) else {
            return self
                .fail_with_event(
                    volume,
                    "VolumeFailedRecycle",
                    "No recycler plugin found for the volume!",
                )
                .await;
        };
        let namespace = template.namespace().unwrap_or_default();
        let pod_name = template.name_any();
        let deadline = template
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds)
            .unwrap_or(0);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let existing = pods
            .get_opt(&pod_name)
            .await
            .map_err(api_err("reading the recycler pod"))?;
        let Some(pod) = existing else {
            match pods.create(&PostParams::default(), &template).await {
                Ok(_) => {
                    tracing::info!(volume = %volume.name_any(), pod = %pod_name, "started the recycler pod");
                }
                Err(err) if api_errors::is_already_exists(&err) => {}
                Err(err) => {
                    return Err(api_err(format!(
                        "creating recycler pod {namespace}/{pod_name}"
                    ))(err));
                }
            }
            self.watch_recycler(volume.name_any(), pods, pod_name, deadline);
            return Ok(());
        };
        if pod.metadata.deletion_timestamp.is_some() {
            // Left over from an earlier recycling: wait until it is gone.
            self.watch_recycler(volume.name_any(), pods, pod_name, deadline);
            return Ok(());
        }
        let Some(result) = recycle::outcome(&pod) else {
            self.watch_recycler(volume.name_any(), pods, pod_name, deadline);
            return Ok(());
        };
        // In all cases the pod goes (upstream logs its result and deletes it).
        match pods.delete(&pod_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(err) if api_errors::is_not_found(&err) => {}
            Err(err) => return Err(api_err("deleting the recycler pod")(err)),
        }
        match result {
            Ok(()) => {
                tracing::info!(volume = %volume.name_any(), "volume recycled");
                self.recorder.event(
                    volume,
                    EventType::Normal,
                    "VolumeRecycled",
                    "Volume recycled",
                );
                self.unbind_volume(volume).await
            }
            Err(message) => {
                self.fail_with_event(
                    volume,
                    "VolumeFailedRecycle",
                    &format!("Recycle failed: {message}"),
                )
                .await
            }
        }
    }

    /// Watches the recycler pod `pod` (one watch per volume) and queues the
    /// volume when the pod finishes or disappears; the watch ends by itself
    /// after the pod's deadline plus two minutes (the periodic resync
    /// covers anything later).
    fn watch_recycler(&self, volume: String, pods: Api<Pod>, pod: String, deadline: i64) {
        {
            let mut watching = self
                .watching
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !watching.insert(volume.clone()) {
                return;
            }
        }
        let queue = self.queue.clone();
        let watching = self.watching.clone();
        let limit = Duration::from_secs(u64::try_from(deadline).unwrap_or(0) + 120);
        tokio::spawn(async move {
            let config = watcher::Config::default().fields(&format!("metadata.name={pod}"));
            let stream = watcher::watcher(pods, config).default_backoff();
            futures::pin_mut!(stream);
            let give_up = tokio::time::sleep(limit);
            tokio::pin!(give_up);
            loop {
                let event = tokio::select! {
                    () = &mut give_up => break,
                    event = stream.next() => event,
                };
                match event {
                    None => break,
                    Some(Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))) => {
                        if recycle::outcome(&p).is_some() {
                            break;
                        }
                    }
                    Some(Ok(watcher::Event::Delete(_))) => break,
                    Some(_) => {}
                }
            }
            watching
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .remove(&volume);
            queue.add(PvKey::Volume(volume));
        });
    }

    /// Upstream `unbindVolume`: a volume the controller bound loses its
    /// `claimRef`; one a user pre-bound keeps it without the claim's UID.
    /// Then it is `Available`.
    async fn unbind_volume(&self, volume: &PersistentVolume) -> Result<()> {
        let mut updated = volume.clone();
        if annotation(&volume.metadata, ANN_BOUND_BY_CONTROLLER).is_some() {
            if let Some(spec) = updated.spec.as_mut() {
                spec.claim_ref = None;
            }
            if let Some(annotations) = updated.metadata.annotations.as_mut() {
                annotations.remove(ANN_BOUND_BY_CONTROLLER);
                if annotations.is_empty() {
                    updated.metadata.annotations = None;
                }
            }
        } else if let Some(claim_ref) = updated.spec.as_mut().and_then(|s| s.claim_ref.as_mut()) {
            claim_ref.uid = None;
        }
        let updated = self
            .volume_api()
            .replace(&volume.name_any(), &PostParams::default(), &updated)
            .await
            .map_err(api_err("unbinding the recycled volume"))?;
        self.set_volume_phase(&updated, "Available", None).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str, default: bool, created: &str) -> Arc<StorageClass> {
        let mut meta = json!({"name": name, "creationTimestamp": created});
        if default {
            meta["annotations"] = json!({ANN_DEFAULT_CLASS: "true"});
        }
        Arc::new(serde_json::from_value(json!({"metadata": meta, "provisioner": "x"})).unwrap())
    }

    #[test]
    fn newest_default_class_wins() {
        let classes = vec![
            class("old", true, "2024-01-01T00:00:00Z"),
            class("new", true, "2024-06-01T00:00:00Z"),
            class("plain", false, "2025-01-01T00:00:00Z"),
        ];
        assert_eq!(default_class(&classes).unwrap().name_any(), "new");
        assert!(default_class(&classes[2..]).is_none());
    }

    #[test]
    fn claim_reference_names_the_claim() {
        let claim: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "c", "namespace": "n", "uid": "u", "resourceVersion": "7"}
        }))
        .unwrap();
        let r = claim_reference(&claim);
        assert_eq!(r.kind.as_deref(), Some("PersistentVolumeClaim"));
        assert_eq!(r.api_version.as_deref(), Some("v1"));
        assert_eq!(
            (r.namespace.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("n"), Some("c"), Some("u"))
        );
    }
}
