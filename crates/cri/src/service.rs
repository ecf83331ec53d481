//! The runtime interfaces the kubelet depends on.
//!
//! One method per CRI call the kubelet makes, with requests flattened into
//! arguments where that reads better. Errors are [`tonic::Status`] for every
//! implementation, so callers branch on [`tonic::Code`] (`NotFound` for a
//! container or sandbox that is gone) whether the runtime is real or fake.

use std::time::Duration;

use async_trait::async_trait;

use crate::api;

/// Result of a runtime call.
pub type Result<T, E = tonic::Status> = std::result::Result<T, E>;

/// CRI `RuntimeService`: sandboxes, containers, exec and stats.
#[async_trait]
pub trait RuntimeService: Send + Sync {
    /// `Version`: runtime name and versions.
    async fn version(&self) -> Result<api::VersionResponse>;
    /// `Status`: runtime conditions (RuntimeReady, NetworkReady).
    async fn status(&self) -> Result<api::RuntimeStatus>;
    /// `RunPodSandbox`: creates and starts a sandbox; returns its id.
    async fn run_pod_sandbox(
        &self,
        config: api::PodSandboxConfig,
        runtime_handler: &str,
    ) -> Result<String>;
    /// `StopPodSandbox`: stops every container of the sandbox and tears down
    /// its network. Idempotent.
    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<()>;
    /// `RemovePodSandbox`. Idempotent.
    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<()>;
    /// `PodSandboxStatus`.
    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<api::PodSandboxStatus>;
    /// `ListPodSandbox`.
    async fn list_pod_sandbox(
        &self,
        filter: Option<api::PodSandboxFilter>,
    ) -> Result<Vec<api::PodSandbox>>;
    /// `CreateContainer` in a sandbox; returns the container id.
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: api::ContainerConfig,
        sandbox_config: api::PodSandboxConfig,
    ) -> Result<String>;
    /// `StartContainer`.
    async fn start_container(&self, container_id: &str) -> Result<()>;
    /// `StopContainer`: the stop signal, then SIGKILL after `timeout_seconds`.
    async fn stop_container(&self, container_id: &str, timeout_seconds: i64) -> Result<()>;
    /// `RemoveContainer`. Idempotent.
    async fn remove_container(&self, container_id: &str) -> Result<()>;
    /// `ListContainers`.
    async fn list_containers(
        &self,
        filter: Option<api::ContainerFilter>,
    ) -> Result<Vec<api::Container>>;
    /// `ContainerStatus`.
    async fn container_status(&self, container_id: &str) -> Result<api::ContainerStatus>;
    /// `UpdateContainerResources`: new Linux resources (cpu shares/quota,
    /// memory limit) for a running container, for in-place pod resize.
    async fn update_container_resources(
        &self,
        container_id: &str,
        linux: api::LinuxContainerResources,
    ) -> Result<()>;
    /// `ExecSync`: runs `cmd` in the container and waits (at most `timeout`;
    /// zero means no timeout).
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<api::ExecSyncResponse>;
    /// `Exec`: prepares a streaming exec; returns the streaming server URL.
    async fn exec(&self, request: api::ExecRequest) -> Result<String>;
    /// `Attach`: prepares a streaming attach; returns the streaming server URL.
    async fn attach(&self, request: api::AttachRequest) -> Result<String>;
    /// `PortForward`: prepares port forwarding; returns the streaming server URL.
    async fn port_forward(&self, request: api::PortForwardRequest) -> Result<String>;
    /// `UpdateRuntimeConfig` with the node's pod CIDR.
    async fn update_runtime_config(&self, pod_cidr: &str) -> Result<()>;
    /// `ListContainerStats`.
    async fn list_container_stats(
        &self,
        filter: Option<api::ContainerStatsFilter>,
    ) -> Result<Vec<api::ContainerStats>>;
    /// `ReopenContainerLog` (after the kubelet rotated a log file).
    async fn reopen_container_log(&self, container_id: &str) -> Result<()>;
}

/// CRI `ImageService`.
#[async_trait]
pub trait ImageService: Send + Sync {
    /// `ListImages`.
    async fn list_images(&self, filter: Option<api::ImageFilter>) -> Result<Vec<api::Image>>;
    /// `ImageStatus`: `None` when the image is not present.
    async fn image_status(&self, image: api::ImageSpec) -> Result<Option<api::Image>>;
    /// `PullImage`; returns the image reference (`sha256:...` id) pulled.
    async fn pull_image(
        &self,
        image: api::ImageSpec,
        auth: Option<api::AuthConfig>,
        sandbox_config: Option<api::PodSandboxConfig>,
    ) -> Result<String>;
    /// `RemoveImage`. Idempotent.
    async fn remove_image(&self, image: api::ImageSpec) -> Result<()>;
    /// `ImageFsInfo`.
    async fn image_fs_info(&self) -> Result<api::ImageFsInfoResponse>;
}

/// A whole container runtime: both services.
pub trait Runtime: RuntimeService + ImageService {}

impl<T: RuntimeService + ImageService> Runtime for T {}

/// Whether an error means "the object does not exist (any more)".
pub fn is_not_found(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::NotFound
        || status.message().contains("not found")
        || status.message().contains("does not exist")
}
