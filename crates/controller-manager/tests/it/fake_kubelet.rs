//! What a kubelet would report, patched by the tests: pods Running and
//! Ready (with container statuses), or Running and not ready.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Whether the pod's `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The image of the pod's first container.
pub fn image(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Patches `pod`'s status to Running with `Ready=<ready>` (and
/// `restarts` restarts of its containers).
pub async fn set_pod_status(client: &Client, pod: &Pod, ready: bool, restarts: i32) {
    let now = Timestamp::now();
    // Whole seconds, as the API stores them.
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    set_pod_status_at(client, pod, ready, restarts, now).await;
}

/// [`set_pod_status`] with the conditions' transition time given.
pub async fn set_pod_status_at(
    client: &Client,
    pod: &Pod,
    ready: bool,
    restarts: i32,
    at: Timestamp,
) {
    let now = at.to_string();
    let namespace = pod.namespace().unwrap_or_default();
    let containers: Vec<serde_json::Value> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "image": c.image,
                "imageID": "",
                "ready": ready,
                "started": true,
                "restartCount": restarts,
                "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    let status = if ready { "True" } else { "False" };
    let patch = serde_json::json!({
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": status, "lastTransitionTime": now},
                {"type": "ContainersReady", "status": status, "lastTransitionTime": now},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            ],
            "containerStatuses": containers,
            "startTime": now,
        }
    });
    let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    if let Err(err) = api
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
    {
        // The pod may just have been deleted by its controller.
        eprintln!("patching status of {}: {err}", pod.name_any());
    }
}

/// Marks every pod of `namespace` matching `selector` ready, once.
pub async fn mark_all_ready(client: &Client, namespace: &str, selector: &str) -> usize {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = api
        .list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let mut marked = 0;
    for pod in pods
        .iter()
        .filter(|p| !is_ready(p) && p.metadata.deletion_timestamp.is_none())
    {
        set_pod_status(client, pod, true, 0).await;
        marked += 1;
    }
    marked
}

/// Keeps marking the pods of `namespace` ready until the token is
/// cancelled (a kubelet that starts everything at once).
pub fn spawn_ready_loop(
    client: Client,
    namespace: &str,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let namespace = namespace.to_string();
    tokio::spawn(async move {
        loop {
            mark_all_ready(&client, &namespace, "").await;
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                () = stop.cancelled() => return,
            }
        }
    })
}
