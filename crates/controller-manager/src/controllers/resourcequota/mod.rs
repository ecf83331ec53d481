//! `resourcequota-controller`: recomputes `status.used` (and copies
//! `spec.hard` to `status.hard`) of every ResourceQuota, so usage drops when
//! objects are deleted (the apiserver's ResourceQuota admission charges
//! creations; this controller is what gives usage back).
//!
//! Usage is counted from the informer caches ([`usage`]): pods (not
//! finished; `requests.*`, `limits.*`, `cpu`, `memory`, `pods`), Services
//! (`services`, `services.loadbalancers`, `services.nodeports`), PVCs
//! (`persistentvolumeclaims`, `requests.storage`, per StorageClass),
//! ConfigMaps, Secrets, ReplicationControllers and ResourceQuotas (by name
//! and as `count/<resource>`). Only the resources named in `spec.hard`
//! appear in `status.used`. Pod quotas honour the `Terminating`,
//! `NotTerminating`, `BestEffort` and `NotBestEffort` scopes.
//!
//! A quota is synced when it changes, when a counted object of its
//! namespace changes, and every `--resource-quota-sync-period` (5m).

pub mod usage;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota,
    ResourceQuotaStatus, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use self::usage::{
    Usage, add_count, add_pod, add_pvc, add_service, format_total, is_best_effort, is_terminating,
};
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer, InformerResource};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "resourcequota-controller";
/// `--resource-quota-sync-period` (upstream default).
pub const SYNC_PERIOD: Duration = Duration::from_secs(300);

/// Queues every quota of an object's namespace when it changes.
fn requeue_namespace_on_change<K: InformerResource>(
    informer: &Informer<K>,
    quotas: &Informer<ResourceQuota>,
    queue: &WorkQueue<ObjectKey>,
) {
    let quotas = quotas.clone();
    let queue = queue.clone();
    informer.add_event_handler(move |change: Change<'_, K>| {
        if let Change::Updated { old, new } = change
            && old.resource_version() == new.resource_version()
        {
            return;
        }
        let namespace = change.object().namespace().unwrap_or_default();
        for quota in quotas.list_namespace(&namespace) {
            queue.add(ObjectKey::of(quota.as_ref()));
        }
    });
}

/// Builds the `resourcequota-controller` (`--concurrent-resource-quota-syncs`).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let quotas = ctx.informers.informer::<ResourceQuota>();
    let pods = ctx.informers.informer::<Pod>();
    let services = ctx.informers.informer::<Service>();
    let pvcs = ctx.informers.informer::<PersistentVolumeClaim>();
    let config_maps = ctx.informers.informer::<ConfigMap>();
    let secrets = ctx.informers.informer::<Secret>();
    let rcs = ctx.informers.informer::<ReplicationController>();
    let queue = WorkQueue::<ObjectKey>::new("resourcequota_primary");
    {
        let queue = queue.clone();
        quotas.add_event_handler(move |change: Change<'_, ResourceQuota>| {
            queue.add(ObjectKey::of(change.object()));
        });
    }
    requeue_namespace_on_change(&pods, &quotas, &queue);
    requeue_namespace_on_change(&services, &quotas, &queue);
    requeue_namespace_on_change(&pvcs, &quotas, &queue);
    requeue_namespace_on_change(&config_maps, &quotas, &queue);
    requeue_namespace_on_change(&secrets, &quotas, &queue);
    requeue_namespace_on_change(&rcs, &quotas, &queue);
    let reconciler = QuotaReconciler {
        client: ctx.client.clone(),
        quotas: quotas.clone(),
        pods: pods.clone(),
        services: services.clone(),
        pvcs: pvcs.clone(),
        config_maps: config_maps.clone(),
        secrets: secrets.clone(),
        rcs: rcs.clone(),
    };
    let all = quotas.clone();
    let resync = queue.clone();
    Ok(Some(Box::new(
        QueueController::new(
            NAME,
            queue,
            reconciler,
            ctx.config.concurrency.resource_quota,
            ctx,
        )
        .wait_for(quotas)
        .wait_for(pods)
        .wait_for(services)
        .wait_for(pvcs)
        .wait_for(config_maps)
        .wait_for(secrets)
        .wait_for(rcs)
        .resync_every(SYNC_PERIOD, move || {
            for quota in all.list() {
                resync.add(ObjectKey::of(quota.as_ref()));
            }
        }),
    )))
}

