//! The node: registration, status and the Lease heartbeat.
//!
//! Registration creates the Node (or adopts an existing one, reconciling
//! the default labels). Status is computed every `nodeStatusUpdateFrequency`
//! (10s) and posted when it changed (ignoring heartbeat times) or when
//! `nodeStatusReportFrequency` (5m) passed, as upstream does with leases.

pub mod lease;
pub mod machine;
pub mod status;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corten_cri::Runtime;
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeSpec, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::watch;

use crate::config::KubeletConfig;
use crate::events::{EventRecorder, NORMAL, node_ref};
use machine::MachineInfo;

/// Registers the node and keeps its status.
pub struct NodeManager {
    client: kube::Client,
    config: KubeletConfig,
    runtime: Arc<dyn Runtime>,
    recorder: EventRecorder,
    machine: MachineInfo,
    node_ips: Vec<IpAddr>,
    port: u16,
    eviction: Arc<crate::eviction::EvictionManager>,
    /// The node's UID once registered.
    pub uid: watch::Sender<String>,
}

impl std::fmt::Debug for NodeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeManager")
            .field("node", &self.config.node_name)
            .finish_non_exhaustive()
    }
}

fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

/// Upstream's per-condition event reasons.
fn transition_event(kind: &str, status: &str) -> Option<&'static str> {
    Some(match (kind, status) {
        ("MemoryPressure", "False") => "NodeHasSufficientMemory",
        ("MemoryPressure", "True") => "NodeHasInsufficientMemory",
        ("DiskPressure", "False") => "NodeHasNoDiskPressure",
        ("DiskPressure", "True") => "NodeHasDiskPressure",
        ("PIDPressure", "False") => "NodeHasSufficientPID",
        ("PIDPressure", "True") => "NodeHasInsufficientPID",
        ("Ready", "True") => "NodeReady",
        ("Ready", _) => "NodeNotReady",
        _ => return None,
    })
}

/// The labels the kubelet gives its Node: hostname, os, arch (also the
/// beta names) and `--node-labels`.
pub fn default_labels(config: &KubeletConfig, machine: &MachineInfo) -> BTreeMap<String, String> {
    let arch = machine.architecture.clone();
    let mut labels = BTreeMap::from([
        (
            "kubernetes.io/hostname".to_string(),
            config.hostname.clone(),
        ),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), arch.clone()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), arch),
    ]);
    labels.extend(config.node_labels.clone());
    labels
}

