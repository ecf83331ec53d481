//! endpointslice-controller and endpoints-controller against the real
//! apiserver: slices and the Endpoints object follow pods (IPs, readiness,
//! named target ports, termination), slices are updated in place, headless
//! Services get hostnames, and kubectl shows the endpoints.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::support::{object, start_manager, wait_for, wait_for_default_service_account};

const NS: &str = "default";

/// Creates a Node object (no kubelet: the test plays its part).
pub async fn create_node(client: &Client, name: &str, labels: serde_json::Value) -> Node {
    let api: Api<Node> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &object(json!({"metadata": {"name": name, "labels": labels}})),
    )
    .await
    .unwrap()
}

/// Creates a pod bound to `node` with a named container port `http`.
pub async fn create_pod(client: &Client, name: &str, node: &str, extra: serde_json::Value) -> Pod {
    let mut spec = json!({
        "nodeName": node,
        "containers": [{"name": "c", "image": "busybox",
                        "ports": [{"name": "http", "containerPort": 8080}]}]
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), NS);
    api.create(
        &PostParams::default(),
        &object(json!({"metadata": {"name": name, "labels": {"app": "web"}}, "spec": spec})),
    )
    .await
    .unwrap()
}

/// Patches the pod's status as a kubelet would: Running, with an IP.
pub async fn set_running(client: &Client, name: &str, ip: &str, ready: bool) {
    let api: Api<Pod> = Api::namespaced(client.clone(), NS);
    let now = k8s_openapi::jiff::Timestamp::now();
    let now = k8s_openapi::jiff::Timestamp::from_second(now.as_second()).unwrap();
    let status = if ready { "True" } else { "False" };
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": status, "lastTransitionTime": now.to_string()}]
        }})),
    )
    .await
    .unwrap();
}

async fn slices_of(client: &Client, service: &str) -> Vec<EndpointSlice> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), NS);
    api.list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await
        .unwrap()
        .items
}

/// (address, ready, serving, terminating) of every endpoint, sorted.
fn endpoint_states(slices: &[EndpointSlice]) -> Vec<(String, bool, bool, bool)> {
    let mut out: Vec<_> = slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .map(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            (
                e.addresses[0].clone(),
                c.ready.unwrap_or(false),
                c.serving.unwrap_or(false),
                c.terminating.unwrap_or(false),
            )
        })
        .collect();
    out.sort();
    out
}

async fn wait_for_endpoint_states(
    client: &Client,
    service: &str,
    want: &[(&str, bool, bool, bool)],
) -> Vec<EndpointSlice> {
    let want: Vec<(String, bool, bool, bool)> = want
        .iter()
        .map(|(a, r, s, t)| (a.to_string(), *r, *s, *t))
        .collect();
    wait_for(
        &format!("endpoints {want:?} of {service}"),
        Duration::from_secs(30),
        || {
            let want = want.clone();
            async move {
                let slices = slices_of(client, service).await;
                (endpoint_states(&slices) == want).then_some(slices)
            }
        },
    )
    .await
}

/// (ready IPs, not-ready IPs) of the Endpoints object.
async fn endpoints_ips(client: &Client, name: &str) -> Option<(Vec<String>, Vec<String>)> {
    let api: Api<Endpoints> = Api::namespaced(client.clone(), NS);
    let ep = api.get_opt(name).await.unwrap()?;
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for subset in ep.subsets.iter().flatten() {
        ready.extend(subset.addresses.iter().flatten().map(|a| a.ip.clone()));
        not_ready.extend(
            subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| a.ip.clone()),
        );
    }
    ready.sort();
    not_ready.sort();
    Some((ready, not_ready))
}

