use super::*;

fn sandbox_config(name: &str) -> api::PodSandboxConfig {
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        }),
        ..Default::default()
    }
}

fn container_config(name: &str, image: &str) -> api::ContainerConfig {
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn sandbox_and_container_lifecycle() {
    let fake = FakeRuntime::with_images(&["busybox"]);
    let sandbox = fake.run_pod_sandbox(sandbox_config("p"), "").await.unwrap();
    let status = fake.pod_sandbox_status(&sandbox).await.unwrap();
    assert_eq!(status.network.unwrap().ip, "10.88.0.2");
    let id = fake
        .create_container(
            &sandbox,
            container_config("c", "busybox:latest"),
            sandbox_config("p"),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.container_status(&id).await.unwrap().state,
        api::ContainerState::ContainerCreated as i32
    );
    fake.start_container(&id).await.unwrap();
    let status = fake.container_status(&id).await.unwrap();
    assert_eq!(status.state, api::ContainerState::ContainerRunning as i32);
    assert!(status.image_ref.starts_with("sha256:"));
    assert!(fake.exit_container(&id, 3, false));
    let status = fake.container_status(&id).await.unwrap();
    assert_eq!(status.state, api::ContainerState::ContainerExited as i32);
    assert_eq!((status.exit_code, status.reason.as_str()), (3, "Error"));
    fake.stop_pod_sandbox(&sandbox).await.unwrap();
    fake.remove_pod_sandbox(&sandbox).await.unwrap();
    assert!(fake.list_containers(None).await.unwrap().is_empty());
    assert!(
        fake.container_status(&id)
            .await
            .is_err_and(|e| crate::service::is_not_found(&e))
    );
}

#[tokio::test]
async fn images_pulls_and_injected_errors() {
    let fake = FakeRuntime::new();
    let spec = |image: &str| api::ImageSpec {
        image: image.into(),
        ..Default::default()
    };
    assert!(fake.image_status(spec("busybox")).await.unwrap().is_none());
    fake.pull_image(spec("busybox"), None, None).await.unwrap();
    let image = fake
        .image_status(spec("docker.io/library/busybox:latest"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(image.repo_tags, ["docker.io/library/busybox:latest"]);
    fake.deny_pull("nope:1");
    let err = fake
        .pull_image(spec("nope:1"), None, None)
        .await
        .unwrap_err();
    assert!(err.message().contains("not found"), "{err}");
    fake.inject_error("version", tonic::Status::unavailable("down"));
    assert!(fake.version().await.is_err());
    assert!(fake.version().await.is_ok());
    assert_eq!(
        fake.calls(),
        [
            "image_status",
            "pull_image",
            "image_status",
            "pull_image",
            "version",
            "version"
        ]
    );
}

#[tokio::test]
async fn exit_on_start_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeRuntime::with_images(&["busybox"]);
    fake.exit_on_start("crash", 1);
    let mut config = sandbox_config("p");
    config.log_directory = dir.path().display().to_string();
    let sandbox = fake.run_pod_sandbox(config.clone(), "").await.unwrap();
    let mut c = container_config("crash", "busybox");
    c.log_path = "crash/0.log".into();
    let id = fake.create_container(&sandbox, c, config).await.unwrap();
    fake.start_container(&id).await.unwrap();
    let status = fake.container_status(&id).await.unwrap();
    assert_eq!(status.exit_code, 1);
    let log = std::fs::read_to_string(dir.path().join("crash/0.log")).unwrap();
    assert!(
        log.ends_with(" stdout F fake container crash started\n"),
        "{log}"
    );
    assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00");
    assert_eq!(rfc3339_seconds(1_700_000_000), "2023-11-14T22:13:20");
}

#[tokio::test]
async fn pod_ips_come_from_the_runtime_config_cidr() {
    let fake = FakeRuntime::new();
    fake.update_runtime_config("10.64.3.0/24").await.unwrap();
    let first = fake.run_pod_sandbox(sandbox_config("a"), "").await.unwrap();
    let second = fake.run_pod_sandbox(sandbox_config("b"), "").await.unwrap();
    let ip = |status: api::PodSandboxStatus| status.network.unwrap().ip;
    assert_eq!(
        ip(fake.pod_sandbox_status(&first).await.unwrap()),
        "10.64.3.2"
    );
    assert_eq!(
        ip(fake.pod_sandbox_status(&second).await.unwrap()),
        "10.64.3.3"
    );
    assert_eq!(
        parse_ipv4_cidr("10.64.3.7/30"),
        Some((u32::from(std::net::Ipv4Addr::new(10, 64, 3, 4)), 1))
    );
    assert_eq!(parse_ipv4_cidr("fd00::/64"), None);
    assert_eq!(parse_ipv4_cidr("10.0.0.0/31"), None);
    assert_eq!(parse_ipv4_cidr("garbage"), None);
}
