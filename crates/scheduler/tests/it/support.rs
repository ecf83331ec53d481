//! Helpers shared by the integration tests.

use std::future::Future;
use std::time::Duration;

use clap::Parser;
use corten_e2e::TestCluster;
use corten_scheduler::app::{self, SchedulerProcess};
use corten_scheduler::options::Options;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::{Value, json};

/// Logs to stderr when `CORTEN_TEST_LOG` is set (e.g. `CORTEN_TEST_LOG=4`).
pub fn init_logging() {
    if let Ok(v) = std::env::var("CORTEN_TEST_LOG") {
        let options = corten_component_base::logging::LoggingOptions {
            logging_format: Default::default(),
            verbosity: v.parse().unwrap_or(2),
        };
        let _ = options.init("kube-scheduler");
    }
}

/// Starts an in-process scheduler against `cluster` with `args` after the
/// defaults (no leader election, no ops port, no client rate limit).
pub async fn start_scheduler(cluster: &TestCluster, args: &[&str]) -> SchedulerProcess {
    init_logging();
    let kubeconfig = format!("--kubeconfig={}", cluster.kubeconfig.display());
    let mut all = vec![
        "kube-scheduler",
        kubeconfig.as_str(),
        "--leader-elect=false",
        "--secure-port=0",
        "--kube-api-qps=-1",
    ];
    all.extend_from_slice(args);
    let config = Options::try_parse_from(&all)
        .unwrap()
        .complete()
        .unwrap_or_else(|err| panic!("bad test flags {all:?}: {err}"));
    app::start(config).await.unwrap()
}

/// Polls `check` every 100ms until it returns `Some`, or panics after
/// `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates a Ready node with `cpu`/`memory` allocatable, `labels` and
/// `taints` (JSON arrays/objects).
pub async fn create_node(
    client: &Client,
    name: &str,
    cpu: &str,
    memory: &str,
    labels: Value,
    taints: Value,
) -> Node {
    let mut labels = labels;
    if let Some(map) = labels.as_object_mut() {
        map.entry("kubernetes.io/hostname").or_insert(json!(name));
    }
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "test node"}]
        }
    }))
    .unwrap();
    let api: Api<Node> = Api::all(client.clone());
    let created = api.create(&PostParams::default(), &node).await.unwrap();
    // Some apiservers drop status on create: make sure it is there.
    if created
        .status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .is_none()
    {
        let patch = json!({"status": node.status});
        api.patch_status(name, &Default::default(), &kube::api::Patch::Merge(patch))
            .await
            .unwrap()
    } else {
        created
    }
}

/// Creates a pod in `default` from a spec fragment (containers default to
/// one `pause` container requesting `cpu`).
pub async fn create_pod(
    client: &Client,
    name: &str,
    cpu: &str,
    extra_spec: Value,
    labels: Value,
) -> Pod {
    let mut spec = json!({
        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": cpu, "memory": "10Mi"}}}]
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": spec
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap_or_else(|err| panic!("creating pod {name}: {err}"))
}

/// Waits until pod `name` is bound and returns its node.
pub async fn wait_bound(client: &Client, name: &str) -> String {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    wait_for(
        &format!("pod {name} to be bound"),
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                api.get(name)
                    .await
                    .ok()
                    .and_then(|p| p.spec.and_then(|s| s.node_name))
                    .filter(|n| !n.is_empty())
            }
        },
    )
    .await
}

/// The PodScheduled condition (status, reason, message) of a pod.
pub async fn scheduled_condition(client: &Client, name: &str) -> Option<(String, String, String)> {
    let pod = Api::<Pod>::namespaced(client.clone(), "default")
        .get(name)
        .await
        .ok()?;
    let c = pod
        .status?
        .conditions?
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")?;
    Some((
        c.status,
        c.reason.unwrap_or_default(),
        c.message.unwrap_or_default(),
    ))
}

/// The notes of events.k8s.io/v1 events with `reason` about pod `name`.
pub async fn event_notes(client: &Client, name: &str, reason: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "default");
    let list = api.list(&Default::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.note)
        .collect()
}
