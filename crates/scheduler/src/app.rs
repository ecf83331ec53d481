//! Running the scheduler: the client, the ops server, leader election, the
//! informers and the scheduling loop, in upstream's order.
//!
//! 1. Build the API client (`clientConnection.kubeconfig`, `--master`, or
//!    in-cluster).
//! 2. Serve `/healthz`, `/livez`, `/readyz`, `/metrics` over HTTPS with
//!    delegated authentication and authorization (also on standbys).
//! 3. With leader election: wait for the Lease, then start the informers
//!    and the loop (like `delayCacheUntilActive: true`); otherwise start
//!    at once.
//! 4. On shutdown: stop the loop, release the Lease, stop serving.
//!    Losing the Lease ends `run` with "leaderelection lost".

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use corten_component_base::flags::parse_master;
use corten_component_base::health::HealthRegistry;
use corten_component_base::metrics as base_metrics;
use corten_component_base::secure_serving::SecureServer;
use futures::FutureExt;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api_client::KubeApi;
use crate::informers::{self, UPDATE_CHANNEL_CAPACITY, WATCHED};
use crate::leader_election::{self, LeaderElectionConfig, LeaderElector, RenewOutcome};
use crate::options::Config;
use crate::queue::QueueConfig;
use crate::scheduler::Scheduler;

/// The component name.
pub const COMPONENT: &str = "kube-scheduler";

/// A running scheduler (in this process).
#[derive(Debug)]
pub struct SchedulerProcess {
    identity: String,
    stop: CancellationToken,
    release_on_stop: Arc<AtomicBool>,
    leading: Arc<AtomicBool>,
    serving: Option<SocketAddr>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

#[derive(Clone)]
struct Parts {
    client: Client,
    config: Config,
    identity: String,
    health: HealthRegistry,
    synced: Arc<AtomicBool>,
    leading: Arc<AtomicBool>,
}

async fn client_config(config: &Config) -> anyhow::Result<kube::Config> {
    let path = &config.component.client_connection.kubeconfig;
    let mut client_config = if !path.is_empty() {
        let kubeconfig = Kubeconfig::read_from(Path::new(path))
            .with_context(|| format!("reading kubeconfig {path}"))?;
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .with_context(|| format!("loading kubeconfig {path}"))?
    } else if let Some(master) = &config.master {
        kube::Config::new(parse_master(master).map_err(anyhow::Error::msg)?)
    } else {
        kube::Config::incluster()
            .context("no kubeconfig was given (--kubeconfig or clientConnection.kubeconfig), and the in-cluster configuration is not available")?
    };
    if let (false, Some(master)) = (path.is_empty(), &config.master) {
        client_config.cluster_url = parse_master(master).map_err(anyhow::Error::msg)?;
    }
    Ok(client_config)
}

/// Starts the scheduler: binds the ops port and spawns everything else.
pub async fn start(config: Config) -> anyhow::Result<SchedulerProcess> {
    base_metrics::register_build_info(COMPONENT);
    base_metrics::register_process_metrics();
    crate::metrics::register_all();
    let client =
        Client::try_from(client_config(&config).await?).context("building the API client")?;
    let identity = leader_election::default_identity();
    let health = HealthRegistry::new();
    let synced = Arc::new(AtomicBool::new(false));
    let leading = Arc::new(AtomicBool::new(false));
    {
        let synced = synced.clone();
        let leading = leading.clone();
        let le = config.component.leader_election.leader_elect;
        health.add_readyz_check("sched-handler-sync", move || {
            let ok = synced.load(Ordering::SeqCst) || (le && !leading.load(Ordering::SeqCst));
            async move {
                if ok {
                    Ok(())
                } else {
                    Err("waiting for handlers to sync".to_string())
                }
            }
            .boxed()
        });
    }
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
                stop.cancelled().await
            }));
            (Some(local), Some(task))
        }
        None => (None, None),
    };
    let stop = CancellationToken::new();
    let release_on_stop = Arc::new(AtomicBool::new(true));
    let parts = Parts {
        client,
        config,
        identity: identity.clone(),
        health: health.clone(),
        synced,
        leading: leading.clone(),
    };
    let task = {
        let stop = stop.clone();
        let release_on_stop = release_on_stop.clone();
        tokio::spawn(async move {
            let result = manage(parts, stop, release_on_stop).await;
            health.begin_shutdown();
            ops_stop.cancel();
            if let Some(task) = ops_task {
                let _ = task.await;
            }
            result
        })
    };
    tracing::info!(version = corten_component_base::version::GIT_VERSION, identity = %identity, "kube-scheduler started");
    Ok(SchedulerProcess {
        identity,
        stop,
        release_on_stop,
        leading,
        serving,
        task: Some(task),
    })
}

