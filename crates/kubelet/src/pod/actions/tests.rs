use std::collections::HashSet;

use corten_cri::api::ContainerState;
use k8s_openapi::api::core::v1::PodSpec;

use super::*;
use crate::pod::runtime_pod::RuntimeSandbox;

fn container(name: &str) -> Container {
    Container {
        name: name.into(),
        image: Some("busybox".into()),
        ..Default::default()
    }
}

fn pod(policy: &str, inits: Vec<Container>, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: kube::api::ObjectMeta {
            uid: Some("u".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: (!inits.is_empty()).then_some(inits),
            containers,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn sandbox(ready: bool, attempt: u32) -> RuntimeSandbox {
    RuntimeSandbox {
        id: format!("s{attempt}"),
        ready,
        created_at: i64::from(attempt),
        attempt,
        ips: vec!["10.0.0.2".into()],
        host_network: false,
    }
}

fn running(spec: &Container, id: &str) -> RuntimeContainer {
    RuntimeContainer {
        id: id.into(),
        name: spec.name.clone(),
        sandbox_id: "s0".into(),
        state: ContainerState::ContainerRunning,
        created_at: 1,
        started_at: 1,
        finished_at: 0,
        exit_code: 0,
        reason: String::new(),
        message: String::new(),
        image: "busybox".into(),
        image_ref: "sha256:x".into(),
        restart_count: 0,
        hash: container_hash(spec),
        log_path: String::new(),
        init: false,
    }
}

fn exited(spec: &Container, id: &str, code: i32) -> RuntimeContainer {
    RuntimeContainer {
        state: ContainerState::ContainerExited,
        exit_code: code,
        finished_at: 2,
        ..running(spec, id)
    }
}

fn runtime(sandboxes: Vec<RuntimeSandbox>, containers: Vec<RuntimeContainer>) -> RuntimePod {
    RuntimePod {
        sandboxes,
        containers,
    }
}

struct Probes {
    liveness_failed: HashSet<String>,
    not_started: HashSet<String>,
}

impl ProbeVerdicts for Probes {
    fn liveness_failed(&self, id: &str) -> bool {
        self.liveness_failed.contains(id)
    }
    fn startup_failed(&self, _: &str) -> bool {
        false
    }
    fn started(&self, id: &str) -> bool {
        !self.not_started.contains(id)
    }
}

#[test]
fn new_pod_creates_sandbox_and_starts_everything() {
    let p = pod("Always", vec![], vec![container("a"), container("b")]);
    let a = compute(&p, &RuntimePod::default(), &NoProbes);
    assert!(a.create_sandbox && !a.kill_pod);
    assert_eq!(a.attempt, 0);
    assert_eq!(a.start, [0, 1]);
    let with_init = pod(
        "Always",
        vec![container("i1"), container("i2")],
        vec![container("a")],
    );
    let a = compute(&with_init, &RuntimePod::default(), &NoProbes);
    assert_eq!(
        (a.init_to_start.clone(), a.start.clone()),
        (vec![0], vec![])
    );
}

#[test]
fn dead_sandbox_is_recreated_with_next_attempt() {
    let c = container("a");
    let p = pod("Always", vec![], vec![c.clone()]);
    let a = compute(
        &p,
        &runtime(vec![sandbox(false, 2)], vec![exited(&c, "x", 137)]),
        &NoProbes,
    );
    assert!(a.create_sandbox && a.kill_pod);
    assert_eq!(a.attempt, 3);
    let never = pod("Never", vec![], vec![c.clone()]);
    let a = compute(
        &never,
        &runtime(vec![sandbox(false, 0)], vec![exited(&c, "x", 0)]),
        &NoProbes,
    );
    assert!(!a.create_sandbox && a.start.is_empty());
}

#[test]
fn init_containers_run_in_order() {
    let (i1, i2, app) = (container("i1"), container("i2"), container("app"));
    let p = pod("Always", vec![i1.clone(), i2.clone()], vec![app.clone()]);
    let rt = |cs| runtime(vec![sandbox(true, 0)], cs);
    assert_eq!(
        compute(&p, &rt(vec![running(&i1, "1")]), &NoProbes),
        PodActions::default()
    );
    let a = compute(&p, &rt(vec![exited(&i1, "1", 0)]), &NoProbes);
    assert_eq!(
        (a.init_to_start.clone(), a.start.clone()),
        (vec![1], vec![])
    );
    let a = compute(
        &p,
        &rt(vec![exited(&i2, "2", 0), exited(&i1, "1", 0)]),
        &NoProbes,
    );
    assert_eq!(
        (a.init_to_start.clone(), a.start.clone()),
        (vec![], vec![0])
    );
    // A failed init container is retried, unless the policy is Never.
    let a = compute(&p, &rt(vec![exited(&i1, "1", 1)]), &NoProbes);
    assert_eq!(a.init_to_start, [0]);
    let never = pod("Never", vec![i1.clone()], vec![app.clone()]);
    let a = compute(&never, &rt(vec![exited(&i1, "1", 1)]), &NoProbes);
    assert!(a.init_failed && a.kill_pod && a.start.is_empty());
}

#[test]
fn restart_policies() {
    let c = container("a");
    let rt = |code| runtime(vec![sandbox(true, 0)], vec![exited(&c, "1", code)]);
    assert_eq!(
        compute(&pod("Always", vec![], vec![c.clone()]), &rt(0), &NoProbes).start,
        [0]
    );
    let on_failure = pod("OnFailure", vec![], vec![c.clone()]);
    assert_eq!(compute(&on_failure, &rt(1), &NoProbes).start, [0]);
    let done = compute(&on_failure, &rt(0), &NoProbes);
    assert!(done.start.is_empty() && done.kill_pod, "{done:?}");
    let never = compute(&pod("Never", vec![], vec![c.clone()]), &rt(1), &NoProbes);
    assert!(never.start.is_empty() && never.kill_pod);
}

#[test]
fn liveness_failure_and_spec_change_kill_running_containers() {
    let c = container("a");
    let p = pod("Always", vec![], vec![c.clone()]);
    let rt = runtime(vec![sandbox(true, 0)], vec![running(&c, "x")]);
    assert_eq!(compute(&p, &rt, &NoProbes), PodActions::default());
    let probes = Probes {
        liveness_failed: HashSet::from(["x".to_string()]),
        not_started: HashSet::new(),
    };
    let a = compute(&p, &rt, &probes);
    assert_eq!(a.start, [0]);
    assert_eq!(
        a.kill[0].message,
        "Container a failed liveness probe, will be restarted"
    );
    assert_eq!(a.kill[0].reason, KillReason::Liveness);
    let mut changed = c.clone();
    changed.image = Some("busybox:2".into());
    let a = compute(&pod("Never", vec![], vec![changed]), &rt, &NoProbes);
    assert_eq!(a.kill[0].reason, KillReason::SpecChanged);
    assert_eq!(a.start, [0]);
}

#[test]
fn sidecars_must_start_before_app_containers() {
    let mut sidecar = container("proxy");
    sidecar.restart_policy = Some("Always".into());
    let app = container("app");
    let p = pod("Always", vec![sidecar.clone()], vec![app.clone()]);
    let rt = |cs| runtime(vec![sandbox(true, 0)], cs);
    let probes = Probes {
        liveness_failed: HashSet::new(),
        not_started: HashSet::from(["s".to_string()]),
    };
    assert!(
        compute(&p, &rt(vec![running(&sidecar, "s")]), &probes)
            .start
            .is_empty()
    );
    assert_eq!(
        compute(&p, &rt(vec![running(&sidecar, "s")]), &NoProbes).start,
        [0]
    );
    let a = compute(
        &p,
        &rt(vec![running(&app, "a"), exited(&sidecar, "s", 1)]),
        &NoProbes,
    );
    assert_eq!(a.init_to_start, [0]);
}

#[test]
fn ephemeral_containers_start_once_into_the_running_sandbox() {
    let app = container("app");
    let debugger = container("debugger");
    let mut p = pod("Always", vec![], vec![app.clone()]);
    p.spec.as_mut().unwrap().ephemeral_containers =
        Some(vec![k8s_openapi::api::core::v1::EphemeralContainer {
            name: "debugger".into(),
            image: Some("busybox".into()),
            ..Default::default()
        }]);
    // Not into a sandbox being created.
    let a = compute(&p, &RuntimePod::default(), &NoProbes);
    assert!(a.create_sandbox && a.ephemeral_to_start.is_empty());
    // Into the running pod, without touching the app container.
    let rt = runtime(vec![sandbox(true, 0)], vec![running(&app, "c1")]);
    let a = compute(&p, &rt, &NoProbes);
    assert_eq!(a.ephemeral_to_start, [0]);
    assert!(a.start.is_empty() && a.kill.is_empty() && !a.kill_pod);
    // Never restarted, whether it runs or has exited.
    for c in [running(&debugger, "e1"), exited(&debugger, "e1", 1)] {
        let rt = runtime(vec![sandbox(true, 0)], vec![running(&app, "c1"), c]);
        let a = compute(&p, &rt, &NoProbes);
        assert_eq!(a, PodActions::default());
    }
}
