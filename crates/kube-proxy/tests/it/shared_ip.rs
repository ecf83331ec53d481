//! Two Services listing the same external IP and port (the apiserver
//! allows it): one owns it, and when that one is deleted a partial sync
//! hands the IP to the other at once, in both modes.

use corten_kube_proxy::model::{IpFamily, ProxyState};
use corten_kube_proxy::plan::RuleConfig;
use corten_kube_proxy::proxier::{IptablesProxier, NftablesProxier, Proxier};
use corten_kube_proxy::runner::ExecRunner;
use corten_kube_proxy::tracker::ChangeTracker;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use crate::netns::{self, BODY, POD_IP, POD_PORT};

/// Inside the routed Service range, so the node sends it towards the pod
/// network like a ClusterIP.
const SHARED_IP: &str = "10.96.9.77";

fn service(name: &str, cluster_ip: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": name},
        "spec": {
            "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
            "externalIPs": [SHARED_IP],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
        }
    }))
    .unwrap()
}

fn slice(service: &str, port: u16) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": format!("{service}-abc"),
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [POD_IP], "conditions": {"ready": true}}]
    }))
    .unwrap()
}

fn scenario(topo: &netns::Topology, proxier: &mut dyn Proxier) {
    let url = format!("http://{SHARED_IP}:80/");
    let mut tracker = ChangeTracker::new("this-node");
    let mut state = ProxyState::default();
    // "alpha" sends to a port where nothing listens (connection refused),
    // "beta" to the web server.
    tracker.service_applied(&service("alpha", "10.96.7.60"));
    tracker.slice_applied(&slice("alpha", POD_PORT + 1));
    let changes = tracker.apply_changes(&mut state);
    proxier.sync_changes(&state, &changes).expect("sync");

    // beta arrives in a partial sync: alpha, first in name order, keeps
    // the IP (in nftables mode this transaction used to fail).
    tracker.service_applied(&service("beta", "10.96.7.61"));
    tracker.slice_applied(&slice("beta", POD_PORT));
    let changes = tracker.apply_changes(&mut state);
    proxier.sync_changes(&state, &changes).expect("sync");
    let err = topo.fetch(&url).expect_err("alpha owns the shared IP");
    assert!(err.contains("refused"), "{err}");
    assert_eq!(
        topo.fetch("http://10.96.7.61:80/")
            .expect("beta's ClusterIP"),
        BODY
    );

    // alpha is deleted: right after this partial sync beta answers (it
    // used to lose the shared element until the next full sync).
    tracker.service_deleted("default", "alpha");
    tracker.slice_deleted("default", "alpha-abc");
    let changes = tracker.apply_changes(&mut state);
    proxier.sync_changes(&state, &changes).expect("sync");
    assert_eq!(topo.fetch(&url).expect("beta took the IP over"), BODY);

    // alpha comes back: it owns the IP again.
    tracker.service_applied(&service("alpha", "10.96.7.60"));
    tracker.slice_applied(&slice("alpha", POD_PORT + 1));
    let changes = tracker.apply_changes(&mut state);
    proxier.sync_changes(&state, &changes).expect("sync");
    let err = topo.fetch(&url).expect_err("alpha owns it again");
    assert!(err.contains("refused"), "{err}");
    proxier.cleanup().expect("cleanup");
}

fn config() -> RuleConfig {
    RuleConfig {
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        ..RuleConfig::default()
    }
}

#[test]
fn nftables_shared_external_ip_goes_to_the_survivor() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let runner = ExecRunner::with_prefix(topo.prefix());
    let mut proxier = NftablesProxier::new(runner, config(), vec![IpFamily::V4]);
    scenario(&topo, &mut proxier);
}

#[test]
fn iptables_shared_external_ip_goes_to_the_survivor() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let runner = ExecRunner::with_prefix(topo.prefix());
    let mut proxier = IptablesProxier::new(runner, config(), vec![IpFamily::V4]);
    scenario(&topo, &mut proxier);
}
