//! Pod-to-Service traffic end to end, through every real part: a node in
//! its own network namespace (containerd, the CNI bridge, the pods), our
//! kubelet, kube-scheduler, kube-controller-manager (ReplicaSets,
//! EndpointSlices), kube-proxy programming the node's namespace (nftables
//! and iptables) and corten-dns published as the `kube-dns` Service. Client
//! pods resolve `web.default.svc.cluster.local` and are balanced over every
//! ready replica; NodePort answers on the node IP; a replica failing
//! readiness gets no traffic; ClientIP affinity pins a client; with no
//! endpoints the Service rejects at once; SRV records answer.

use std::collections::BTreeSet;
use std::time::Duration;

use clap::Parser;
use serde_json::Value;

use crate::control_plane::{ControlPlane, kubectl_ok};
use crate::harness::{Node, can_run, http_get, phase};
use crate::node_netns::NodeNetns;

const IMAGE: &str = corten_cri::local_images::TESTSERVER_PINNED_IMAGE;
const BUSYBOX: &str = corten_cri::local_images::BUSYBOX_IMAGE;
/// The kube-dns ClusterIP: the 10th address of the test apiserver's
/// service range (10.96.0.0/16), as `corten up` and kubeadm choose it.
pub const DNS_IP: &str = "10.96.0.10";
const SERVICE_FQDN: &str = "web.default.svc.cluster.local";

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: IMAGE
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: 8080}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"#;