async fn wait_for_endpoints(client: &Client, name: &str, ready: &[&str], not_ready: &[&str]) {
    let want = (
        ready.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        not_ready.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    wait_for(
        &format!("Endpoints {name} = {want:?}"),
        Duration::from_secs(30),
        || {
            let want = want.clone();
            async move { (endpoints_ips(client, name).await? == want).then_some(()) }
        },
    )
    .await;
}

#[tokio::test]
async fn endpoints_and_slices_follow_pods() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(
            &cluster,
            &["--controllers=endpointslice,endpoint,serviceaccount"],
        )
        .await;
        wait_for_default_service_account(&client, NS).await;
        create_node(
            &client,
            "node-1",
            json!({"topology.kubernetes.io/zone": "zone-a"}),
        )
        .await;
        let services: Api<Service> = Api::namespaced(client.clone(), NS);
        let svc = services
            .create(
                &PostParams::default(),
                &object(json!({
                    "metadata": {"name": "web", "labels": {"team": "a"}},
                    "spec": {"selector": {"app": "web"},
                             "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
                })),
            )
            .await
            .unwrap();

        // No pods yet: one empty placeholder slice and an empty Endpoints.
        let placeholder = wait_for("the placeholder slice", Duration::from_secs(30), || async {
            let slices = slices_of(&client, "web").await;
            (slices.len() == 1).then(|| slices[0].clone())
        })
        .await;
        assert!(placeholder.endpoints.is_empty());
        assert_eq!(placeholder.address_type, "IPv4");
        let labels = placeholder.labels();
        assert_eq!(
            labels["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io"
        );
        assert_eq!(labels["team"], "a");
        let owner = &placeholder.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.clone()),
            ("Service", svc.uid().unwrap())
        );
        assert_eq!(owner.controller, Some(true));
        wait_for_endpoints(&client, "web", &[], &[]).await;

        for (name, ip, ready) in [
            ("a", "10.244.0.2", true),
            ("b", "10.244.0.3", true),
            ("c", "10.244.0.4", false),
        ] {
            create_pod(&client, name, "node-1", json!({})).await;
            set_running(&client, name, ip, ready).await;
        }
        let slices = wait_for_endpoint_states(
            &client,
            "web",
            &[
                ("10.244.0.2", true, true, false),
                ("10.244.0.3", true, true, false),
                ("10.244.0.4", false, false, false),
            ],
        )
        .await;
        // The placeholder was filled in place, not replaced.
        assert_eq!(slices.len(), 1);
        assert_eq!(slices[0].name_any(), placeholder.name_any());
        let slice = &slices[0];
        let port = &slice.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.port, port.protocol.as_deref()),
            (Some("http"), Some(8080), Some("TCP"))
        );
        let endpoint = slice
            .endpoints
            .iter()
            .find(|e| e.addresses[0] == "10.244.0.2")
            .unwrap();
        assert_eq!(endpoint.node_name.as_deref(), Some("node-1"));
        assert_eq!(endpoint.zone.as_deref(), Some("zone-a"));
        let target = endpoint.target_ref.as_ref().unwrap();
        assert_eq!(
            (target.kind.as_deref(), target.name.as_deref()),
            (Some("Pod"), Some("a"))
        );
        assert!(
            slice
                .annotations()
                .contains_key("endpoints.kubernetes.io/last-change-trigger-time")
        );
        wait_for_endpoints(
            &client,
            "web",
            &["10.244.0.2", "10.244.0.3"],
            &["10.244.0.4"],
        )
        .await;

        // Readiness changes update the same slice.
        set_running(&client, "c", "10.244.0.4", true).await;
        let slices = wait_for_endpoint_states(
            &client,
            "web",
            &[
                ("10.244.0.2", true, true, false),
                ("10.244.0.3", true, true, false),
                ("10.244.0.4", true, true, false),
            ],
        )
        .await;
        assert_eq!(slices[0].name_any(), placeholder.name_any());
        wait_for_endpoints(
            &client,
            "web",
            &["10.244.0.2", "10.244.0.3", "10.244.0.4"],
            &[],
        )
        .await;

        // A terminating pod stays in the slice as terminating (serving), and
        // leaves the Endpoints object.
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        pods.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["test.corten.io/hold"]}})),
        )
        .await
        .unwrap();
        pods.delete("a", &DeleteParams::default()).await.unwrap();
        wait_for_endpoint_states(
            &client,
            "web",
            &[
                ("10.244.0.2", false, true, true),
                ("10.244.0.3", true, true, false),
                ("10.244.0.4", true, true, false),
            ],
        )
        .await;
        wait_for_endpoints(&client, "web", &["10.244.0.3", "10.244.0.4"], &[]).await;
        pods.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
        // The API may keep the pod until its grace period ends; force it.
        let _ = pods
            .delete("a", &DeleteParams::default().grace_period(0))
            .await;
        wait_for_endpoint_states(
            &client,
            "web",
            &[
                ("10.244.0.3", true, true, false),
                ("10.244.0.4", true, true, false),
            ],
        )
        .await;

        // kubectl shows the endpoints.
        let out = cluster
            .kubectl_ok(&["get", "endpoints", "web", "-n", NS])
            .await
            .unwrap();
        assert!(out.contains("10.244.0.3:8080"), "{out}");
        let out = cluster
            .kubectl_ok(&["get", "endpointslices", "-n", NS])
            .await
            .unwrap();
        assert!(out.contains("IPv4") && out.contains("8080"), "{out}");
        let out = cluster
            .kubectl_ok(&["describe", "service", "web", "-n", NS])
            .await
            .unwrap();
        assert!(out.contains("10.244.0.3:8080"), "{out}");

        // A slice removed by hand is recreated; a label added to the
        // Service reaches its slices.
        let slice_api: Api<EndpointSlice> = Api::namespaced(client.clone(), NS);
        slice_api
            .delete(&placeholder.name_any(), &DeleteParams::default())
            .await
            .unwrap();
        wait_for_endpoint_states(
            &client,
            "web",
            &[
                ("10.244.0.3", true, true, false),
                ("10.244.0.4", true, true, false),
            ],
        )
        .await;
        services
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
            )
            .await
            .unwrap();
        wait_for(
            "the new Service label on the slice",
            Duration::from_secs(30),
            || async {
                let slices = slices_of(&client, "web").await;
                (slices.len() == 1
                    && slices[0].labels().get("team").map(String::as_str) == Some("b"))
                .then_some(())
            },
        )
        .await;
    });
}

