//! `endpointslice-mirroring-controller`: mirrors custom Endpoints of
//! Services without a selector into EndpointSlices, so kube-proxy and DNS
//! (which read only slices) see them.
//!
//! Each subset's `addresses` become ready endpoints and its
//! `notReadyAddresses` not-ready ones (with hostname, nodeName and
//! targetRef copied), grouped by address type and the subset's ports, at
//! most 1000 per subset (upstream `--mirroring-max-endpoints-per-subset`).
//! Slices are labelled `endpointslice.kubernetes.io/managed-by:
//! endpointslicemirroring-controller.k8s.io` and owned by the Endpoints
//! object. Nothing is mirrored (and mirrored slices are removed) when the
//! Service is missing or has a selector, or the Endpoints carry
//! `endpointslice.kubernetes.io/skip-mirror: "true"`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use kube::{Client, ResourceExt};
use prometheus::IntCounterVec;

use crate::controllers::endpointslice::desired::{DesiredGroup, GroupKey, PortKey, endpoint_id};
use crate::controllers::endpointslice::planner::{SliceTemplate, plan};
use crate::controllers::endpointslice::tracker::SliceTracker;
use crate::controllers::endpointslice::{
    LABEL_MANAGED_BY, LABEL_SERVICE_NAME, add_slice_handlers, managed_slices, writer,
};
use crate::controllers::service_pods::{LAST_CHANGE_TRIGGER_TIME, is_ipv6, service_selector};
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::controller_ref::Owner;
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "endpointslice-mirroring-controller";
/// The `managed-by` value of mirrored slices.
pub const MANAGED_BY: &str = "endpointslicemirroring-controller.k8s.io";
/// Endpoints with this label set to `"true"` are not mirrored.
pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Addresses mirrored per subset, and endpoints per mirrored slice.
pub const MAX_ENDPOINTS_PER_SUBSET: usize = 1000;

/// Builds the `endpointslice-mirroring-controller`.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let endpoints = ctx.informers.informer::<Endpoints>();
    let services = ctx.informers.informer::<Service>();
    let slices = ctx.informers.informer::<EndpointSlice>();
    let queue = WorkQueue::<ObjectKey>::new("endpoint_slice_mirroring");
    {
        let queue = queue.clone();
        endpoints.add_event_handler(move |change: Change<'_, Endpoints>| {
            queue.add(ObjectKey::of(change.object()));
        });
    }
    {
        let queue = queue.clone();
        services.add_event_handler(move |change: Change<'_, Service>| {
            queue.add(ObjectKey::of(change.object()));
        });
    }
    add_slice_handlers(&slices, &queue, MANAGED_BY);
    let reconciler = MirroringReconciler {
        client: ctx.client.clone(),
        endpoints: endpoints.clone(),
        services: services.clone(),
        slices: slices.clone(),
        tracker: Arc::new(SliceTracker::default()),
        changes: writer::changes_metric("endpoint_slice_mirroring_controller"),
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 5, ctx)
            .wait_for(endpoints)
            .wait_for(services)
            .wait_for(slices),
    )))
}

fn mirrored_endpoint(address: &EndpointAddress, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![address.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            ..EndpointConditions::default()
        }),
        hostname: address.hostname.clone().filter(|h| !h.is_empty()),
        node_name: address.node_name.clone().filter(|n| !n.is_empty()),
        target_ref: address.target_ref.clone(),
        ..Endpoint::default()
    }
}

/// The slices' contents for an Endpoints object.
pub fn desired_groups(endpoints: &Endpoints) -> BTreeMap<GroupKey, DesiredGroup> {
    let mut groups: BTreeMap<GroupKey, DesiredGroup> = BTreeMap::new();
    for subset in endpoints.subsets.iter().flatten() {
        let mut ports: Vec<PortKey> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| PortKey {
                name: p.name.clone().unwrap_or_default(),
                port: p.port,
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        ports.sort();
        ports.dedup();
        let addresses = subset
            .addresses
            .iter()
            .flatten()
            .map(|a| (a, true))
            .chain(
                subset
                    .not_ready_addresses
                    .iter()
                    .flatten()
                    .map(|a| (a, false)),
            )
            .take(MAX_ENDPOINTS_PER_SUBSET);
        for (address, ready) in addresses {
            // Invalid IPs are skipped, as upstream does.
            let Some(v6) = is_ipv6(&address.ip) else {
                continue;
            };
            let endpoint = mirrored_endpoint(address, ready);
            groups
                .entry(GroupKey {
                    address_type: if v6 { "IPv6" } else { "IPv4" }.to_string(),
                    ports: ports.clone(),
                })
                .or_default()
                .entry(endpoint_id(&endpoint).to_string())
                .or_insert(endpoint);
        }
    }
    groups
}

/// The labels of mirrored slices: the Endpoints' own plus ours.
fn slice_labels(endpoints: &Endpoints) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = endpoints
        .labels()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), LABEL_MANAGED_BY | LABEL_SERVICE_NAME))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_SERVICE_NAME.to_string(), endpoints.name_any());
    labels.insert(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string());
    labels
}

