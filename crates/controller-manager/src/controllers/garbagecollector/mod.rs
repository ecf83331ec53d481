//! `garbage-collector-controller`: deletes objects whose owners are gone,
//! and carries out foreground and orphan deletion (upstream
//! `garbagecollector`).
//!
//! - [`monitors`]: metadata-only list+watch of every deletable resource
//!   (rediscovered every 30 s, custom resources included) feeding one
//!   channel of graph events;
//! - [`graph`]: one task applies the events to the ownership graph and
//!   queues UIDs for the workers;
//! - [`collector`]: `--concurrent-gc-syncs` workers on each of the
//!   `garbage_collector_attempt_to_delete` and
//!   `garbage_collector_attempt_to_orphan` queues.
//!
//! Propagation as upstream: `kubectl delete` (background) removes the
//! owner at once and its dependents follow; `--cascade=foreground` keeps
//! the owner (with the `foregroundDeletion` finalizer) until every
//! dependent with `blockOwnerDeletion` is gone; `--cascade=orphan` removes
//! the owner's references from its dependents, then the `orphan` finalizer.

pub mod collector;
pub mod graph;
pub mod monitors;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::collector::{AttemptToDelete, AttemptToOrphan, Collector};
use self::graph::{Graph, GraphEvent};
use self::monitors::{Monitors, RESYNC_PERIOD, RestMapper};
use crate::framework::controller::{Controller, ControllerContext};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{ReconcileCounter, run_workers};

/// Upstream name.
pub const NAME: &str = "garbage-collector-controller";
/// Queue of UIDs to check for deletion.
pub const DELETE_QUEUE_NAME: &str = "garbage_collector_attempt_to_delete";
/// Queue of UIDs whose dependents are to be orphaned.
pub const ORPHAN_QUEUE_NAME: &str = "garbage_collector_attempt_to_orphan";
/// `source.component` of its events.
pub const EVENT_COMPONENT: &str = "garbage-collector-controller";
/// How long workers wait for the monitors' first lists before starting
/// anyway (decisions are taken on fresh reads, so this is only about not
/// working from a half-built graph).
const INITIAL_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the controller (`--concurrent-gc-syncs` workers per queue).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    monitors::resources_sync_errors();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let graph = Arc::new(Mutex::new(Graph::new()));
    let mapper = Arc::new(RwLock::new(RestMapper::default()));
    let delete_queue = WorkQueue::new(DELETE_QUEUE_NAME);
    let orphan_queue = WorkQueue::new(ORPHAN_QUEUE_NAME);
    let collector = Arc::new(Collector::new(
        ctx.client.clone(),
        graph.clone(),
        mapper.clone(),
        events_tx.clone(),
        delete_queue.clone(),
        ctx.recorder(EVENT_COMPONENT),
    ));
    Ok(Some(Box::new(GarbageCollector {
        client: ctx.client.clone(),
        workers: ctx.config.concurrency.garbage_collector,
        graph,
        mapper,
        collector,
        events_tx,
        events_rx,
        delete_queue,
        orphan_queue,
        counter: ctx.reconciles.clone(),
    })))
}

/// The running garbage collector.
pub struct GarbageCollector {
    client: kube::Client,
    workers: usize,
    graph: Arc<Mutex<Graph>>,
    mapper: monitors::SharedMapper,
    collector: Arc<Collector>,
    events_tx: mpsc::UnboundedSender<GraphEvent>,
    events_rx: mpsc::UnboundedReceiver<GraphEvent>,
    delete_queue: WorkQueue<String>,
    orphan_queue: WorkQueue<String>,
    counter: ReconcileCounter,
}

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        async move { self.run_until(shutdown).await }.boxed()
    }
}

impl GarbageCollector {
    async fn run_until(self, shutdown: CancellationToken) {
        let Self {
            client,
            workers,
            graph,
            mapper,
            collector,
            events_tx,
            mut events_rx,
            delete_queue,
            orphan_queue,
            counter,
        } = self;
        tracing::info!(controller = NAME, "Starting controller");
        let mut monitors = Monitors::new(client, events_tx, mapper, shutdown.clone());
        loop {
            match monitors.sync().await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "garbage collector: discovery failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(5)) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
        // The graph builder: one task applies every change, in order.
        let builder = {
            let shutdown = shutdown.clone();
            let (delete_queue, orphan_queue) = (delete_queue.clone(), orphan_queue.clone());
            tokio::spawn(async move {
                loop {
                    let event = tokio::select! {
                        event = events_rx.recv() => event,
                        () = shutdown.cancelled() => return,
                    };
                    let Some(event) = event else { return };
                    let queued = graph
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .process(event);
                    for uid in queued.delete {
                        delete_queue.add(uid);
                    }
                    for uid in queued.orphan {
                        orphan_queue.add(uid);
                    }
                }
            })
        };
        let deadline = tokio::time::Instant::now() + INITIAL_SYNC_TIMEOUT;
        loop {
            let unsynced = monitors.unsynced();
            if unsynced.is_empty() {
                tracing::info!(
                    controller = NAME,
                    resources = monitors.len(),
                    "Caches are synced"
                );
                break;
            }
            if tokio::time::Instant::now() > deadline {
                tracing::warn!(resources = %unsynced.join("; "), "garbage collector: starting before these monitors synced");
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                () = shutdown.cancelled() => return,
            }
        }
        let resync = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(RESYNC_PERIOD);
                ticker.tick().await;
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {
                            if let Err(err) = monitors.sync().await {
                                tracing::warn!(error = %err, "garbage collector: rediscovery failed");
                            }
                        }
                        () = shutdown.cancelled() => return,
                    }
                }
            })
        };
        futures::join!(
            run_workers(
                NAME,
                delete_queue,
                Arc::new(AttemptToDelete(collector.clone())),
                workers,
                counter.clone(),
                shutdown.clone(),
            ),
            run_workers(
                NAME,
                orphan_queue,
                Arc::new(AttemptToOrphan(collector)),
                workers,
                counter,
                shutdown.clone(),
            ),
        );
        let _ = builder.await;
        let _ = resync.await;
        tracing::info!(controller = NAME, "Shutting down controller");
    }
}
