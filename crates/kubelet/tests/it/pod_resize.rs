//! In-place pod resize (upstream 1.33) against the real containerd: a
//! `pods/resize` write reaches the running containers through CRI
//! `UpdateContainerResources` (checked in the container's own cgroup
//! files) without a restart, a `RestartContainer` policy restarts the
//! container instead, and a resize the node can never fit is reported
//! `PodResizePending`/`Infeasible` while the old resources stay applied.

use std::time::Duration;

use corten_cri::RuntimeService;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::harness::{Node, can_run, container, phase};

const TIMEOUT: Duration = Duration::from_secs(60);
const BUSYBOX: &str = corten_cri::local_images::BUSYBOX_IMAGE;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: resizable
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resizePolicy:
    - {resourceName: cpu, restartPolicy: NotRequired}
    - {resourceName: memory, restartPolicy: NotRequired}
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {cpu: 200m, memory: 64Mi}
  - name: restarts
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resizePolicy:
    - {resourceName: memory, restartPolicy: RestartContainer}
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {cpu: 200m, memory: 64Mi}
"#;

/// The container's cpu quota (µs per 100ms period) and memory limit in
/// bytes, as the container itself sees them (cgroup v2 or v1 files).
async fn cgroup_limits(node: &Node, status: &ContainerStatus) -> (String, String) {
    let id = status
        .container_id
        .as_deref()
        .and_then(|id| id.split_once("://"))
        .map(|(_, id)| id.to_string())
        .expect("container id");
    let runtime = node.containerd.as_ref().expect("containerd").runtime();
    let script = "if [ -f /sys/fs/cgroup/cpu.max ]; then \
                    cut -d' ' -f1 /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/memory.max; \
                  else \
                    cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  fi";
    let out = runtime
        .exec_sync(
            &id,
            vec!["sh".into(), "-c".into(), script.into()],
            Duration::from_secs(10),
        )
        .await
        .expect("exec");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines().map(str::to_string);
    let cpu = lines.next().unwrap_or_default();
    let memory = lines.next().unwrap_or_default();
    (cpu, memory)
}

fn resources(s: &ContainerStatus) -> Value {
    serde_json::to_value(s.resources.clone().unwrap_or_default()).unwrap()
}

fn has_condition(pod: &Pod, kind: &str) -> Option<(String, String)> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

fn restart_count(pod: &Pod, name: &str) -> i32 {
    container(pod, name).map_or(-1, |c| c.restart_count)
}

fn running(pod: &Pod, name: &str) -> bool {
    container(pod, name)
        .and_then(|c| c.state.as_ref())
        .is_some_and(|s| s.running.is_some())
}

