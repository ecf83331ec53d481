use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node as ApiNode, Pod, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use crate::harness::{Node, can_run, condition, container, http_get, phase, ws_exec};

const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn node_registers_and_a_pod_runs_with_logs_env_volumes_and_readiness() {
    if !can_run() {
        return;
    }
    let test = async {
        let node = Node::start("node-a", |_| {}).await;
        // Node registration and status.
        let nodes: Api<ApiNode> = Api::all(node.client.clone());
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        let registered = loop {
            if let Some(n) = nodes.get_opt("node-a").await.unwrap()
                && n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            {
                break n;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node never became Ready"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let status = registered.status.clone().unwrap();
        assert!(status.capacity.as_ref().unwrap().contains_key("cpu"));
        assert!(status.allocatable.as_ref().unwrap().contains_key("pods"));
        let info = status.node_info.clone().unwrap();
        assert!(
            info.container_runtime_version.starts_with("containerd://"),
            "{info:?}"
        );
        assert!(info.kubelet_version.starts_with("v1.33"));
        assert_eq!(
            registered.metadata.labels.as_ref().unwrap()["kubernetes.io/hostname"],
            "node-a"
        );
        let images: Vec<String> = status
            .images
            .unwrap_or_default()
            .into_iter()
            .flat_map(|i| i.names.unwrap_or_default())
            .collect();
        assert!(
            images.iter().any(|i| i == "corten.local/testserver:latest"),
            "{images:?}"
        );
        let leases: Api<Lease> = Api::namespaced(node.client.clone(), "kube-node-lease");
        let lease = leases.get("node-a").await.expect("lease");
        let first_renew = lease.spec.as_ref().unwrap().renew_time.clone().unwrap();

        // Objects the pod uses.
        let cms: Api<ConfigMap> = Api::namespaced(node.client.clone(), "default");
        cms.create(
            &PostParams::default(),
            &serde_yaml::from_str(
                "metadata: {name: app-config}\ndata: {greeting: hello, color: blue}",
            )
            .unwrap(),
        )
        .await
        .unwrap();
        let secrets: Api<Secret> = Api::namespaced(node.client.clone(), "default");
        secrets
            .create(
                &PostParams::default(),
                &serde_yaml::from_str(
                    "metadata: {name: app-secret}\nstringData: {password: s3cret}",
                )
                .unwrap(),
            )
            .await
            .unwrap();

        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - name: server
    image: corten.local/testserver:latest
    imagePullPolicy: IfNotPresent
    args: ["--fail-readyz"]
    ports: [{containerPort: 8080, name: http}]
    env:
    - {name: MY_POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MY_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: COLOR, valueFrom: {configMapKeyRef: {name: app-config, key: color}}}
    - {name: MESSAGE, value: "$(MY_POD_NAME) likes $(COLOR)"}
    readinessProbe:
      httpGet: {path: /readyz, port: http}
      periodSeconds: 1
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret}
    - {name: info, mountPath: /etc/podinfo}
  volumes:
  - {name: config, configMap: {name: app-config}}
  - {name: secret, secret: {secretName: app-secret}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
"#,
        )
        .await;
        let pod = node
            .wait_pod("web", "Running with a pod IP", TIMEOUT, |p| {
                phase(p) == "Running" && p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some()
            })
            .await;
        let ip = pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
        assert!(ip.starts_with("10."), "{ip}");
        let server = container(&pod, "server").unwrap();
        assert!(
            server
                .container_id
                .as_deref()
                .unwrap()
                .starts_with("containerd://")
        );
        assert!(!server.image_id.is_empty());
        assert_eq!(
            pod.status.as_ref().unwrap().qos_class.as_deref(),
            Some("BestEffort")
        );
        assert_eq!(
            pod.status.as_ref().unwrap().host_ip.as_deref(),
            Some("127.0.0.1")
        );
        // Readiness gates Ready.
        assert_eq!(condition(&pod, "Ready"), Some("False"), "{pod:?}");
        let (code, hostname) = http_get(&ip, 8080, "/").await.expect("pod reachable");
        assert_eq!((code, hostname.trim()), (200, "web"));
        http_get(&ip, 8080, "/recover/readyz").await.unwrap();
        node.wait_pod("web", "Ready", TIMEOUT, |p| {
            condition(p, "Ready") == Some("True")
        })
        .await;

        // Env from the downward API and a ConfigMap, with $(VAR) expansion.
        let (_, env) = http_get(&ip, 8080, "/env").await.unwrap();
        for line in [
            "MY_POD_NAME=web",
            &format!("MY_POD_IP={ip}"),
            "MY_NODE=node-a",
            "COLOR=blue",
            "MESSAGE=web likes blue",
        ] {
            assert!(env.lines().any(|l| l == line), "{line} missing from\n{env}");
        }
        assert!(env.contains("KUBERNETES_SERVICE_HOST="), "{env}");
        // Volume contents.
        assert_eq!(
            http_get(&ip, 8080, "/file?path=/etc/config/greeting")
                .await
                .unwrap()
                .1,
            "hello"
        );
        assert_eq!(
            http_get(&ip, 8080, "/file?path=/etc/secret/password")
                .await
                .unwrap()
                .1,
            "s3cret"
        );
        assert_eq!(
            http_get(&ip, 8080, "/file?path=/etc/podinfo/labels")
                .await
                .unwrap()
                .1,
            "app=\"web\""
        );
        // ConfigMap updates reach the running container.
        cms.patch(
            "app-config",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"greeting": "updated"}})),
        )
        .await
        .unwrap();
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if http_get(&ip, 8080, "/file?path=/etc/config/greeting")
                .await
                .map(|r| r.1)
                .unwrap_or_default()
                == "updated"
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "configMap update never arrived"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // Logs through the kubelet API.
        let (code, logs) = node.kubelet_get("/containerLogs/default/web/server").await;
        assert_eq!(code, 200, "{logs}");
        assert!(logs.contains("testserver listening on :8080"), "{logs}");
        assert!(logs.contains("GET /env"), "{logs}");
        let (_, tail) = node
            .kubelet_get("/containerLogs/default/web/server?tailLines=1&timestamps=true")
            .await;
        assert_eq!(tail.lines().count(), 1, "{tail}");
        let (code, _) = node.kubelet_get("/containerLogs/default/web/nope").await;
        assert_eq!(code, 400);
        let (code, _) = node
            .kubelet_get("/containerLogs/default/missing/server")
            .await;
        assert_eq!(code, 404);
        let (code, pods) = node.kubelet_get("/pods").await;
        assert_eq!(code, 200);
        assert!(pods.contains("\"name\":\"web\""), "{pods}");
        let (_, metrics) = node.kubelet_get("/metrics").await;
        // Values are process-wide (other tests' kubelets may share the registry).
        for name in [
            "kubelet_running_pods ",
            "kubelet_runtime_operations_total{operation_type=\"create_container\"}",
            "kubelet_running_containers{container_state=\"running\"}",
            "kubelet_node_name{node=\"node-a\"} 1",
        ] {
            assert!(metrics.contains(name), "{name} missing");
        }
        // Exec through the kubelet's streaming proxy (WebSocket v4.channel.k8s.io).
        let (stdout, status) = ws_exec(&node, "web", "server", &["cat", "/etc/config/color"]).await;
        assert_eq!(stdout, "blue");
        assert!(status.contains("\"status\":\"Success\""), "{status}");
        let (code, healthz) = node.kubelet_get("/healthz").await;
        assert_eq!((code, healthz.as_str()), (200, "ok"));
        // Authentication and SubjectAccessReview authorization.
        let (code, body) = node.kubelet_get_as("/pods", &[]).await;
        assert_eq!((code, body.as_str()), (401, "Unauthorized"));
        let (cert, key) = node
            .cluster
            .client_cert_files("nobody", &["some-group"])
            .unwrap();
        let nobody = [
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ];
        let (code, body) = node.kubelet_get_as("/pods", &nobody).await;
        assert_eq!(
            (code, body.as_str()),
            (
                403,
                "Forbidden (user=nobody, verb=get, resource=nodes, subresource=proxy)"
            )
        );
        let (code, body) = node.kubelet_get_as("/stats/summary", &nobody).await;
        assert_eq!(code, 403);
        assert!(body.contains("subresource=stats"), "{body}");
        // Bearer tokens are checked with a TokenReview (alice has no rights).
        let alice = ["-H", "Authorization: Bearer alice-token"];
        let (code, body) = node.kubelet_get_as("/metrics", &alice).await;
        assert_eq!(code, 403, "{body}");
        assert!(body.contains("user=alice"), "{body}");
        let bad = ["-H", "Authorization: Bearer not-a-token"];
        assert_eq!(node.kubelet_get_as("/metrics", &bad).await.0, 401);
        let (code, summary) = node.kubelet_get("/stats/summary").await;
        assert_eq!(code, 200);
        assert!(summary.contains("\"nodeName\":\"node-a\""), "{summary}");
        // Resource metrics of the running pod, with upstream's names and labels.
        let (code, resource) = node.kubelet_get("/metrics/resource").await;
        assert_eq!(code, 200, "{resource}");
        for wanted in [
            "# TYPE node_cpu_usage_seconds_total counter",
            "node_memory_working_set_bytes ",
            "container_memory_working_set_bytes{container=\"server\",namespace=\"default\",pod=\"web\"} ",
            "container_cpu_usage_seconds_total{container=\"server\",namespace=\"default\",pod=\"web\"} ",
            "pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} ",
            "resource_scrape_error 0",
        ] {
            assert!(
                resource.contains(wanted),
                "missing {wanted:?} in\n{resource}"
            );
        }

        // The lease keeps being renewed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let renew = leases
                .get("node-a")
                .await
                .unwrap()
                .spec
                .unwrap()
                .renew_time
                .unwrap();
            if renew != first_renew {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "lease not renewed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        node.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn graceful_deletion_runs_pre_stop_then_deletes_the_pod() {
    if !can_run() {
        return;
    }
    let test = async {
        let node = Node::start("node-b", |_| {}).await;
        let marker_dir = node.root.path().join("marker");
        std::fs::create_dir_all(&marker_dir).unwrap();
        node.create_pod(&format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: graceful}}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 1; done"]
    lifecycle:
      preStop:
        exec:
          command: ["sh", "-c", "echo prestop-ran > /marker/prestop; sleep 2"]
    volumeMounts: [{{name: marker, mountPath: /marker}}]
  volumes:
  - name: marker
    hostPath: {{path: {}, type: Directory}}
"#,
            marker_dir.display()
        ))
        .await;
        node.wait_pod("graceful", "Running", TIMEOUT, |p| phase(p) == "Running")
            .await;
        let api: Api<Pod> = Api::namespaced(node.client.clone(), "default");
        let started = tokio::time::Instant::now();
        api.delete("graceful", &DeleteParams::default())
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while api.get_opt("graceful").await.unwrap().is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pod was never deleted"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(2),
            "deleted after {took:?}, before preStop finished"
        );
        assert!(
            took < Duration::from_secs(20),
            "took the whole grace period: {took:?}"
        );
        assert_eq!(
            std::fs::read_to_string(marker_dir.join("prestop"))
                .unwrap()
                .trim(),
            "prestop-ran"
        );
        node.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(180), test)
        .await
        .expect("test timed out");
}
