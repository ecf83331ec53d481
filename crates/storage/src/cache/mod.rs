//! The watch cache: one etcd watch per resource, every object in memory
//! (serialized once, with its resourceVersion), and a bounded window of
//! recent events for resuming watches.
//!
//! Structure:
//! * a background task (the reflector, `reflector.rs`) lists the prefix,
//!   then follows one etcd watch and is the only writer of the index;
//! * the index (`BTreeMap` key -> `Arc<CachedObject>`, the revision and
//!   the event window) sits behind a `RwLock` that is only held for
//!   in-memory work, never across an await;
//! * the watcher registry sits behind its own mutex; each batch of events
//!   is applied to the index first and then fanned out, every watcher
//!   receiving the same `Arc<WatchEvent>` (encoded once per variant).
//!
//! Lock order: index, then registry (never the other way round).

mod apply;
mod event;
mod object;
mod primed;
mod reflector;
mod request;
mod scope;
mod watcher;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use event::{EventType, WatchEvent};
pub use object::CachedObject;
pub use primed::{ObjectAttrs, splice_resource_version};
pub use request::{CacheConfig, ListRequest, ListResult, WatchRequest, WatchStart};
pub use watcher::Watcher;

use crate::error::{Error, Result};
use crate::etcd::{EtcdEvent, EtcdEventKind, EtcdStore};
use crate::metrics;
use event::CacheEvent;
use primed::{Primed, PrimedObjects};
use scope::KeyScope;
use watcher::{Registry, WatcherEntry, WatcherParts};

/// How long a watch from a resourceVersion newer than the cache waits for
/// the cache to catch up before failing (upstream: 3 s).
const WATCH_FUTURE_RV_WAIT: Duration = Duration::from_secs(3);

/// How often a waiter re-asks for a progress notification.
const PROGRESS_RETRY: Duration = Duration::from_millis(100);

/// The in-memory state of one resource.
pub(crate) struct Index {
    objects: BTreeMap<String, Arc<CachedObject>>,
    /// Every event up to this revision is applied.
    revision: i64,
    /// The most recent events, oldest first.
    window: VecDeque<Arc<CacheEvent>>,
    /// The oldest revision a watch can resume after.
    oldest: i64,
}

/// Metric handles, resolved once per cache.
struct CacheMetrics {
    objects: IntGauge,
    resource_version: IntGauge,
    received: IntCounter,
    dispatched: IntCounter,
    terminated: IntCounter,
    initializations: IntCounter,
}

/// State shared by the cache handle, its tasks and its watchers.
pub(crate) struct Shared {
    config: CacheConfig,
    index: RwLock<Index>,
    registry: Mutex<Registry>,
    revision_tx: watch::Sender<i64>,
    progress_wanted: Notify,
    /// The last barrier write (see [`WatchCache::wait_consistent`]); the
    /// lock also serializes barrier writes so concurrent waiters share one.
    barrier: tokio::sync::Mutex<LastBarrier>,
    metrics: CacheMetrics,
    /// Writes of this process waiting for their events (see
    /// [`WatchCache::prime`]).
    primed: PrimedObjects,
    #[cfg(test)]
    pub(crate) hooks: TestHooks,
}

/// The most recent barrier write.
#[derive(Default)]
struct LastBarrier {
    /// When its write was sent.
    started: Option<Instant>,
    /// Its revision.
    revision: i64,
}

/// Which barrier a waiter can use.
#[derive(Clone, Copy)]
enum BarrierNeed {
    /// One at or after this revision (which etcd must already have reached).
    Revision(i64),
    /// One whose write was sent at or after this instant.
    SentAfter(Instant),
}

/// Lets tests break the etcd watch and hold the reflector before it
/// re-opens one, to provoke a compaction-driven relist deterministically.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct TestHooks {
    /// Notified: the reflector drops its current watch.
    pub break_watch: Notify,
    /// Write-locked by a test: the reflector waits before opening a watch.
    pub hold: tokio::sync::RwLock<()>,
}

