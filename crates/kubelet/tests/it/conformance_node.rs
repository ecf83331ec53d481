//! sig-node conformance behaviour that needs running containers, checked
//! the way upstream's e2e tests do (`test/e2e/common/node/expansion.go`,
//! `pods.go`, `ephemeral_containers.go`), against the real containerd:
//! `subPathExpr` expansion and its failures, `activeDeadlineSeconds`, and
//! ephemeral containers added with `kubectl debug`.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::control_plane::kubectl_ok;
use crate::harness::{Node, can_run, container, phase, ws_exec};

const TIMEOUT: Duration = Duration::from_secs(60);
const BUSYBOX: &str = corten_cri::local_images::BUSYBOX_IMAGE;

fn pods(node: &Node) -> Api<Pod> {
    Api::namespaced(node.client.clone(), "default")
}

/// A pod as upstream's `newPod` in expansion.go builds it: one busybox
/// container with `POD_NAME` and `ANNOTATION` (downward API) in its env,
/// `workdir1` (emptyDir) mounted with `subPathExpr` and whole.
fn subpath_pod(name: &str, pod_name_value: &str, expr: &str, command: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  annotations: {{notmysubpath: mypath}}
spec:
  restartPolicy: Never
  containers:
  - name: dapi-container
    image: {BUSYBOX}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "{command}"]
    env:
    - {{name: POD_NAME, value: "{pod_name_value}"}}
    - name: ANNOTATION
      valueFrom: {{fieldRef: {{apiVersion: v1, fieldPath: "metadata.annotations['mysubpath']"}}}}
    volumeMounts:
    - {{name: workdir1, mountPath: /subpath_mount, subPathExpr: "{expr}"}}
    - {{name: workdir1, mountPath: /volume_mount}}
  volumes:
  - {{name: workdir1, emptyDir: {{}}}}
"#
    )
}

fn waiting_reason(status: Option<&ContainerStatus>) -> Option<&str> {
    status?.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
}

async fn events_about(node: &Node, pod: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(node.client.clone(), "default");
    api.list(&ListParams::default().fields(&format!("involvedObject.name={pod}")))
        .await
        .expect("events")
        .items
}

/// Upstream `WaitForPodContainerToFail(..., "CreateContainerConfigError")`
/// with the kubelet's message in the status and a `Failed` event.
async fn wait_config_error(node: &Node, name: &str, message: &str) {
    let pod = node
        .wait_pod(name, "CreateContainerConfigError", TIMEOUT, |p| {
            waiting_reason(container(p, "dapi-container")) == Some("CreateContainerConfigError")
        })
        .await;
    let waiting = container(&pod, "dapi-container")
        .and_then(|c| c.state.clone())
        .and_then(|s| s.waiting)
        .expect("waiting");
    assert_eq!(waiting.message.as_deref(), Some(message));
    assert_eq!(phase(&pod), "Pending");
    let events = events_about(node, name).await;
    assert!(
        events.iter().any(|e| e.reason.as_deref() == Some("Failed")
            && e.message.as_deref() == Some(&format!("Error: {message}"))),
        "{events:?}"
    );
}

