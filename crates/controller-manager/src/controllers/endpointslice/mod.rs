//! `endpointslice-controller`: publishes the pods behind every Service with
//! a selector as EndpointSlices (`discovery.k8s.io/v1`), which kube-proxy
//! and cluster DNS read.
//!
//! One sync of a Service:
//!
//! 1. skips Services without a selector (their slices come from the
//!    mirroring controller or the user) and ExternalName Services;
//! 2. computes the desired endpoints ([`desired`]): one per pod address of
//!    each of the Service's IP families, with `ready`/`serving`/
//!    `terminating` conditions, `nodeName`, `zone`, `targetRef` and, behind
//!    a headless Service the pod names as `subdomain`, its `hostname`;
//!    grouped by ports resolved on each pod (named `targetPort`s included);
//! 3. plans creates/updates/deletes against the slices it manages
//!    (label `endpointslice.kubernetes.io/managed-by:
//!    endpointslice-controller.k8s.io`) with minimal churn ([`planner`],
//!    at most 100 endpoints per slice) and writes them ([`writer`]),
//!    stamping `endpoints.kubernetes.io/last-change-trigger-time`.
//!
//! Slices carry the Service's labels plus `kubernetes.io/service-name` and
//! a controller reference to the Service (the garbage collector removes
//! them with it). A [`tracker`] keeps a sync from planning on a cache that
//! lags behind its own writes.

pub mod desired;
pub mod planner;
pub mod tracker;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Client, ResourceExt};
use prometheus::IntCounterVec;

use self::planner::{SliceTemplate, plan};
use self::tracker::SliceTracker;
use crate::controllers::service_pods::{
    HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME, add_pod_handlers, add_service_handlers, is_headless,
    last_change_trigger_time, selected_pods, service_selector,
};
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::controller_ref::Owner;
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "endpointslice-controller";
/// The `managed-by` value of the slices this controller owns.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// Which controller manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// `--max-endpoints-per-slice` (upstream default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// Builds the `endpointslice-controller` (`--concurrent-service-endpoint-syncs`
/// workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let services = ctx.informers.informer::<Service>();
    let pods = ctx.informers.informer::<Pod>();
    let nodes = ctx.informers.informer::<Node>();
    let slices = ctx.informers.informer::<EndpointSlice>();
    let queue = WorkQueue::<ObjectKey>::new("endpoint_slice");
    add_service_handlers(&services, &queue);
    add_pod_handlers(&services, &pods, &queue);
    add_slice_handlers(&slices, &queue, MANAGED_BY);
    let reconciler = EndpointSliceReconciler {
        client: ctx.client.clone(),
        services: services.clone(),
        pods: pods.clone(),
        nodes: nodes.clone(),
        slices: slices.clone(),
        tracker: Arc::new(SliceTracker::default()),
        recorder: ctx.recorder(NAME),
        changes: writer::changes_metric("endpoint_slice_controller"),
        max_endpoints: MAX_ENDPOINTS_PER_SLICE,
    };
    Ok(Some(Box::new(
        QueueController::new(
            NAME,
            queue,
            reconciler,
            ctx.config.concurrency.endpointslice,
            ctx,
        )
        .wait_for(services)
        .wait_for(pods)
        .wait_for(nodes)
        .wait_for(slices),
    )))
}

/// Queues the owning Service when a slice managed by `managed_by` changes
/// (someone edited or deleted it, or our own write arrived).
pub fn add_slice_handlers(
    slices: &Informer<EndpointSlice>,
    queue: &WorkQueue<ObjectKey>,
    managed_by: &'static str,
) {
    let queue = queue.clone();
    slices.add_event_handler(move |change: Change<'_, EndpointSlice>| {
        let slice = change.object();
        let labels = slice.labels();
        if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(managed_by) {
            return;
        }
        if let Some(service) = labels.get(LABEL_SERVICE_NAME) {
            queue.add(ObjectKey {
                namespace: slice.namespace(),
                name: service.clone(),
            });
        }
    });
}

