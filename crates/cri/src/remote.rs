//! The real runtime: CRI v1 over gRPC on a unix socket.
//!
//! The channel connects lazily and reconnects by itself, so a kubelet may
//! start before containerd; calls fail with `Unavailable` until the socket
//! answers. Every call has the runtime request timeout (upstream
//! `--runtime-request-timeout`, 2 minutes) except image pulls, which may take
//! longer and are bounded by the caller.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::api;
use crate::api::image_service_client::ImageServiceClient;
use crate::api::runtime_service_client::RuntimeServiceClient;
use crate::service::{ImageService, Result, RuntimeService};

/// Upstream's largest CRI message (16 MiB), enough for big container lists.
const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Upstream's default `--runtime-request-timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an endpoint could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint is not `unix://PATH` (or a bare absolute path).
    #[error(
        "unsupported container runtime endpoint {0:?}: only unix sockets (unix:///path) are supported"
    )]
    UnsupportedEndpoint(String),
    /// The gRPC endpoint could not be built.
    #[error("building the gRPC channel: {0}")]
    Channel(#[from] tonic::transport::Error),
}

/// Parses upstream's `--container-runtime-endpoint` (`unix:///run/containerd/containerd.sock`,
/// `unix:/path`, or a bare absolute path) into the socket path.
pub fn socket_path(endpoint: &str) -> Result<PathBuf, Error> {
    let path = endpoint
        .strip_prefix("unix://")
        .or_else(|| endpoint.strip_prefix("unix:"))
        .unwrap_or(endpoint);
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(Error::UnsupportedEndpoint(endpoint.to_string()))
    }
}

/// A CRI runtime reached over a unix socket.
#[derive(Clone, Debug)]
pub struct RemoteRuntime {
    channel: Channel,
    socket: PathBuf,
    request_timeout: Duration,
}

impl RemoteRuntime {
    /// A runtime at `endpoint` (see [`socket_path`]); connects on first use.
    pub fn new(endpoint: &str, request_timeout: Duration) -> Result<Self, Error> {
        let socket = socket_path(endpoint)?;
        let path = socket.clone();
        // The URI is a placeholder: the connector ignores it.
        let channel = Endpoint::try_from("http://[::1]:50051")?
            .connect_timeout(Duration::from_secs(5))
            .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }));
        Ok(Self {
            channel,
            socket,
            request_timeout,
        })
    }

    /// The socket this runtime talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn runtime(&self) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    fn images(&self) -> ImageServiceClient<Channel> {
        ImageServiceClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.request_timeout);
        request
    }
}

#[async_trait]
impl RuntimeService for RemoteRuntime {
    async fn version(&self) -> Result<api::VersionResponse> {
        let request = self.request(api::VersionRequest {
            version: crate::CRI_API_VERSION.to_string(),
        });
        Ok(self.runtime().version(request).await?.into_inner())
    }

    async fn status(&self) -> Result<api::RuntimeStatus> {
        let request = self.request(api::StatusRequest { verbose: false });
        let response = self.runtime().status(request).await?.into_inner();
        response
            .status
            .ok_or_else(|| tonic::Status::internal("runtime Status returned no status"))
    }

