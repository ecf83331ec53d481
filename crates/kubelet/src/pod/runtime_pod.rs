//! What the runtime holds for one pod: its sandboxes and containers, found
//! through the labels the kubelet put on them, with the details the sync
//! loop and the status generator need (state, exit code, restart count,
//! spec hash, pod IP).

use std::collections::HashMap;
use std::sync::Arc;

use corten_cri::{Runtime, api, service::is_not_found};

use super::labels;

/// A sandbox of the pod.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeSandbox {
    /// Sandbox id.
    pub id: String,
    /// `SANDBOX_READY`.
    pub ready: bool,
    /// Creation time (ns).
    pub created_at: i64,
    /// Attempt number from the metadata.
    pub attempt: u32,
    /// Pod IPs (primary first); empty for host-network sandboxes.
    pub ips: Vec<String>,
    /// Whether the sandbox uses the node's network namespace.
    pub host_network: bool,
}

/// A container of the pod.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeContainer {
    /// Container id.
    pub id: String,
    /// Container name (from the spec).
    pub name: String,
    /// Its sandbox.
    pub sandbox_id: String,
    /// CRI state.
    pub state: api::ContainerState,
    /// Creation time (ns).
    pub created_at: i64,
    /// Start time (ns, 0 if never started).
    pub started_at: i64,
    /// Exit time (ns, 0 if not exited).
    pub finished_at: i64,
    /// Exit code.
    pub exit_code: i32,
    /// Reason from the runtime (`Completed`, `Error`, `OOMKilled`).
    pub reason: String,
    /// Message from the runtime.
    pub message: String,
    /// Image name as the runtime reports it.
    pub image: String,
    /// Image reference (digest) the runtime reports.
    pub image_ref: String,
    /// Restart count annotation.
    pub restart_count: i32,
    /// Spec hash annotation.
    pub hash: String,
    /// Absolute log path.
    pub log_path: String,
    /// Started as an init container.
    pub init: bool,
}

impl RuntimeContainer {
    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        self.state == api::ContainerState::ContainerRunning
    }

    /// Whether it has exited.
    pub fn is_exited(&self) -> bool {
        self.state == api::ContainerState::ContainerExited
    }

    /// `containerd://<id>` (upstream: `<runtime>://<id>`).
    pub fn container_id(&self) -> String {
        format!("containerd://{}", self.id)
    }

    fn from_status(status: api::ContainerStatus, sandbox_id: String) -> Self {
        let annotation = |key: &str| status.annotations.get(key).cloned().unwrap_or_default();
        Self {
            name: status
                .labels
                .get(labels::CONTAINER_NAME)
                .cloned()
                .or_else(|| status.metadata.as_ref().map(|m| m.name.clone()))
                .unwrap_or_default(),
            state: api::ContainerState::try_from(status.state)
                .unwrap_or(api::ContainerState::ContainerUnknown),
            restart_count: annotation(labels::RESTART_COUNT).parse().unwrap_or(0),
            hash: annotation(labels::CONTAINER_HASH),
            init: annotation(labels::INIT_CONTAINER) == "true",
            image: status
                .image
                .as_ref()
                .map(|i| i.image.clone())
                .unwrap_or_default(),
            image_ref: status.image_ref,
            created_at: status.created_at,
            started_at: status.started_at,
            finished_at: status.finished_at,
            exit_code: status.exit_code,
            reason: status.reason,
            message: status.message,
            log_path: status.log_path,
            id: status.id,
            sandbox_id,
        }
    }
}

/// Everything the runtime has for one pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuntimePod {
    /// Sandboxes, newest first.
    pub sandboxes: Vec<RuntimeSandbox>,
    /// Containers, newest first.
    pub containers: Vec<RuntimeContainer>,
}

impl RuntimePod {
    /// Reads the pod with UID `uid` from the runtime.
    pub async fn fetch(runtime: &Arc<dyn Runtime>, uid: &str) -> corten_cri::Result<Self> {
        let selector = HashMap::from([(labels::POD_UID.to_string(), uid.to_string())]);
        let mut sandboxes = runtime
            .list_pod_sandbox(Some(api::PodSandboxFilter {
                label_selector: selector.clone(),
                ..Default::default()
            }))
            .await?;
        sandboxes.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        let mut pod = RuntimePod::default();
        for (i, sandbox) in sandboxes.iter().enumerate() {
            let ready = sandbox.state == api::PodSandboxState::SandboxReady as i32;
            let mut entry = RuntimeSandbox {
                id: sandbox.id.clone(),
                ready,
                created_at: sandbox.created_at,
                attempt: sandbox.metadata.as_ref().map_or(0, |m| m.attempt),
                ips: Vec::new(),
                host_network: false,
            };
            // Only the newest sandbox's network matters.
            if i == 0 {
                match runtime.pod_sandbox_status(&sandbox.id).await {
                    Ok(status) => {
                        if let Some(network) = status.network {
                            if !network.ip.is_empty() {
                                entry.ips.push(network.ip);
                            }
                            entry
                                .ips
                                .extend(network.additional_ips.into_iter().map(|i| i.ip));
                        }
                        entry.host_network = status
                            .linux
                            .and_then(|l| l.namespaces)
                            .and_then(|n| n.options)
                            .is_some_and(|o| o.network == api::NamespaceMode::Node as i32);
                        entry.ready = status.state == api::PodSandboxState::SandboxReady as i32;
                    }
                    Err(err) if is_not_found(&err) => continue,
                    Err(err) => return Err(err),
                }
            }
            pod.sandboxes.push(entry);
        }
        let containers = runtime
            .list_containers(Some(api::ContainerFilter {
                label_selector: selector,
                ..Default::default()
            }))
            .await?;
        for container in containers {
            match runtime.container_status(&container.id).await {
                Ok(status) => pod.containers.push(RuntimeContainer::from_status(
                    status,
                    container.pod_sandbox_id.clone(),
                )),
                Err(err) if is_not_found(&err) => {}
                Err(err) => return Err(err),
            }
        }
        pod.containers.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(b.restart_count.cmp(&a.restart_count))
        });
        Ok(pod)
    }

    /// The newest sandbox.
    pub fn latest_sandbox(&self) -> Option<&RuntimeSandbox> {
        self.sandboxes.first()
    }

    /// Containers named `name`, newest first.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a RuntimeContainer> + 'a {
        self.containers
            .iter()
            .filter(move |c| c.name.as_str() == name)
    }

    /// The newest container named `name`.
    pub fn latest(&self, name: &str) -> Option<&RuntimeContainer> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// Running containers.
    pub fn running(&self) -> impl Iterator<Item = &RuntimeContainer> {
        self.containers.iter().filter(|c| c.is_running())
    }

    /// Whether anything still runs (a container, or a ready sandbox).
    pub fn is_running(&self) -> bool {
        self.running().next().is_some() || self.sandboxes.iter().any(|s| s.ready)
    }
}
