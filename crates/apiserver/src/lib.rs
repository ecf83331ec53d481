//! kube-apiserver: the Kubernetes REST API over etcd.
//!
//! `main` stays thin: [`options::Options`] -> [`options::Config`] ->
//! [`run`]. Tests build the same server with [`build`] and drive
//! [`app::handle`] directly or over a real socket.

pub mod admission;
pub mod aggregator;
pub mod app;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod continue_token;
pub mod crd;
pub mod discovery;
pub mod encryption;
pub mod flowcontrol;
pub mod metrics;
pub mod openapi;
pub mod options;
pub mod printers;
pub mod proxy;
pub mod query;
pub mod readyz;
pub mod registry;
pub mod repeated_keys;
pub mod request_info;
pub mod resource_handler;
pub mod server;
pub mod tls;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use corten_component_base::health::HealthRegistry;
use corten_storage::EtcdStore;
use futures::FutureExt;

use crate::app::ApiServer;
use crate::discovery::Discovery;
use crate::options::Config;
use crate::registry::Registry;

/// Connects to etcd, starts the watch caches and bootstraps system objects.
pub async fn build(config: Config) -> Result<Arc<ApiServer>> {
    metrics::init();
    let store = connect_etcd(&config).await?;
    let registry = Registry::start(store.clone(), &config)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let health = HealthRegistry::new();
    let etcd = store.clone();
    health.add_check("etcd", move || {
        let etcd = etcd.clone();
        async move {
            if etcd.healthy().await {
                Ok(())
            } else {
                Err("etcd is not answering".to_string())
            }
        }
        .boxed()
    });
    let address = format!("{}:{}", config.advertise_address, config.secure_port);
    let authn = auth::authn::Authenticator::from_options(&config.authn)?;
    let authz = auth::authz::Authorizer::new(config.authorization_modes.clone());
    let admission_config = match &config.admission_control_config_file {
        Some(path) => admission::config::AdmissionConfig::from_file(path)?,
        None => Default::default(),
    };
    let admission = admission::Chain::new(config.admission_plugins.clone(), &admission_config)?;
    let kubelet = proxy::KubeletClient::new(config.kubelet_client.clone())?;
    let audit = audit::Auditor::new(
        config.audit_policy_file.as_deref(),
        config.audit_log_path.as_deref(),
    )?;
    let aggregator = aggregator::Aggregator::new(config.aggregator.clone())?;
    let server = Arc::new(ApiServer {
        aggregator,
        discovery: Discovery::new(&address),
        openapi: openapi::OpenApi::new(),
        config,
        registry,
        health,
        authn,
        authz,
        admission,
        audit,
        kubelet,
        flowcontrol: Default::default(),
    });
    if let Some(limit) = server.config.apf_concurrency_limit {
        server.flowcontrol.set_server_limit(limit);
    }
    bootstrap::run(&server)
        .await
        .map_err(|e| anyhow::anyhow!("bootstrapping system objects: {}", e.message))?;
    readyz::post_start_hook_done(&server, "bootstrap-controller");
    admission::priority::ensure_system_classes(&server)
        .await
        .map_err(|e| anyhow::anyhow!("creating the system priority classes: {}", e.message))?;
    readyz::post_start_hook_done(&server, "scheduling/bootstrap-system-priority-classes");
    flowcontrol::ensure::run(&server)
        .await
        .map_err(|e| anyhow::anyhow!("creating the flowcontrol configuration: {}", e.message))?;
    readyz::post_start_hook_done(&server, "priority-and-fairness-config-producer");
    flowcontrol::spawn(&server);
    readyz::post_start_hook_done(&server, "priority-and-fairness-config-consumer");
    readyz::post_start_hook_done(&server, "priority-and-fairness-filter");
    if server.authz.uses_rbac() {
        auth::policy::reconcile(&server)
            .await
            .map_err(|e| anyhow::anyhow!("reconciling the RBAC bootstrap policy: {}", e.message))?;
        readyz::post_start_hook_done(&server, "rbac/bootstrap-roles");
        auth::aggregation::spawn(&server);
    }
    crd::controller::start(&server).await;
    readyz::post_start_hook_done(&server, "start-apiextensions-controllers");
    aggregator::autoregister::register_builtin(&server).await;
    readyz::post_start_hook_done(&server, "kube-apiserver-autoregistration");
    aggregator::authconfig::publish(&server).await;
    aggregator::available::spawn(&server);
    readyz::post_start_hook_done(&server, "apiservice-status-local-available-controller");
    readyz::post_start_hook_done(&server, "apiservice-status-remote-available-controller");
    readyz::add_checks(&server);
    Ok(server)
}

