//! A two-namespace test topology: a "node" namespace where kube-proxy's rules
//! are programmed, and an "endpoint" namespace (a pod) joined to it by a veth
//! pair, running busybox httpd. Everything is removed on drop.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The node's address on the veth.
pub const NODE_IP: &str = "10.244.1.1";
/// The endpoint (pod) address.
pub const POD_IP: &str = "10.244.1.2";
/// The endpoint's HTTP port.
pub const POD_PORT: u16 = 8080;
/// What the endpoint serves.
pub const BODY: &str = "hello-from-endpoint";

pub struct Topology {
    pub node: String,
    pub pod: String,
    server: Option<Child>,
    _dir: tempfile::TempDir,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Topology {
    /// Builds the namespaces. Err only when the machine cannot create a
    /// namespace at all (not root, no iproute2): callers skip then; every
    /// later failure panics.
    pub fn create() -> Result<Topology, String> {
        let id = format!(
            "{}{}",
            std::process::id() % 100000,
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let node = format!("ckp-node-{id}");
        let pod = format!("ckp-pod-{id}");
        ip(&["netns", "add", &node])?;
        let topo = Topology::build(node, pod);
        Ok(topo.unwrap_or_else(|err| panic!("building the test topology: {err}")))
    }

    fn build(node: String, pod: String) -> Result<Topology, String> {
        let id = node.trim_start_matches("ckp-node-").to_string();
        let mut topo = Topology {
            node: node.clone(),
            pod: pod.clone(),
            server: None,
            _dir: tempfile::tempdir().map_err(|e| e.to_string())?,
        };
        ip(&["netns", "add", &pod])?;
        let (vn, vp) = (format!("kn{id}"), format!("kp{id}"));
        ip(&[
            "-n", &node, "link", "add", &vn, "type", "veth", "peer", "name", &vp, "netns", &pod,
        ])?;
        ip(&[
            "-n",
            &node,
            "addr",
            "add",
            &format!("{NODE_IP}/24"),
            "dev",
            &vn,
        ])?;
        ip(&[
            "-n",
            &pod,
            "addr",
            "add",
            &format!("{POD_IP}/24"),
            "dev",
            &vp,
        ])?;
        for (ns, dev) in [(&node, &vn), (&pod, &vp)] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        // Service IPs are routed towards the pod network, as a default
        // route would on a real node; DNAT then picks the real endpoint.
        ip(&["-n", &node, "route", "add", "10.96.0.0/12", "via", POD_IP])?;
        ip(&["-n", &pod, "route", "add", "default", "via", NODE_IP])?;
        let www = topo._dir.path().join("www");
        std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
        std::fs::write(www.join("index.html"), BODY).map_err(|e| e.to_string())?;
        let server = Command::new("ip")
            .args(["netns", "exec", &pod, "busybox", "httpd", "-f", "-p"])
            .arg(POD_PORT.to_string())
            .arg("-h")
            .arg(&www)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting busybox httpd: {e}"))?;
        topo.server = Some(server);
        // Wait for the server to listen (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if topo.fetch(&format!("http://{POD_IP}:{POD_PORT}/")).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err("busybox httpd did not come up".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(topo)
    }

    /// The command prefix running a program in the node namespace.
    pub fn prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.node]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// GETs `url` from the node namespace (3 s timeout); Ok(body) or
    /// Err(wget's error text).
    pub fn fetch(&self, url: &str) -> Result<String, String> {
        let out = Command::new("ip")
            // busybox 1.35's `wget -T` crashes; `timeout` bounds the request.
            .args([
                "netns", "exec", &self.node, "timeout", "3", "busybox", "wget", "-q", "-O", "-",
                url,
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs a command in the node namespace and returns stdout.
    pub fn exec(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.node])
            .args(args)
            .output()
            .expect("running a command in the node namespace");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        // Deleting the namespaces removes the veth pair and every rule in them.
        let _ = ip(&["netns", "del", &self.node]);
        let _ = ip(&["netns", "del", &self.pod]);
    }
}

/// Topology or a skip message (tests print and return).
pub fn topology_or_skip() -> Option<Topology> {
    match Topology::create() {
        Ok(t) => Some(t),
        Err(err) => {
            if std::env::var_os("CORTEN_REQUIRE_NETNS").is_some() {
                panic!("cannot create network namespaces: {err}");
            }
            eprintln!("skipping: cannot create network namespaces: {err}");
            None
        }
    }
}