impl Shared {
    fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn index_mut(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn revision(&self) -> i64 {
        *self.revision_tx.borrow()
    }

    fn lookup(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.index().objects.get(key).cloned()
    }
}

/// The cache of one resource.
///
/// Create it with [`WatchCache::start`]; the background tasks stop when
/// the last `Arc<WatchCache>` is dropped (or on [`WatchCache::stop`]), which
/// also ends every watch.
pub struct WatchCache {
    shared: Arc<Shared>,
    store: EtcdStore,
    trust_progress: bool,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for WatchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchCache")
            .field("prefix", &self.shared.config.prefix)
            .field("revision", &self.revision())
            .finish_non_exhaustive()
    }
}

impl WatchCache {
    #[cfg(test)]
    pub(crate) fn hooks(&self) -> &TestHooks {
        &self.shared.hooks
    }

    /// Lists the resource's prefix from etcd (paginated, all pages at one
    /// revision), then follows it with one etcd watch from the next
    /// revision in a background task. Fails if the initial list fails.
    /// Must be called within a tokio runtime. A `config.prefix` without a
    /// trailing `/` gets one (`pods` would also match `podsecuritypolicies`).
    pub async fn start(store: EtcdStore, mut config: CacheConfig) -> Result<Arc<WatchCache>> {
        metrics::register();
        // The prefix must name a directory: it doubles as the barrier key.
        if !config.prefix.ends_with('/') {
            config.prefix.push('/');
        }
        let resource = config.metrics_resource();
        let trust_progress = match config.trust_progress {
            Some(trust) => trust,
            None => match store.server_version().await {
                Ok(version) => progress_ordered_in(&version),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the etcd version");
                    false
                }
            },
        };
        let label = [resource.as_str()];
        let cache_metrics = CacheMetrics {
            objects: metrics::STORAGE_OBJECTS.with_label_values(&label),
            resource_version: metrics::WATCH_CACHE_RESOURCE_VERSION.with_label_values(&label),
            received: metrics::WATCH_CACHE_EVENTS_RECEIVED.with_label_values(&label),
            dispatched: metrics::WATCH_CACHE_EVENTS_DISPATCHED.with_label_values(&label),
            terminated: metrics::TERMINATED_WATCHERS.with_label_values(&label),
            initializations: metrics::WATCH_CACHE_INITIALIZATIONS.with_label_values(&label),
        };
        metrics::WATCH_CACHE_CAPACITY
            .with_label_values(&label)
            .set(config.window as i64);

        let (objects, revision) = reflector::list_all(&store, &config).await?;
        cache_metrics.initializations.inc();
        let len = objects.len();
        let (revision_tx, _) = watch::channel(revision);
        let shared = Arc::new(Shared {
            index: RwLock::new(Index {
                objects,
                revision,
                window: VecDeque::with_capacity(config.window.min(100_000)),
                oldest: revision,
            }),
            registry: Mutex::new(Registry::new(revision)),
            revision_tx,
            progress_wanted: Notify::new(),
            barrier: tokio::sync::Mutex::new(LastBarrier::default()),
            metrics: cache_metrics,
            primed: PrimedObjects::default(),
            config,
            #[cfg(test)]
            hooks: TestHooks::default(),
        });
        shared.publish(len, revision);
        tracing::info!(
            resource = %resource,
            objects = len,
            revision,
            trust_progress,
            "watch cache listed"
        );