async fn connect_etcd(config: &Config) -> Result<EtcdStore> {
    let encryption = config
        .encryption_provider_config
        .as_deref()
        .map(encryption::Encryption::from_file)
        .transpose()?;
    let store = connect_etcd_plain(config).await?;
    Ok(match encryption {
        Some(e) => store.with_transformer(Arc::new(e)),
        None => store,
    })
}

async fn connect_etcd_plain(config: &Config) -> Result<EtcdStore> {
    let mut last = None;
    // etcd may still be starting (systemd ordering, `corten up`): retry.
    for attempt in 0..30 {
        match EtcdStore::connect(&config.etcd_servers, &config.etcd_prefix).await {
            Ok(s) if s.healthy().await => return Ok(s),
            Ok(_) => last = Some("etcd is not healthy yet".to_string()),
            Err(e) => last = Some(e.to_string()),
        }
        if attempt == 0 {
            tracing::info!(servers = ?config.etcd_servers, "waiting for etcd");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!(
        "cannot reach etcd at {:?}: {}",
        config.etcd_servers,
        last.unwrap_or_default()
    )
}

/// Compacts etcd history periodically, keeping one interval of history
/// (upstream compacts to the revision seen one interval earlier).
fn spawn_compactor(server: &Arc<ApiServer>) {
    let interval = server.config.etcd_compaction_interval;
    if interval.is_zero() {
        return;
    }
    let store = server.registry.store.clone();
    tokio::spawn(async move {
        let mut previous: Option<i64> = None;
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            match store.current_revision().await {
                Ok(now) => {
                    if let Some(rev) = previous {
                        if let Err(e) = store.compact(rev).await {
                            tracing::warn!(revision = rev, error = %e, "etcd compaction failed");
                        } else {
                            tracing::debug!(revision = rev, "compacted etcd");
                        }
                    }
                    previous = Some(now);
                }
                Err(e) => tracing::warn!(error = %e, "reading etcd revision for compaction"),
            }
        }
    });
}

/// Runs the apiserver until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
    let addr = SocketAddr::new(config.bind_address, config.secure_port);
    let listener = server::bind(addr, config.permit_port_sharing)?;
    run_on(listener, config, shutdown).await
}

/// Runs the apiserver on an already bound listener (tests bind port 0).
pub async fn run_on(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    sans.push(config.advertise_address.to_string());
    // Ask for client certificates when either CA may verify one (a front
    // proxy's is checked against --requestheader-client-ca-file).
    let client_ca = config.authn.client_ca_file.as_deref().or(config
        .aggregator
        .request_header
        .as_ref()
        .map(|rh| rh.client_ca_file.as_path()));
    let tls = tls::server_config(&config.tls, &sans, client_ca)?;
    let addr = listener.local_addr()?;
    let server = build(config).await.context("starting the apiserver")?;
    spawn_compactor(&server);
    corten_component_base::metrics::register_build_info("apiserver");
    // `main` installs the flag's gates first; in-process servers (tests)
    // expose the defaults.
    corten_component_base::feature_gates::register_metrics(
        corten_component_base::feature_gates::global(),
    );
    tracing::info!(%addr, "serving securely");
    let health = server.health.clone();
    let endpoints = match server.config.reconcile_endpoints {
        true => Some(bootstrap::endpoints::start(server.clone()).await),
        false => None,
    };
    let shutdown = async move {
        shutdown.await;
        health.begin_shutdown();
        // Out of the `kubernetes` Service first, so clients stop coming.
        if let Some(endpoints) = endpoints {
            endpoints.stop().await;
        }
    };
    server::serve(listener, tls, server, shutdown).await
}
