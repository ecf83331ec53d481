//! Helpers shared by the integration tests.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use clap::Parser;
use corten_controller_manager::app::{self, ControllerManager};
use corten_controller_manager::options::Options;
use corten_e2e::TestCluster;

/// The cluster's CA (from the test kubeconfig) written to `<dir>/ca.crt`.
pub fn write_cluster_ca(cluster: &TestCluster) -> PathBuf {
    let pem = cluster_ca_pem(cluster);
    let path = cluster.dir().join("ca.crt");
    std::fs::write(&path, pem).unwrap();
    path
}

/// The PEM CA bundle the test kubeconfig trusts.
pub fn cluster_ca_pem(cluster: &TestCluster) -> Vec<u8> {
    let kubeconfig = kube::config::Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
    let data = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .certificate_authority_data
        .clone()
        .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

/// Logs to stderr when `CORTEN_TEST_LOG` is set (e.g. `CORTEN_TEST_LOG=4`).
pub fn init_logging() {
    if let Ok(v) = std::env::var("CORTEN_TEST_LOG") {
        let options = corten_component_base::logging::LoggingOptions {
            logging_format: Default::default(),
            verbosity: v.parse().unwrap_or(2),
        };
        let _ = options.init("kube-controller-manager");
    }
}

/// Starts an in-process manager against `cluster` with `args` after the
/// defaults (no leader election, no ops port).
pub async fn start_manager(cluster: &TestCluster, args: &[&str]) -> ControllerManager {
    init_logging();
    let kubeconfig = format!("--kubeconfig={}", cluster.kubeconfig.display());
    let mut all = vec![
        "kube-controller-manager",
        kubeconfig.as_str(),
        "--leader-elect=false",
        "--secure-port=0",
    ];
    all.extend_from_slice(args);
    let config = Options::try_parse_from(&all)
        .unwrap()
        .complete()
        .unwrap_or_else(|err| panic!("bad test flags {all:?}: {err}"));
    app::start(config).await.unwrap()
}

/// Polls `check` every 100ms until it returns `Some`, or panics after
/// `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A namespace object named `name`.
pub fn namespace(name: &str) -> k8s_openapi::api::core::v1::Namespace {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap()
}