/// Why a sync failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
#[error("failed to mirror EndpointSlices: {}", api_errors::message(.0))]
pub struct SyncError(kube::Error);

/// Mirrors one Endpoints object.
pub struct MirroringReconciler {
    client: Client,
    endpoints: Informer<Endpoints>,
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    tracker: Arc<SliceTracker>,
    changes: IntCounterVec,
}

impl Reconciler<ObjectKey> for MirroringReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let existing = managed_slices(&self.slices, &namespace, &key.name, MANAGED_BY);
        if self.tracker.is_stale(key, &existing) {
            return Ok(Action::requeue(Duration::from_millis(500)));
        }
        let existing: Vec<EndpointSlice> = existing.iter().map(|s| (**s).clone()).collect();
        let endpoints = self.endpoints.get(Some(&namespace), &key.name);
        let service = self.services.get(Some(&namespace), &key.name);
        let mirror = match (&endpoints, &service) {
            (Some(ep), Some(svc)) => {
                service_selector(svc).is_none()
                    && ep.labels().get(SKIP_MIRROR).map(String::as_str) != Some("true")
            }
            _ => false,
        };
        let (plan, trigger) = match endpoints.as_deref().filter(|_| mirror) {
            Some(ep) => {
                let template = SliceTemplate {
                    namespace: namespace.clone(),
                    generate_name: format!("{}-", key.name),
                    labels: slice_labels(ep),
                    owner: Owner::of(ep).controller_ref(),
                };
                let trigger = ep.annotations().get(LAST_CHANGE_TRIGGER_TIME).cloned();
                (
                    plan(
                        &existing,
                        &desired_groups(ep),
                        None,
                        MAX_ENDPOINTS_PER_SUBSET,
                        &template,
                    ),
                    trigger,
                )
            }
            None => {
                if existing.is_empty() {
                    self.tracker.forget(key);
                    return Ok(Action::await_change());
                }
                let plan = crate::controllers::endpointslice::planner::Plan {
                    delete: existing,
                    ..Default::default()
                };
                (plan, None)
            }
        };
        let mut plan = plan;
        if let Some(time) = trigger {
            for slice in plan.create.iter_mut().chain(plan.update.iter_mut()) {
                slice
                    .metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(LAST_CHANGE_TRIGGER_TIME.to_string(), time.clone());
            }
        }
        writer::write_plan(
            &self.client,
            &namespace,
            key,
            plan,
            &self.tracker,
            &self.changes,
        )
        .await
        .map_err(SyncError)?;
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subsets_become_groups_by_family_and_ports() {
        let ep: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "ext", "namespace": "ns"},
            "subsets": [
                {"addresses": [{"ip": "192.0.2.10", "hostname": "a"}, {"ip": "2001:db8::1"}],
                 "notReadyAddresses": [{"ip": "192.0.2.11"}, {"ip": "not-an-ip"}],
                 "ports": [{"name": "http", "port": 80}]},
                {"addresses": [{"ip": "192.0.2.20"}], "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}
            ]
        }))
        .unwrap();
        let groups = desired_groups(&ep);
        assert_eq!(groups.len(), 3);
        let http_v4 = groups
            .iter()
            .find(|(k, _)| k.address_type == "IPv4" && k.ports[0].port == 80)
            .unwrap()
            .1;
        assert_eq!(http_v4.len(), 2);
        assert_eq!(http_v4["192.0.2.10"].hostname.as_deref(), Some("a"));
        assert_eq!(
            http_v4["192.0.2.10"].conditions.as_ref().unwrap().ready,
            Some(true)
        );
        assert_eq!(
            http_v4["192.0.2.11"].conditions.as_ref().unwrap().ready,
            Some(false)
        );
        assert!(groups.keys().any(|k| k.address_type == "IPv6"));
    }

    #[test]
    fn at_most_1000_addresses_per_subset() {
        let addresses: Vec<_> = (0..1200)
            .map(|i| json!({"ip": format!("10.0.{}.{}", i / 250, i % 250 + 1)}))
            .collect();
        let ep: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "ext"},
            "subsets": [{"addresses": addresses, "ports": [{"port": 80}]}]
        }))
        .unwrap();
        let total: usize = desired_groups(&ep).values().map(|g| g.len()).sum();
        assert_eq!(total, 1000);
    }
}
