//! sig-network conformance behaviour that needs running containers, checked
//! the way upstream's e2e tests do (`test/e2e/network/dns.go`,
//! `service.go`, `proxy.go`, `endpointslice.go`, `hostport.go`,
//! `service_latency.go` and `test/e2e/common/network/networking.go`), on one
//! node shared by every group to keep the stack's start-up cost once: the
//! node in its own network namespace (containerd, CNI bridge and portmap),
//! our kubelet, kube-scheduler, the endpoints and endpointslice controllers,
//! kube-proxy (nftables) and corten-dns as `kube-dns`.
//!
//! Upstream's agnhost is replaced by the project's test server (HTTP and a
//! UDP `hostname`/`echo` responder on the same port) and busybox
//! (`nslookup`, `wget`, `nc`), checking the same facts.

mod dns;
mod endpoints;
mod pods;
mod proxy;
mod services;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::control_plane::{ControlPlane, kubectl, kubectl_ok};
use crate::harness::{Node, can_run, condition};
use crate::node_netns::NodeNetns;
use crate::service_network::{DNS_IP, Networking};

pub const TESTSERVER: &str = corten_cri::local_images::TESTSERVER_PINNED_IMAGE;
/// The test server binary, for its UDP client mode on the node.
pub const TESTSERVER_BIN: &str = env!("CARGO_BIN_EXE_corten-testserver");
pub const BUSYBOX: &str = corten_cri::local_images::BUSYBOX_IMAGE;
/// The label every backend pod carries.
pub const BACKEND_LABEL: &str = "netconf-backend";
/// How long a change may take to show (controllers, kube-proxy, DNS).
pub const SETTLE: Duration = Duration::from_secs(60);

/// What every group shares.
pub struct Cluster<'a> {
    pub node: &'a Node,
    pub netns: &'a NodeNetns,
    /// The three backend pods (test server on 8080 TCP and UDP): name -> IP.
    pub backends: std::collections::BTreeMap<String, String>,
    /// The test server pod (busybox inside) the in-cluster checks run in.
    pub client_ip: String,
}

impl Cluster<'_> {
    pub fn backend_names(&self) -> BTreeSet<String> {
        self.backends.keys().cloned().collect()
    }

    /// Runs `script` in the client pod; (exit status 0, stdout + stderr).
    pub async fn exec(&self, script: &str) -> (bool, String) {
        shell(&self.client_ip, script).await
    }

    /// Runs `script` in the client pod until `done` holds for its output.
    pub async fn exec_until(
        &self,
        what: &str,
        script: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let (ok, out) = self.exec(script).await;
            if done(&out) {
                return out;
            }
            if tokio::time::Instant::now() >= deadline {
                let (_, debug) = self.exec(&format!("set -x; {script}; echo rc=$?")).await;
                panic!(
                    "{what}: never held; last output of `{script}` (exit 0: {ok}):\n{out}\n{debug}"
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Runs `script` in the node's network namespace until `done` holds.
    pub async fn node_exec_until(
        &self,
        what: &str,
        script: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let out = self.netns.exec(&["sh", "-c", script]);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if done(&text) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: never held; last output of `{script}` on the node:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Applies a manifest (YAML or JSON) with kubectl.
    pub async fn apply(&self, manifest: &str) {
        let out = self
            .node
            .cluster
            .kubectl_stdin(&["apply", "-f", "-"], Some(manifest))
            .await
            .expect("kubectl apply");
        assert!(out.status.success(), "apply: {out:?}\n{manifest}");
    }

    /// `kubectl get <what> -o json`.
    pub async fn get(&self, what: &[&str]) -> Value {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend(["-o", "json"]);
        serde_json::from_str(&kubectl_ok(self.node, &args).await).expect("json")
    }

    /// Like [`Cluster::get`]; `null` when kubectl fails (not found yet).
    pub async fn get_opt(&self, what: &[&str]) -> Value {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend(["-o", "json"]);
        let (ok, out, _) = kubectl(self.node, &args).await;
        if ok {
            serde_json::from_str(&out).expect("json")
        } else {
            Value::Null
        }
    }

    /// Creates the pods and waits until each runs and is ready; their IPs.
    pub async fn run_pods(&self, pods: &[Value]) -> Vec<String> {
        for pod in pods {
            self.node.create_pod(&pod.to_string()).await;
        }
        let mut ips = Vec::new();
        for pod in pods {
            let name = pod["metadata"]["name"].as_str().expect("pod name");
            let ready = self
                .node
                .wait_pod(name, "ready", Duration::from_secs(90), |p| {
                    condition(p, "Ready") == Some("True")
                })
                .await;
            ips.push(
                ready
                    .status
                    .and_then(|s| s.pod_ip)
                    .expect("a ready pod has an IP"),
            );
        }
        ips
    }

    /// Deletes pods without waiting for them to go.
    pub async fn delete_pods(&self, names: &[&str]) {
        let mut args = vec!["delete", "pod", "--wait=false", "--grace-period=1"];
        args.extend_from_slice(names);
        kubectl_ok(self.node, &args).await;
    }
}

/// Runs `script` in the client pod at `ip` through its CGI shell (the CRI
/// streaming server of a containerd in the node's namespace is out of the
/// kubelet's reach, so `kubectl exec` cannot be used here); (exit status
/// 0, stdout + stderr).
pub async fn shell(ip: &str, script: &str) -> (bool, String) {
    let path = format!("/cgi-bin/shell?cmd={}", percent_encode(script));
    let (code, body) = get(ip, &path).await;
    if code == 0 {
        let (code, hostname) = get(ip, "/hostname").await;
        return (
            false,
            format!("<no answer from {ip}'s /shell; /hostname: {code} {hostname}>"),
        );
    }
    (code == 200, body)
}

/// GET `http://<ip>:8080<path>` from the host; (status, body), status 0 if
/// the pod did not answer.
pub async fn get(ip: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = async {
        let mut stream = tokio::net::TcpStream::connect((ip, 8080)).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((code, body))
    };
    tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .ok()
        .flatten()
        .unwrap_or((0, String::new()))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A test server pod labelled `labels`; `env` extra variables.
pub fn testserver_pod(name: &str, labels: Value, env: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "server",
                "image": TESTSERVER,
                "env": env,
                "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "udp", "containerPort": 8080, "protocol": "UDP"}
                ],
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 1}
            }]
        }
    })
}

