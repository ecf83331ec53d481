//! Node health with the real containerd: eviction under (simulated)
//! memory pressure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use corten_kubelet::events::EventRecorder;
use corten_kubelet::eviction::observe::{ContainerUsage, Observer, PodUsage, Stats};
use corten_kubelet::eviction::threshold::{Observation, Signal};
use corten_kubelet::gc::images::{ImageGc, Policy};
use k8s_openapi::api::core::v1::{Event, Node as ApiNode};
use kube::api::{Api, ListParams};

use crate::harness::{Node, can_run, condition, phase};

const TIMEOUT: Duration = Duration::from_secs(60);
const MI: i64 = 1 << 20;
const GI: i64 = 1 << 30;

/// Machine signals and pod usage set by the test.
#[derive(Default)]
struct Scripted(Mutex<Stats>);

#[async_trait]
impl Observer for Scripted {
    async fn observe(&self) -> Stats {
        self.0.lock().unwrap().clone()
    }
}

fn node_condition(node: &ApiNode, kind: &str) -> Option<String> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.clone())
}

#[tokio::test]
async fn memory_pressure_evicts_the_pod_above_its_request() {
    if !can_run() {
        return;
    }
    let test = async {
        let node = Node::start("node-evict", |_| {}).await;
        let mut uids = Vec::new();
        for (name, request) in [("modest", "1Gi"), ("hog", "10Mi")] {
            let pod = node
                .create_pod(&format!(
                    r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    resources: {{requests: {{memory: {request}}}}}
"#
                ))
                .await;
            uids.push(pod.metadata.uid.unwrap());
        }
        for name in ["modest", "hog"] {
            node.wait_pod(name, "Running", TIMEOUT, |p| phase(p) == "Running")
                .await;
        }
        let kubelet = node.kubelet.as_ref().unwrap().kubelet.clone();
        let scripted = Arc::new(Scripted::default());
        {
            let mut stats = scripted.0.lock().unwrap();
            stats.node.insert(
                Signal::MemoryAvailable,
                Observation {
                    available: 60 * MI,
                    capacity: 8 * GI,
                },
            );
            for (uid, memory) in uids.iter().zip([900 * MI, 200 * MI]) {
                stats.pods.insert(
                    uid.clone(),
                    PodUsage {
                        containers: [(
                            "app".to_string(),
                            ContainerUsage {
                                memory,
                                ..Default::default()
                            },
                        )]
                        .into(),
                        ..Default::default()
                    },
                );
            }
        }
        kubelet.eviction.set_observer(scripted.clone());

        // The pod using more than it requested goes, at once (hard threshold).
        let evicted = node
            .wait_pod("hog", "evicted", TIMEOUT, |p| phase(p) == "Failed")
            .await;
        // Pressure gone (before the next pass would take another pod).
        scripted.0.lock().unwrap().node.insert(
            Signal::MemoryAvailable,
            Observation {
                available: 4 * GI,
                capacity: 8 * GI,
            },
        );
        let status = evicted.status.clone().unwrap();
        assert_eq!(status.reason.as_deref(), Some("Evicted"));
        assert_eq!(
            status.message.as_deref(),
            Some(
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: 60Mi. \
                 Container app was using 200Mi, request is 10Mi, has larger consumption of memory. "
            )
        );
        assert_eq!(condition(&evicted, "DisruptionTarget"), Some("True"));
        // Its container was stopped (SIGKILL after 1s at most, not 30s).
        let stopped = node
            .wait_pod(
                "hog",
                "container terminated",
                Duration::from_secs(20),
                |p| {
                    crate::harness::container(p, "app")
                        .and_then(|c| c.state.as_ref())
                        .is_some_and(|s| s.terminated.is_some())
                },
            )
            .await;
        assert_eq!(phase(&stopped), "Failed");
        assert_eq!(condition(&stopped, "Ready"), Some("False"));

        let nodes: Api<ApiNode> = Api::all(node.client.clone());
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let n = nodes.get(&node.name).await.unwrap();
            if node_condition(&n, "MemoryPressure").as_deref() == Some("True") {
                assert_eq!(node_condition(&n, "DiskPressure").as_deref(), Some("False"));
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no MemoryPressure");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let events: Api<Event> = Api::namespaced(node.client.clone(), "default");
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let list = events.list(&ListParams::default()).await.unwrap();
            if let Some(e) = list.items.iter().find(|e| {
                e.reason.as_deref() == Some("Evicted")
                    && e.involved_object.name.as_deref() == Some("hog")
            }) {
                assert_eq!(e.type_.as_deref(), Some("Warning"));
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no Evicted event");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // Container GC removes an evicted pod's containers and sandbox.
        kubelet.collect_containers(false).await;
        let hog_uid = uids[1].clone();
        let runtime = kubelet.runtime.clone();
        let left = runtime.list_containers(None).await.unwrap();
        assert!(
            !left
                .iter()
                .any(|c| c.labels.get("io.kubernetes.pod.uid") == Some(&hog_uid)),
            "evicted pod's containers are gone"
        );
        assert!(
            left.iter()
                .any(|c| c.labels.get("io.kubernetes.pod.uid") == Some(&uids[0])),
            "the running pod's container stays"
        );
        let sandboxes = runtime.list_pod_sandbox(None).await.unwrap();
        assert!(
            !sandboxes
                .iter()
                .any(|s| s.metadata.as_ref().is_some_and(|m| m.uid == hog_uid))
        );

        // Under MemoryPressure a new BestEffort pod is rejected.
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
"#,
        )
        .await;
        let late = node
            .wait_pod("late", "rejected", TIMEOUT, |p| phase(p) == "Failed")
            .await;
        let status = late.status.unwrap();
        assert_eq!(status.reason.as_deref(), Some("Evicted"));
        assert_eq!(
            status.message.as_deref(),
            Some("Pod was rejected: The node had condition: [MemoryPressure]. ")
        );

        // Nothing else was evicted; the condition stays for the transition period.
        tokio::time::sleep(Duration::from_secs(12)).await;
        let modest = node
            .wait_pod("modest", "still running", TIMEOUT, |_| true)
            .await;
        assert_eq!(phase(&modest), "Running");
        node.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn image_gc_removes_unused_images_but_not_the_sandbox_image_or_used_ones() {
    if !can_run() {
        return;
    }
    let test = async {
        // The node's own collector never triggers (harness settings); the
        // test runs a collector with upstream's thresholds over the same
        // runtime, on image filesystem usage it makes up.
        let node = Node::start("node-imagegc", |_| {}).await;
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"#,
        )
        .await;
        node.wait_pod("user", "Running", TIMEOUT, |p| phase(p) == "Running")
            .await;
        let kubelet = node.kubelet.as_ref().unwrap().kubelet.clone();
        let tags = || async {
            let mut tags: Vec<String> = kubelet
                .runtime
                .list_images(None)
                .await
                .unwrap()
                .into_iter()
                .flat_map(|i| i.repo_tags)
                .collect();
            tags.sort();
            tags
        };
        assert!(
            tags()
                .await
                .contains(&"corten.local/testserver:1.0".to_string())
        );
        let gc = ImageGc::new(
            kubelet.runtime.clone(),
            EventRecorder::new(node.client.clone(), &node.name),
            &node.name,
            Policy {
                high_percent: 85,
                low_percent: 80,
                min_age: Duration::ZERO,
                max_age: Duration::ZERO,
            },
            "registry.k8s.io/pause:3.10",
        );
        // Plenty of space: nothing goes.
        let roomy = Observation {
            available: 50 * GI,
            capacity: 100 * GI,
        };
        gc.garbage_collect(Some(roomy), std::time::Instant::now())
            .await
            .unwrap();
        assert_eq!(tags().await.len(), 4, "{:?}", tags().await);
        // 90% full: every unused image goes (the test server, both tags);
        // busybox is used, pause is the sandbox image.
        let full = Observation {
            available: 10 * GI,
            capacity: 100 * GI,
        };
        let err = gc
            .garbage_collect(Some(full), std::time::Instant::now())
            .await
            .unwrap_err();
        assert!(
            err.starts_with("Failed to garbage collect required amount of images."),
            "{err}"
        );
        assert_eq!(
            tags().await,
            [
                "docker.io/library/busybox:latest",
                "registry.k8s.io/pause:3.10"
            ]
        );
        let events: Api<Event> = Api::namespaced(node.client.clone(), "default");
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let list = events.list(&ListParams::default()).await.unwrap();
            if list.items.iter().any(|e| {
                e.reason.as_deref() == Some("FreeDiskSpaceFailed")
                    && e.involved_object.kind.as_deref() == Some("Node")
            }) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no FreeDiskSpaceFailed event"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        node.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test timed out");
}