async fn subpath_scenario(node: &Node) {
    // Subpath expansion: $(POD_NAME) names a directory of the volume.
    node.create_pod(&subpath_pod(
        "var-expansion-ok",
        "var-expansion-ok",
        "$(POD_NAME)",
        "test -d /volume_mount/var-expansion-ok; echo $?",
    ))
    .await;
    let done = node
        .wait_pod("var-expansion-ok", "Succeeded", TIMEOUT, |p| {
            phase(p) == "Succeeded"
        })
        .await;
    assert_eq!(phase(&done), "Succeeded");
    let log = pods(node)
        .logs("var-expansion-ok", &Default::default())
        .await
        .expect("logs");
    assert_eq!(log.trim(), "0");

    // '..' (upstream's "backticks" case) and an absolute path fail the
    // container config; the pod stays Pending.
    node.create_pod(&subpath_pod(
        "var-expansion-up",
        "..",
        "$(POD_NAME)",
        "true",
    ))
    .await;
    node.create_pod(&subpath_pod(
        "var-expansion-abs",
        "/tmp",
        "$(POD_NAME)",
        "true",
    ))
    .await;
    wait_config_error(
        node,
        "var-expansion-up",
        "unable to provision SubPath `..`: must not contain '..'",
    )
    .await;
    wait_config_error(
        node,
        "var-expansion-abs",
        "error SubPath `/tmp` must not be an absolute path",
    )
    .await;

    // Ready from a failed state: the annotation is missing, so the
    // expansion fails until the pod gets it.
    node.create_pod(&subpath_pod(
        "var-expansion-later",
        "foo",
        "$(ANNOTATION)/$(POD_NAME)",
        "tail -f /dev/null",
    ))
    .await;
    wait_config_error(node, "var-expansion-later", "missing value for ANNOTATION").await;
    pods(node)
        .patch(
            "var-expansion-later",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"mysubpath": "mypath"}}})),
        )
        .await
        .expect("annotate");
    node.wait_pod("var-expansion-later", "Running", TIMEOUT, |p| {
        phase(p) == "Running"
    })
    .await;
    // Subpath writes: a file written through the whole volume shows up in
    // the subpath mount.
    let (_, status) = ws_exec(
        node,
        "var-expansion-later",
        "dapi-container",
        &["touch", "/volume_mount/mypath/foo/test.log"],
    )
    .await;
    assert!(status.contains("Success"), "{status}");
    let (_, status) = ws_exec(
        node,
        "var-expansion-later",
        "dapi-container",
        &["test", "-f", "/subpath_mount/test.log"],
    )
    .await;
    assert!(status.contains("Success"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subpath_expr_expands_env_and_refuses_absolute_and_backstep_paths() {
    if !can_run() {
        return;
    }
    let node = Node::start("node-subpath", |_| {}).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        tokio::time::timeout(Duration::from_secs(240), subpath_scenario(&node)),
    ))
    .await;
    node.shutdown().await;
    match result {
        Ok(finished) => finished.expect("the scenario timed out"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn deadline_scenario(node: &Node) {
    node.create_pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: deadline}}
spec:
  containers:
  - name: main
    image: {BUSYBOX}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
"#
    ))
    .await;
    node.wait_pod("deadline", "Running", TIMEOUT, |p| phase(p) == "Running")
        .await;
    // As upstream's test: the deadline is set on the running pod.
    pods(node)
        .patch(
            "deadline",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"activeDeadlineSeconds": 5}})),
        )
        .await
        .expect("set the deadline");
    let failed = node
        .wait_pod("deadline", "DeadlineExceeded", TIMEOUT, |p| {
            phase(p) == "Failed"
                && container(p, "main")
                    .and_then(|c| c.state.as_ref())
                    .is_some_and(|s| s.terminated.is_some())
        })
        .await;
    let status = failed.status.clone().unwrap();
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        status.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    let events = events_about(node, "deadline").await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("DeadlineExceeded")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn active_deadline_fails_the_pod_and_stops_its_containers() {
    if !can_run() {
        return;
    }
    let node = Node::start("node-deadline", |_| {}).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        tokio::time::timeout(Duration::from_secs(180), deadline_scenario(&node)),
    ))
    .await;
    node.shutdown().await;
    match result {
        Ok(finished) => finished.expect("the scenario timed out"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn ephemeral_status<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    pod.status
        .as_ref()?
        .ephemeral_container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)
}

async fn ephemeral_scenario(node: &Node) {
    node.create_pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: ephemeral}}
spec:
  containers:
  - name: main
    image: {BUSYBOX}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "exec sleep 3601"]
