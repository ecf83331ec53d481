//! Simulated nodes ("hollow nodes", upstream's kubemark): many kubelets in
//! one process, each over its own in-process fake CRI runtime, against a
//! real apiserver. Each registers its Node, renews its Lease, posts node
//! status, admits and runs the pods bound to it (fake containers become
//! Running and Ready, or exit when their env says `FAKE_EXIT_CODE=<n>`) and
//! writes pod status and events exactly as the real kubelet does: only the
//! runtime is simulated. Used for scale tests of the control plane.
//!
//! What differs from a real node: the machine (cpu, memory, disk) is made
//! up ([`SimulatedNodesConfig`]); secret and projected volumes are plain
//! files (no tmpfs mounts); the eviction manager observes nothing, so no
//! pressure; pod IPs come from the node's pod CIDR (`10.<64+i/256>.<i%256>.0/24`
//! for node `i`, or `spec.podCIDR` when the controller-manager allocates
//! one). The kubelet API is off unless asked for (then each node serves on
//! `127.0.0.1:<random port>`, which its Node advertises).
//!
//! Metrics are those of the process: counters and histograms add up over
//! every simulated node, `kubelet_running_pods` and
//! `kubelet_running_containers` are sums over them, and
//! `kubelet_node_name{node}` has one series per node.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use corten_cri::fake::FakeRuntime;
use corten_cri::instrumented::Instrumented;
use k8s_openapi::api::core::v1::Taint;

use crate::config::KubeletConfig;
use crate::kubelet::{RunningKubelet, StartOptions};
use crate::node::machine::MachineInfo;

/// What the simulated nodes look like.
#[derive(Debug, Clone)]
pub struct SimulatedNodesConfig {
    /// How many nodes.
    pub count: usize,
    /// Node `i` is named `<prefix><i>`.
    pub name_prefix: String,
    /// Each node's root dir is `<root_dir>/<name>` (pod dirs and logs).
    pub root_dir: PathBuf,
    /// Logical CPUs each node reports.
    pub cpus: u64,
    /// Memory each node reports, in bytes.
    pub memory_bytes: u64,
    /// Ephemeral storage each node reports, in bytes.
    pub ephemeral_storage_bytes: u64,
    /// `maxPods`.
    pub max_pods: i32,
    /// Extra node labels.
    pub node_labels: BTreeMap<String, String>,
    /// Taints to register with.
    pub taints: Vec<Taint>,
    /// Images present on every node before any pull (pulls of other images
    /// succeed too, as if from a registry).
    pub images: Vec<String>,
    /// Serve the kubelet API of each node on 127.0.0.1.
    pub enable_server: bool,
}

impl SimulatedNodesConfig {
    /// `count` nodes named `<prefix><i>` below `root_dir`, each with 4 CPUs,
    /// 16 GiB of memory, 100 GiB of disk and 110 pods.
    pub fn new(count: usize, name_prefix: &str, root_dir: impl Into<PathBuf>) -> Self {
        Self {
            count,
            name_prefix: name_prefix.to_string(),
            root_dir: root_dir.into(),
            cpus: 4,
            memory_bytes: 16 << 30,
            ephemeral_storage_bytes: 100 << 30,
            max_pods: 110,
            node_labels: BTreeMap::new(),
            taints: Vec::new(),
            images: vec![crate::config::DEFAULT_SANDBOX_IMAGE.to_string()],
            enable_server: false,
        }
    }

    /// The name of node `i`.
    pub fn node_name(&self, i: usize) -> String {
        format!("{}{i}", self.name_prefix)
    }

    /// The kubelet configuration of node `i`.
    pub fn kubelet_config(&self, i: usize) -> KubeletConfig {
        let name = self.node_name(i);
        let root = self.root_dir.join(&name);
        let mut config = KubeletConfig::for_node(&name, &root);
        config.node_labels = self.node_labels.clone();
        // The apiserver reaches a simulated node's API (when served) on loopback.
        config.node_ips = vec![std::net::IpAddr::from([127, 0, 0, 1])];
        let f = &mut config.file;
        f.enable_server = Some(self.enable_server);
        f.address = Some("127.0.0.1".into());
        f.port = Some(0);
        f.healthz_port = Some(0);
        f.pod_logs_dir = Some(root.join("logs").display().to_string());
        f.max_pods = Some(self.max_pods);
        f.pod_cidr = Some(format!("10.{}.{}.0/24", 64 + (i / 256) % 192, i % 256));
        f.register_with_taints = (!self.taints.is_empty()).then(|| self.taints.clone());
        config
    }
}

/// Running simulated nodes.
pub struct SimulatedNodes {
    nodes: Vec<SimulatedNode>,
}

/// One simulated node.
pub struct SimulatedNode {
    /// Its kubelet.
    pub kubelet: RunningKubelet,
    /// Its runtime (tests steer containers through it).
    pub runtime: FakeRuntime,
}

impl std::fmt::Debug for SimulatedNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedNodes")
            .field("count", &self.nodes.len())
            .finish()
    }
}

impl SimulatedNodes {
    /// Starts the nodes against the apiserver of `client`.
    pub async fn start(
        config: &SimulatedNodesConfig,
        client: kube::Client,
    ) -> anyhow::Result<Self> {
        let images: Vec<&str> = config.images.iter().map(String::as_str).collect();
        let mut nodes = Vec::with_capacity(config.count);
        for i in 0..config.count {
            let kubelet_config = config.kubelet_config(i);
            let machine = MachineInfo::simulated(
                &kubelet_config.node_name,
                config.cpus,
                config.memory_bytes,
                config.ephemeral_storage_bytes,
            );
            let runtime = FakeRuntime::with_images(&images);
            let instrumented = Arc::new(Instrumented::new(runtime.clone()));
            let name = kubelet_config.node_name.clone();
            let kubelet = crate::kubelet::start_with(
                kubelet_config,
                Some(client.clone()),
                instrumented,
                StartOptions {
                    machine: Some(machine),
                    simulated: true,
                },
            )
            .await
            .with_context(|| format!("starting simulated node {name}"))?;
            nodes.push(SimulatedNode { kubelet, runtime });
        }
        tracing::info!(count = nodes.len(), "simulated nodes started");
        Ok(Self { nodes })
    }

    /// The nodes.
    pub fn nodes(&self) -> &[SimulatedNode] {
        &self.nodes
    }

    /// Stops every kubelet (their Nodes stay registered, as when a real
    /// kubelet stops).
    pub async fn stop(self) {
        for node in self.nodes {
            node.kubelet.stop().await;
        }
    }
}