/// The CGI script of the client pod's shell: runs the URL-decoded `cmd`
/// query, answers its output with 200 if it exited 0, else 500 (httpd
/// gives CGI programs no PATH).
const SHELL_CGI: &str = r#"#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
cmd=$(httpd -d "${QUERY_STRING#cmd=}")
out=$(sh -c "$cmd" 2>&1)
if [ $? = 0 ]; then printf 'HTTP/1.0 200 OK\r\n'; else printf 'HTTP/1.0 500 Failed\r\n'; fi
printf 'Content-Type: text/plain\r\n\r\n%s\n' "$out"
"#;

/// The pod the in-cluster checks run in, in place of upstream's exec pod
/// (agnhost): busybox's httpd serving a CGI shell on 8080, and the test
/// server on 8081 for UDP requests (busybox's `nc` has no UDP mode). Note
/// that this busybox's `wget -T` crashes: scripts use `timeout` instead.
fn client_pod() -> Value {
    let setup = format!(
        "mkdir -p /www/cgi-bin && cat > /www/cgi-bin/shell <<'EOF'\n{SHELL_CGI}EOF\n\
         chmod +x /www/cgi-bin/shell && exec httpd -f -p 8080 -h /www"
    );
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "shell",
                    "image": BUSYBOX,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", setup],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
                },
                {
                    "name": "udp",
                    "image": TESTSERVER,
                    "env": [{"name": "PORT", "value": "8081"}]
                }
            ]
        }
    })
}

/// A script asking `ip:port` for its hostname over UDP from the client pod.
pub fn udp_hostname(ip: &str, port: u16) -> String {
    format!("timeout 5 wget -q -O- 'http://127.0.0.1:8081/udp?host={ip}&port={port}&msg=hostname'")
}

/// The hostnames among `out`'s lines that name one of `names`.
pub fn hostnames(out: &str, names: &BTreeSet<String>) -> Vec<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| names.contains(*l))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn network_conformance() {
    if !can_run() {
        return;
    }
    let mut netns = NodeNetns::create();
    let node = Node::start_in_netns("netconf-node", Some(&netns.name), |_, config| {
        config.file.cluster_dns = Some(vec![DNS_IP.into()]);
    })
    .await;
    let pod_subnet = node
        .containerd
        .as_ref()
        .map(|c| c.subnet.clone())
        .expect("containerd");
    netns.connect(&pod_subnet);
    let control = ControlPlane::start(&node, "endpoints-controller,endpointslice-controller").await;
    let networking = Networking::start(&node, &netns, "nftables", &pod_subnet).await;
    // Teardown runs in order also when a check fails (see service_network).
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        tokio::time::timeout(Duration::from_secs(480), scenario(&node, &netns)),
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
    let started = std::time::Instant::now();
    let labels = json!({"app": BACKEND_LABEL});
    let mut pods: Vec<Value> = (0..3)
        .map(|i| testserver_pod(&format!("backend-{i}"), labels.clone(), json!([])))
        .collect();
    pods.push(client_pod());
    let names = ["backend-0", "backend-1", "backend-2", "client"];
    let mut cluster = Cluster {
        node,
        netns,
        backends: Default::default(),
        client_ip: String::new(),
    };
    let ips = cluster.run_pods(&pods).await;
    for (name, ip) in names.iter().zip(&ips) {
        if *name == "client" {
            cluster.client_ip = ip.clone();
        } else {
            cluster.backends.insert(name.to_string(), ip.clone());
        }
    }
    eprintln!("netconf: pods ready after {:?}", started.elapsed());
    let step = |what: &str| eprintln!("netconf: {what} done after {:?}", started.elapsed());

    pods::intra_pod(&cluster).await;
    step("pod networking");
    dns::checks(&cluster).await;
    step("dns");
    endpoints::checks(&cluster).await;
    step("endpoints");
    services::checks(&cluster).await;
    step("services");
    proxy::checks(&cluster).await;
    step("proxy");
    pods::host_ports(&cluster).await;
    step("host ports");
}
