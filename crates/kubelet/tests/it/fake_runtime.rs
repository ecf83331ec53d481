//! The kubelet against the in-process fake runtime, without an apiserver:
//! the sync loop, restarts with backoff, exec liveness probes and
//! termination, fast and without containerd.

use std::sync::Arc;
use std::time::Duration;

use corten_cri::api;
use corten_cri::fake::FakeRuntime;
use corten_kubelet::config::KubeletConfig;
use k8s_openapi::api::core::v1::{Pod, PodStatus};

fn pod(yaml: &str) -> Pod {
    let mut pod: Pod = serde_yaml::from_str(yaml).unwrap();
    pod.metadata.uid = Some(format!("uid-{}", pod.metadata.name.as_deref().unwrap()));
    pod.metadata.namespace = Some("default".into());
    pod
}

async fn wait_status(
    kubelet: &corten_kubelet::kubelet::Kubelet,
    uid: &str,
    what: &str,
    check: impl Fn(&PodStatus) -> bool,
) -> PodStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = kubelet.status.get(uid)
            && check(&status)
        {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {:#?}",
            kubelet.status.get(uid)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn waiting(status: &PodStatus, name: &str) -> Option<String> {
    status
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

fn restarts(status: &PodStatus, name: &str) -> i32 {
    status
        .container_statuses
        .iter()
        .flatten()
        .find(|c| c.name == name)
        .map_or(0, |c| c.restart_count)
}

#[tokio::test]
async fn sync_restart_probe_and_terminate_with_the_fake_runtime() {
    let test = async {
        let root = tempfile::tempdir().unwrap();
        let manifests = root.path().join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        std::fs::write(
            manifests.join("static.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: static-web}\nspec:\n  containers:\n  - {name: c, image: busybox, imagePullPolicy: IfNotPresent}\n",
        )
        .unwrap();
        let mut config = KubeletConfig::for_node("sim-1", root.path());
        config.file.static_pod_path = Some(manifests.display().to_string());
        config.file.file_check_frequency = Some(Duration::from_millis(200));
        config.file.enable_server = Some(false);
        config.file.healthz_port = Some(0);
        config.file.pod_logs_dir = Some(root.path().join("logs").display().to_string());
        config.file.sync_frequency = Some(Duration::from_secs(2));
        // The machine's own disk usage must not evict the simulated pods.
        config.file.eviction_hard =
            Some([("memory.available".to_string(), "100Mi".to_string())].into());
        config.file.image_gc_high_threshold_percent = Some(100);
        config.file.image_gc_low_threshold_percent = Some(99);
        let fake = FakeRuntime::with_images(&["busybox"]);
        // The exec liveness probe of "probed" fails.
        fake.set_exec_handler(|name, _cmd| api::ExecSyncResponse {
            exit_code: i32::from(name == "probed"),
            ..Default::default()
        });
        let running = corten_kubelet::kubelet::start(config, None, Arc::new(fake.clone()))
            .await
            .unwrap();
        let kubelet = running.kubelet.clone();

        let web = pod(
            "metadata: {name: web}\nspec:\n  containers:\n  - {name: a, image: busybox, imagePullPolicy: IfNotPresent}\n  - {name: b, image: busybox, imagePullPolicy: IfNotPresent}\n",
        );
        kubelet.update_pod(web.clone());
        let status = wait_status(&kubelet, "uid-web", "Running", |s| {
            s.phase.as_deref() == Some("Running")
        })
        .await;
        assert_eq!(status.pod_ip.as_deref(), Some("10.88.0.2"));
        let ready = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");

        // A crash restarts at once the first time, then backs off.
        let first = fake.containers_named("a")[0].clone();
        assert!(fake.exit_container(&first, 1, false));
        wait_status(&kubelet, "uid-web", "restart 1", |s| {
            restarts(s, "a") == 1 && waiting(s, "a").is_none()
        })
        .await;
        let second = fake.containers_named("a").last().unwrap().clone();
        assert!(fake.exit_container(&second, 1, false));
        let status = wait_status(&kubelet, "uid-web", "CrashLoopBackOff", |s| {
            waiting(s, "a").as_deref() == Some("CrashLoopBackOff")
        })
        .await;
        let message = status.container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .waiting
            .unwrap()
            .message
            .unwrap();
        assert!(
            message
                .starts_with("back-off 10s restarting failed container=a pod=web_default(uid-web)"),
            "{message}"
        );

        // A failing exec liveness probe restarts the container.
        let probed = pod(
            "metadata: {name: probed}\nspec:\n  containers:\n  - name: probed\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    livenessProbe: {exec: {command: [check]}, periodSeconds: 1, failureThreshold: 1}\n",
        );
        kubelet.update_pod(probed);
        wait_status(&kubelet, "uid-probed", "a liveness restart", |s| {
            restarts(s, "probed") >= 1
        })
        .await;

        // The static pod runs under its derived name; removing the file stops it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let static_pod = loop {
            if let Some(p) = kubelet.find_pod("default", "static-web-sim-1") {
                break p;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "static pod never seen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let static_uid = static_pod.metadata.uid.clone().unwrap();
        wait_status(&kubelet, &static_uid, "static pod Running", |s| {
            s.phase.as_deref() == Some("Running")
        })
        .await;
        std::fs::remove_file(manifests.join("static.yaml")).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !fake.containers_named("c").is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "static pod not removed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Deleting: containers stopped, sandbox removed, terminal phase.
        let mut deleting = web.clone();
        deleting.metadata.deletion_timestamp = Some(corten_kubelet::time::now());
        deleting.metadata.deletion_grace_period_seconds = Some(1);
        kubelet.update_pod(deleting);
        wait_status(&kubelet, "uid-web", "terminal", |s| {
            matches!(s.phase.as_deref(), Some("Failed") | Some("Succeeded"))
        })
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !fake.containers_named("b").is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "containers of the deleted pod were not removed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(fake.calls().iter().any(|c| c == "remove_podsandbox"));
        running.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(90), test)
        .await
        .expect("test timed out");
}
