//! Running the controller-manager: the client, the ops server, leader
//! election and the controllers, in upstream's order.
//!
//! 1. Build the API client (`--kubeconfig`, `--master`, or in-cluster).
//! 2. Serve `/healthz`, `/livez`, `/readyz`, `/metrics` over HTTPS with
//!    delegated authentication and authorization (also on standbys).
//! 3. With `--leader-elect`: wait to acquire the Lease; otherwise go on.
//! 4. Wait (10s at most) for the apiserver's `/healthz`, build every
//!    enabled controller, start the shared informers, run the controllers.
//! 5. On shutdown: stop the controllers, release the Lease (a standby takes
//!    over at its next retry), flush events, stop serving.
//!    Losing the Lease stops the controllers and ends `run` with an error
//!    ("leaderelection lost"): the process exits and is restarted.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use corten_component_base::flags::parse_master;
use corten_component_base::health::HealthRegistry;
use corten_component_base::metrics as base_metrics;
use corten_component_base::secure_serving::SecureServer;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ControllerConfig};
use crate::framework::controller::{Controller, ControllerContext};
use crate::framework::events::EventBroadcaster;
use crate::framework::informer::InformerFactory;
use crate::framework::worker::ReconcileCounter;
use crate::leader_election::{self, LeaderElectionConfig, LeaderElector, RenewOutcome};
use crate::registry::ControllerSelection;

/// The component name (event source, logs, user-facing messages).
pub const COMPONENT: &str = "kube-controller-manager";
/// How long the apiserver may take to answer `/healthz` before starting
/// the controllers fails (upstream `WaitForAPIServer`).
pub const APISERVER_WAIT: Duration = Duration::from_secs(10);
/// How long controllers get to stop on shutdown.
const CONTROLLER_STOP_GRACE: Duration = Duration::from_secs(30);

/// What a running manager reports about itself.
#[derive(Debug, Default)]
struct Status {
    leading: AtomicBool,
    running: Mutex<Vec<&'static str>>,
    reconciles: ReconcileCounter,
}

impl Status {
    fn set_running(&self, names: Vec<&'static str>) {
        *self
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = names;
    }
}

/// A started controller-manager (in this process).
#[derive(Debug)]
pub struct ControllerManager {
    identity: String,
    stop: CancellationToken,
    release_on_stop: Arc<AtomicBool>,
    status: Arc<Status>,
    serving: Option<SocketAddr>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Everything the manager task needs.
#[derive(Clone)]
struct Parts {
    client: Client,
    kubeconfig_ca: Option<Vec<u8>>,
    controllers: ControllerSelection,
    controller_config: Arc<ControllerConfig>,
    leader_election: Option<LeaderElectionConfig>,
    identity: String,
    health: HealthRegistry,
    /// Set with `--use-service-account-credentials`.
    service_accounts: Option<crate::service_account_clients::ServiceAccountClients>,
}

/// Starts the controller-manager: binds the ops port and spawns everything
/// else. Fails on a bad kubeconfig or a port in use.
pub async fn start(config: Config) -> anyhow::Result<ControllerManager> {
    base_metrics::register_build_info(COMPONENT);
    base_metrics::register_process_metrics();
    let client_config = client_config(&config).await?;
    let kubeconfig_ca = client_config
        .root_cert
        .as_ref()
        .map(|certs| pem_bundle(certs));
    let base_config = client_config.clone();
    let client = Client::try_from(client_config).context("building the API client")?;
    let identity = leader_election::default_identity();
    let health = HealthRegistry::new();

    let ops_stop = CancellationToken::new();
    let (serving, ops_task) = match config.serving {
        Some(addr) => {
            let secure = SecureServer::new(&config.secure_serving, COMPONENT, &client)
                .await
                .context("configuring the secure port")?;
            let listener = corten_component_base::server::listen(
                addr,
                config.secure_serving.permit_port_sharing,
            )
            .with_context(|| format!("binding the secure port to {addr}"))?;
            let local = listener
                .local_addr()
                .context("reading the listener address")?;
            let stop = ops_stop.clone();
            let task = tokio::spawn(secure.serve(listener, health.clone(), async move {
                stop.cancelled().await;
            }));
            (Some(local), Some(task))
        }
        None => (None, None),
    };

    let stop = CancellationToken::new();
    let service_accounts = config.use_service_account_credentials.then(|| {
        crate::service_account_clients::ServiceAccountClients::new(
            client.clone(),
            base_config,
            stop.clone(),
        )
    });
    let release_on_stop = Arc::new(AtomicBool::new(true));
    let status = Arc::new(Status::default());
    let parts = Parts {
        client,
        kubeconfig_ca,
        controllers: config.controllers,
        controller_config: Arc::new(config.controller),
        leader_election: config.leader_election,
        identity: identity.clone(),
        health: health.clone(),
        service_accounts,
    };
    {
        // /readyz fails as soon as shutdown begins.
        let stop = stop.clone();
        let health = health.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            health.begin_shutdown();
        });
    }
    let task = {
        let stop = stop.clone();
        let release_on_stop = release_on_stop.clone();
        let status = status.clone();
        tokio::spawn(async move {
            let result = manage(parts, stop, release_on_stop, status).await;
            health.begin_shutdown();
            ops_stop.cancel();
            if let Some(task) = ops_task {
                match task.await {
                    Ok(Err(err)) => tracing::warn!(error = %format!("{err:#}"), "ops server"),
                    Err(err) => tracing::warn!(error = %err, "ops server task"),
                    Ok(Ok(())) => {}
                }
            }
            result
        })
    };
    tracing::info!(
        version = corten_component_base::version::GIT_VERSION,
        identity = %identity,
        "kube-controller-manager started"
    );
    Ok(ControllerManager {
        identity,
        stop,
        release_on_stop,
        status,
        serving,
        task: Some(task),
    })
}

