//! A runtime wrapper that records upstream's runtime operation metrics:
//!
//! ```text
//! kubelet_runtime_operations_total{operation_type="create_container"}
//! kubelet_runtime_operations_duration_seconds{operation_type="create_container"}
//! kubelet_runtime_operations_errors_total{operation_type="create_container"}
//! ```
//!
//! Operation names are upstream's (`run_podsandbox`, `container_status`,
//! `pull_image`, ...), so dashboards built for the Go kubelet work unchanged.

use std::future::Future;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

use crate::api;
use crate::service::{ImageService, Result, RuntimeService};

struct RuntimeMetrics {
    total: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
}

static METRICS: LazyLock<RuntimeMetrics> = LazyLock::new(|| {
    let total = IntCounterVec::new(
        Opts::new(
            "kubelet_runtime_operations_total",
            "Cumulative number of runtime operations by operation type.",
        ),
        &["operation_type"],
    )
    .expect("valid metric");
    let errors = IntCounterVec::new(
        Opts::new(
            "kubelet_runtime_operations_errors_total",
            "Cumulative number of runtime operation errors by operation type.",
        ),
        &["operation_type"],
    )
    .expect("valid metric");
    let buckets = prometheus::exponential_buckets(0.005, 2.5, 14).expect("valid buckets");
    let duration = HistogramVec::new(
        HistogramOpts::new(
            "kubelet_runtime_operations_duration_seconds",
            "Duration in seconds of runtime operations. Broken down by operation type.",
        )
        .buckets(buckets),
        &["operation_type"],
    )
    .expect("valid metric");
    for collector in [
        Box::new(total.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(errors.clone()),
        Box::new(duration.clone()),
    ] {
        // A second registration (another registry user) only loses export.
        if let Err(err) = prometheus::register(collector) {
            tracing::debug!(error = %err, "registering runtime operation metrics");
        }
    }
    RuntimeMetrics {
        total,
        errors,
        duration,
    }
});

/// Records one finished operation.
pub fn record(operation: &str, elapsed: Duration, failed: bool) {
    let metrics = &*METRICS;
    metrics.total.with_label_values(&[operation]).inc();
    metrics
        .duration
        .with_label_values(&[operation])
        .observe(elapsed.as_secs_f64());
    if failed {
        metrics.errors.with_label_values(&[operation]).inc();
    }
}

/// The current value of `kubelet_runtime_operations_total{operation_type=operation}`.
pub fn operations_total(operation: &str) -> u64 {
    METRICS.total.with_label_values(&[operation]).get()
}

/// The current value of `kubelet_runtime_operations_errors_total{operation_type=operation}`.
pub fn errors_total(operation: &str) -> u64 {
    METRICS.errors.with_label_values(&[operation]).get()
}

/// Wraps a runtime and records metrics for every call.
#[derive(Clone, Debug)]
pub struct Instrumented<R> {
    inner: R,
}

impl<R> Instrumented<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner }
    }

    /// The wrapped runtime.
    pub fn inner(&self) -> &R {
        &self.inner
    }
}

async fn timed<T>(operation: &'static str, call: impl Future<Output = Result<T>>) -> Result<T> {
    let started = Instant::now();
    let result = call.await;
    record(operation, started.elapsed(), result.is_err());
    if let Err(err) = &result {
        tracing::trace!(operation, code = ?err.code(), message = err.message(), "runtime call failed");
    }
    result
}

#[async_trait]
impl<R: RuntimeService> RuntimeService for Instrumented<R> {
    async fn version(&self) -> Result<api::VersionResponse> {
        timed("version", self.inner.version()).await
    }

    async fn status(&self) -> Result<api::RuntimeStatus> {
        timed("status", self.inner.status()).await
    }

    async fn run_pod_sandbox(
        &self,
        config: api::PodSandboxConfig,
        runtime_handler: &str,
    ) -> Result<String> {
        timed(
            "run_podsandbox",
            self.inner.run_pod_sandbox(config, runtime_handler),
        )
        .await
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        timed("stop_podsandbox", self.inner.stop_pod_sandbox(sandbox_id)).await
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        timed(
            "remove_podsandbox",
            self.inner.remove_pod_sandbox(sandbox_id),
        )
        .await
    }

    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<api::PodSandboxStatus> {
        timed(
            "podsandbox_status",
            self.inner.pod_sandbox_status(sandbox_id),
        )
        .await
    }