/// The Node object the kubelet registers (upstream `initialNode`): default
/// labels, `registerWithTaints`, the attach/detach annotation.
pub fn initial_node(config: &KubeletConfig, machine: &MachineInfo) -> Node {
    let taints = config.c().register_with_taints.clone().unwrap_or_default();
    Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: Some(default_labels(config, machine)),
            annotations: Some(BTreeMap::from([(
                "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            taints: (!taints.is_empty()).then_some(taints),
            ..Default::default()
        }),
        status: None,
    }
}

impl NodeManager {
    /// A manager for the configured node.
    pub fn new(
        client: kube::Client,
        config: KubeletConfig,
        runtime: Arc<dyn Runtime>,
        recorder: EventRecorder,
        machine: MachineInfo,
        node_ips: Vec<IpAddr>,
        port: u16,
        eviction: Arc<crate::eviction::EvictionManager>,
    ) -> Self {
        Self {
            client,
            config,
            runtime,
            recorder,
            machine,
            node_ips,
            port,
            eviction,
            uid: watch::channel(String::new()).0,
        }
    }

    fn default_labels(&self) -> BTreeMap<String, String> {
        default_labels(&self.config, &self.machine)
    }

    /// The Node object to register (upstream `initialNode`).
    pub fn initial_node(&self) -> Node {
        initial_node(&self.config, &self.machine)
    }

    /// Registers the node, retrying with backoff until it succeeds or `shutdown`.
    pub async fn register(&self) -> anyhow::Result<Node> {
        let api: Api<Node> = Api::all(self.client.clone());
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.try_register(&api).await {
                Ok(node) => {
                    let uid = node.metadata.uid.clone().unwrap_or_default();
                    self.uid.send_replace(uid);
                    tracing::info!(node = %self.config.node_name, "successfully registered node");
                    return Ok(node);
                }
                Err(err) => {
                    tracing::warn!(node = %self.config.node_name, error = %err, "unable to register node with the API server; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(7));
                }
            }
        }
    }

    async fn try_register(&self, api: &Api<Node>) -> Result<Node, kube::Error> {
        let node = self.initial_node();
        match api.create(&PostParams::default(), &node).await {
            Ok(created) => {
                self.recorder.record(
                    node_ref(&self.config.node_name),
                    NORMAL,
                    "RegisteredNode",
                    format!("Node {} registered", self.config.node_name),
                );
                Ok(created)
            }
            Err(err) if is_status(&err, 409) => {
                let existing = api.get(&self.config.node_name).await?;
                // Reconcile the default labels, as upstream does on re-registration.
                let labels = existing.metadata.labels.clone().unwrap_or_default();
                let missing: BTreeMap<String, String> = self
                    .default_labels()
                    .into_iter()
                    .filter(|(k, v)| labels.get(k) != Some(v))
                    .collect();
                if missing.is_empty() {
                    return Ok(existing);
                }
                let patch = serde_json::json!({"metadata": {"labels": missing}});
                api.patch(
                    &self.config.node_name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            }
            Err(err) => Err(err),
        }
    }

    async fn compute(&self, previous: &[NodeCondition]) -> NodeStatus {
        let timeout = Duration::from_secs(10);
        let version = tokio::time::timeout(timeout, self.runtime.version())
            .await
            .ok()
            .and_then(Result::ok);
        let runtime_status = tokio::time::timeout(timeout, self.runtime.status())
            .await
            .ok()
            .and_then(Result::ok);
        let images = tokio::time::timeout(timeout, self.runtime.list_images(None))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let c = self.config.c();
        let empty = BTreeMap::new();
        let pressure = self.eviction.conditions();
        let inputs = status::StatusInputs {
            machine: &self.machine,
            pressure: &pressure,
            max_pods: c.max_pods.unwrap_or(110),
            reserved: vec![
                c.system_reserved.as_ref().unwrap_or(&empty),
                c.kube_reserved.as_ref().unwrap_or(&empty),
            ],
            eviction_hard: c.eviction_hard.as_ref().unwrap_or(&empty),
            node_ips: &self.node_ips,
            hostname: &self.config.hostname,
            kubelet_port: self.port,
            runtime_version: version.as_ref(),
            runtime_status: runtime_status.as_ref(),
            images: &images,
            max_images: c.node_status_max_images.unwrap_or(50),
            previous,
            now: crate::time::now(),
        };
        status::node_status(&inputs)
    }

    /// Posts node status until `shutdown`.
    pub async fn run_status_loop(
        self: Arc<Self>,
        registered: Node,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let api: Api<Node> = Api::all(self.client.clone());
        let c = self.config.c();
        let update_every = c
            .node_status_update_frequency
            .unwrap_or(Duration::from_secs(10));
        let report_every = c
            .node_status_report_frequency
            .unwrap_or(Duration::from_secs(300));
        let mut current = registered;
        let mut posted: Option<NodeStatus> = None;
        let mut last_post = Instant::now();
        let mut pod_cidr: Option<String> = None;
        loop {
            let previous = current
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            let mut status = self.compute(&previous).await;
            let changed = posted.as_ref().is_none_or(|p| status::changed(p, &status));
            if changed || last_post.elapsed() >= report_every {
                // Keep conditions other components own (e.g. NetworkUnavailable).
                let ours = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"];
                if let Some(conditions) = status.conditions.as_mut() {
                    conditions.extend(
                        previous
                            .iter()
                            .filter(|c| !ours.contains(&c.type_.as_str()))
                            .cloned(),
                    );
                }
                let patch = serde_json::json!({"status": status});
                match api
                    .patch_status(
                        &self.config.node_name,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(node) => {
                        for condition in status.conditions.iter().flatten() {
                            let before = previous.iter().find(|p| p.type_ == condition.type_);
                            if before.is_none_or(|b| b.status != condition.status)
                                && let Some(reason) =
                                    transition_event(&condition.type_, &condition.status)
                            {
                                self.recorder.record(
                                    node_ref(&self.config.node_name),
                                    NORMAL,
                                    reason,
                                    format!(
                                        "Node {} status is now: {reason}",
                                        self.config.node_name
                                    ),
                                );
                            }
                        }
                        current = node;
                        posted = Some(status);
                        last_post = Instant::now();
                    }
                    Err(err) if is_status(&err, 404) => {
                        tracing::warn!(node = %self.config.node_name, "node object is gone; registering again");
                        if let Ok(node) = self.register().await {
                            current = node;
                            posted = None;
                            continue;
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "updating node status; will retry"),
                }
            }
            let wanted_cidr = current
                .spec
                .as_ref()
                .and_then(|s| s.pod_cidr.clone())
                .or_else(|| c.pod_cidr.clone())
                .filter(|s| !s.is_empty());
            if wanted_cidr.is_some() && wanted_cidr != pod_cidr {
                let cidr = wanted_cidr.clone().unwrap_or_default();
                match self.runtime.update_runtime_config(&cidr).await {
                    Ok(()) => pod_cidr = wanted_cidr,
                    Err(err) => tracing::warn!(error = %err, "updating the runtime's pod CIDR"),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(update_every) => {}
                () = &mut shutdown => return,
            }
        }
    }
}