#[tokio::test]
async fn headless_service_hostnames_and_many_pods() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(
            &cluster,
            &["--controllers=endpointslice,endpoint,serviceaccount"],
        )
        .await;
        wait_for_default_service_account(&client, NS).await;
        create_node(&client, "node-1", json!({})).await;
        let services: Api<Service> = Api::namespaced(client.clone(), NS);
        services
            .create(
                &PostParams::default(),
                &object(json!({
                    "metadata": {"name": "db"},
                    "spec": {"selector": {"app": "web"}, "clusterIP": "None",
                             "publishNotReadyAddresses": true,
                             "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
                })),
            )
            .await
            .unwrap();
        // 105 pods: more than one slice holds.
        for i in 0..105 {
            let name = format!("db-{i}");
            create_pod(
                &client,
                &name,
                "node-1",
                json!({"hostname": name, "subdomain": "db"}),
            )
            .await;
            set_running(&client, &name, &format!("10.244.1.{}", i + 2), false).await;
        }
        let slices = wait_for(
            "105 endpoints in two slices",
            Duration::from_secs(60),
            || async {
                let slices = slices_of(&client, "db").await;
                let total: usize = slices.iter().map(|s| s.endpoints.len()).sum();
                (total == 105).then_some(slices)
            },
        )
        .await;
        let mut sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
        sizes.sort();
        assert_eq!(sizes, [5, 100]);
        for slice in &slices {
            assert_eq!(
                slice
                    .labels()
                    .get("service.kubernetes.io/headless")
                    .map(String::as_str),
                Some("")
            );
        }
        let e = slices
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .find(|e| e.addresses[0] == "10.244.1.2")
            .unwrap();
        assert_eq!(e.hostname.as_deref(), Some("db-0"));
        // publishNotReadyAddresses: not-ready pods count as ready.
        assert_eq!(e.conditions.as_ref().unwrap().ready, Some(true));
        let api: Api<Endpoints> = Api::namespaced(client.clone(), NS);
        let ep = wait_for(
            "105 addresses in Endpoints db",
            Duration::from_secs(30),
            || async {
                let ep = api.get_opt("db").await.unwrap()?;
                let n: usize = ep
                    .subsets
                    .iter()
                    .flatten()
                    .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
                    .sum();
                (n == 105).then_some(ep)
            },
        )
        .await;
        let address = ep.subsets.as_ref().unwrap()[0]
            .addresses
            .as_ref()
            .unwrap()
            .iter()
            .find(|a| a.ip == "10.244.1.2")
            .unwrap()
            .clone();
        assert_eq!(address.hostname.as_deref(), Some("db-0"));
        assert_eq!(
            ep.labels()
                .get("service.kubernetes.io/headless")
                .map(String::as_str),
            Some("")
        );
    });
}