async fn resize(node: &Node, patch: Value) {
    let api: Api<Pod> = Api::namespaced(node.client.clone(), "default");
    api.patch_subresource(
        "resize",
        "resizable",
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
    .expect("resize");
}

#[tokio::test]
async fn running_containers_are_resized_in_place() {
    if !can_run() {
        return;
    }
    tokio::time::timeout(Duration::from_secs(240), async {
        let node = Node::start("resize-node", |_| {}).await;
        node.create_pod(&POD.replace("IMAGE", BUSYBOX)).await;
        let pod = node
            .wait_pod("resizable", "running", TIMEOUT, |p| {
                phase(p) == "Running" && running(p, "app") && running(p, "restarts")
            })
            .await;
        // The status reports what runs: the spec, for now.
        let app = container(&pod, "app").expect("app status");
        assert_eq!(
            resources(app),
            json!({"requests": {"cpu": "100m", "memory": "32Mi"},
                   "limits": {"cpu": "200m", "memory": "64Mi"}})
        );
        assert_eq!(
            cgroup_limits(&node, app).await,
            ("20000".to_string(), (64u64 << 20).to_string())
        );

        // Grow both: cpu in place everywhere; memory in place for `app`,
        // by a restart for `restarts` (its policy).
        resize(
            &node,
            json!({"spec": {"containers": [
                {"name": "app", "resources": {
                    "requests": {"cpu": "150m", "memory": "32Mi"},
                    "limits": {"cpu": "400m", "memory": "128Mi"}}},
                {"name": "restarts", "resources": {
                    "requests": {"cpu": "100m", "memory": "32Mi"},
                    "limits": {"cpu": "200m", "memory": "96Mi"}}},
            ]}}),
        )
        .await;
        let pod = node
            .wait_pod("resizable", "resize applied", TIMEOUT, |p| {
                container(p, "app").is_some_and(|c| {
                    resources(c)["limits"]["cpu"] == "400m"
                        && resources(c)["limits"]["memory"] == "128Mi"
                }) && restart_count(p, "restarts") == 1
                    && running(p, "restarts")
                    && has_condition(p, "PodResizeInProgress").is_none()
                    && has_condition(p, "PodResizePending").is_none()
            })
            .await;
        let app = container(&pod, "app").expect("app status");
        assert_eq!(app.restart_count, 0, "NotRequired resizes do not restart");
        assert_eq!(
            resources(app),
            json!({"requests": {"cpu": "150m", "memory": "32Mi"},
                   "limits": {"cpu": "400m", "memory": "128Mi"}})
        );
        // 1.33 reports allocatedResources only behind a deprecated gate
        // (off), and no `status.resize`.
        assert!(app.allocated_resources.is_none());
        assert!(pod.status.as_ref().unwrap().resize.is_none());
        assert_eq!(
            cgroup_limits(&node, app).await,
            ("40000".to_string(), (128u64 << 20).to_string())
        );
        let restarted = container(&pod, "restarts").expect("restarts status");
        assert_eq!(
            cgroup_limits(&node, restarted).await.1,
            (96u64 << 20).to_string()
        );

        // More cpu than the node has: Infeasible, nothing changes.
        resize(
            &node,
            json!({"spec": {"containers": [{"name": "app", "resources": {
                "requests": {"cpu": "1000", "memory": "32Mi"},
                "limits": {"cpu": "1000", "memory": "128Mi"}}}]}}),
        )
        .await;
        let pod = node
            .wait_pod("resizable", "PodResizePending", TIMEOUT, |p| {
                has_condition(p, "PodResizePending").is_some()
            })
            .await;
        let (reason, message) = has_condition(&pod, "PodResizePending").unwrap();
        assert_eq!(reason, "Infeasible");
        assert!(
            message.starts_with(
                "Node didn't have enough capacity: cpu, requested: 1000100, capacity: "
            ),
            "{message}"
        );
        let app = container(&pod, "app").expect("app status");
        assert_eq!(resources(app)["limits"]["cpu"], "400m");
        assert_eq!(cgroup_limits(&node, app).await.0, "40000");

        // Back to something that fits: the condition goes away.
        resize(
            &node,
            json!({"spec": {"containers": [{"name": "app", "resources": {
                "requests": {"cpu": "100m", "memory": "32Mi"},
                "limits": {"cpu": "300m", "memory": "128Mi"}}}]}}),
        )
        .await;
        let pod = node
            .wait_pod("resizable", "resize back", TIMEOUT, |p| {
                has_condition(p, "PodResizePending").is_none()
                    && container(p, "app").is_some_and(|c| resources(c)["limits"]["cpu"] == "300m")
            })
            .await;
        let app = container(&pod, "app").expect("app status");
        assert_eq!(cgroup_limits(&node, app).await.0, "30000");
        assert_eq!(app.restart_count, 0);
        node.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// The node's allocatable cpu in millicores, once it is registered.
async fn allocatable_millicpu(node: &Node) -> i64 {
    use k8s_openapi::api::core::v1::Node as NodeObject;
    let api: Api<NodeObject> = Api::all(node.client.clone());
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let cpu = api
            .get_opt(&node.name)
            .await
            .expect("get node")
            .and_then(|n| n.status?.allocatable?.get("cpu").cloned());
        if let Some(q) = cpu {
            let q = corten_apimachinery::quantity::Quantity::parse(&q.0).expect("cpu quantity");
            return q.milli_value();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node not registered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn small_pod(name: &str, cpu: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {BUSYBOX}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources:
      requests: {{cpu: "{cpu}"}}
"#
    )
}

/// A resize that does not fit beside the other pods now is `Deferred`
/// (upstream's admission message), and is allocated once room appears.
#[tokio::test]
async fn a_resize_without_room_waits_for_it() {
    if !can_run() {
        return;
    }
    tokio::time::timeout(Duration::from_secs(240), async {
        let node = Node::start("resize-deferred", |_| {}).await;
        let allocatable = allocatable_millicpu(&node).await;
        // `big` takes all but 300m of the node's cpu, `small` 100m.
        let big = format!("{}m", allocatable - 300);
        node.create_pod(&small_pod("big", &big)).await;
        node.create_pod(&small_pod("resizable", "100m")).await;
        for name in ["big", "resizable"] {
            node.wait_pod(name, "running", TIMEOUT, |p| running(p, "app"))
                .await;
        }
        resize(
            &node,
            json!({"spec": {"containers": [{"name": "app", "resources": {
                "requests": {"cpu": "500m"}}}]}}),
        )
        .await;
        let pod = node
            .wait_pod("resizable", "PodResizePending", TIMEOUT, |p| {
                has_condition(p, "PodResizePending").is_some()
            })
            .await;
        let (reason, message) = has_condition(&pod, "PodResizePending").unwrap();
        assert_eq!(reason, "Deferred");
        assert_eq!(
            message,
            format!(
                "Node didn't have enough resource: cpu, requested: 500, used: {}, capacity: {allocatable}",
                allocatable - 300
            )
        );
        let app = container(&pod, "app").expect("status");
        assert_eq!(resources(app)["requests"]["cpu"], "100m");

        // Room appears: the resize goes through without a restart.
        let api: Api<Pod> = Api::namespaced(node.client.clone(), "default");
        api.delete("big", &Default::default()).await.expect("delete");
        let pod = node
            .wait_pod("resizable", "resize allocated", TIMEOUT, |p| {
                has_condition(p, "PodResizePending").is_none()
                    && container(p, "app")
                        .is_some_and(|c| resources(c)["requests"]["cpu"] == "500m")
            })
            .await;
        assert_eq!(restart_count(&pod, "app"), 0);
        node.shutdown().await;
    })
    .await
    .expect("test timed out");
}
