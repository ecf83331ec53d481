//! `endpoints-controller`: keeps the legacy `v1/Endpoints` object of every
//! Service with a selector (what `kubectl get endpoints` and `kubectl
//! describe service` show).
//!
//! The Endpoints object has the Service's name and labels (plus
//! `service.kubernetes.io/headless` for headless Services). Each selected
//! pod with an IP contributes one address (of the Service's primary IP
//! family) per Service port its target resolves on, under `addresses` when
//! ready (or the Service publishes not-ready addresses) and
//! `notReadyAddresses` otherwise; terminating pods are left out unless the
//! Service publishes not-ready addresses. Subsets are then packed by port
//! set with sorted addresses (upstream `RepackSubsets`). Beyond 1000
//! addresses the object is truncated and annotated
//! `endpoints.kubernetes.io/over-capacity: truncated`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::controllers::service_pods::{
    HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME, add_pod_handlers, add_service_handlers, hostname_for,
    is_headless, is_ipv6, last_change_trigger_time, pod_ips, pod_ready, pod_reference,
    publish_not_ready, selected_pods, service_selector, should_be_in_endpoints, target_port,
};
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::pod_readiness::node_name;
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "endpoints-controller";
/// Most addresses one Endpoints object holds.
pub const MAX_CAPACITY: usize = 1000;
/// Set when addresses were dropped to stay within [`MAX_CAPACITY`].
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// Builds the `endpoints-controller` (`--concurrent-endpoint-syncs` workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let services = ctx.informers.informer::<Service>();
    let pods = ctx.informers.informer::<Pod>();
    let endpoints = ctx.informers.informer::<Endpoints>();
    let queue = WorkQueue::<ObjectKey>::new("endpoint");
    add_service_handlers(&services, &queue);
    add_pod_handlers(&services, &pods, &queue);
    {
        // A deleted Endpoints object is recreated.
        let queue = queue.clone();
        endpoints.add_event_handler(move |change: Change<'_, Endpoints>| {
            if let Change::Deleted(ep) = change {
                queue.add(ObjectKey::of(ep));
            }
        });
    }
    let reconciler = EndpointsReconciler {
        client: ctx.client.clone(),
        services: services.clone(),
        pods: pods.clone(),
        endpoints: endpoints.clone(),
        recorder: ctx.recorder(NAME),
    };
    Ok(Some(Box::new(
        QueueController::new(
            NAME,
            queue,
            reconciler,
            ctx.config.concurrency.endpoint,
            ctx,
        )
        .wait_for(services)
        .wait_for(pods)
        .wait_for(endpoints),
    )))
}

/// The address of `pod` in the Service's primary IP family.
fn pod_address(pod: &Pod, service: &Service) -> Option<String> {
    let ips = pod_ips(pod);
    let spec = service.spec.as_ref();
    let family_v6 = match spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
    {
        Some(family) => Some(family == "IPv6"),
        None => spec
            .and_then(|s| s.cluster_ip.as_deref())
            .filter(|ip| !ip.is_empty() && *ip != "None")
            .and_then(is_ipv6),
    };
    match family_v6 {
        Some(v6) => ips.into_iter().find(|ip| is_ipv6(ip) == Some(v6)),
        // A headless Service without families takes the pod's primary IP.
        None => ips.into_iter().next(),
    }
}

/// (name, port, protocol): what makes two ports the same.
type PortId = (String, i32, String);
/// Addresses by (ip, pod uid), so they come out sorted.
type Addresses = BTreeMap<(String, String), EndpointAddress>;
/// The ports of a group with its ready and not-ready addresses.
type PortGroup = (Vec<EndpointPort>, Addresses, Addresses);

fn port_key(port: &EndpointPort) -> PortId {
    (
        port.name.clone().unwrap_or_default(),
        port.port,
        port.protocol.clone().unwrap_or_default(),
    )
}