#[tokio::test]
async fn selectorless_service_endpoints_are_mirrored() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(
            &cluster,
            &["--controllers=endpointslicemirroring,endpointslice,endpoint"],
        )
        .await;
        let services: Api<Service> = Api::namespaced(client.clone(), NS);
        services
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "ext"},
                               "spec": {"ports": [{"name": "http", "port": 80}]}})),
            )
            .await
            .unwrap();
        let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), NS);
        let ep = endpoints
            .create(
                &PostParams::default(),
                &object(json!({
                    "metadata": {"name": "ext", "labels": {"source": "manual"}},
                    "subsets": [{"addresses": [{"ip": "192.0.2.10", "hostname": "a"}],
                                 "notReadyAddresses": [{"ip": "192.0.2.11"}],
                                 "ports": [{"name": "http", "port": 8080}]}]
                })),
            )
            .await
            .unwrap();
        let slices = wait_for("the mirrored slice", Duration::from_secs(30), || async {
            let slices = slices_of(&client, "ext").await;
            (slices.len() == 1 && slices[0].endpoints.len() == 2).then_some(slices)
        })
        .await;
        let slice = &slices[0];
        assert_eq!(
            slice.labels()["endpointslice.kubernetes.io/managed-by"],
            "endpointslicemirroring-controller.k8s.io"
        );
        assert_eq!(slice.labels()["source"], "manual");
        let owner = &slice.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.clone()),
            ("Endpoints", ep.uid().unwrap())
        );
        assert_eq!(slice.ports.as_ref().unwrap()[0].port, Some(8080));
        let states = endpoint_states(&slices);
        assert_eq!(states[0].0, "192.0.2.10");
        assert!(states[0].1);
        assert!(!states[1].1);

        // Edits are mirrored in place.
        endpoints
            .patch(
                "ext",
                &PatchParams::default(),
                &Patch::Merge(json!({"subsets": [{"addresses": [{"ip": "192.0.2.12"}],
                                                  "ports": [{"name": "http", "port": 8080}]}]})),
            )
            .await
            .unwrap();
        let updated = wait_for("the edit mirrored", Duration::from_secs(30), || async {
            let slices = slices_of(&client, "ext").await;
            (endpoint_states(&slices)
                .iter()
                .map(|s| s.0.as_str())
                .collect::<Vec<_>>()
                == ["192.0.2.12"])
            .then_some(slices)
        })
        .await;
        assert_eq!(updated[0].name_any(), slice.name_any());
        // The endpoints controller leaves custom Endpoints alone.
        let ep = endpoints.get("ext").await.unwrap();
        assert_eq!(
            ep.subsets.unwrap()[0].addresses.as_ref().unwrap()[0].ip,
            "192.0.2.12"
        );

        // skip-mirror removes the mirrored slices.
        endpoints
            .patch(
                "ext",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}}})),
            )
            .await
            .unwrap();
        wait_for(
            "mirrored slices removed",
            Duration::from_secs(30),
            || async { slices_of(&client, "ext").await.is_empty().then_some(()) },
        )
        .await;
    });
}