/// kube-proxy and corten-dns, in process, stopped in `stop`.
pub struct Networking {
    proxy: (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ),
    dns: (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ),
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Networking {
    pub async fn start(node: &Node, netns: &NodeNetns, mode: &str, pod_subnet: &str) -> Networking {
        let kubeconfig = node.cluster.kubeconfig.display().to_string();
        let mut proxy = corten_kube_proxy::options::Options::try_parse_from([
            "kube-proxy".to_string(),
            format!("--kubeconfig={kubeconfig}"),
            format!("--proxy-mode={mode}"),
            format!("--hostname-override={}", node.name),
            format!("--cluster-cidr={pod_subnet}"),
            // The kubelet reports 127.0.0.1 as the Node's IP here, so
            // nftables mode's default (`primary`) would answer NodePorts
            // nowhere: name the node's link address instead.
            format!("--nodeport-addresses={}/32", netns.node_ip),
            format!("--healthz-bind-address=127.0.0.1:{}", free_port()),
            "--metrics-bind-address=".into(),
            "--iptables-min-sync-period=100ms".into(),
        ])
        .expect("kube-proxy flags")
        .complete()
        .expect("kube-proxy config");
        proxy.command_prefix = netns.prefix();
        proxy.families = vec![corten_kube_proxy::model::IpFamily::V4];
        let (proxy_stop, stop) = tokio::sync::oneshot::channel::<()>();
        let proxy_task = tokio::spawn(corten_kube_proxy::app::run(proxy, async move {
            let _ = stop.await;
        }));

        // The DNS server listens on the host end of the node's link and
        // publishes itself as kube-system/kube-dns; kube-proxy sends the
        // pods' queries to <DNS_IP>:53 there.
        let dns = corten_dns::options::Options::try_parse_from([
            "corten-dns".to_string(),
            format!("--kubeconfig={kubeconfig}"),
            format!("--listen={}:10053", netns.host_ip),
            format!("--kube-dns-service-ip={DNS_IP}"),
            format!("--hostname-override={}", node.name),
            "--health-address=".into(),
            "--ready-address=".into(),
            "--metrics-address=".into(),
        ])
        .expect("corten-dns flags")
        .complete()
        .expect("corten-dns config");
        let (dns_stop, stop) = tokio::sync::oneshot::channel::<()>();
        let dns_task = tokio::spawn(corten_dns::app::run(
            dns,
            async move {
                let _ = stop.await;
            },
            |_| {},
        ));
        Networking {
            proxy: (proxy_stop, proxy_task),
            dns: (dns_stop, dns_task),
        }
    }

    pub async fn stop(self) {
        for (stop, task) in [self.dns, self.proxy] {
            let _ = stop.send(());
            match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(Ok(Ok(()))) => {}
                other => eprintln!("networking daemon stopped badly: {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pod_to_service_nftables() {
    pod_to_service("nftables").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pod_to_service_iptables() {
    pod_to_service("iptables").await;
}

async fn pod_to_service(mode: &str) {
    if !can_run() {
        return;
    }
    let mut netns = NodeNetns::create();
    let node = Node::start_in_netns("svc-node", Some(&netns.name), |_, config| {
        config.file.cluster_dns = Some(vec![DNS_IP.into()]);
    })
    .await;
    let pod_subnet = node
        .containerd
        .as_ref()
        .map(|c| c.subnet.clone())
        .expect("containerd");
    netns.connect(&pod_subnet);
    let control = ControlPlane::start(
        &node,
        "replicaset-controller,deployment-controller,endpointslice-controller,\
         garbage-collector-controller",
    )
    .await;
    let networking = Networking::start(&node, &netns, mode, &pod_subnet).await;
    // Teardown must run in order also when the scenario fails: controllers
    // and kubelet first (or they recreate what is being removed), then
    // containerd (removing every sandbox), then the namespace.
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        tokio::time::timeout(Duration::from_secs(400), scenario(&node, &netns)),
    ))
    .await;
    networking.stop().await;
    control.stop().await;
    node.shutdown().await;
    drop(netns);
    match result {
        Ok(finished) => finished.expect("the scenario timed out"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn scenario(node: &Node, netns: &NodeNetns) {
    let manifest = WEB.replace("IMAGE", IMAGE);
    let out = node
        .cluster
        .kubectl_stdin(&["apply", "-f", "-"], Some(&manifest))
        .await
        .expect("kubectl apply");
    assert!(out.status.success(), "apply: {out:?}");
    let pods = ready_endpoints(node, 3).await;
    let names: BTreeSet<String> = pods.keys().cloned().collect();
    let svc: Value =
        serde_json::from_str(&kubectl_ok(node, &["get", "service", "web", "-o", "json"]).await)
            .expect("service json");
    let cluster_ip = svc["spec"]["clusterIP"].as_str().expect("clusterIP");
    let node_port = svc["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .expect("nodePort");

    // Every replica answers the Service, reached by its DNS name.
    await_served(netns, cluster_ip, |seen| seen == &names).await;
    let script = format!(
        "nslookup {SERVICE_FQDN}; nslookup -type=SRV _http._tcp.{SERVICE_FQDN}; \
         for i in $(seq 40); do timeout 3 wget -q -O- http://{SERVICE_FQDN}/hostname; echo; done; \
         timeout 3 wget -q -O- http://web/hostname; echo"
    );
    let log = run_client(node, "client-balance", &script).await;
    assert!(
        log.contains(&format!("Address: {cluster_ip}")),
        "the name resolves to the ClusterIP:\n{log}"
    );
    assert!(
        log.contains(&format!("80 {SERVICE_FQDN}")),
        "the SRV record names port 80 of the Service:\n{log}"
    );
    let seen = hostnames(&log, &names);
    assert_eq!(seen, names, "40 requests reach every replica:\n{log}");

    // NodePort answers on the node's IP (from the host, off the node).
    let (code, body) = eventually_http(&netns.node_ip, node_port as u16).await;
    assert_eq!(code, 200, "{body}");
    assert!(names.contains(body.trim()), "NodePort answered {body:?}");

    // A replica failing its readiness probe gets no more traffic.
    let (sick, sick_ip) = pods
        .iter()
        .next()
        .map(|(n, ip)| (n.clone(), ip.clone()))
        .unwrap();
    let (code, _) = http_get(&sick_ip, 8080, "/fail/readyz")
        .await
        .expect("failing readiness");
    assert_eq!(code, 200);
    ready_endpoints(node, 2).await;
    let healthy: BTreeSet<String> = names.iter().filter(|n| **n != sick).cloned().collect();
    await_served(netns, cluster_ip, |seen| seen == &healthy).await;
    let script = format!(
        "for i in $(seq 30); do timeout 3 wget -q -O- http://{SERVICE_FQDN}/hostname; echo; done"
    );
    let log = run_client(node, "client-ready", &script).await;
    assert_eq!(
        hostnames(&log, &names),
        healthy,
        "only ready replicas serve:\n{log}"
    );

    // ClientIP affinity pins a client to one replica.
    kubectl_ok(
        node,
        &[
            "patch",
            "service",
            "web",
            "-p",
            r#"{"spec":{"sessionAffinity":"ClientIP"}}"#,
        ],
    )
    .await;
    await_served(netns, cluster_ip, |seen| seen.len() == 1).await;
    let log = run_client(node, "client-affinity", &script).await;
    let pinned = hostnames(&log, &names);
    assert_eq!(pinned.len(), 1, "one client, one replica:\n{log}");
    let answers = log.lines().filter(|l| names.contains(l.trim())).count();
    assert_eq!(answers, 30, "every request answered:\n{log}");

    // Without endpoints the Service rejects: connections are refused
    // instead of hanging until TCP gives up (about two minutes). The refusal
    // is an ICMP port-unreachable from the node's REJECT rule, as upstream;
    // it reaches the pod so fast that the kernel often sees it while the
    // connecting socket is still locked and treats it as a soft error, so the
    // refusal lands with the SYN retransmission about 1 s later. The address
    // is used directly: name resolution is covered above.
    // Terminating replicas keep serving (kube-proxy falls back to
    // serving-terminating endpoints, as upstream) until they are gone.
    kubectl_ok(node, &["scale", "deployment", "web", "--replicas=0"]).await;
    endpoints_gone(node).await;
    await_rejected(netns, cluster_ip).await;
    let log = run_client(
        node,
        "client-none",
        &format!("timeout 10 wget -q -O- http://{cluster_ip}/hostname; echo rc=$?"),
    )
    .await;
    assert!(
        log.contains("Connection refused") && !log.contains("rc=0") && !log.contains("rc=143"),
        "no endpoints: refused, not timed out:\n{log}"
    );
}

/// Waits until the `web` EndpointSlices list exactly `n` ready endpoints
/// (pod name -> IP).
async fn ready_endpoints(node: &Node, n: usize) -> std::collections::BTreeMap<String, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let out = kubectl_ok(
            node,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "json",
            ],
        )
        .await;
        let list: Value = serde_json::from_str(&out).expect("slice list");
        let ready: std::collections::BTreeMap<String, String> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] == true)
            .filter_map(|e| {
                Some((
                    e["targetRef"]["name"].as_str()?.to_string(),
                    e["addresses"][0].as_str()?.to_string(),
                ))
            })
            .collect();
        if ready.len() == n {
            return ready;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {n} ready endpoints:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until the `web` EndpointSlices list no endpoint at all (also no
/// terminating one).
async fn endpoints_gone(node: &Node) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let out = kubectl_ok(
            node,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "json",
            ],
        )
        .await;
        let list: Value = serde_json::from_str(&out).expect("slice list");
        let left = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["endpoints"].as_array().map_or(0, Vec::len))
            .sum::<usize>();
        if left == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "endpoints never went away:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The replica names among `log`'s lines.
fn hostnames(log: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    log.lines()
        .map(str::trim)
        .filter(|l| names.contains(*l))
        .map(str::to_string)
        .collect()
}

/// Requests from inside the node namespace until the set of replicas seen
/// over 15 requests to `ip:80` satisfies `done`: kube-proxy has programmed
/// the change (the client pods then assert on their own traffic).
async fn await_served(netns: &NodeNetns, ip: &str, done: impl Fn(&BTreeSet<String>) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let url = format!("http://{ip}:80/hostname");
    loop {
        let mut seen = BTreeSet::new();
        for _ in 0..15 {
            let out = netns.exec(&["timeout", "3", "busybox", "wget", "-q", "-O-", &url]);
            let body = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !body.is_empty() {
                seen.insert(body);
            }
        }
        if done(&seen) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Service at {ip} kept answering from {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until connecting to `ip:80` from the node is refused.
async fn await_rejected(netns: &NodeNetns, ip: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let url = format!("http://{ip}:80/hostname");
    loop {
        let out = netns.exec(&["timeout", "3", "busybox", "wget", "-q", "-O-", &url]);
        if String::from_utf8_lossy(&out.stderr).contains("refused") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Service at {ip} was never rejected: {out:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// GET `/hostname` on `ip:port` until it answers (at most 30 s).
async fn eventually_http(ip: &str, port: u16) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match http_get(ip, port, "/hostname").await {
            Ok(answer) => return answer,
            Err(err) => assert!(
                tokio::time::Instant::now() < deadline,
                "NodePort {ip}:{port} never answered: {err}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Runs `script` in a busybox pod on the node to completion; its log.
async fn run_client(node: &Node, name: &str, script: &str) -> String {
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "client",
                "image": BUSYBOX,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", script]
            }]
        }
    });
    node.create_pod(&pod.to_string()).await;
    node.wait_pod(
        name,
        "the client to finish",
        Duration::from_secs(120),
        |p| matches!(phase(p), "Succeeded" | "Failed"),
    )
    .await;
    kubectl_ok(node, &["logs", name]).await
}