"#
    ))
    .await;
    node.wait_pod("ephemeral", "Running", TIMEOUT, |p| phase(p) == "Running")
        .await;
    // What `kubectl debug` sends: a strategic merge patch of
    // pods/ephemeralcontainers.
    kubectl_ok(
        node,
        &[
            "debug",
            "ephemeral",
            &format!("--image={BUSYBOX}"),
            "--image-pull-policy=IfNotPresent",
            "--container=debugger",
            "--target=main",
            "--",
            "sleep",
            "3602",
        ],
    )
    .await;
    let pod = node
        .wait_pod("ephemeral", "ephemeral container running", TIMEOUT, |p| {
            ephemeral_status(p, "debugger")
                .and_then(|s| s.state.as_ref())
                .is_some_and(|s| s.running.is_some())
        })
        .await;
    let status = ephemeral_status(&pod, "debugger").unwrap();
    assert!(!status.ready);
    assert!(
        status
            .container_id
            .as_deref()
            .unwrap()
            .starts_with("containerd://")
    );
    // The app container was not restarted for it.
    assert_eq!(container(&pod, "main").unwrap().restart_count, 0);

    // Exec into the ephemeral container (upstream's test runs `echo`),
    // which shares the target's process namespace.
    let out = kubectl_ok(
        node,
        &["exec", "ephemeral", "-c", "debugger", "--", "echo", "polo"],
    )
    .await;
    assert_eq!(out.trim(), "polo");
    let ps = kubectl_ok(
        node,
        &[
            "exec",
            "ephemeral",
            "-c",
            "debugger",
            "--",
            "ps",
            "-o",
            "args",
        ],
    )
    .await;
    assert!(ps.contains("sleep 3601"), "{ps}");
    assert!(ps.contains("sleep 3602"), "{ps}");
    // The app container has its own process namespace (the debugger joined
    // it): not the sandbox's, where the pause process runs.
    let (app_ps, _) = ws_exec(node, "ephemeral", "main", &["ps", "-o", "args"]).await;
    assert!(app_ps.contains("sleep 3602"), "{app_ps}");
    assert!(!app_ps.contains("pause"), "{app_ps}");

    // Upstream's update test: adding one through the subresource works,
    // changing or removing an existing one is refused.
    let api = pods(node);
    let current = api
        .get_ephemeral_containers("ephemeral")
        .await
        .expect("get");
    let mut ecs = current.spec.clone().unwrap().ephemeral_containers.unwrap();
    assert_eq!(ecs.len(), 1);
    ecs.push(
        serde_json::from_value(json!({
            "name": "debugger2", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", "3603"]
        }))
        .unwrap(),
    );
    let mut added = current.clone();
    added.spec.as_mut().unwrap().ephemeral_containers = Some(ecs.clone());
    let updated = api
        .replace_ephemeral_containers("ephemeral", &Default::default(), &added)
        .await
        .expect("add a second ephemeral container");
    assert_eq!(updated.spec.unwrap().ephemeral_containers.unwrap().len(), 2);
    node.wait_pod(
        "ephemeral",
        "second ephemeral container running",
        TIMEOUT,
        |p| {
            ephemeral_status(p, "debugger2")
                .and_then(|s| s.state.as_ref())
                .is_some_and(|s| s.running.is_some())
        },
    )
    .await;
    let current = api
        .get_ephemeral_containers("ephemeral")
        .await
        .expect("get");
    let mut removed = current.clone();
    removed.spec.as_mut().unwrap().ephemeral_containers = Some(vec![ecs[1].clone()]);
    let err = api
        .replace_ephemeral_containers("ephemeral", &Default::default(), &removed)
        .await
        .expect_err("removing is refused");
    match err {
        kube::Error::Api(e) => {
            assert_eq!(e.code, 422);
            assert!(
                e.message
                    .contains("existing ephemeral containers \"debugger\" may not be removed"),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }
    let mut changed = current.clone();
    changed
        .spec
        .as_mut()
        .unwrap()
        .ephemeral_containers
        .as_mut()
        .unwrap()[0]
        .image = Some("other:1".into());
    let err = api
        .replace_ephemeral_containers("ephemeral", &Default::default(), &changed)
        .await
        .expect_err("changing is refused");
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 422),
        "{err:?}"
    );
    // Only ephemeral containers change through the subresource.
    let mut sneaky = current.clone();
    sneaky.spec.as_mut().unwrap().containers[0].image = Some("other:2".into());
    let kept = api
        .replace_ephemeral_containers("ephemeral", &Default::default(), &sneaky)
        .await
        .expect("no ephemeral change");
    assert_eq!(
        kept.spec.unwrap().containers[0].image.as_deref(),
        Some(BUSYBOX)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_debug_adds_ephemeral_containers_that_run_and_exec() {
    if !can_run() {
        return;
    }
    let node = Node::start("node-ephemeral", |_| {}).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        tokio::time::timeout(Duration::from_secs(240), ephemeral_scenario(&node)),
    ))
    .await;
    node.shutdown().await;
    match result {
        Ok(finished) => finished.expect("the scenario timed out"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn busybox_pod(name: &str, extra_spec: &str, container_extra: &str, script: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
{extra_spec}
  containers:
  - name: c
    image: {BUSYBOX}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "{script}"]
{container_extra}
"#
    )
}