/// Runs until `shutdown` resolves (then stops gracefully) or the manager
/// ends by itself (an error such as a lost Lease).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    start(config).await?.run_until(shutdown).await
}

impl ControllerManager {
    /// The leader election identity (`<hostname>_<uuid>`).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this manager holds the Lease (always `false` without leader
    /// election).
    pub fn is_leader(&self) -> bool {
        self.status.leading.load(Ordering::SeqCst)
    }

    /// The controllers running now (empty on a standby).
    pub fn running_controllers(&self) -> Vec<&'static str> {
        self.status
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reconciles started so far by this manager's controllers.
    pub fn reconciles(&self) -> u64 {
        self.status.reconciles.get()
    }

    /// Where the ops endpoints are served.
    pub fn serving_addr(&self) -> Option<SocketAddr> {
        self.serving
    }

    /// Whether the manager has stopped (for example after losing the Lease).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    async fn join(&mut self) -> anyhow::Result<()> {
        match self.task.take() {
            Some(task) => task.await.context("the controller-manager task failed")?,
            None => Ok(()),
        }
    }

    /// Stops gracefully: controllers stop, the Lease is released.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.join().await
    }

    /// Stops without releasing the Lease, as a crash would (for tests of
    /// fail-over: a standby must wait for the Lease to expire).
    pub async fn crash(mut self) {
        self.release_on_stop.store(false, Ordering::SeqCst);
        self.stop.cancel();
        let _ = self.join().await;
    }

    /// Waits until `shutdown` resolves, then stops gracefully; or returns
    /// the manager's own result if it ends first.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        tokio::select! {
            result = &mut task => return result.context("the controller-manager task failed")?,
            () = shutdown => {}
        }
        self.stop.cancel();
        task.await.context("the controller-manager task failed")?
    }
}

impl Drop for ControllerManager {
    fn drop(&mut self) {
        // Never leave controllers running behind a dropped handle.
        self.stop.cancel();
    }
}

async fn manage(
    parts: Parts,
    stop: CancellationToken,
    release_on_stop: Arc<AtomicBool>,
    status: Arc<Status>,
) -> anyhow::Result<()> {
    let events_stop = CancellationToken::new();
    let events = EventBroadcaster::new(parts.client.clone());
    let events_task = events.start(&events_stop);
    let result = match parts.leader_election.clone() {
        None => run_controllers(&parts, &events, stop, &status).await,
        Some(le) => lead(&parts, le, &events, stop, &release_on_stop, &status).await,
    };
    events_stop.cancel();
    if let Some(task) = events_task {
        let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
    }
    result
}

async fn lead(
    parts: &Parts,
    le: LeaderElectionConfig,
    events: &EventBroadcaster,
    stop: CancellationToken,
    release_on_stop: &AtomicBool,
    status: &Arc<Status>,
) -> anyhow::Result<()> {
    let mut elector = LeaderElector::new(parts.client.clone(), le.clone(), parts.identity.clone())
        .with_events(leader_election::event_sink(events.recorder(COMPONENT)));
    leader_election::add_health_check(&parts.health, elector.health(), &le);
    if !elector.acquire(&stop).await {
        return Ok(());
    }
    status.leading.store(true, Ordering::SeqCst);
    let controllers_stop = CancellationToken::new();
    let mut controllers = {
        let controllers_stop = controllers_stop.clone();
        let status = status.clone();
        let events = events.clone();
        let parts = parts.clone();
        tokio::spawn(
            async move { run_controllers(&parts, &events, controllers_stop, &status).await },
        )
    };
    let renew_stop = stop.child_token();
    let ended_early = tokio::select! {
        outcome = elector.renew(&renew_stop) => Err(outcome),
        result = &mut controllers => Ok(result),
    };
    controllers_stop.cancel();
    let (outcome, controllers_result) = match ended_early {
        Err(outcome) => {
            let result = match tokio::time::timeout(CONTROLLER_STOP_GRACE, controllers).await {
                Ok(joined) => {
                    joined.unwrap_or_else(|err| Err(anyhow::anyhow!("controllers task: {err}")))
                }
                Err(_) => Err(anyhow::anyhow!(
                    "controllers did not stop within {CONTROLLER_STOP_GRACE:?}"
                )),
            };
            (outcome, result)
        }
        Ok(joined) => {
            elector.step_down();
            let result =
                joined.unwrap_or_else(|err| Err(anyhow::anyhow!("controllers task: {err}")));
            (RenewOutcome::Stopped, result)
        }
    };
    status.leading.store(false, Ordering::SeqCst);
    if outcome == RenewOutcome::Lost {
        tracing::error!("leaderelection lost");
        return Err(anyhow::anyhow!("leaderelection lost"));
    }
    if release_on_stop.load(Ordering::SeqCst) {
        elector.release().await;
    }
    controllers_result
}

