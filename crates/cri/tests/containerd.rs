//! CRI against the real containerd: a sandbox gets a pod IP on the test's
//! own bridge, a busybox container runs, logs and exec work.

use std::collections::HashMap;
use std::time::Duration;

use corten_cri::api;
use corten_cri::testing::TestContainerd;
use corten_cri::{ImageService, RuntimeService};

#[tokio::test]
async fn sandbox_container_logs_and_exec() {
    if let Err(err) = corten_cri::testing::available() {
        eprintln!("skipping: {err}");
        return;
    }
    let test = async {
        let containerd = TestContainerd::start(None).await.expect("containerd");
        let runtime = containerd.runtime();
        let version = runtime.version().await.unwrap();
        assert_eq!(version.runtime_name, "containerd");
        let images = runtime.list_images(None).await.unwrap();
        let tags: Vec<&String> = images.iter().flat_map(|i| &i.repo_tags).collect();
        assert!(
            tags.iter().any(|t| *t == "registry.k8s.io/pause:3.10"),
            "{tags:?}"
        );
        assert!(
            tags.iter()
                .any(|t| *t == "docker.io/library/busybox:latest"),
            "{tags:?}"
        );

        let logs = containerd.dir().join("pod-logs");
        let sandbox_config = api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: "p".into(),
                uid: "uid-1".into(),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: "p".into(),
            log_directory: logs.display().to_string(),
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: format!("{}/pod-uid-1", containerd.cgroup_root),
                ..Default::default()
            }),
            labels: HashMap::from([("test".to_string(), "yes".to_string())]),
            ..Default::default()
        };
        let sandbox = runtime
            .run_pod_sandbox(sandbox_config.clone(), "")
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", containerd.log()));
        let status = runtime.pod_sandbox_status(&sandbox).await.unwrap();
        let ip = status.network.unwrap().ip;
        assert!(
            ip.starts_with(&containerd.subnet[..containerd.subnet.len() - 4]),
            "{ip} not in {}",
            containerd.subnet
        );

        let config = api::ContainerConfig {
            metadata: Some(api::ContainerMetadata {
                name: "c".into(),
                attempt: 0,
            }),
            image: Some(api::ImageSpec {
                image: "docker.io/library/busybox:latest".into(),
                ..Default::default()
            }),
            command: vec![
                "sh".into(),
                "-c".into(),
                "echo hello from busybox; sleep 3600".into(),
            ],
            log_path: "c/0.log".into(),
            ..Default::default()
        };
        let id = runtime
            .create_container(&sandbox, config, sandbox_config)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", containerd.log()));
        runtime.start_container(&id).await.unwrap();
        let exec = runtime
            .exec_sync(
                &id,
                vec!["cat".into(), "/etc/hostname".into()],
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert_eq!(exec.exit_code, 0);
        assert_eq!(String::from_utf8_lossy(&exec.stdout).trim(), "p");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(logs.join("c/0.log")).unwrap_or_default();
            if log.contains(" stdout F hello from busybox") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "log: {log:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        runtime.stop_container(&id, 1).await.unwrap();
        let status = runtime.container_status(&id).await.unwrap();
        assert_eq!(status.state, api::ContainerState::ContainerExited as i32);
        assert!(matches!(status.exit_code, 137 | 143), "{status:?}");
        containerd.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("timed out");
}
