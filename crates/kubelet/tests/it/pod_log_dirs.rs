//! Pod log directories are removed with the pod, as upstream's kubelet does
//! in container garbage collection: a kubelet over the fake runtime against
//! a real apiserver runs a pod, keeps `<podLogsDir>/<ns>_<name>_<uid>`
//! while the pod exists, and removes it once the pod is deleted and its
//! containers are gone; directories that are not a pod's are left alone.

use std::sync::Arc;
use std::time::Duration;

use corten_cri::fake::FakeRuntime;
use corten_e2e::TestCluster;
use corten_kubelet::config::KubeletConfig;
use corten_kubelet::kubelet::{self, StartOptions};
use corten_kubelet::node::machine::MachineInfo;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};

const NODE: &str = "node-logs";

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn pod_log_directory_goes_with_the_pod() {
    let test = async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("pod-logs");
        let mut config = KubeletConfig::for_node(NODE, root.path());
        config.file.pod_logs_dir = Some(logs.display().to_string());
        config.file.enable_server = Some(false);
        config.file.healthz_port = Some(0);
        let running = kubelet::start_with(
            config,
            Some(client.clone()),
            Arc::new(FakeRuntime::with_images(&["busybox"])),
            StartOptions {
                machine: Some(MachineInfo::simulated(NODE, 4, 8 << 30, 100 << 30)),
                simulated: true,
            },
        )
        .await
        .unwrap();
        // Not a pod's directory: never touched.
        std::fs::create_dir_all(logs.join("not-a-pod")).unwrap();

        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "logged"},
            "spec": {
                "nodeName": NODE,
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent"}],
            },
        }))
        .unwrap();
        let uid = pods
            .create(&PostParams::default(), &pod)
            .await
            .unwrap()
            .metadata
            .uid
            .unwrap();
        let dir = logs.join(format!("default_logged_{uid}"));
        eventually("the pod runs", async || {
            pods.get("logged")
                .await
                .ok()
                .and_then(|p| p.status?.phase)
                .as_deref()
                == Some("Running")
        })
        .await;
        assert!(dir.is_dir(), "{} missing", dir.display());

        // A garbage collection while the pod exists keeps its logs.
        running.kubelet.collect_containers(false).await;
        assert!(dir.is_dir());

        pods.delete("logged", &DeleteParams::default())
            .await
            .unwrap();
        eventually("the pod is gone from the API", async || {
            pods.get_opt("logged").await.unwrap().is_none()
        })
        .await;
        // Container garbage collection (every minute) removes the dead
        // containers and sandbox, then the log directory.
        eventually("the log directory is removed", async || {
            running.kubelet.collect_containers(false).await;
            !dir.exists()
        })
        .await;
        assert!(logs.join("not-a-pod").is_dir());
        let left = running.kubelet.runtime.list_containers(None).await.unwrap();
        assert!(left.is_empty(), "{left:?}");
        running.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("test timed out");
}
