//! A simulated node's own network namespace, as a test creates it: the
//! node's containerd (and so the CNI bridge and every pod veth) and the
//! kube-proxy rules live inside, the host reaches it over a veth pair.
//!
//! ```text
//!  host netns                        node netns (cnode-<id>)
//!  kubelet, apiserver, corten-dns    CNI bridge 10.X.Y.1/24 -- pods 10.X.Y.n
//!  cvh<X>x<Y> 10.<X-100>.Y.1/30 ---- cvn<X>x<Y> 10.<X-100>.Y.2/30 (the node IP)
//!  route 10.X.Y.0/24 via .2          default via .1, kube-proxy's tables
//! ```
//!
//! The host keeps a route to the pod subnet so the kubelet's HTTP probes
//! reach pods, and pods reach host-side endpoints (the DNS server) back over
//! the veth, as on a node whose control plane runs elsewhere. Deleting the
//! host end of the veth removes the route; deleting the namespace removes
//! the bridge and every rule programmed in it.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

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

/// The namespace and (once connected) its link to the host.
pub struct NodeNetns {
    /// `ip netns` name.
    pub name: String,
    /// The host end of the veth (deleted on drop).
    host_if: Option<String>,
    /// The host's address on the link (host-side endpoints listen here).
    pub host_ip: String,
    /// The node's address on the link (its NodePorts answer here).
    pub node_ip: String,
}

impl NodeNetns {
    /// Creates an empty namespace (loopback up).
    pub fn create() -> NodeNetns {
        let name = format!(
            "cnode-{}-{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        ip(&["netns", "add", &name]).expect("creating the node namespace");
        let netns = NodeNetns {
            name,
            host_if: None,
            host_ip: String::new(),
            node_ip: String::new(),
        };
        ip(&["-n", &netns.name, "link", "set", "lo", "up"]).expect("loopback up");
        netns
    }

    /// Joins the namespace to the host for pod subnet `10.X.Y.0/24` (the
    /// test containerd's reserved subnet, which also makes the link
    /// addresses and interface names unique among concurrent tests).
    pub fn connect(&mut self, pod_subnet: &str) {
        let octets: Vec<u32> = pod_subnet
            .split('/')
            .next()
            .unwrap_or_default()
            .split('.')
            .filter_map(|o| o.parse().ok())
            .collect();
        assert!(
            octets.len() == 4 && octets[0] == 10 && octets[1] >= 100,
            "unexpected test pod subnet {pod_subnet}"
        );
        let (x, y) = (octets[1], octets[2]);
        let (host_if, node_if) = (format!("cvh{x}x{y}"), format!("cvn{x}x{y}"));
        self.host_ip = format!("10.{}.{y}.1", x - 100);
        self.node_ip = format!("10.{}.{y}.2", x - 100);
        let ns = self.name.clone();
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &node_if, "netns", &ns,
        ])
        .expect("creating the veth pair");
        self.host_if = Some(host_if.clone());
        let steps: Vec<Vec<String>> = vec![
            vec![
                "addr".into(),
                "add".into(),
                format!("{}/30", self.host_ip),
                "dev".into(),
                host_if.clone(),
            ],
            vec!["link".into(), "set".into(), host_if.clone(), "up".into()],
            vec![
                "-n".into(),
                ns.clone(),
                "addr".into(),
                "add".into(),
                format!("{}/30", self.node_ip),
                "dev".into(),
                node_if.clone(),
            ],
            vec![
                "-n".into(),
                ns.clone(),
                "link".into(),
                "set".into(),
                node_if,
                "up".into(),
            ],
            vec![
                "-n".into(),
                ns.clone(),
                "route".into(),
                "add".into(),
                "default".into(),
                "via".into(),
                self.host_ip.clone(),
            ],
            vec![
                "route".into(),
                "add".into(),
                pod_subnet.into(),
                "via".into(),
                self.node_ip.clone(),
            ],
        ];
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            ip(&args).expect("configuring the node link");
        }
        // The node routes between its pods and the host, and bridged pod
        // traffic must pass through netfilter so replies from a Service's
        // endpoints on the same bridge are un-DNATed (br_netfilter).
        let sysctls = self.exec(&[
            "sysctl",
            "-w",
            "net.ipv4.ip_forward=1",
            "net.bridge.bridge-nf-call-iptables=1",
        ]);
        assert!(sysctls.status.success(), "node sysctls: {sysctls:?}");
    }

    /// The command prefix running a program inside the namespace.
    pub fn prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("running a command in the node namespace")
    }
}

impl Drop for NodeNetns {
    fn drop(&mut self) {
        if let Some(host_if) = self.host_if.take() {
            let _ = ip(&["link", "delete", &host_if]);
        }
        let _ = ip(&["netns", "del", &self.name]);
    }
}