        let reflector = tokio::spawn(reflector::run(
            shared.clone(),
            store.clone(),
            trust_progress,
        ));
        let bookmarks = tokio::spawn(bookmark_loop(
            Arc::downgrade(&shared),
            shared.config.bookmark_interval,
        ));
        Ok(Arc::new(WatchCache {
            shared,
            store,
            trust_progress,
            tasks: vec![reflector, bookmarks],
        }))
    }

    /// Announces a write this process is about to make: `stored` are the
    /// exact bytes for the relative `key`, `attrs` what the cache would
    /// extract from them (see [`WatchCache::attrs_of`]). When the watch
    /// event with those bytes arrives, the cache builds the entry from
    /// these parts instead of decoding the bytes again. Harmless if the
    /// write fails or is superseded: entries only match identical bytes.
    pub fn prime(&self, key: &str, stored: &[u8], attrs: ObjectAttrs) {
        let prefix = &self.shared.config.prefix;
        if !key.starts_with(prefix.as_str()) || key.len() == prefix.len() {
            return;
        }
        if let Some(primed) = Primed::new(bytes::Bytes::copy_from_slice(stored), attrs) {
            self.shared.primed.insert(key.to_string(), primed);
        }
    }

    /// What the cache extracts from a decoded object (its resourceVersion
    /// aside), for [`WatchCache::prime`].
    pub fn attrs_of(&self, object: &serde_json::Value) -> Option<ObjectAttrs> {
        ObjectAttrs::from_value(object, &self.shared.config.attrs)
    }

    /// Withdraws a [`WatchCache::prime`] whose write failed.
    pub fn unprime(&self, key: &str) {
        self.shared.primed.remove(key);
    }

    /// Stops the background tasks; every watch ends. The cache keeps
    /// answering from its last state.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
        self.shared.registry().terminate_all();
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.shared.config
    }

    /// The store the cache reads from.
    pub fn store(&self) -> &EtcdStore {
        &self.store
    }

    /// The revision the cache reflects: every event up to it is applied.
    pub fn revision(&self) -> i64 {
        self.shared.revision()
    }

    /// The oldest revision a watch can resume after
    /// (`WatchStart::After(rv)` needs `rv >= oldest_revision()`).
    pub fn oldest_revision(&self) -> i64 {
        self.shared.index().oldest
    }

    /// Whether etcd's answers to progress requests are ordered after all
    /// earlier events (etcd >= 3.4.31 / 3.5.13; etcd issue #15220). If so,
    /// the cache catches up through progress requests; if not, through a
    /// barrier write (see [`WatchCache::wait_consistent`]). Both are exact.
    pub fn progress_is_ordered(&self) -> bool {
        self.trust_progress
    }

    /// Number of cached objects.
    pub fn len(&self) -> usize {
        self.shared.index().objects.len()
    }

    /// Whether the cache holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of live watchers.
    pub fn watcher_count(&self) -> usize {
        self.shared.registry().len()
    }

    /// One cached object by relative key.
    pub fn get(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.shared.lookup(key)
    }

    /// Waits until the cache reflects `revision`, asking etcd for progress
    /// notifications so an idle resource catches up with writes to other
    /// resources. `Error::ResourceVersionTooLarge` on timeout.
    pub async fn wait_for_revision(&self, revision: i64, timeout: Duration) -> Result<()> {
        if self.catch_up(revision, Instant::now() + timeout).await {
            Ok(())
        } else {
            Err(Error::ResourceVersionTooLarge {
                requested: revision,
                current: self.revision(),
            })
        }
    }

    /// Waits until the cache has caught up with etcd as of the call, so
    /// that a following [`WatchCache::list`] is a consistent (quorum) read;
    /// returns the cache revision. `Error::ResourceVersionTooLarge` on
    /// timeout, `Error::Unavailable` if etcd cannot be reached.
    ///
    /// Other resources' writes advance etcd's revision too, so an idle cache
    /// must learn that no event of its own is pending:
    /// * on etcd >= 3.4.31 / 3.5.13 it reads etcd's current revision and
    ///   sends a progress request on its watch; the answer proves every
    ///   earlier event was delivered;
    /// * on older etcd (3.4.23 here) such answers can overtake pending
    ///   events (etcd issue #15220, reproduced by this crate's tests), so it
    ///   writes a barrier instead: an unconditional put of the key equal to
    ///   the resource prefix (`/registry/pods/`, never an object; excluded
    ///   from lists). A watch delivers its own events in revision order, so
    ///   seeing the barrier's event proves every earlier one arrived.
    ///   Concurrent waiters share one barrier write.
    pub async fn wait_consistent(&self, timeout: Duration) -> Result<i64> {
        let deadline = Instant::now() + timeout;
        let target = if self.trust_progress {
            tokio::time::timeout_at(deadline, self.store.current_revision())
                .await
                .map_err(|_| Error::Unavailable("timed out reading etcd's revision".into()))??
        } else {
            self.barrier(BarrierNeed::SentAfter(Instant::now()), deadline)
                .await?
        };
        if self.catch_up(target, deadline).await {
            Ok(self.revision())
        } else {
            Err(Error::ResourceVersionTooLarge {
                requested: target,
                current: self.revision(),
            })
        }
    }

    /// A consistent (quorum) LIST from memory: [`WatchCache::wait_consistent`]
    /// then [`WatchCache::list`].
    pub async fn list_consistent(
        &self,
        req: &ListRequest,
        timeout: Duration,
    ) -> Result<ListResult> {
        self.wait_consistent(timeout).await?;
        Ok(self.list(req))
    }

    /// LIST from memory: the objects under `req.prefix` that pass the
    /// filter, in key order, strictly after `start_after`, at most `limit`.
    pub fn list(&self, req: &ListRequest) -> ListResult {
        let scope = KeyScope::new(&req.prefix);
        let everything = req.filter.is_everything();
        let limit = req.limit.filter(|l| *l > 0);
        let index = self.shared.index();
        let mut matching = scope
            .range(&index.objects, req.start_after.as_deref())
            .filter(|o| everything || req.filter.matches(o));
        let mut items: Vec<Arc<CachedObject>> = match limit {
            Some(l) => Vec::with_capacity(l.min(10_000)),
            None => Vec::new(),
        };
        let mut continue_after = None;
        let mut remaining = None;
        for obj in matching.by_ref() {
            items.push(obj.clone());
            if limit == Some(items.len()) {
                break;
            }
        }
        if limit.is_some_and(|l| items.len() == l) {
            if everything {
                let rest = matching.count() as i64;
                if rest > 0 {
                    continue_after = items.last().map(|o| o.key.clone());
                    remaining = Some(rest);
                }
            } else if matching.next().is_some() {
                // Counting the rest would evaluate the filter on every
                // remaining object; upstream omits the count too.
                continue_after = items.last().map(|o| o.key.clone());
            }
        }
        ListResult {
            items,
            revision: index.revision,
            continue_after,
            remaining,
        }
    }

    /// LIST read from etcd at `revision` (0 = etcd's current revision):
    /// each item is decoded like the cache does and filtered; pages are read
    /// until `limit` matching items are found or the range ends. Used for
    /// continue tokens and resourceVersionMatch=Exact.
    /// `Error::TooOldResourceVersion` if `revision` was compacted.
    pub async fn list_from_etcd(&self, req: &ListRequest, revision: i64) -> Result<ListResult> {
        reflector::list_from_etcd(&self.store, &self.shared.config, req, revision).await
    }

    /// Starts a watch. See [`WatchStart`] and [`Watcher`].
    ///
    /// `After(rv)`: `Error::TooOldResourceVersion` if the window no longer
    /// holds every event after `rv`; if `rv` is newer than the cache, waits
    /// up to 3 s for it (`Error::ResourceVersionTooLarge` otherwise).
    pub async fn watch(&self, req: WatchRequest) -> Result<Watcher> {
        if let WatchStart::After(rv) = req.start
            && rv > self.revision()
            && !self
                .catch_up(rv, Instant::now() + WATCH_FUTURE_RV_WAIT)
                .await
        {
            return Err(Error::ResourceVersionTooLarge {
                requested: rv,
                current: self.revision(),
            });
        }
        let scope = KeyScope::new(&req.prefix);
        let everything = req.filter.is_everything();
        let (tx, rx) = mpsc::channel(self.shared.config.watcher_buffer.max(1));
        let index = self.shared.index();
        let (snapshot, replay) = match req.start {
            WatchStart::InitialState => {
                let snapshot: Vec<Arc<CachedObject>> = scope
                    .range(&index.objects, None)
                    .filter(|o| everything || req.filter.matches(o))
                    .cloned()
                    .collect();
                (snapshot, Vec::new())
            }
            WatchStart::After(rv) => {
                if rv < index.oldest {
                    return Err(Error::TooOldResourceVersion {
                        requested: rv,
                        oldest: index.oldest,
                    });
                }
                let replay: Vec<Arc<CacheEvent>> = index
                    .window
                    .iter()
                    .filter(|e| e.revision > rv && scope.contains(e.key()))
                    .cloned()
                    .collect();
                (Vec::new(), replay)
            }
        };
        let revision = index.revision;
        let id = self.shared.registry().register(WatcherEntry {
            scope,
            filter: req.filter.clone(),
            everything,
            bookmarks: req.bookmarks,
            from_revision: revision,
            tx,
        });
        drop(index);
        let end_bookmark = req.initial_events_end_bookmark.then(|| {
            Arc::new(WatchEvent::bookmark(
                &self.shared.config.api_version,
                &self.shared.config.kind,
                revision,
                true,
            ))
        });
        Ok(Watcher::new(WatcherParts {
            revision,
            snapshot,
            replay,
            filter: req.filter,
            everything,
            end_bookmark,
            rx,
            shared: Arc::downgrade(&self.shared),
            id,
        }))
    }

    /// Waits until the cache revision reaches `target`, nudging the
    /// reflector with progress requests or barrier writes. False on
    /// deadline.
    async fn catch_up(&self, target: i64, deadline: Instant) -> bool {
        let mut rx = self.shared.revision_tx.subscribe();
        loop {
            if *rx.borrow_and_update() >= target {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            if self.trust_progress {
                self.shared.progress_wanted.notify_one();
            } else if let Err(e) = self.barrier(BarrierNeed::Revision(target), deadline).await {
                tracing::debug!(error = %e, "no barrier yet");
            }
            let retry = (Instant::now() + PROGRESS_RETRY).min(deadline);
            // Wake on every revision change; ask again only when nothing
            // moved for a while (a lost request, or a target etcd has not
            // reached yet).
            loop {
                match tokio::time::timeout_at(retry, rx.changed()).await {
                    Ok(Ok(())) => {
                        if *rx.borrow_and_update() >= target {
                            return true;
                        }
                    }
                    // The cache shut down.
                    Ok(Err(_)) => return false,
                    Err(_) => break,
                }
            }
        }
    }

    /// Makes sure a barrier that satisfies `need` was written and returns
    /// its revision. For `BarrierNeed::Revision`, nothing is written until
    /// etcd has reached that revision: a barrier must not be what makes a
    /// future revision exist.
    async fn barrier(&self, need: BarrierNeed, deadline: Instant) -> Result<i64> {
        let timed_out = || Error::Unavailable("timed out writing the watch cache barrier".into());
        let mut last = tokio::time::timeout_at(deadline, self.shared.barrier.lock())
            .await
            .map_err(|_| timed_out())?;
        let covered = match need {
            BarrierNeed::Revision(target) => last.revision >= target,
            BarrierNeed::SentAfter(t0) => last.started.is_some_and(|s| s >= t0),
        };
        if covered {
            return Ok(last.revision);
        }
        if let BarrierNeed::Revision(target) = need {
            let current = tokio::time::timeout_at(deadline, self.store.current_revision())
                .await
                .map_err(|_| timed_out())??;
            if current < target {
                return Err(Error::ResourceVersionTooLarge {
                    requested: target,
                    current,
                });
            }
        }
        let started = Instant::now();
        let revision = tokio::time::timeout_at(
            deadline,
            self.store.write_barrier(&self.shared.config.prefix),
        )
        .await
        .map_err(|_| timed_out())??;
        last.started = Some(started);
        last.revision = last.revision.max(revision);
        Ok(revision)
    }
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn bookmark_loop(shared: std::sync::Weak<Shared>, interval: Duration) {
    let interval = interval.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.send_bookmarks();
    }
}

/// Whether etcd `version` answers progress requests only after delivering
/// every earlier event: 3.4.31+, 3.5.13+, 3.6+ (the versions upstream
/// trusts for ConsistentListFromCache).
pub(crate) fn progress_ordered_in(version: &str) -> bool {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    match (major, minor) {
        (3, 4) => patch >= 31,
        (3, 5) => patch >= 13,
        (3, m) => m >= 6,
        (m, _) => m > 3,
    }
}