/// Runs until `shutdown` resolves or the scheduler ends by itself.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    start(config).await?.run_until(shutdown).await
}

impl SchedulerProcess {
    /// The leader election identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this process is scheduling (holds the Lease, or runs
    /// without leader election).
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Where the ops endpoints are served.
    pub fn serving_addr(&self) -> Option<SocketAddr> {
        self.serving
    }

    /// Whether the process has stopped.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops gracefully (the Lease is released).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        match self.task.take() {
            Some(task) => task.await.context("the scheduler task failed")?,
            None => Ok(()),
        }
    }

    /// Stops without releasing the Lease, like a crash (fail-over tests).
    pub async fn crash(mut self) {
        self.release_on_stop.store(false, Ordering::SeqCst);
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits for `shutdown`, then stops gracefully; or returns the
    /// scheduler's own result if it ends first.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        tokio::select! {
            result = &mut task => return result.context("the scheduler task failed")?,
            () = shutdown => {}
        }
        self.stop.cancel();
        task.await.context("the scheduler task failed")?
    }
}

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn manage(
    parts: Parts,
    stop: CancellationToken,
    release_on_stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let le = &parts.config.component.leader_election;
    if !le.leader_elect {
        parts.leading.store(true, Ordering::SeqCst);
        return schedule(&parts, stop).await;
    }
    let le_config = LeaderElectionConfig {
        lease_duration: le.lease_duration,
        renew_deadline: le.renew_deadline,
        retry_period: le.retry_period,
        namespace: le.resource_namespace.clone(),
        name: le.resource_name.clone(),
    };
    let mut elector = LeaderElector::new(
        parts.client.clone(),
        le_config.clone(),
        parts.identity.clone(),
    )
    .with_events(leader_election::event_sink(parts.client.clone(), COMPONENT));
    leader_election::add_health_check(&parts.health, elector.health(), &le_config);
    if !elector.acquire(&stop).await {
        return Ok(());
    }
    parts.leading.store(true, Ordering::SeqCst);
    let loop_stop = CancellationToken::new();
    let mut scheduling = {
        let parts = parts.clone();
        let loop_stop = loop_stop.clone();
        tokio::spawn(async move { schedule(&parts, loop_stop).await })
    };
    let renew_stop = stop.child_token();
    let outcome = tokio::select! {
        outcome = elector.renew(&renew_stop) => Some(outcome),
        result = &mut scheduling => {
            elector.step_down();
            parts.leading.store(false, Ordering::SeqCst);
            return result.unwrap_or_else(|err| Err(anyhow::anyhow!("scheduling task: {err}")));
        }
    };
    loop_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), scheduling).await;
    parts.leading.store(false, Ordering::SeqCst);
    if outcome == Some(RenewOutcome::Lost) {
        tracing::error!("leaderelection lost");
        return Err(anyhow::anyhow!("leaderelection lost"));
    }
    if release_on_stop.load(Ordering::SeqCst) {
        elector.release().await;
    }
    Ok(())
}

async fn schedule(parts: &Parts, stop: CancellationToken) -> anyhow::Result<()> {
    let cc = &parts.config.component.client_connection;
    let hostname = leader_election::default_identity()
        .rsplit_once('_')
        .map_or_else(|| "localhost".to_string(), |(host, _)| host.to_string());
    let api = Arc::new(KubeApi::new(
        parts.client.clone(),
        cc.qps,
        cc.burst,
        hostname,
    ));
    let mut scheduler =
        Scheduler::new(&parts.config.component, api, &WATCHED).map_err(|e| anyhow::anyhow!(e))?;
    scheduler.set_queue_config(QueueConfig {
        initial_backoff: Duration::from_secs(
            u64::try_from(parts.config.component.pod_initial_backoff_seconds).unwrap_or(1),
        ),
        max_backoff: Duration::from_secs(
            u64::try_from(parts.config.component.pod_max_backoff_seconds).unwrap_or(10),
        ),
        max_in_unschedulable: parts.config.max_in_unschedulable,
        ..QueueConfig::default()
    });
    scheduler.set_synced_flag(parts.synced.clone());
    let (tx, rx) = mpsc::channel(UPDATE_CHANNEL_CAPACITY);
    let informers_stop = stop.child_token();
    informers::start(&parts.client, &tx, &informers_stop);
    drop(tx);
    scheduler.run(rx, stop.clone()).await;
    informers_stop.cancel();
    parts.synced.store(false, Ordering::SeqCst);
    Ok(())
}