    async fn run_pod_sandbox(
        &self,
        config: api::PodSandboxConfig,
        runtime_handler: &str,
    ) -> Result<String> {
        // Creating a sandbox includes CNI setup: allow twice the usual timeout,
        // as upstream does.
        let mut request = tonic::Request::new(api::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: runtime_handler.to_string(),
        });
        request.set_timeout(self.request_timeout * 2);
        let response = self.runtime().run_pod_sandbox(request).await?.into_inner();
        if response.pod_sandbox_id.is_empty() {
            return Err(tonic::Status::internal(
                "RunPodSandbox returned an empty id",
            ));
        }
        Ok(response.pod_sandbox_id)
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        let request = self.request(api::StopPodSandboxRequest {
            pod_sandbox_id: sandbox_id.to_string(),
        });
        self.runtime().stop_pod_sandbox(request).await?;
        Ok(())
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        let request = self.request(api::RemovePodSandboxRequest {
            pod_sandbox_id: sandbox_id.to_string(),
        });
        self.runtime().remove_pod_sandbox(request).await?;
        Ok(())
    }

    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<api::PodSandboxStatus> {
        let request = self.request(api::PodSandboxStatusRequest {
            pod_sandbox_id: sandbox_id.to_string(),
            verbose: false,
        });
        let response = self
            .runtime()
            .pod_sandbox_status(request)
            .await?
            .into_inner();
        response
            .status
            .ok_or_else(|| tonic::Status::internal("PodSandboxStatus returned no status"))
    }

    async fn list_pod_sandbox(
        &self,
        filter: Option<api::PodSandboxFilter>,
    ) -> Result<Vec<api::PodSandbox>> {
        let request = self.request(api::ListPodSandboxRequest { filter });
        Ok(self
            .runtime()
            .list_pod_sandbox(request)
            .await?
            .into_inner()
            .items)
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: api::ContainerConfig,
        sandbox_config: api::PodSandboxConfig,
    ) -> Result<String> {
        let request = self.request(api::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.to_string(),
            config: Some(config),
            sandbox_config: Some(sandbox_config),
        });
        let response = self.runtime().create_container(request).await?.into_inner();
        if response.container_id.is_empty() {
            return Err(tonic::Status::internal(
                "CreateContainer returned an empty id",
            ));
        }
        Ok(response.container_id)
    }

    async fn start_container(&self, container_id: &str) -> Result<()> {
        let request = self.request(api::StartContainerRequest {
            container_id: container_id.to_string(),
        });
        self.runtime().start_container(request).await?;
        Ok(())
    }

    async fn stop_container(&self, container_id: &str, timeout_seconds: i64) -> Result<()> {
        // The call lasts as long as the grace period: extend the deadline.
        let mut request = tonic::Request::new(api::StopContainerRequest {
            container_id: container_id.to_string(),
            timeout: timeout_seconds,
        });
        let grace = Duration::from_secs(u64::try_from(timeout_seconds.max(0)).unwrap_or(0));
        request.set_timeout(self.request_timeout + grace);
        self.runtime().stop_container(request).await?;
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> Result<()> {
        let request = self.request(api::RemoveContainerRequest {
            container_id: container_id.to_string(),
        });
        self.runtime().remove_container(request).await?;
        Ok(())
    }

    async fn list_containers(
        &self,
        filter: Option<api::ContainerFilter>,
    ) -> Result<Vec<api::Container>> {
        let request = self.request(api::ListContainersRequest { filter });
        Ok(self
            .runtime()
            .list_containers(request)
            .await?
            .into_inner()
            .containers)
    }

    async fn container_status(&self, container_id: &str) -> Result<api::ContainerStatus> {
        let request = self.request(api::ContainerStatusRequest {
            container_id: container_id.to_string(),
            verbose: false,
        });
        let response = self.runtime().container_status(request).await?.into_inner();
        response
            .status
            .ok_or_else(|| tonic::Status::internal("ContainerStatus returned no status"))
    }

    async fn update_container_resources(
        &self,
        container_id: &str,
        linux: api::LinuxContainerResources,
    ) -> Result<()> {
        let request = self.request(api::UpdateContainerResourcesRequest {
            container_id: container_id.to_string(),
            linux: Some(linux),
            ..Default::default()
        });
        self.runtime().update_container_resources(request).await?;
        Ok(())
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<api::ExecSyncResponse> {
        let mut request = tonic::Request::new(api::ExecSyncRequest {
            container_id: container_id.to_string(),
            cmd,
            timeout: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        });
        // Upstream: the gRPC deadline is the exec timeout plus the request
        // timeout, so the runtime reports the timeout itself.
        if !timeout.is_zero() {
            request.set_timeout(timeout + self.request_timeout);
        }
        Ok(self.runtime().exec_sync(request).await?.into_inner())
    }

    async fn exec(&self, request: api::ExecRequest) -> Result<String> {
        let request = self.request(request);
        Ok(self.runtime().exec(request).await?.into_inner().url)
    }

    async fn attach(&self, request: api::AttachRequest) -> Result<String> {
        let request = self.request(request);
        Ok(self.runtime().attach(request).await?.into_inner().url)
    }

    async fn port_forward(&self, request: api::PortForwardRequest) -> Result<String> {
        let request = self.request(request);
        Ok(self.runtime().port_forward(request).await?.into_inner().url)
    }

    async fn update_runtime_config(&self, pod_cidr: &str) -> Result<()> {
        let request = self.request(api::UpdateRuntimeConfigRequest {
            runtime_config: Some(api::RuntimeConfig {
                network_config: Some(api::NetworkConfig {
                    pod_cidr: pod_cidr.to_string(),
                }),
            }),
        });
        self.runtime().update_runtime_config(request).await?;
        Ok(())
    }

    async fn list_container_stats(
        &self,
        filter: Option<api::ContainerStatsFilter>,
    ) -> Result<Vec<api::ContainerStats>> {
        let request = self.request(api::ListContainerStatsRequest { filter });
        Ok(self
            .runtime()
            .list_container_stats(request)
            .await?
            .into_inner()
            .stats)
    }

    async fn reopen_container_log(&self, container_id: &str) -> Result<()> {
        let request = self.request(api::ReopenContainerLogRequest {
            container_id: container_id.to_string(),
        });
        self.runtime().reopen_container_log(request).await?;
        Ok(())
    }
}

#[async_trait]
impl ImageService for RemoteRuntime {
    async fn list_images(&self, filter: Option<api::ImageFilter>) -> Result<Vec<api::Image>> {
        let request = self.request(api::ListImagesRequest { filter });
        Ok(self
            .images()
            .list_images(request)
            .await?
            .into_inner()
            .images)
    }

    async fn image_status(&self, image: api::ImageSpec) -> Result<Option<api::Image>> {
        let request = self.request(api::ImageStatusRequest {
            image: Some(image),
            verbose: false,
        });
        Ok(self
            .images()
            .image_status(request)
            .await?
            .into_inner()
            .image)
    }

    async fn pull_image(
        &self,
        image: api::ImageSpec,
        auth: Option<api::AuthConfig>,
        sandbox_config: Option<api::PodSandboxConfig>,
    ) -> Result<String> {
        // No deadline: pulls of big images take long; the kubelet bounds them.
        let request = tonic::Request::new(api::PullImageRequest {
            image: Some(image),
            auth,
            sandbox_config,
        });
        Ok(self
            .images()
            .pull_image(request)
            .await?
            .into_inner()
            .image_ref)
    }

    async fn remove_image(&self, image: api::ImageSpec) -> Result<()> {
        let request = self.request(api::RemoveImageRequest { image: Some(image) });
        self.images().remove_image(request).await?;
        Ok(())
    }

    async fn image_fs_info(&self) -> Result<api::ImageFsInfoResponse> {
        let request = self.request(api::ImageFsInfoRequest {});
        Ok(self.images().image_fs_info(request).await?.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock").unwrap(),
            PathBuf::from("/run/containerd/containerd.sock")
        );
        assert_eq!(
            socket_path("unix:/tmp/c.sock").unwrap(),
            PathBuf::from("/tmp/c.sock")
        );
        assert_eq!(
            socket_path("/tmp/c.sock").unwrap(),
            PathBuf::from("/tmp/c.sock")
        );
        assert!(socket_path("tcp://127.0.0.1:1234").is_err());
        assert!(socket_path("relative.sock").is_err());
    }

    #[tokio::test]
    async fn calls_fail_with_unavailable_until_the_socket_exists() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = format!("unix://{}", dir.path().join("none.sock").display());
        let runtime = RemoteRuntime::new(&endpoint, Duration::from_secs(2)).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), runtime.version())
            .await
            .expect("timed out")
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
    }
}
