//! sig-storage conformance behaviour that needs running containers,
//! replayed against the real containerd the way upstream's e2e tests do
//! (`test/e2e/common/storage/{configmap,secrets,projected_*,downwardapi}_volume.go`,
//! `empty_dir.go`, `empty_dir_wrapper.go`, `test/e2e/storage/subpath.go`).
//!
//! Upstream's pods run agnhost `mounttest`, which prints a file's content,
//! mode and the volume's filesystem type; here busybox prints the same
//! facts (`cat`, `stat -L -c '%A %g'`, `stat -f -c %T`) and the tests
//! compare the container logs. Many upstream cases share one pod where
//! their assertions allow, so a whole group costs one pod start.

mod content;
mod empty_dir;
mod updates;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::api::{Api, LogParams, PostParams};
use serde_json::Value;

use crate::harness::{Node, phase};

const TIMEOUT: Duration = Duration::from_secs(90);
const BUSYBOX: &str = corten_cri::local_images::BUSYBOX_IMAGE;

/// A shell loop printing `<path>=<content> <mode string> <gid>` for each
/// of `files`, like mounttest's `--file_content` and `--file_mode` together.
fn show_files(files: &[&str]) -> String {
    format!(
        r#"for f in {}; do printf '%s=%s %s\n' "$f" "$(cat "$f")" "$(stat -L -c '%A %g' "$f")"; done"#,
        files.join(" ")
    )
}

fn pods(node: &Node, namespace: &str) -> Api<Pod> {
    Api::namespaced(node.client.clone(), namespace)
}

/// A busybox container running [`show_files`] over `files`.
fn show_container(name: &str, mounts: Value, files: &[&str]) -> Value {
    script_container(name, mounts, &show_files(files))
}

/// A busybox container running `script`.
fn script_container(name: &str, mounts: Value, script: &str) -> Value {
    serde_json::json!({
        "name": name,
        "image": BUSYBOX,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", script],
        "volumeMounts": mounts,
    })
}

/// Creates a pod (JSON) in `default`, bound to the node.
async fn create(node: &Node, pod: Value) -> Pod {
    node.create_pod(&pod.to_string()).await
}

async fn create_config_map(node: &Node, namespace: &str, name: &str, data: &[(&str, &str)]) {
    let api: Api<ConfigMap> = Api::namespaced(node.client.clone(), namespace);
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    };
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create configmap");
}

async fn create_secret(node: &Node, namespace: &str, name: &str, data: &[(&str, &str)]) {
    let api: Api<Secret> = Api::namespaced(node.client.clone(), namespace);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    };
    api.create(&PostParams::default(), &secret)
        .await
        .expect("create secret");
}

async fn create_namespace(node: &Node, name: &str) {
    let api: Api<Namespace> = Api::all(node.client.clone());
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

async fn container_log(node: &Node, pod: &str, container: &str) -> String {
    pods(node, "default")
        .logs(
            pod,
            &LogParams {
                container: Some(container.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("logs of {pod}/{container}: {e}"))
}

/// Waits until the pod `name` Succeeded and returns every container's log
/// (upstream `TestContainerOutput`: the pod must succeed).
async fn finished_logs(node: &Node, name: &str) -> BTreeMap<String, String> {
    let pod = node
        .wait_pod(name, "finished", TIMEOUT, |p| {
            matches!(phase(p), "Succeeded" | "Failed")
        })
        .await;
    let mut logs = BTreeMap::new();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        logs.insert(c.name.clone(), container_log(node, name, &c.name).await);
    }
    assert_eq!(
        phase(&pod),
        "Succeeded",
        "pod {name} failed; logs: {logs:#?}"
    );
    logs
}

/// Runs `scenario` on a fresh node, shutting the node down even when the
/// scenario panics or times out.
async fn on_node(name: &str, scenario: impl AsyncFnOnce(&Node)) {
    let node = Node::start(name, |_| {}).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        tokio::time::timeout(Duration::from_secs(240), scenario(&node)),
    ))
    .await;
    node.shutdown().await;
    match result {
        Ok(finished) => finished.expect("the scenario timed out"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
