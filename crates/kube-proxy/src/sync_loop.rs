//! The bounded-frequency sync loop.
//!
//! Changes mark the state dirty; a sync runs as soon as the last one is at
//! least `min_sync_period` old (so bursts of changes are batched into one
//! transaction), and every `sync_period` anyway (repairing rules someone else
//! flushed). A failed sync is retried after `min_sync_period`. The proxier
//! runs on a blocking thread: it executes `nft`/`iptables-restore`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::health::ProxyHealth;
use crate::metrics;
use crate::model::ProxyState;
use crate::proxier::{Proxier, ProxyMode};
use crate::service_health::ServiceHealthServers;
use crate::tracker::ChangeTracker;

/// What the watchers and the loop share.
#[derive(Clone)]
pub struct Shared {
    /// The latest objects.
    pub tracker: Arc<Mutex<ChangeTracker>>,
    /// Bumped after every change; the loop remembers the value it synced.
    pub generation: watch::Sender<u64>,
    /// Health bookkeeping.
    pub health: ProxyHealth,
}

impl Shared {
    /// Shared state for the proxy of `node_name`.
    pub fn new(node_name: &str, health: ProxyHealth) -> Shared {
        Shared {
            tracker: Arc::new(Mutex::new(ChangeTracker::new(node_name))),
            generation: watch::Sender::new(0),
            health,
        }
    }

    /// Applies `f` to the tracker and, if it reports a change, wakes the loop.
    pub fn update(&self, f: impl FnOnce(&mut ChangeTracker) -> bool) {
        let changed = match self.tracker.lock() {
            Ok(mut tracker) => f(&mut tracker),
            Err(_) => false,
        };
        if changed {
            self.health.queued();
            self.generation.send_modify(|g| *g += 1);
        }
    }
}

/// Timing of the loop.
#[derive(Clone, Copy, Debug)]
pub struct Periods {
    /// Minimum time between syncs.
    pub min_sync: Duration,
    /// Maximum time between syncs.
    pub sync: Duration,
}

/// Runs until `stop`; returns the proxier (for cleanup by the caller).
/// `service_health`, when given, follows every successful sync (health
/// check node ports open and close with the Services).
pub async fn run(
    proxier: Box<dyn Proxier>,
    shared: Shared,
    periods: Periods,
    mode: ProxyMode,
    mut service_health: Option<ServiceHealthServers>,
    stop: CancellationToken,
) -> Box<dyn Proxier> {
    let mut proxier = proxier;
    // The desired state, kept between syncs and updated from the tracker
    // one changed Service at a time.
    let mut state = ProxyState::default();
    let mut last_sync: Option<Instant> = None;
    let mut dirty = true;
    let mut generation = shared.generation.subscribe();
    loop {
        let now = Instant::now();
        let deadline = match (dirty, last_sync) {
            (_, None) => now,
            (true, Some(t)) => (t + periods.min_sync).max(now),
            (false, Some(t)) => t + periods.sync,
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            changed = generation.changed(), if !dirty => {
                if changed.is_err() {
                    break;
                }
                dirty = true;
                continue;
            }
            () = stop.cancelled() => break,
        }
        // Mark as seen before the snapshot: a change racing with this sync
        // bumps the generation again and gets its own sync.
        generation.borrow_and_update();
        let (changes, trigger_times, pending) = match shared.tracker.lock() {
            Ok(mut tracker) => {
                let (times, pending) = tracker.take_pending();
                (tracker.apply_changes(&mut state), times, pending)
            }
            Err(_) => break,
        };
        metrics::SERVICE_CHANGES.inc_by(pending.services);
        metrics::ENDPOINT_CHANGES.inc_by(pending.endpoints);
        let started = std::time::Instant::now();
        let joined = tokio::task::spawn_blocking(move || {
            let result = proxier.sync_changes(&state, &changes);
            (proxier, result, state, changes)
        })
        .await;
        let Ok((returned, result, synced, changes)) = joined else {
            tracing::error!("the proxier panicked; stopping the sync loop");
            if let Some(servers) = service_health.as_mut() {
                servers.shutdown().await;
            }
            return Box::new(crate::proxier::FakeProxier::default());
        };
        proxier = returned;
        state = synced;
        let elapsed = started.elapsed();
        last_sync = Some(Instant::now());
        metrics::SYNC_DURATION.observe(elapsed.as_secs_f64());
        match result {
            Ok(()) => {
                dirty = false;
                let now = jiff::Timestamp::now();
                metrics::LAST_SYNC.set(now.as_millisecond() as f64 / 1000.0);
                for time in trigger_times {
                    if let Ok(latency) = std::time::Duration::try_from(now.duration_since(time)) {
                        metrics::NETWORK_PROGRAMMING.observe(latency.as_secs_f64());
                    }
                }
                shared.health.updated();
                if let Some(servers) = service_health.as_mut() {
                    servers.sync(&state).await;
                }
                tracing::debug!(
                    services = state.services.len(),
                    elapsed_ms = elapsed.as_millis() as u64,
                    "synced proxy rules"
                );
            }
            Err(err) => {
                dirty = true;
                match mode {
                    ProxyMode::Nftables => metrics::NFTABLES_FAILURES.inc(),
                    ProxyMode::Iptables => metrics::IPTABLES_FAILURES.inc(),
                }
                // Put the trigger times back so latency is measured at the
                // sync that finally programs them, and the changed
                // Services, which the proxier has not programmed.
                if let Ok(mut tracker) = shared.tracker.lock() {
                    tracker.requeue_trigger_times(trigger_times);
                    tracker.requeue_changes(changes);
                }
                tracing::error!(error = %err, "syncing proxy rules failed; retrying");
            }
        }
    }
    if let Some(servers) = service_health.as_mut() {
        servers.shutdown().await;
    }
    proxier
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxier::FakeProxier;
    use std::sync::atomic::Ordering;

    fn service(name: &str) -> k8s_openapi::api::core::v1::Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "ns", "name": name},
            "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80}]}
        }))
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn batches_changes_by_min_sync_period_and_resyncs_periodically() {
        let fake = FakeProxier::default();
        let shared = Shared::new("n", ProxyHealth::new(Duration::from_secs(60)));
        let stop = CancellationToken::new();
        let periods = Periods {
            min_sync: Duration::from_secs(1),
            sync: Duration::from_secs(30),
        };
        let task = tokio::spawn(run(
            Box::new(fake.clone()),
            shared.clone(),
            periods,
            ProxyMode::Nftables,
            None,
            stop.clone(),
        ));
        let count = || fake.synced.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(count(), 1, "initial sync right away");

        // Three changes within the min sync period: one sync, after it.
        for name in ["a", "b", "c"] {
            shared.update(|t| t.service_applied(&service(name)));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(count(), 1, "not before min-sync-period");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(count(), 2);
        assert_eq!(fake.synced.lock().unwrap()[1].services.len(), 3);

        // Nothing changes: the periodic resync comes after sync_period.
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert_eq!(count(), 2);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(count(), 3);

        // A failing proxier is retried after min_sync_period.
        fake.fail.store(true, Ordering::SeqCst);
        shared.update(|t| t.service_deleted("ns", "a"));
        tokio::time::sleep(Duration::from_secs(3)).await;
        fake.fail.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(count(), 4);
        assert!(shared.health.status().0);

        stop.cancel();
        task.await.unwrap();
    }
}