/// Whether a pod falls within the quota's scopes (unknown scopes are
/// ignored rather than excluding everything).
fn pod_in_scopes(quota: &ResourceQuota, pod: &Pod) -> bool {
    quota
        .spec
        .as_ref()
        .and_then(|s| s.scopes.as_ref())
        .into_iter()
        .flatten()
        .all(|scope| match scope.as_str() {
            "Terminating" => is_terminating(pod),
            "NotTerminating" => !is_terminating(pod),
            "BestEffort" => is_best_effort(pod),
            "NotBestEffort" => !is_best_effort(pod),
            _ => true,
        })
}

/// Why a sync failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
#[error("updating the quota status: {}", api_errors::message(.0))]
pub struct SyncError(kube::Error);

/// Recomputes one quota.
pub struct QuotaReconciler {
    client: Client,
    quotas: Informer<ResourceQuota>,
    pods: Informer<Pod>,
    services: Informer<Service>,
    pvcs: Informer<PersistentVolumeClaim>,
    config_maps: Informer<ConfigMap>,
    secrets: Informer<Secret>,
    rcs: Informer<ReplicationController>,
}

impl QuotaReconciler {
    fn usage(&self, quota: &ResourceQuota, namespace: &str) -> Usage {
        let mut usage = Usage::new();
        for pod in self.pods.list_namespace(namespace) {
            if pod_in_scopes(quota, &pod) {
                add_pod(&mut usage, &pod);
            }
        }
        let scoped = quota
            .spec
            .as_ref()
            .and_then(|s| s.scopes.as_ref())
            .is_some_and(|s| !s.is_empty());
        if scoped {
            // Scopes restrict a quota to pods.
            return usage;
        }
        for svc in self.services.list_namespace(namespace) {
            add_service(&mut usage, &svc);
        }
        for pvc in self.pvcs.list_namespace(namespace) {
            add_pvc(&mut usage, &pvc);
        }
        for (resource, count) in [
            (
                "configmaps",
                self.config_maps.list_namespace(namespace).len(),
            ),
            ("secrets", self.secrets.list_namespace(namespace).len()),
            (
                "replicationcontrollers",
                self.rcs.list_namespace(namespace).len(),
            ),
            (
                "resourcequotas",
                self.quotas.list_namespace(namespace).len(),
            ),
        ] {
            for _ in 0..count {
                add_count(&mut usage, resource);
                add_count(&mut usage, &format!("count/{resource}"));
            }
        }
        usage
    }
}

impl Reconciler<ObjectKey> for QuotaReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(quota) = self.quotas.get(Some(&namespace), &key.name) else {
            return Ok(Action::await_change());
        };
        let hard = quota
            .spec
            .as_ref()
            .and_then(|s| s.hard.clone())
            .unwrap_or_default();
        let usage = self.usage(&quota, &namespace);
        let used: BTreeMap<String, ApiQuantity> = hard
            .keys()
            .map(|name| {
                let value = usage
                    .get(name)
                    .map_or_else(|| "0".to_string(), format_total);
                (name.clone(), ApiQuantity(value))
            })
            .collect();
        let status = ResourceQuotaStatus {
            hard: Some(hard),
            used: Some(used),
        };
        let current = quota.status.clone().unwrap_or_default();
        if same_quantities(current.hard.as_ref(), status.hard.as_ref())
            && same_quantities(current.used.as_ref(), status.used.as_ref())
        {
            return Ok(Action::await_change());
        }
        let mut updated = (*quota).clone();
        updated.status = Some(status);
        let api: Api<ResourceQuota> = Api::namespaced(self.client.clone(), &namespace);
        match api
            .replace_status(&key.name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(Action::await_change()),
            Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
            Err(err) => Err(SyncError(err)),
        }
    }
}

/// Equal as quantities ("1000m" and "1" are the same usage).
fn same_quantities(
    a: Option<&BTreeMap<String, ApiQuantity>>,
    b: Option<&BTreeMap<String, ApiQuantity>>,
) -> bool {
    let empty = BTreeMap::new();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    a.len() == b.len()
        && a.iter().all(|(k, v)| {
            b.get(k).is_some_and(|w| {
                match (
                    corten_apimachinery::quantity::Quantity::parse(&v.0),
                    corten_apimachinery::quantity::Quantity::parse(&w.0),
                ) {
                    (Ok(x), Ok(y)) => x.cmp_value(&y).is_eq(),
                    _ => v == w,
                }
            })
        })
}
