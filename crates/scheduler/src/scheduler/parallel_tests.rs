//! Parallel filtering and scoring must decide exactly like the sequential
//! loop: same nodes, same failure messages, same round-robin position.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

use super::*;
use crate::framework::FakeApi;
use crate::framework::parallelize::Parallelizer;

fn node(i: usize) -> ClusterUpdate {
    let mut labels = json!({
        "kubernetes.io/hostname": format!("n{i}"),
        "topology.kubernetes.io/zone": format!("zone-{}", i % 5),
    });
    if i.is_multiple_of(3) {
        labels["disk"] = json!("ssd");
    }
    let mut spec = json!({});
    if i % 10 == 7 {
        spec["taints"] = json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]);
    }
    if i % 20 == 11 {
        spec["unschedulable"] = json!(true);
    }
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": format!("n{i}"), "labels": labels},
        "spec": spec,
        "status": {"allocatable": {
            "cpu": format!("{}", 1 + i % 7),
            "memory": format!("{}Gi", 4 * (1 + i % 4)),
            "pods": "110"
        }}
    }))
    .unwrap();
    ClusterUpdate::Node(Change::Upsert(Arc::new(node)))
}

fn pod(j: usize, node: Option<usize>) -> ClusterUpdate {
    let cpu = format!("{}m", 100 + (j * 37) % 1800);
    let mut spec = json!({
        "containers": [{"name": "c", "resources": {"requests": {
            "cpu": cpu, "memory": format!("{}Mi", 128 + (j * 53) % 2048)}}}]
    });
    let mut labels = json!({"app": "plain"});
    match j % 9 {
        1 => spec["nodeSelector"] = json!({"disk": "ssd"}),
        2 => {
            spec["affinity"] = json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "preference": {"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [format!("zone-{}", j % 5)]}]}}]}})
        }
        3 => {
            labels = json!({"app": "spread"});
            spec["topologySpreadConstraints"] = json!([{"maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "spread"}}}]);
        }
        4 => {
            spec["tolerations"] = json!([{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]);
        }
        // Inter-pod affinity and soft spreading: their PreFilter and
        // PreScore scan every node, in parallel chunks with several workers.
        6 => {
            labels = json!({"app": "aff"});
            spec["affinity"] = json!({
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 40, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "spread"}},
                        "topologyKey": "topology.kubernetes.io/zone"}}]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 30, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "plain"}},
                        "topologyKey": "kubernetes.io/hostname"}}]}});
        }
        7 => {
            labels = json!({"app": "anti"});
            spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "anti"}}, "topologyKey": "kubernetes.io/hostname"}]}});
        }
        8 => {
            labels = json!({"app": "soft"});
            spec["topologySpreadConstraints"] = json!([{"maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": "soft"}}}]);
            spec["affinity"] = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "plain"}}, "topologyKey": "topology.kubernetes.io/zone"}]}});
        }
        _ if j % 50 == 5 => {
            // Fits nowhere: the failure message counts every node's status.
            spec["containers"][0]["resources"]["requests"]["cpu"] = json!("64");
        }
        _ => {}
    }
    if let Some(n) = node {
        spec["nodeName"] = json!(format!("n{n}"));
    }
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": format!("p{j}"), "namespace": "default", "uid": format!("uid-p{j}"), "labels": labels},
        "spec": spec
    }))
    .unwrap();
    ClusterUpdate::Pod(Change::Upsert(Arc::new(pod)))
}

/// What a run decided: bindings by pod, failure notes, the round-robin index.
#[derive(Debug, PartialEq)]
struct Decisions {
    bindings: Vec<(String, String)>,
    failures: Vec<String>,
    next_start_node_index: usize,
    attempts: u64,
}

async fn run(parallelizer: Parallelizer, nodes: usize, pods: usize) -> Decisions {
    let api = Arc::new(FakeApi::recording());
    let mut s = Scheduler::new(&KubeSchedulerConfiguration::default(), api.clone(), &[]).unwrap();
    s.set_parallelizer(parallelizer);
    for i in 0..nodes {
        s.apply(node(i));
    }
    for j in 0..nodes / 4 {
        s.apply(pod(100_000 + j, Some((j * 7) % nodes)));
    }
    for j in 0..pods {
        s.apply(pod(j, None));
    }
    crate::rng::seed_thread(Some(7));
    s.schedule_pending();
    crate::rng::seed_thread(None);
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    s.drain_bind_results();
    let mut bindings = api.bindings();
    bindings.sort();
    let mut failures: Vec<String> = api
        .events()
        .into_iter()
        .filter(|e| e.reason == "FailedScheduling")
        .map(|e| {
            format!(
                "{}: {}",
                e.regarding.name.clone().unwrap_or_default(),
                e.note
            )
        })
        .collect();
    failures.sort();
    Decisions {
        bindings,
        failures,
        next_start_node_index: s.next_start_node_index,
        attempts: s.stats().attempts,
    }
}

#[tokio::test]
async fn parallel_runs_decide_like_the_sequential_one() {
    let sequential = run(Parallelizer::sequential(), 1200, 600).await;
    assert!(
        sequential.bindings.len() > 400,
        "{}",
        sequential.bindings.len()
    );
    assert!(!sequential.failures.is_empty());
    for workers in [2, 4] {
        let parallel = run(Parallelizer::with_workers(workers), 1200, 600).await;
        assert_eq!(parallel, sequential, "{workers} workers");
    }
}

#[tokio::test]
async fn few_nodes_take_the_sequential_path_and_decide_alike() {
    let sequential = run(Parallelizer::sequential(), 60, 40).await;
    let parallel = run(Parallelizer::with_workers(2), 60, 40).await;
    assert_eq!(parallel, sequential);
}
