//! Publishing this server as the `kube-dns` Service (`--kube-dns-service-ip`).
//!
//! Upstream clusters get the `kube-system/kube-dns` Service from kubeadm's
//! CoreDNS addon and its endpoints from the CoreDNS pods. `corten up` runs
//! the DNS server on the node instead, so the server publishes itself: the
//! Service (selector-less, the given ClusterIP, ports `dns` 53/UDP,
//! `dns-tcp` 53/TCP, `metrics` 9153/TCP, CoreDNS's labels) is created if
//! missing, and an EndpointSlice managed by `corten-dns` points at the
//! listen address. kube-proxy then sends `<clusterIP>:53` here.

use std::net::SocketAddr;

use anyhow::Context;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;

/// Namespace and name of the Service.
pub const NAMESPACE: &str = "kube-system";
/// The Service name pods' resolv.conf points at (through its ClusterIP).
pub const SERVICE: &str = "kube-dns";
/// The EndpointSlice this server maintains.
pub const SLICE: &str = "kube-dns-corten-dns";

/// The Service object.
pub fn service(cluster_ip: std::net::IpAddr) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": SERVICE,
            "namespace": NAMESPACE,
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS", "kubernetes.io/cluster-service": "true"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}
        },
        "spec": {
            "clusterIP": cluster_ip.to_string(),
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}
            ]
        }
    }))
    .expect("a valid Service literal")
}

/// The EndpointSlice pointing at `listen` (and `metrics` when served on a
/// reachable address).
pub fn slice(listen: SocketAddr, metrics: Option<SocketAddr>, node: &str) -> EndpointSlice {
    let mut ports = vec![
        json!({"name": "dns", "port": listen.port(), "protocol": "UDP"}),
        json!({"name": "dns-tcp", "port": listen.port(), "protocol": "TCP"}),
    ];
    if let Some(m) = metrics {
        ports.push(json!({"name": "metrics", "port": m.port(), "protocol": "TCP"}));
    }
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": SLICE,
            "namespace": NAMESPACE,
            "labels": {
                "kubernetes.io/service-name": SERVICE,
                "endpointslice.kubernetes.io/managed-by": "corten-dns"
            }
        },
        "addressType": if listen.is_ipv4() { "IPv4" } else { "IPv6" },
        "ports": ports,
        "endpoints": [{
            "addresses": [listen.ip().to_string()],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": node
        }]
    }))
    .expect("a valid EndpointSlice literal")
}

/// Creates the Service if missing and creates or replaces the slice.
pub async fn publish(
    client: Client,
    service_obj: Service,
    slice_obj: EndpointSlice,
) -> anyhow::Result<()> {
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    match services.create(&PostParams::default(), &service_obj).await {
        Ok(_) => tracing::info!("created Service {NAMESPACE}/{SERVICE}"),
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(err) => return Err(err).context("creating the kube-dns Service"),
    }
    let slices: Api<EndpointSlice> = Api::namespaced(client, NAMESPACE);
    match slices
        .get_opt(SLICE)
        .await
        .context("reading the kube-dns EndpointSlice")?
    {
        None => {
            slices
                .create(&PostParams::default(), &slice_obj)
                .await
                .context("creating the kube-dns EndpointSlice")?;
        }
        Some(existing)
            if existing.endpoints != slice_obj.endpoints || existing.ports != slice_obj.ports =>
        {
            let mut replacement = slice_obj;
            replacement.metadata.resource_version = existing.metadata.resource_version;
            slices
                .replace(SLICE, &PostParams::default(), &replacement)
                .await
                .context("updating the kube-dns EndpointSlice")?;
        }
        Some(_) => {}
    }
    Ok(())
}