/// The slices of `namespace/service` managed by `managed_by`.
pub fn managed_slices(
    slices: &Informer<EndpointSlice>,
    namespace: &str,
    service: &str,
    managed_by: &str,
) -> Vec<Arc<EndpointSlice>> {
    slices
        .list_namespace(namespace)
        .into_iter()
        .filter(|s| {
            let labels = s.labels();
            labels.get(LABEL_MANAGED_BY).map(String::as_str) == Some(managed_by)
                && labels.get(LABEL_SERVICE_NAME).map(String::as_str) == Some(service)
        })
        .collect()
}

/// The labels of a Service's slices: the Service's own (minus the reserved
/// ones), the Service name, the manager and, if headless, the headless label.
pub fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = service
        .labels()
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                LABEL_MANAGED_BY | LABEL_SERVICE_NAME | HEADLESS_LABEL
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_SERVICE_NAME.to_string(), service.name_any());
    labels.insert(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string());
    if is_headless(service) {
        labels.insert(HEADLESS_LABEL.to_string(), String::new());
    }
    labels
}

/// Why a sync failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Writing slices failed.
    #[error("failed to update EndpointSlices: {}", api_errors::message(.0))]
    Write(kube::Error),
}

/// Reconciles the slices of one Service.
pub struct EndpointSliceReconciler {
    client: Client,
    services: Informer<Service>,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    slices: Informer<EndpointSlice>,
    tracker: Arc<SliceTracker>,
    recorder: EventRecorder,
    changes: IntCounterVec,
    max_endpoints: usize,
}

impl Reconciler<ObjectKey> for EndpointSliceReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(service) = self.services.get(Some(&namespace), &key.name) else {
            // The garbage collector removes the slices with the Service.
            self.tracker.forget(key);
            return Ok(Action::await_change());
        };
        if service.metadata.deletion_timestamp.is_some() || service_selector(&service).is_none() {
            return Ok(Action::await_change());
        }
        let existing = managed_slices(&self.slices, &namespace, &key.name, MANAGED_BY);
        if self.tracker.is_stale(key, &existing) {
            tracing::debug!(service = %key, "EndpointSlice cache is behind our writes; retrying");
            return Ok(Action::requeue(Duration::from_millis(500)));
        }
        let pods = selected_pods(&self.pods, &service);
        let desired = desired::desired(&service, pods.iter().map(|p| p.as_ref()), |node| {
            self.nodes.get(None, node)
        });
        let template = SliceTemplate {
            namespace: namespace.clone(),
            generate_name: format!("{}-", key.name),
            labels: slice_labels(&service),
            owner: Owner::of(service.as_ref()).controller_ref(),
        };
        let existing: Vec<EndpointSlice> = existing.iter().map(|s| (**s).clone()).collect();
        let mut plan = plan(
            &existing,
            &desired.groups,
            Some(desired::primary_address_type(&service)),
            self.max_endpoints,
            &template,
        );
        if let Some(time) = last_change_trigger_time(&service, pods.iter().map(|p| p.as_ref())) {
            for slice in plan.create.iter_mut().chain(plan.update.iter_mut()) {
                slice
                    .metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(LAST_CHANGE_TRIGGER_TIME.to_string(), time.clone());
            }
        }
        if !plan.is_empty() {
            tracing::debug!(
                service = %key,
                create = plan.create.len(),
                update = plan.update.len(),
                delete = plan.delete.len(),
                "writing EndpointSlices"
            );
        }
        if let Err(err) = writer::write_plan(
            &self.client,
            &namespace,
            key,
            plan,
            &self.tracker,
            &self.changes,
        )
        .await
        {
            if !api_errors::is_conflict(&err) {
                self.recorder.event(
                    service.as_ref(),
                    EventType::Warning,
                    "FailedToUpdateEndpointSlices",
                    &format!(
                        "Error updating Endpoint Slices for Service {key}: {}",
                        api_errors::message(&err)
                    ),
                );
            }
            return Err(SyncError::Write(err));
        }
        if desired.missing_nodes {
            // Pods on nodes not in the cache yet are left out until then.
            return Ok(Action::requeue(Duration::from_secs(5)));
        }
        Ok(Action::await_change())
    }
}
