//! What a controller is to the manager, and what the manager gives it.
//!
//! Every controller's constructor receives a [`ControllerContext`] (the API
//! client, the shared informers, the event pipeline and the component
//! configuration) and returns a [`Controller`]: something with a name that
//! runs until shutdown. Most controllers are a [`QueueController`]: informer
//! handlers feed keys into a [`WorkQueue`], workers call a [`Reconciler`].

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use kube::Client;
use tokio_util::sync::CancellationToken;

use super::events::{EventBroadcaster, EventRecorder};
use super::informer::{Informer, InformerFactory, InformerResource};
use super::queue::{QueueKey, WorkQueue};
use super::worker::{ReconcileCounter, Reconciler, run_workers};
use crate::config::ControllerConfig;

/// What the manager hands to every controller constructor.
#[derive(Clone)]
pub struct ControllerContext {
    /// The API client (the controller-manager's own credentials for now).
    pub client: Client,
    /// The shared informers; started after every constructor ran.
    pub informers: InformerFactory,
    /// The event pipeline; [`ControllerContext::recorder`] gives a recorder.
    pub events: EventBroadcaster,
    /// The controllers' configuration (from the flags).
    pub config: Arc<ControllerConfig>,
    /// Counts the reconciles of this manager.
    pub reconciles: ReconcileCounter,
    /// The PEM CA bundle the kubeconfig trusts (the root CA publisher's
    /// fallback when `--root-ca-file` is not given).
    pub kubeconfig_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for ControllerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerContext")
            .field("informers", &self.informers)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ControllerContext {
    /// A recorder whose events have `source.component = component`
    /// (upstream uses the controller's name, e.g. `deployment-controller`).
    pub fn recorder(&self, component: &str) -> EventRecorder {
        self.events.recorder(component)
    }
}

/// A running unit of the controller-manager.
pub trait Controller: Send + 'static {
    /// The upstream controller name (`namespace-controller`, ...).
    fn name(&self) -> &'static str;

    /// Runs until `shutdown` fires and everything it spawned has stopped.
    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()>;
}

/// Something whose cache must be filled before workers start.
pub trait CacheSync: Send + Sync {
    /// What is cached (for logs).
    fn describe(&self) -> String;
    /// Waits for the first list; `false` if `shutdown` fired first.
    fn wait<'a>(&'a self, shutdown: &'a CancellationToken) -> BoxFuture<'a, bool>;
}

impl<K: InformerResource> CacheSync for Informer<K> {
    fn describe(&self) -> String {
        K::plural(&()).to_string()
    }

    fn wait<'a>(&'a self, shutdown: &'a CancellationToken) -> BoxFuture<'a, bool> {
        self.wait_for_sync(shutdown).boxed()
    }
}

type Resync = (Duration, Box<dyn Fn() + Send + Sync>);

/// A controller made of a work queue, informers that feed it, and a
/// reconciler run by `workers` workers (upstream's usual controller shape).
pub struct QueueController<K: QueueKey, R> {
    name: &'static str,
    queue: WorkQueue<K>,
    reconciler: Arc<R>,
    workers: usize,
    caches: Vec<Box<dyn CacheSync>>,
    resync: Option<Resync>,
    counter: ReconcileCounter,
}

impl<K: QueueKey, R> std::fmt::Debug for QueueController<K, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueController")
            .field("name", &self.name)
            .field("queue", &self.queue)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl<K, R> QueueController<K, R>
where
    K: QueueKey + Display,
    R: Reconciler<K>,
{
    /// A controller named `name` running `reconciler` over `queue`.
    pub fn new(
        name: &'static str,
        queue: WorkQueue<K>,
        reconciler: R,
        workers: usize,
        ctx: &ControllerContext,
    ) -> Self {
        Self {
            name,
            queue,
            reconciler: Arc::new(reconciler),
            workers,
            caches: Vec::new(),
            resync: None,
            counter: ctx.reconciles.clone(),
        }
    }

    /// Waits for `informer`'s first list before starting workers.
    pub fn wait_for<C: CacheSync + 'static>(mut self, informer: C) -> Self {
        self.caches.push(Box::new(informer));
        self
    }

    /// Calls `enqueue_all` every `period` (upstream's informer resync), as a
    /// safety net for missed events.
    pub fn resync_every(
        mut self,
        period: Duration,
        enqueue_all: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        if !period.is_zero() {
            self.resync = Some((period, Box::new(enqueue_all)));
        }
        self
    }
}

impl<K, R> Controller for QueueController<K, R>
where
    K: QueueKey + Display,
    R: Reconciler<K>,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        async move {
            let this = *self;
            let controller = this.name;
            tracing::info!(controller, "Starting controller");
            tracing::info!(controller, "Waiting for caches to sync");
            for cache in &this.caches {
                if !cache.wait(&shutdown).await {
                    tracing::info!(controller, cache = %cache.describe(), "Shutting down controller before its caches synced");
                    this.queue.shut_down();
                    return;
                }
            }
            tracing::info!(controller, "Caches are synced");
            if let Some((period, enqueue_all)) = this.resync {
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let mut ticker = tokio::time::interval(period);
                    ticker.tick().await;
                    loop {
                        tokio::select! {
                            _ = ticker.tick() => enqueue_all(),
                            () = shutdown.cancelled() => return,
                        }
                    }
                });
            }
            run_workers(
                controller,
                this.queue,
                this.reconciler,
                this.workers,
                this.counter,
                shutdown,
            )
            .await;
            tracing::info!(controller, "Shutting down controller");
        }
        .boxed()
    }
}
