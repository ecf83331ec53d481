use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corten_cri::fake::FakeRuntime;
use corten_cri::{ImageService, Runtime, RuntimeService, api};

use super::containers::{self, PodState};
use super::images::{ImageGc, Policy};
use crate::events::EventRecorder;
use crate::eviction::threshold::Observation;
use crate::pod::labels;

const PAUSE: &str = "registry.k8s.io/pause:3.10";
const MI: i64 = 1 << 20;

fn policy(min_age: u64, max_age: u64) -> Policy {
    Policy {
        high_percent: 85,
        low_percent: 80,
        min_age: Duration::from_secs(min_age),
        max_age: Duration::from_secs(max_age),
    }
}

async fn run_container(runtime: &FakeRuntime, uid: &str, name: &str, image: &str) -> String {
    let sandbox_config = api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: format!("pod-{uid}"),
            uid: uid.to_string(),
            namespace: "default".into(),
            attempt: 0,
        }),
        labels: HashMap::from([(labels::POD_UID.to_string(), uid.to_string())]),
        ..Default::default()
    };
    let sandbox = runtime
        .run_pod_sandbox(sandbox_config.clone(), "")
        .await
        .unwrap();
    let config = api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: name.to_string(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: image.to_string(),
            ..Default::default()
        }),
        labels: HashMap::from([
            (labels::POD_UID.to_string(), uid.to_string()),
            (labels::CONTAINER_NAME.to_string(), name.to_string()),
        ]),
        ..Default::default()
    };
    runtime
        .create_container(&sandbox, config, sandbox_config)
        .await
        .unwrap()
}

async fn tags(runtime: &FakeRuntime) -> Vec<String> {
    let mut tags: Vec<String> = runtime
        .list_images(None)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect();
    tags.sort();
    tags
}

fn fs(used_percent: i64) -> Option<Observation> {
    Some(Observation {
        available: (100 - used_percent) * MI,
        capacity: 100 * MI,
    })
}

#[tokio::test]
async fn image_gc_frees_least_recently_used_unused_images_down_to_the_low_threshold() {
    let runtime = FakeRuntime::with_images(&[PAUSE, "in-use:1"]);
    run_container(&runtime, "u1", "app", "in-use:1").await;
    let gc = ImageGc::new(
        Arc::new(runtime.clone()),
        EventRecorder::disabled(),
        "node",
        policy(60, 0),
        PAUSE,
    );
    let t0 = Instant::now();
    runtime.add_image("old:1");
    gc.garbage_collect(fs(10), t0).await.unwrap();
    runtime.add_image("newer:1");
    runtime.add_image("newest:1");
    gc.garbage_collect(fs(10), t0 + Duration::from_secs(30))
        .await
        .unwrap();
    runtime.add_image("fresh:1");
    gc.garbage_collect(fs(10), t0 + Duration::from_secs(100))
        .await
        .unwrap();
    // Below the high threshold nothing goes.
    assert_eq!(tags(&runtime).await.len(), 6);

    // 86% used: free down to 80% = 6Mi; images are 1Mi each, and only
    // those detected at least 60s ago qualify: old, newer, newest (3Mi).
    let err = gc
        .garbage_collect(fs(86), t0 + Duration::from_secs(100))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        format!(
            "Failed to garbage collect required amount of images. Attempted to free {} bytes, but only found {} bytes eligible to free.",
            6 * MI,
            3 * MI
        )
    );
    assert_eq!(
        tags(&runtime).await,
        [
            "docker.io/library/fresh:1",
            "docker.io/library/in-use:1",
            PAUSE
        ]
    );
}