fn terminated(pod: &Pod) -> Option<k8s_openapi::api::core::v1::ContainerStateTerminated> {
    container(pod, "c")?.state.clone()?.terminated
}

async fn finished_log(node: &Node, name: &str) -> (Pod, String) {
    let pod = node
        .wait_pod(name, "finished", TIMEOUT, |p| {
            matches!(phase(p), "Succeeded" | "Failed")
        })
        .await;
    let log = pods(node)
        .logs(name, &Default::default())
        .await
        .expect("logs");
    (pod, log)
}

async fn container_basics_scenario(node: &Node) {
    // Kubelet, hostAliases / managed etc hosts.
    node.create_pod(&busybox_pod(
        "host-aliases",
        "  hostAliases: [{ip: 123.45.67.89, hostnames: [foo, bar]}]",
        "",
        "cat /etc/hosts",
    ))
    .await;
    // TerminationMessagePath, non-root user and non-default path.
    node.create_pod(&busybox_pod(
        "term-file",
        "",
        "    terminationMessagePath: /dev/termination-custom-log\n    securityContext: {runAsUser: 1000}",
        "echo -n DONE > /dev/termination-custom-log",
    ))
    .await;
    // TerminationMessage from the log of a failing / succeeding container.
    node.create_pod(&busybox_pod(
        "term-log-fail",
        "",
        "    terminationMessagePolicy: FallbackToLogsOnError",
        "echo -n DONE; exit 1",
    ))
    .await;
    node.create_pod(&busybox_pod(
        "term-log-ok",
        "",
        "    terminationMessagePolicy: FallbackToLogsOnError",
        "echo -n OK",
    ))
    .await;
    // Security Context: runAsUser, runAsGroup, readOnlyRootFilesystem,
    // allowPrivilegeEscalation=false.
    node.create_pod(&busybox_pod(
        "secctx",
        "",
        "    securityContext: {runAsUser: 65534, runAsGroup: 3000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}",
        "id -u; id -g; touch /file 2>/dev/null || echo read-only; grep NoNewPrivs /proc/self/status",
    ))
    .await;
    // DownwardAPI env: name, namespace, IPs, UID, limits and requests.
    node.create_pod(&busybox_pod(
        "dapi",
        "",
        r#"    resources: {limits: {cpu: 1250m, memory: 64Mi}, requests: {cpu: 1250m, memory: 32Mi}}
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: CPU_LIMIT, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
    - {name: MEMORY_LIMIT, valueFrom: {resourceFieldRef: {resource: limits.memory}}}
    - {name: CPU_REQUEST, valueFrom: {resourceFieldRef: {resource: requests.cpu}}}
    - {name: MEMORY_REQUEST, valueFrom: {resourceFieldRef: {resource: requests.memory}}}"#,
        "env",
    ))
    .await;
    // Pod Lifecycle, post start exec hook.
    node.create_pod(&busybox_pod(
        "post-start",
        "",
        "    lifecycle: {postStart: {exec: {command: [sh, -c, 'echo poststart > /tmp/hook']}}}",
        "for i in 1 2 3 4 5 6 7 8 9 10; do [ -f /tmp/hook ] && break; sleep 1; done; cat /tmp/hook",
    ))
    .await;

    let (_, hosts) = finished_log(node, "host-aliases").await;
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file."),
        "{hosts}"
    );
    assert!(hosts.contains("123.45.67.89\tfoo\tbar"), "{hosts}");

    let (pod, _) = finished_log(node, "term-file").await;
    assert_eq!(phase(&pod), "Succeeded");
    assert_eq!(terminated(&pod).unwrap().message.as_deref(), Some("DONE"));
    let (pod, _) = finished_log(node, "term-log-fail").await;
    assert_eq!(phase(&pod), "Failed");
    assert_eq!(terminated(&pod).unwrap().message.as_deref(), Some("DONE"));
    let (pod, _) = finished_log(node, "term-log-ok").await;
    assert_eq!(phase(&pod), "Succeeded");
    assert_eq!(terminated(&pod).unwrap().message.unwrap_or_default(), "");

    let (pod, out) = finished_log(node, "secctx").await;
    assert_eq!(phase(&pod), "Succeeded", "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["65534", "3000", "read-only"], "{out}");
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"]
    );

    let (pod, env) = finished_log(node, "dapi").await;
    let status = pod.status.clone().unwrap();
    let uid = pod.metadata.uid.clone().unwrap();
    for want in [
        "POD_NAME=dapi".to_string(),
        "POD_NAMESPACE=default".to_string(),
        format!("POD_IP={}", status.pod_ip.clone().unwrap()),
        format!("HOST_IP={}", status.host_ip.clone().unwrap()),
        format!("POD_UID={uid}"),
        "CPU_LIMIT=2".to_string(),
        "MEMORY_LIMIT=67108864".to_string(),
        "CPU_REQUEST=2".to_string(),
        "MEMORY_REQUEST=33554432".to_string(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} not in\n{env}");
    }

    let (_, hook) = finished_log(node, "post-start").await;
    assert_eq!(hook.trim(), "poststart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_termination_messages_security_context_downward_env_and_post_start() {
    if !can_run() {
        return;
    }
    let node = Node::start("node-basics", |_| {}).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        tokio::time::timeout(Duration::from_secs(240), container_basics_scenario(&node)),
    ))
    .await;
    node.shutdown().await;
    match result {
        Ok(finished) => finished.expect("the scenario timed out"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn probed_pod(name: &str, script: &str, probes: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: c
    image: {BUSYBOX}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "{script}"]
{probes}
"#
    )
}