/// The subsets for `service` and its `pods`, packed and sorted.
pub fn desired_subsets<'a>(
    service: &Service,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> Vec<EndpointSubset> {
    let tolerate_unready = publish_not_ready(service);
    let service_ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let mut by_ports: BTreeMap<Vec<PortId>, PortGroup> = BTreeMap::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, tolerate_unready) {
            continue;
        }
        let Some(ip) = pod_address(pod, service) else {
            continue;
        };
        let node = node_name(pod);
        let address = EndpointAddress {
            ip: ip.clone(),
            hostname: hostname_for(pod, service),
            node_name: (!node.is_empty()).then(|| node.to_string()),
            target_ref: Some(pod_reference(pod)),
        };
        let ready = tolerate_unready || pod_ready(pod);
        let mut ports: Vec<EndpointPort> = service_ports
            .iter()
            .filter_map(|sp| {
                Some(EndpointPort {
                    name: sp.name.clone().filter(|n| !n.is_empty()),
                    port: target_port(pod, sp)?,
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        if ports.is_empty() && !(service_ports.is_empty() && is_headless(service)) {
            // No Service port resolves on this pod.
            continue;
        }
        ports.sort_by_key(port_key);
        // Upstream adds one subset per (address, port) and repacks them so
        // addresses with the same set of ports share a subset: grouping by
        // the pod's whole port list gives the same result.
        let entry = by_ports
            .entry(ports.iter().map(port_key).collect())
            .or_insert_with(|| (ports, BTreeMap::new(), BTreeMap::new()));
        let key = (ip, pod.uid().unwrap_or_default());
        if ready {
            entry.1.insert(key, address);
        } else {
            entry.2.insert(key, address);
        }
    }
    by_ports
        .into_values()
        .map(|(ports, ready, not_ready)| EndpointSubset {
            addresses: (!ready.is_empty()).then(|| ready.into_values().collect()),
            not_ready_addresses: (!not_ready.is_empty()).then(|| not_ready.into_values().collect()),
            ports: (!ports.is_empty()).then_some(ports),
        })
        .collect()
}

/// Upstream `truncateEndpoints`: keeps at most [`MAX_CAPACITY`] addresses,
/// ready ones first, shared out among subsets in proportion to their size.
/// Returns whether anything was dropped.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let count = |v: &Option<Vec<EndpointAddress>>| v.as_ref().map_or(0, Vec::len);
    let total_ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
    let total_not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
    if total_ready + total_not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = total_ready > MAX_CAPACITY;
    let (budget, total) = if truncate_ready {
        (MAX_CAPACITY, total_ready)
    } else {
        (MAX_CAPACITY - total_ready, total_not_ready)
    };
    let mut left = budget;
    for subset in subsets.iter_mut() {
        let list = if truncate_ready {
            subset.not_ready_addresses = None;
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        let here = count(list);
        // Rounded up, so the last subsets may get less than their share.
        let share = (here * budget).div_ceil(total.max(1)).min(left);
        if let Some(addresses) = list.as_mut() {
            addresses.truncate(share);
        }
        if list.as_ref().is_some_and(Vec::is_empty) {
            *list = None;
        }
        left -= count(list);
    }
    true
}

/// Why a sync failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Writing the Endpoints object failed.
    #[error("{}", api_errors::message(.0))]
    Write(kube::Error),
}

/// Reconciles the Endpoints object of one Service.
pub struct EndpointsReconciler {
    client: Client,
    services: Informer<Service>,
    pods: Informer<Pod>,
    endpoints: Informer<Endpoints>,
    recorder: EventRecorder,
}

impl Reconciler<ObjectKey> for EndpointsReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), &namespace);
        let Some(service) = self.services.get(Some(&namespace), &key.name) else {
            // The Service is gone: so are its endpoints.
            return match api.delete(&key.name, &DeleteParams::default()).await {
                Ok(_) => Ok(Action::await_change()),
                Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
                Err(err) => Err(SyncError::Write(err)),
            };
        };
        if service_selector(&service).is_none() || service.metadata.deletion_timestamp.is_some() {
            // Selector-less Services have their Endpoints managed by others.
            return Ok(Action::await_change());
        }
        let pods = selected_pods(&self.pods, &service);
        let mut subsets = desired_subsets(&service, pods.iter().map(|p| p.as_ref()));
        let truncated = truncate(&mut subsets);

        let current = self.endpoints.get(Some(&namespace), &key.name);
        let mut labels: BTreeMap<String, String> = service.labels().clone();
        if is_headless(&service) {
            labels.insert(HEADLESS_LABEL.to_string(), String::new());
        } else {
            labels.remove(HEADLESS_LABEL);
        }
        if let Some(current) = &current {
            let current_subsets = current.subsets.clone().unwrap_or_default();
            let current_truncated =
                current.annotations().get(OVER_CAPACITY).map(String::as_str) == Some("truncated");
            if current_subsets == subsets
                && current.labels() == &labels
                && current_truncated == truncated
            {
                return Ok(Action::await_change());
            }
        }
        let mut endpoints = current.as_deref().cloned().unwrap_or_else(|| Endpoints {
            metadata: ObjectMeta {
                name: Some(key.name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            ..Endpoints::default()
        });
        endpoints.subsets = (!subsets.is_empty()).then_some(subsets);
        endpoints.metadata.labels = Some(labels);
        let annotations = endpoints
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        if let Some(time) = last_change_trigger_time(&service, pods.iter().map(|p| p.as_ref())) {
            annotations.insert(LAST_CHANGE_TRIGGER_TIME.to_string(), time);
        }
        if truncated {
            annotations.insert(OVER_CAPACITY.to_string(), "truncated".to_string());
        } else {
            annotations.remove(OVER_CAPACITY);
        }
        let result = match &current {
            Some(_) => api
                .replace(&key.name, &PostParams::default(), &endpoints)
                .await
                .map_err(|e| ("FailedToUpdateEndpoint", "update", e)),
            None => api
                .create(&PostParams::default(), &endpoints)
                .await
                .map_err(|e| ("FailedToCreateEndpoint", "create", e)),
        };
        match result {
            Ok(_) => Ok(Action::await_change()),
            Err((_, _, err))
                if api_errors::has_status_cause(&err, api_errors::NAMESPACE_TERMINATING_CAUSE) =>
            {
                Ok(Action::await_change())
            }
            Err((reason, verb, err)) => {
                if !api_errors::is_conflict(&err) && !api_errors::is_already_exists(&err) {
                    self.recorder.event(
                        service.as_ref(),
                        EventType::Warning,
                        reason,
                        &format!(
                            "Failed to {verb} endpoint {key}: {}",
                            api_errors::message(&err)
                        ),
                    );
                }
                Err(SyncError::Write(err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::service_pods::tests::{pod, service};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        list.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_not_ready_pods_share_a_subset() {
        let svc = service("web", json!({}));
        let a = pod("a", &["10.1.0.9"], true);
        let b = pod("b", &["10.1.0.5"], false);
        let subsets = desired_subsets(&svc, [&a, &b]);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.1.0.9"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.1.0.5"]);
        let port = &subsets[0].ports.as_ref().unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("http"), 8080));
        let address = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(address.node_name.as_deref(), Some("node-1"));
        assert_eq!(
            address.target_ref.as_ref().unwrap().name.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn terminating_pods_only_with_publish_not_ready() {
        let mut a = pod("a", &["10.1.0.9"], true);
        a.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        assert!(desired_subsets(&service("web", json!({})), [&a]).is_empty());
        let subsets = desired_subsets(
            &service("web", json!({"publishNotReadyAddresses": true})),
            [&a],
        );
        assert_eq!(ips(&subsets[0].addresses), ["10.1.0.9"]);
    }

    #[test]
    fn headless_without_ports_lists_addresses() {
        let svc = service(
            "web",
            json!({"clusterIP": "None", "ports": null, "ipFamilies": null}),
        );
        let subsets = desired_subsets(&svc, [&pod("a", &["10.1.0.9"], true)]);
        assert_eq!(subsets.len(), 1);
        assert!(subsets[0].ports.is_none());
        // A Service with ports that do not resolve on the pod lists nothing.
        let svc = service(
            "web",
            json!({"ports": [{"port": 80, "targetPort": "nope"}]}),
        );
        assert!(desired_subsets(&svc, [&pod("a", &["10.1.0.9"], true)]).is_empty());
    }

    #[test]
    fn addresses_group_by_port_set() {
        let svc = service(
            "web",
            json!({"ports": [{"name": "http", "port": 80, "targetPort": "http"},
                             {"name": "metrics", "port": 9090, "targetPort": "metrics"}]}),
        );
        let a = pod("a", &["10.1.0.1"], true);
        let mut b = pod("b", &["10.1.0.2"], true);
        b.spec.as_mut().unwrap().containers[0]
            .ports
            .as_mut()
            .unwrap()
            .push(
                serde_json::from_value(json!({"name": "metrics", "containerPort": 9100})).unwrap(),
            );
        let subsets = desired_subsets(&svc, [&a, &b]);
        assert_eq!(subsets.len(), 2);
        let sizes: Vec<usize> = subsets
            .iter()
            .map(|s| s.ports.as_ref().unwrap().len())
            .collect();
        assert_eq!(sizes, [1, 2]);
    }

    #[test]
    fn truncation_keeps_ready_addresses_first() {
        let address = |i: usize| EndpointAddress {
            ip: format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
            ..EndpointAddress::default()
        };
        let mut subsets = vec![
            EndpointSubset {
                addresses: Some((0..600).map(address).collect()),
                not_ready_addresses: Some((600..1000).map(address).collect()),
                ports: None,
            },
            EndpointSubset {
                addresses: Some((1000..1300).map(address).collect()),
                not_ready_addresses: Some((1300..1500).map(address).collect()),
                ports: None,
            },
        ];
        assert!(truncate(&mut subsets));
        let ready: usize = subsets
            .iter()
            .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
            .sum();
        let not_ready: usize = subsets
            .iter()
            .map(|s| s.not_ready_addresses.as_ref().map_or(0, Vec::len))
            .sum();
        assert_eq!((ready, not_ready), (900, 100));
        assert!(!truncate(&mut subsets));
        // More ready than fit: only ready ones remain, 1000 of them.
        let mut big = vec![EndpointSubset {
            addresses: Some((0..1200).map(address).collect()),
            not_ready_addresses: Some((1200..1300).map(address).collect()),
            ports: None,
        }];
        assert!(truncate(&mut big));
        assert_eq!(big[0].addresses.as_ref().unwrap().len(), 1000);
        assert!(big[0].not_ready_addresses.is_none());
    }
}
