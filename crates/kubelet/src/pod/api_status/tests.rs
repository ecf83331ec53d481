use corten_cri::api;
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
            name: Some("p".into()),
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

fn rc(
    name: &str,
    id: &str,
    state: api::ContainerState,
    exit_code: i32,
    restart_count: i32,
    created: i64,
) -> RuntimeContainer {
    RuntimeContainer {
        id: id.into(),
        name: name.into(),
        sandbox_id: "s".into(),
        state,
        created_at: created,
        started_at: 1_700_000_000_000_000_000,
        finished_at: if state == api::ContainerState::ContainerExited {
            1_700_000_010_000_000_000
        } else {
            0
        },
        exit_code,
        reason: match (state, exit_code) {
            (api::ContainerState::ContainerExited, 0) => "Completed".into(),
            (api::ContainerState::ContainerExited, _) => "Error".into(),
            _ => String::new(),
        },
        message: String::new(),
        image: "docker.io/library/busybox:latest".into(),
        image_ref: "docker.io/library/busybox@sha256:abc".into(),
        restart_count,
        hash: String::new(),
        log_path: String::new(),
        init: false,
    }
}

fn sandbox() -> RuntimeSandbox {
    RuntimeSandbox {
        id: "s".into(),
        ready: true,
        created_at: 1,
        attempt: 0,
        ips: vec!["10.244.0.7".into()],
        host_network: false,
    }
}

struct Unready;
impl ProbeStatus for Unready {
    fn ready(&self, _: &str) -> bool {
        false
    }
    fn started(&self, _: &str) -> bool {
        true
    }
}

fn status(
    pod: &Pod,
    runtime: &RuntimePod,
    waiting: &HashMap<String, (String, String)>,
    probes: &dyn ProbeStatus,
    terminal: bool,
) -> PodStatus {
    generate(&StatusInputs {
        pod,
        runtime,
        waiting,
        probes,
        old: None,
        host_ips: &["192.168.1.10".to_string()],
        terminal,
        now: crate::time::now(),
    })
}

fn condition<'a>(s: &'a PodStatus, kind: &str) -> &'a PodCondition {
    s.conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == kind)
        .unwrap()
}

#[test]
fn pending_pod_without_containers() {
    let p = pod("Always", vec![], vec![container("c")]);
    let s = status(
        &p,
        &RuntimePod::default(),
        &HashMap::new(),
        &AllReady,
        false,
    );
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        c.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("ContainerCreating")
    );
    assert_eq!(c.started, Some(false));
    assert_eq!(condition(&s, "PodReadyToStartContainers").status, "False");
    assert_eq!(
        condition(&s, "Ready").message.as_deref(),
        Some("containers with unready status: [c]")
    );
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    assert_eq!(s.host_ip.as_deref(), Some("192.168.1.10"));
    let kinds: Vec<&str> = s
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(kinds, KUBELET_CONDITIONS);
}

#[test]
fn running_and_ready() {
    let p = pod("Always", vec![], vec![container("c")]);
    let rt = RuntimePod {
        sandboxes: vec![sandbox()],
        containers: vec![rc(
            "c",
            "id1",
            api::ContainerState::ContainerRunning,
            0,
            0,
            1,
        )],
    };
    let s = status(&p, &rt, &HashMap::new(), &AllReady, false);
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.7"));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert!(c.ready);
    assert_eq!(c.container_id.as_deref(), Some("containerd://id1"));
    assert_eq!(c.image, "docker.io/library/busybox:latest");
    assert_eq!(condition(&s, "Ready").status, "True");
    let s = status(&p, &rt, &HashMap::new(), &Unready, false);
    assert_eq!(
        condition(&s, "Ready").reason.as_deref(),
        Some("ContainersNotReady")
    );
    assert_eq!(condition(&s, "ContainersReady").status, "False");
}

#[test]
fn crash_loop_shows_waiting_and_last_state() {
    let p = pod("Always", vec![], vec![container("c")]);
    let rt = RuntimePod {
        sandboxes: vec![sandbox()],
        containers: vec![
            rc("c", "id2", api::ContainerState::ContainerExited, 1, 1, 2),
            rc("c", "id1", api::ContainerState::ContainerExited, 1, 0, 1),
        ],
    };
    let waiting = HashMap::from([(
        "c".to_string(),
        (
            "CrashLoopBackOff".to_string(),
            "back-off 10s restarting failed container=c pod=p_(u)".to_string(),
        ),
    )]);
    let s = status(&p, &rt, &waiting, &AllReady, false);
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.restart_count, 1);
    assert_eq!(
        c.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("CrashLoopBackOff")
    );
    let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert_eq!(s.phase.as_deref(), Some("Running"));
}

#[test]
fn phases_of_finished_pods() {
    let rt = |code| RuntimePod {
        sandboxes: vec![RuntimeSandbox {
            ready: false,
            ..sandbox()
        }],
        containers: vec![rc(
            "c",
            "id1",
            api::ContainerState::ContainerExited,
            code,
            0,
            1,
        )],
    };
    let never = pod("Never", vec![], vec![container("c")]);
    assert_eq!(
        status(&never, &rt(0), &HashMap::new(), &AllReady, false)
            .phase
            .as_deref(),
        Some("Succeeded")
    );
    let failed = status(&never, &rt(2), &HashMap::new(), &AllReady, false);
    assert_eq!(failed.phase.as_deref(), Some("Failed"));
    assert_eq!(
        condition(&failed, "Ready").reason.as_deref(),
        Some("PodCompleted")
    );
    let always = pod("Always", vec![], vec![container("c")]);
    assert_eq!(
        status(&always, &rt(0), &HashMap::new(), &AllReady, false)
            .phase
            .as_deref(),
        Some("Running")
    );
    // Deleted: terminal by exit codes.
    assert_eq!(
        status(&always, &rt(143), &HashMap::new(), &AllReady, true)
            .phase
            .as_deref(),
        Some("Failed")
    );
    assert_eq!(
        status(&always, &rt(0), &HashMap::new(), &AllReady, true)
            .phase
            .as_deref(),
        Some("Succeeded")
    );
}

#[test]
fn init_containers_gate_initialized() {
    let p = pod(
        "Always",
        vec![container("i1"), container("i2")],
        vec![container("c")],
    );
    let rt = RuntimePod {
        sandboxes: vec![sandbox()],
        containers: vec![rc(
            "i1",
            "a",
            api::ContainerState::ContainerRunning,
            0,
            0,
            1,
        )],
    };
    let s = status(&p, &rt, &HashMap::new(), &AllReady, false);
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(
        condition(&s, "Initialized").message.as_deref(),
        Some("containers with incomplete status: [i1 i2]")
    );
    let app = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        app.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("PodInitializing")
    );
    let failed_never = pod("Never", vec![container("i1")], vec![container("c")]);
    let rt = RuntimePod {
        sandboxes: vec![sandbox()],
        containers: vec![rc("i1", "a", api::ContainerState::ContainerExited, 1, 0, 1)],
    };
    assert_eq!(
        status(&failed_never, &rt, &HashMap::new(), &AllReady, false)
            .phase
            .as_deref(),
        Some("Failed")
    );
}
