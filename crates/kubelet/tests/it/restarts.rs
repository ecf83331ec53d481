use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};

use crate::harness::{Node, can_run, container, http_get, phase};

const TIMEOUT: Duration = Duration::from_secs(90);

fn waiting_reason(pod: &k8s_openapi::api::core::v1::Pod, name: &str) -> Option<String> {
    container(pod, name)?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

#[tokio::test]
async fn init_order_liveness_restarts_crash_loops_and_bad_specs() {
    if !can_run() {
        return;
    }
    let test = async {
        let node = Node::start("node-c", |_| {}).await;
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  initContainers:
  - {name: init-1, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "echo init-1 >> /work/order"], volumeMounts: [{name: work, mountPath: /work}]}
  - {name: init-2, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "echo init-2 >> /work/order"], volumeMounts: [{name: work, mountPath: /work}]}
  containers:
  - name: server
    image: corten.local/testserver:latest
    imagePullPolicy: Never
    args: ["--fail-healthz-after", "3"]
    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
      failureThreshold: 2
    volumeMounts: [{name: work, mountPath: /work}]
  volumes:
  - {name: work, emptyDir: {}}
"#,
        )
        .await;
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  containers:
  - {name: main, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
"#,
        )
        .await;
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - {name: main, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "echo crashing; exit 3"]}
"#,
        )
        .await;
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "echo done"]}
"#,
        )
        .await;
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: fails}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "exit 7"]}
"#,
        )
        .await;
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: noimage}
spec:
  containers:
  - {name: main, image: corten.local/does-not-exist:1, imagePullPolicy: Never}
"#,
        )
        .await;
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: badenv}
spec:
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    env: [{name: X, valueFrom: {configMapKeyRef: {name: missing, key: k}}}]
"#,
        )
        .await;

        // Init containers ran in order before the app container.
        let pod = node
            .wait_pod("probed", "Running", TIMEOUT, |p| phase(p) == "Running")
            .await;
        let ip = pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
        assert_eq!(
            http_get(&ip, 8080, "/file?path=/work/order")
                .await
                .unwrap()
                .1,
            "init-1\ninit-2\n"
        );
        let inits = pod
            .status
            .as_ref()
            .unwrap()
            .init_container_statuses
            .clone()
            .unwrap();
        for init in &inits {
            let terminated = init.state.as_ref().unwrap().terminated.as_ref().unwrap();
            assert_eq!(
                (terminated.exit_code, terminated.reason.as_deref()),
                (0, Some("Completed")),
                "{init:?}"
            );
        }
        // The liveness probe starts failing after 3s: the container restarts.
        let pod = node
            .wait_pod("probed", "restarted by the liveness probe", TIMEOUT, |p| {
                container(p, "server").is_some_and(|c| c.restart_count >= 1)
            })
            .await;
        let server = container(&pod, "server").unwrap();
        assert!(
            server.last_state.as_ref().unwrap().terminated.is_some(),
            "{server:?}"
        );

        // A crashing container ends in CrashLoopBackOff with its last state.
        let pod = node
            .wait_pod("crasher", "CrashLoopBackOff", TIMEOUT, |p| {
                waiting_reason(p, "main").as_deref() == Some("CrashLoopBackOff")
            })
            .await;
        let main = container(&pod, "main").unwrap();
        assert!(main.restart_count >= 1, "{main:?}");
        let last = main
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!((last.exit_code, last.reason.as_deref()), (3, Some("Error")));
        let (code, previous) = node
            .kubelet_get("/containerLogs/default/crasher/main?previous=true")
            .await;
        assert_eq!((code, previous.as_str()), (200, "crashing\n"));

        // restartPolicy Never: Succeeded / Failed.
        node.wait_pod("once", "Succeeded", TIMEOUT, |p| phase(p) == "Succeeded")
            .await;
        let pod = node
            .wait_pod("fails", "Failed", TIMEOUT, |p| phase(p) == "Failed")
            .await;
        let terminated = container(&pod, "main")
            .unwrap()
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        assert_eq!(terminated.exit_code, 7);

        // A container over its memory limit is OOM-killed and reported so.
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"]
    resources: {limits: {memory: 32Mi}}
"#,
        )
        .await;
        let pod = node
            .wait_pod("hog", "terminated", TIMEOUT, |p| phase(p) == "Failed")
            .await;
        let terminated = container(&pod, "main")
            .unwrap()
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        assert_eq!(
            (terminated.exit_code, terminated.reason.as_deref()),
            (137, Some("OOMKilled")),
            "{terminated:?}"
        );
        assert_eq!(
            pod.status.as_ref().unwrap().qos_class.as_deref(),
            Some("Burstable")
        );

        // Host network: the pod IP is the node IP.
        let pod = node
            .wait_pod("hostnet", "Running", TIMEOUT, |p| phase(p) == "Running")
            .await;
        assert_eq!(
            pod.status.as_ref().unwrap().pod_ip.as_deref(),
            Some("127.0.0.1")
        );

        // Bad specs get upstream's waiting reasons.
        node.wait_pod("noimage", "ErrImageNeverPull", TIMEOUT, |p| {
            waiting_reason(p, "main").as_deref() == Some("ErrImageNeverPull")
        })
        .await;
        let pod = node
            .wait_pod("badenv", "CreateContainerConfigError", TIMEOUT, |p| {
                waiting_reason(p, "main").as_deref() == Some("CreateContainerConfigError")
            })
            .await;
        let message = container(&pod, "main")
            .unwrap()
            .state
            .clone()
            .unwrap()
            .waiting
            .unwrap()
            .message
            .unwrap();
        assert_eq!(message, "configmap \"missing\" not found");

        // Events like upstream's.
        let events: Api<Event> = Api::namespaced(node.client.clone(), "default");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let list = events.list(&ListParams::default()).await.unwrap();
            let has = |reason: &str, object: &str| {
                list.items.iter().any(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.involved_object.name.as_deref() == Some(object)
                })
            };
            if has("Unhealthy", "probed")
                && has("Killing", "probed")
                && has("BackOff", "crasher")
                && has("Started", "once")
                && has("Pulled", "once")
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "missing events: {:#?}",
                list.items
                    .iter()
                    .map(|e| (e.reason.clone(), e.involved_object.name.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let out = node
            .cluster
            .kubectl_ok(&["get", "pods", "-o", "wide"])
            .await
            .unwrap();
        for needle in [
            "probed",
            "Running",
            "CrashLoopBackOff",
            "Completed",
            "ErrImageNeverPull",
            "CreateContainerConfigError",
            "node-c",
        ] {
            assert!(out.contains(needle), "{needle} missing from\n{out}");
        }
        node.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(300), test)
        .await
        .expect("test timed out");
}
