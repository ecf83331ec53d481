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

/// The pods of `namespace` matching `selector` that are not being deleted.
pub async fn live_pods(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Vec<k8s_openapi::api::core::v1::Pod> {
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), namespace);
    api.list(&kube::api::ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// Waits until `namespace` has `count` live pods matching `selector`.
pub async fn wait_for_pods(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    count: usize,
) -> Vec<k8s_openapi::api::core::v1::Pod> {
    wait_for(
        &format!("{count} pods {selector} in {namespace}"),
        Duration::from_secs(60),
        || async move {
            let pods = live_pods(client, namespace, selector).await;
            (pods.len() == count).then_some(pods)
        },
    )
    .await
}

/// Waits for the `default` ServiceAccount of `namespace` (pods need it).
pub async fn wait_for_default_service_account(client: &kube::Client, namespace: &str) {
    let api: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(client.clone(), namespace);
    wait_for(
        "the default service account",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move { api.get_opt("default").await.unwrap() }
        },
    )
    .await;
}

/// The events of `namespace` about the object named `name`, as
/// `(reason, message, source component)`.
pub async fn events_for(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Vec<(String, String, String)> {
    let api: kube::Api<k8s_openapi::api::core::v1::Event> =
        kube::Api::namespaced(client.clone(), namespace);
    api.list(&kube::api::ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| {
            (
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
                e.source.and_then(|s| s.component).unwrap_or_default(),
            )
        })
        .collect()
}

/// Parses a manifest written as JSON.
pub fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}