fn restarts(pod: &Pod) -> i32 {
    container(pod, "c").map_or(0, |c| c.restart_count)
}

async fn probes_scenario(node: &Node) {
    // Liveness, local file: restart once the file is gone; no restart
    // while it stays.
    node.create_pod(&probed_pod(
        "liveness-exec-restart",
        "echo ok > /tmp/health; sleep 5; rm -f /tmp/health; sleep 600",
        "    livenessProbe: {exec: {command: [cat, /tmp/health]}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}",
    ))
    .await;
    node.create_pod(&probed_pod(
        "liveness-exec-ok",
        "echo ok > /tmp/health; sleep 600",
        "    livenessProbe: {exec: {command: [cat, /tmp/health]}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}",
    ))
    .await;
    // Liveness, tcp socket on a listening port: no restart.
    // (The test server listens on 8080.)
    node.create_pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: liveness-tcp-ok}}
spec:
  containers:
  - name: c
    image: {}
    imagePullPolicy: IfNotPresent
    livenessProbe: {{tcpSocket: {{port: 8080}}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}}
"#,
        corten_cri::local_images::TESTSERVER_PINNED_IMAGE
    ))
    .await;
    // Readiness failure: running, never ready, never restarted.
    node.create_pod(&probed_pod(
        "readiness-fail",
        "sleep 600",
        "    readinessProbe: {exec: {command: [/bin/false]}, periodSeconds: 1}",
    ))
    .await;
    node.wait_pod("liveness-exec-restart", "restarted", TIMEOUT, |p| {
        restarts(p) >= 1
    })
    .await;
    // The others have had 12s and more of probing by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["liveness-exec-ok", "liveness-tcp-ok", "readiness-fail"] {
        let pod = pods(node).get(name).await.expect("get");
        assert_eq!(phase(&pod), "Running", "{name}");
        assert_eq!(restarts(&pod), 0, "{name}");
        let ready = container(&pod, "c").unwrap().ready;
        assert_eq!(ready, name != "readiness-fail", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn liveness_exec_and_tcp_and_readiness_failure() {
    if !can_run() {
        return;
    }
    let node = Node::start("node-probes", |_| {}).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        tokio::time::timeout(Duration::from_secs(180), probes_scenario(&node)),
    ))
    .await;
    node.shutdown().await;
    match result {
        Ok(finished) => finished.expect("the scenario timed out"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