async fn run_controllers(
    parts: &Parts,
    events: &EventBroadcaster,
    stop: CancellationToken,
    status: &Status,
) -> anyhow::Result<()> {
    tokio::select! {
        result = wait_for_apiserver(&parts.client, APISERVER_WAIT) => result?,
        () = stop.cancelled() => return Ok(()),
    }
    let ctx = ControllerContext {
        client: parts.client.clone(),
        informers: InformerFactory::new(parts.client.clone()),
        events: events.clone(),
        config: parts.controller_config.clone(),
        reconciles: status.reconciles.clone(),
        kubeconfig_ca: parts.kubeconfig_ca.clone(),
    };
    let missing = parts.controllers.enabled_but_missing();
    if !missing.is_empty() {
        tracing::info!(
            controllers = %missing.join(","),
            "enabled upstream controllers that Corten does not implement yet are skipped"
        );
    }
    let mut built: Vec<Box<dyn Controller>> = Vec::new();
    for descriptor in parts.controllers.enabled() {
        let Some(constructor) = descriptor.constructor else {
            continue;
        };
        tracing::info!(controller = descriptor.name, "Starting controller");
        let own;
        let ctx_for = match (
            &parts.service_accounts,
            crate::service_account_clients::service_account_for(descriptor.name),
        ) {
            (Some(builder), Some(sa)) => {
                let client = builder
                    .client_for(sa)
                    .await
                    .with_context(|| format!("credentials for controller {:?}", descriptor.name))?;
                own = ControllerContext {
                    client,
                    ..ctx.clone()
                };
                &own
            }
            _ => &ctx,
        };
        match constructor(ctx_for)
            .with_context(|| format!("error starting controller {:?}", descriptor.name))?
        {
            Some(controller) => built.push(controller),
            None => tracing::warn!(
                controller = descriptor.name,
                "Warning: controller is disabled"
            ),
        }
    }
    ctx.informers.start(&stop);
    let names: Vec<&'static str> = built.iter().map(|c| c.name()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for controller in built {
        tracing::info!(controller = controller.name(), "Started controller");
        tasks.spawn(controller.run(stop.clone()));
    }
    status.set_running(names);
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            tracing::error!(error = %err, "a controller ended abnormally");
        }
    }
    status.set_running(Vec::new());
    Ok(())
}

/// Polls the apiserver's `/healthz` until it answers `ok` or `timeout` passes.
pub async fn wait_for_apiserver(client: &Client, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error: String;
    loop {
        let request = http::Request::get("/healthz")
            .body(Vec::new())
            .context("building the /healthz request")?;
        match client.request_text(request).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => last_error = format!("/healthz answered {:?}", body.trim()),
            Err(err) => last_error = err.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("failed to wait for apiserver being healthy: {last_error}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn client_config(config: &Config) -> anyhow::Result<kube::Config> {
    let mut client_config = match (&config.kubeconfig, &config.master) {
        (Some(path), _) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading --kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("loading --kubeconfig {}", path.display()))?
        }
        (None, Some(master)) => kube::Config::new(parse_master(master).map_err(anyhow::Error::msg)?),
        (None, None) => kube::Config::incluster()
            .context("neither --kubeconfig nor --master was given, and the in-cluster configuration is not available")?,
    };
    if let (Some(_), Some(master)) = (&config.kubeconfig, &config.master) {
        client_config.cluster_url = parse_master(master).map_err(anyhow::Error::msg)?;
    }
    Ok(client_config)
}

/// PEM-encodes DER certificates.
fn pem_bundle(certs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = String::new();
    for der in certs {
        let encoded = base64::engine::general_purpose::STANDARD.encode(der);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in encoded.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bundles_round_trip() {
        let der = vec![vec![1u8; 100], vec![2u8; 10]];
        let pem = pem_bundle(&der);
        let parsed: Vec<Vec<u8>> = rustls_pemfile::certs(&mut pem.as_slice())
            .map(|c| c.unwrap().to_vec())
            .collect();
        assert_eq!(parsed, der);
        let text = String::from_utf8(pem).unwrap();
        assert!(
            text.lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----"))
        );
    }
}
