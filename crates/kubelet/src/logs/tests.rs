use std::sync::Arc;

use corten_cri::fake::FakeRuntime;
use corten_cri::{Runtime, RuntimeService, api};

use super::*;

/// A running fake container logging to `<dir>/app/0.log`.
async fn running(runtime: &FakeRuntime, dir: &Path) -> (String, PathBuf) {
    let sandbox_config = api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: "web".into(),
            uid: "u1".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: dir.display().to_string(),
        ..Default::default()
    };
    let sandbox = runtime
        .run_pod_sandbox(sandbox_config.clone(), "")
        .await
        .unwrap();
    let config = api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: "app".into(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: "busybox".into(),
            ..Default::default()
        }),
        log_path: "app/0.log".into(),
        ..Default::default()
    };
    let id = runtime
        .create_container(&sandbox, config, sandbox_config)
        .await
        .unwrap();
    runtime.start_container(&id).await.unwrap();
    (id, dir.join("app/0.log"))
}

fn config(size: &str, files: i32) -> KubeletConfiguration {
    KubeletConfiguration {
        container_log_max_size: Some(size.into()),
        container_log_max_files: Some(files),
        ..Default::default()
    }
    .defaulted()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn policy_from_config_like_upstream() {
    assert_eq!(
        Policy::from_config(&KubeletConfiguration::default().defaulted()),
        Ok(Policy {
            max_size: Some(10 << 20),
            max_files: 5
        })
    );
    assert_eq!(
        Policy::from_config(&config("-1", 3)).unwrap().max_size,
        None
    );
    assert_eq!(
        Policy::from_config(&config("1k", 2)).unwrap().max_size,
        Some(1000)
    );
    assert_eq!(
        Policy::from_config(&config("10Mi", 1)).unwrap_err(),
        "failed to initialize container log manager: invalid MaxFiles 1, must be > 1"
    );
    assert!(
        Policy::from_config(&config("ten", 5))
            .unwrap_err()
            .contains("failed to parse container log max size \"ten\"")
    );
    let mut c = config("10Mi", 5);
    c.container_log_max_workers = Some(0);
    assert!(c.validate().unwrap_err().to_string().contains(
        "invalid configuration: containerLogMaxWorkers must be greater than or equal to 1"
    ));
    let mut c = config("10Mi", 5);
    c.container_log_monitor_interval = Some(Duration::from_secs(1));
    assert!(c.validate().is_err());
    assert!(config("10Mi", 1).validate().is_err());
}

#[tokio::test]
async fn rotates_running_containers_past_the_size_and_keeps_max_files() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeRuntime::with_images(&["busybox"]));
    let (id, log) = running(&fake, dir.path()).await;
    let runtime: Arc<dyn Runtime> = fake.clone();
    let manager = ContainerLogManager::new(runtime.clone(), &config("100", 3));
    // Below the size: nothing happens.
    manager.rotate_logs().await;
    assert_eq!(files(&dir.path().join("app")), ["0.log"]);
    let mut rotations = Vec::new();
    for round in 0..4 {
        std::fs::write(&log, format!("{round}").repeat(200)).unwrap();
        manager.rotate_logs().await;
        let names = files(&dir.path().join("app"));
        // The runtime reopened a fresh, empty log.
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 0, "{names:?}");
        rotations.push(names);
        // Rotated names carry seconds: let the next one differ.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    // max files 3: the current log, the newest rotation, one compressed.
    let last = rotations.last().unwrap();
    assert_eq!(last.len(), 3, "{rotations:?}");
    assert!(
        last[1].ends_with(".gz") && !last[2].ends_with(".gz"),
        "{last:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app").join(&last[2])).unwrap(),
        "3".repeat(200)
    );
    // A stopped container is left alone.
    fake.stop_container(&id, 0).await.unwrap();
    std::fs::write(&log, "x".repeat(500)).unwrap();
    manager.rotate_logs().await;
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 500);
    // Removing the container's logs removes the rotated ones too.
    clean(&runtime, &id).await;
    assert!(files(&dir.path().join("app")).is_empty());
}

#[tokio::test]
async fn a_failed_reopen_puts_the_log_back() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeRuntime::with_images(&["busybox"]));
    let (_id, log) = running(&fake, dir.path()).await;
    let runtime: Arc<dyn Runtime> = fake.clone();
    let manager = ContainerLogManager::new(runtime, &config("10", 5));
    std::fs::write(&log, "0123456789abc").unwrap();
    fake.inject_error(
        "reopen_container_log",
        tonic::Status::unavailable("runtime down"),
    );
    manager.rotate_logs().await;
    assert_eq!(files(&dir.path().join("app")), ["0.log"]);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "0123456789abc");
    // The next round succeeds.
    manager.rotate_logs().await;
    assert_eq!(files(&dir.path().join("app")).len(), 2);
}