#[tokio::test]
async fn image_gc_removes_in_lru_order_and_stops_when_enough_is_free() {
    let runtime = FakeRuntime::with_images(&[PAUSE]);
    let gc = ImageGc::new(
        Arc::new(runtime.clone()),
        EventRecorder::disabled(),
        "node",
        Policy {
            low_percent: 84,
            ..policy(0, 0)
        },
        PAUSE,
    );
    let t0 = Instant::now();
    runtime.add_image("a:1");
    gc.garbage_collect(fs(0), t0).await.unwrap();
    runtime.add_image("b:1");
    gc.garbage_collect(fs(0), t0 + Duration::from_secs(1))
        .await
        .unwrap();
    // a was used by a container (since removed) after b appeared: b is
    // the least recently used.
    let c = run_container(&runtime, "u1", "app", "a:1").await;
    gc.garbage_collect(fs(0), t0 + Duration::from_secs(2))
        .await
        .unwrap();
    runtime.remove_container(&c).await.unwrap();
    // 85% used: to reach 84% one image (1Mi) is enough.
    gc.garbage_collect(fs(85), t0 + Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(
        tags(&runtime).await,
        ["docker.io/library/a:1", PAUSE],
        "b (least recently used) went first and a stayed"
    );
    // Disk pressure: everything unused goes, never the sandbox image.
    let freed = gc.delete_unused(t0 + Duration::from_secs(4)).await.unwrap();
    assert_eq!(freed, MI);
    assert_eq!(tags(&runtime).await, [PAUSE]);
}

#[tokio::test]
async fn image_gc_by_age_and_without_stats() {
    let runtime = FakeRuntime::with_images(&[PAUSE, "stale:1"]);
    let gc = ImageGc::new(
        Arc::new(runtime.clone()),
        EventRecorder::disabled(),
        "node",
        policy(0, 600),
        PAUSE,
    );
    let t0 = Instant::now();
    gc.garbage_collect(fs(0), t0).await.unwrap();
    gc.garbage_collect(fs(0), t0 + Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(tags(&runtime).await.len(), 2);
    gc.garbage_collect(fs(0), t0 + Duration::from_secs(601))
        .await
        .unwrap();
    assert_eq!(tags(&runtime).await, [PAUSE]);
    let err = gc.garbage_collect(None, t0).await.unwrap_err();
    assert!(err.starts_with("failed to get imageFs info"), "{err}");
}

fn container(
    id: &str,
    uid: &str,
    name: &str,
    state: api::ContainerState,
    at: i64,
    sandbox: &str,
) -> api::Container {
    api::Container {
        id: id.into(),
        pod_sandbox_id: sandbox.into(),
        state: state as i32,
        created_at: at,
        labels: HashMap::from([
            (labels::POD_UID.to_string(), uid.to_string()),
            (labels::CONTAINER_NAME.to_string(), name.to_string()),
        ]),
        ..Default::default()
    }
}

fn sandbox(id: &str, uid: &str, ready: bool, at: i64) -> api::PodSandbox {
    api::PodSandbox {
        id: id.into(),
        state: if ready {
            api::PodSandboxState::SandboxReady as i32
        } else {
            api::PodSandboxState::SandboxNotready as i32
        },
        created_at: at,
        labels: HashMap::from([(labels::POD_UID.to_string(), uid.to_string())]),
        ..Default::default()
    }
}

#[test]
fn container_gc_plan_like_upstream() {
    use api::ContainerState::{ContainerExited as Exited, ContainerRunning as Running};
    let containers = [
        // Active pod: running + three dead "app" containers, one dead "init".
        container("run", "active", "app", Running, 50, "s2"),
        container("dead3", "active", "app", Exited, 40, "s2"),
        container("dead2", "active", "app", Exited, 30, "s1"),
        container("dead1", "active", "app", Exited, 20, "s1"),
        container("init", "active", "init", Exited, 10, "s1"),
        // A pod the kubelet no longer knows.
        container("gone1", "gone", "app", Exited, 10, "s9"),
    ];
    let sandboxes = [
        sandbox("s0", "active", false, 0),
        sandbox("s1", "active", false, 1),
        sandbox("s2", "active", true, 2),
        sandbox("s9", "gone", false, 1),
    ];
    let state = |uid: &str| {
        if uid == "active" {
            PodState::Active
        } else {
            PodState::Removable
        }
    };
    let plan = containers::plan(&containers, &sandboxes, state, false);
    // Newest dead per name stays; the running one is never touched.
    assert_eq!(plan.containers, ["dead1", "dead2", "gone1"]);
    // s1 still holds "init"; s0 is old, empty and not ready; s9's pod is gone.
    assert_eq!(plan.sandboxes, ["s0", "s9"]);

    let plan = containers::plan(&containers, &sandboxes, state, true);
    assert_eq!(
        plan.containers,
        ["dead1", "dead2", "dead3", "gone1", "init"]
    );
    assert_eq!(plan.sandboxes, ["s0", "s1", "s9"]);
}

#[tokio::test]
async fn container_gc_removes_through_the_runtime() {
    let runtime = FakeRuntime::with_images(&["busybox"]);
    let a = run_container(&runtime, "u1", "app", "busybox").await;
    let b = run_container(&runtime, "u1", "app", "busybox").await;
    let rt: Arc<dyn Runtime> = Arc::new(runtime.clone());
    // Created (never started) containers are dead too; two sandboxes, both ready.
    let (removed_containers, removed_sandboxes) =
        containers::collect(&rt, |_| PodState::Active, false)
            .await
            .unwrap();
    assert_eq!((removed_containers, removed_sandboxes), (1, 0));
    let left: Vec<String> = rt
        .list_containers(None)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, [b], "the newer one stays, {a} went");
}

#[test]
fn pod_log_directories_of_removed_pods_only() {
    use super::pod_logs;
    assert_eq!(pod_logs::uid_of("default_web_u-1"), Some("u-1"));
    assert_eq!(pod_logs::uid_of("not-a-pod"), None);
    assert_eq!(pod_logs::uid_of("a_b_c_d"), None);
    assert_eq!(pod_logs::uid_of("a_b_"), None);
    let state = |uid: &str| match uid {
        "running" => PodState::Active,
        _ => PodState::Removable,
    };
    let in_runtime: std::collections::HashSet<String> = ["dying".to_string()].into();
    let names = [
        "ns_a_running",
        "ns_b_gone",
        "ns_c_dying",
        "stray",
        "ns_d_gone2",
    ];
    assert_eq!(
        pod_logs::plan(names, state, &in_runtime),
        ["ns_b_gone", "ns_d_gone2"]
    );

    let dir = tempfile::tempdir().unwrap();
    for name in names {
        std::fs::create_dir_all(dir.path().join(name).join("c")).unwrap();
        std::fs::write(dir.path().join(name).join("c/0.log"), "x").unwrap();
    }
    assert_eq!(pod_logs::remove(dir.path(), state, &in_runtime), 2);
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["ns_a_running", "ns_c_dying", "stray"]);
    // A missing directory is nothing to do.
    assert_eq!(
        pod_logs::remove(&dir.path().join("missing"), state, &in_runtime),
        0
    );
}
