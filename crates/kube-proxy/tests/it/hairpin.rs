//! Hairpin traffic: a pod reaching itself through a Service must be
//! masqueraded (otherwise it receives a packet from its own address and
//! drops it as a martian), with and without ClientIP affinity (nftables
//! mode finds hairpin pairs in a set, not in endpoint chains), in both modes.

use std::process::Command;

use corten_kube_proxy::model::IpFamily;
use corten_kube_proxy::plan::RuleConfig;
use corten_kube_proxy::proxier::{IptablesProxier, NftablesProxier, Proxier};
use corten_kube_proxy::runner::ExecRunner;
use corten_kube_proxy::tracker::ChangeTracker;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use crate::netns::{self, BODY, POD_IP, POD_PORT};

fn service(affinity: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": "self"},
        "spec": {
            "clusterIP": "10.96.7.70", "clusterIPs": ["10.96.7.70"],
            "sessionAffinity": affinity,
            "ports": [{"name": "http", "port": 80, "targetPort": POD_PORT, "protocol": "TCP"}]
        }
    }))
    .unwrap()
}

fn slice() -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": "self-abc",
            "labels": {"kubernetes.io/service-name": "self"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
        "endpoints": [{"addresses": [POD_IP], "conditions": {"ready": true}}]
    }))
    .unwrap()
}

/// GETs `url` from the pod's namespace.
fn fetch_from_pod(topo: &netns::Topology, url: &str) -> Result<String, String> {
    let out = Command::new("ip")
        .args(["netns", "exec", &topo.pod, "timeout", "3"])
        .args(["busybox", "wget", "-q", "-O", "-", url])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn scenario(topo: &netns::Topology, proxier: &mut dyn Proxier) {
    // The node forwards the pod's traffic back to it.
    topo.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    let url = "http://10.96.7.70:80/";
    let mut tracker = ChangeTracker::new("this-node");
    tracker.slice_applied(&slice());
    for affinity in [json!("None"), json!("ClientIP")] {
        tracker.service_applied(&service(affinity.clone()));
        proxier.sync(&tracker.snapshot()).expect("sync");
        assert_eq!(topo.fetch(url).expect("from the node"), BODY);
        assert_eq!(
            fetch_from_pod(topo, url)
                .unwrap_or_else(|err| panic!("hairpin with affinity {affinity}: {err}")),
            BODY
        );
    }
    proxier.cleanup().expect("cleanup");
}

fn config() -> RuleConfig {
    RuleConfig {
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        ..RuleConfig::default()
    }
}

#[test]
fn nftables_hairpin_traffic_is_masqueraded() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let runner = ExecRunner::with_prefix(topo.prefix());
    let mut proxier = NftablesProxier::new(runner, config(), vec![IpFamily::V4]);
    scenario(&topo, &mut proxier);
}

#[test]
fn iptables_hairpin_traffic_is_masqueraded() {
    let Some(topo) = netns::topology_or_skip() else {
        return;
    };
    let runner = ExecRunner::with_prefix(topo.prefix());
    let mut proxier = IptablesProxier::new(runner, config(), vec![IpFamily::V4]);
    scenario(&topo, &mut proxier);
}