    async fn list_pod_sandbox(
        &self,
        filter: Option<api::PodSandboxFilter>,
    ) -> Result<Vec<api::PodSandbox>> {
        timed("list_podsandbox", self.inner.list_pod_sandbox(filter)).await
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: api::ContainerConfig,
        sandbox_config: api::PodSandboxConfig,
    ) -> Result<String> {
        timed(
            "create_container",
            self.inner
                .create_container(sandbox_id, config, sandbox_config),
        )
        .await
    }

    async fn start_container(&self, container_id: &str) -> Result<()> {
        timed("start_container", self.inner.start_container(container_id)).await
    }

    async fn stop_container(&self, container_id: &str, timeout_seconds: i64) -> Result<()> {
        timed(
            "stop_container",
            self.inner.stop_container(container_id, timeout_seconds),
        )
        .await
    }

    async fn remove_container(&self, container_id: &str) -> Result<()> {
        timed(
            "remove_container",
            self.inner.remove_container(container_id),
        )
        .await
    }

    async fn list_containers(
        &self,
        filter: Option<api::ContainerFilter>,
    ) -> Result<Vec<api::Container>> {
        timed("list_containers", self.inner.list_containers(filter)).await
    }

    async fn container_status(&self, container_id: &str) -> Result<api::ContainerStatus> {
        timed(
            "container_status",
            self.inner.container_status(container_id),
        )
        .await
    }

    async fn update_container_resources(
        &self,
        container_id: &str,
        linux: api::LinuxContainerResources,
    ) -> Result<()> {
        timed(
            "update_container",
            self.inner.update_container_resources(container_id, linux),
        )
        .await
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<api::ExecSyncResponse> {
        timed(
            "exec_sync",
            self.inner.exec_sync(container_id, cmd, timeout),
        )
        .await
    }

    async fn exec(&self, request: api::ExecRequest) -> Result<String> {
        timed("exec", self.inner.exec(request)).await
    }

    async fn attach(&self, request: api::AttachRequest) -> Result<String> {
        timed("attach", self.inner.attach(request)).await
    }

    async fn port_forward(&self, request: api::PortForwardRequest) -> Result<String> {
        timed("port_forward", self.inner.port_forward(request)).await
    }

    async fn update_runtime_config(&self, pod_cidr: &str) -> Result<()> {
        timed(
            "update_runtime_config",
            self.inner.update_runtime_config(pod_cidr),
        )
        .await
    }

    async fn list_container_stats(
        &self,
        filter: Option<api::ContainerStatsFilter>,
    ) -> Result<Vec<api::ContainerStats>> {
        timed(
            "list_container_stats",
            self.inner.list_container_stats(filter),
        )
        .await
    }

    async fn reopen_container_log(&self, container_id: &str) -> Result<()> {
        timed(
            "reopen_container_log",
            self.inner.reopen_container_log(container_id),
        )
        .await
    }
}

#[async_trait]
impl<R: ImageService> ImageService for Instrumented<R> {
    async fn list_images(&self, filter: Option<api::ImageFilter>) -> Result<Vec<api::Image>> {
        timed("list_images", self.inner.list_images(filter)).await
    }

    async fn image_status(&self, image: api::ImageSpec) -> Result<Option<api::Image>> {
        timed("image_status", self.inner.image_status(image)).await
    }

    async fn pull_image(
        &self,
        image: api::ImageSpec,
        auth: Option<api::AuthConfig>,
        sandbox_config: Option<api::PodSandboxConfig>,
    ) -> Result<String> {
        timed(
            "pull_image",
            self.inner.pull_image(image, auth, sandbox_config),
        )
        .await
    }

    async fn remove_image(&self, image: api::ImageSpec) -> Result<()> {
        timed("remove_image", self.inner.remove_image(image)).await
    }

    async fn image_fs_info(&self) -> Result<api::ImageFsInfoResponse> {
        timed("image_fs_info", self.inner.image_fs_info()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeRuntime;

    #[tokio::test]
    async fn counts_calls_and_errors_per_operation() {
        let runtime = Instrumented::new(FakeRuntime::new());
        let before = operations_total("container_status");
        let errors_before = errors_total("container_status");
        assert!(runtime.container_status("missing").await.is_err());
        assert_eq!(operations_total("container_status"), before + 1);
        assert_eq!(errors_total("container_status"), errors_before + 1);
        let before = operations_total("version");
        runtime.version().await.unwrap();
        assert_eq!(operations_total("version"), before + 1);
        let text = String::from_utf8(
            prometheus::TextEncoder::new()
                .encode_to_string(&prometheus::gather())
                .unwrap()
                .into_bytes(),
        )
        .unwrap();
        assert!(
            text.contains("kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"version\",le=\"0.005\"}"),
            "{text}"
        );
    }
}
