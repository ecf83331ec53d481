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
//! and as `count/<resource>`), and every other `count/<resource>.<group>`
//! a quota names from a metadata watch of that resource ([`generic`]).
//! Only the resources named in `spec.hard` appear in `status.used`; one no
//! evaluator knows keeps its previous value (upstream keeps the past
//! observation) rather than dropping to 0, which would undo what the
//! apiserver's admission charged. Pod quotas honour the `Terminating`,
//! `NotTerminating`, `BestEffort`, `NotBestEffort` scopes and the
//! `PriorityClass` and `CrossNamespacePodAffinity` scope selectors.
//!
//! A quota is synced when it changes, when a counted object of its
//! namespace changes, and every `--resource-quota-sync-period` (5m).

pub mod generic;
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

use self::generic::{Count, GenericCounts, parse_count_name};
use self::usage::{
    Usage, add_count, add_pod, add_pvc, add_service, format_total, is_best_effort, is_terminating,
    typed_tracks,
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
    let generic = std::sync::Arc::new(GenericCounts::new(
        ctx.client.clone(),
        quotas.clone(),
        queue.clone(),
    ));
    let reconciler = QuotaReconciler {
        generic,
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

/// Whether a pod falls within the quota's scopes and scope selectors
/// (as the apiserver's admission judges them; an unknown scope or operator
/// matches nothing).
fn pod_in_scopes(quota: &ResourceQuota, pod: &Pod) -> bool {
    let spec = quota.spec.as_ref();
    let plain = spec
        .and_then(|s| s.scopes.as_ref())
        .into_iter()
        .flatten()
        .map(|scope| (scope.as_str(), "Exists", &[][..]));
    let selected = spec
        .and_then(|s| s.scope_selector.as_ref())
        .and_then(|s| s.match_expressions.as_ref())
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e.scope_name.as_str(),
                e.operator.as_str(),
                e.values.as_deref().unwrap_or_default(),
            )
        });
    plain
        .chain(selected)
        .all(|(scope, operator, values)| pod_matches_scope(scope, operator, values, pod))
}

fn pod_matches_scope(scope: &str, operator: &str, values: &[String], pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    let exists = |v: bool| operator == "Exists" && v;
    match scope {
        "Terminating" => exists(is_terminating(pod)),
        "NotTerminating" => exists(!is_terminating(pod)),
        "BestEffort" => exists(is_best_effort(pod)),
        "NotBestEffort" => exists(!is_best_effort(pod)),
        "CrossNamespacePodAffinity" => exists(usage::uses_cross_namespace_affinity(pod)),
        "PriorityClass" => {
            let class = spec
                .and_then(|s| s.priority_class_name.as_deref())
                .unwrap_or("");
            match operator {
                "Exists" => !class.is_empty(),
                "In" => values.iter().any(|v| v == class),
                "NotIn" => !values.iter().any(|v| v == class),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Why a sync failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
#[error("updating the quota status: {}", api_errors::message(.0))]
pub struct SyncError(kube::Error);

/// Recomputes one quota.
pub struct QuotaReconciler {
    generic: std::sync::Arc<GenericCounts>,
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
        let scoped = is_scoped(quota);
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

/// Scopes restrict a quota to pods.
fn is_scoped(quota: &ResourceQuota) -> bool {
    let spec = quota.spec.as_ref();
    spec.and_then(|s| s.scopes.as_ref())
        .is_some_and(|s| !s.is_empty())
        || spec
            .and_then(|s| s.scope_selector.as_ref())
            .and_then(|s| s.match_expressions.as_ref())
            .is_some_and(|e| !e.is_empty())
}

impl QuotaReconciler {
    /// `status.used` for `hard`: what the evaluators computed, 0 for what
    /// they track but nothing uses, generic object counts, and the previous
    /// value for anything not (yet) countable. Also says whether a generic
    /// count is still listing (sync again soon).
    async fn used(
        &self,
        quota: &ResourceQuota,
        namespace: &str,
        hard: &BTreeMap<String, ApiQuantity>,
    ) -> (BTreeMap<String, ApiQuantity>, bool) {
        let usage = self.usage(quota, namespace);
        let previous = quota
            .status
            .as_ref()
            .and_then(|s| s.used.clone())
            .unwrap_or_default();
        let scoped = is_scoped(quota);
        let mut pending = false;
        let mut used = BTreeMap::new();
        for name in hard.keys() {
            let value = if let Some(total) = usage.get(name) {
                Some(format_total(total))
            } else if typed_tracks(name) {
                Some("0".to_string())
            } else if let Some((group, resource)) = parse_count_name(name) {
                if scoped {
                    // Object counts never fall within a pod scope.
                    Some("0".to_string())
                } else {
                    match self.generic.count(&group, &resource, namespace).await {
                        Count::Known(n) => Some(n.to_string()),
                        Count::Pending => {
                            pending = true;
                            None
                        }
                        Count::Unknown => None,
                    }
                }
            } else {
                None
            };
            if let Some(v) = value
                .map(ApiQuantity)
                .or_else(|| previous.get(name).cloned())
            {
                used.insert(name.clone(), v);
            }
        }
        (used, pending)
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
        let (used, pending) = self.used(&quota, &namespace, &hard).await;
        // A generic count still listing: look again shortly.
        let done = if pending {
            Action::requeue(Duration::from_secs(1))
        } else {
            Action::await_change()
        };
        let status = ResourceQuotaStatus {
            hard: Some(hard),
            used: Some(used),
        };
        let current = quota.status.clone().unwrap_or_default();
        if same_quantities(current.hard.as_ref(), status.hard.as_ref())
            && same_quantities(current.used.as_ref(), status.used.as_ref())
        {
            return Ok(done);
        }
        let mut updated = (*quota).clone();
        updated.status = Some(status);
        let api: Api<ResourceQuota> = Api::namespaced(self.client.clone(), &namespace);
        match api
            .replace_status(&key.name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(done),
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
