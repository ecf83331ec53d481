//! The requests and configuration the watch cache takes, and what a LIST
//! returns: plain data, kept apart from the cache's machinery.

use std::sync::Arc;
use std::time::Duration;

use super::CachedObject;
use crate::etcd::resource_of;
use crate::filter::{AttrsFn, Filter, TransformFn};

/// Per-resource cache configuration.
#[derive(Clone)]
pub struct CacheConfig {
    /// Relative key prefix of the resource, ending in `/` (e.g. `pods/`).
    pub prefix: String,
    /// `apiVersion` of bookmark events (the resource's storage version).
    pub api_version: String,
    /// `kind` of bookmark events.
    pub kind: String,
    /// How many recent events to keep for resuming watches.
    pub window: usize,
    /// Extracts selectable fields for field selectors.
    pub attrs: AttrsFn,
    /// Applied to every object decoded from etcd before anything is
    /// extracted from it (None: objects are kept as stored). Objects the
    /// apiserver primes the cache with are taken as they were written.
    pub transform: Option<TransformFn>,
    /// The `resource` label of the cache's metrics (e.g. `pods`,
    /// `deployments.apps`); empty = derived from `prefix`.
    pub resource: String,
    /// How often watchers that asked for bookmarks get one (upstream:
    /// about every minute).
    pub bookmark_interval: Duration,
    /// Events buffered per watcher; a watcher that falls further behind is
    /// terminated.
    pub watcher_buffer: usize,
    /// Items per etcd page when (re)listing the prefix.
    pub list_page_size: i64,
    /// Whether answers to etcd progress requests can be trusted to follow
    /// every earlier event (true from etcd 3.4.31 / 3.5.13, see
    /// [`WatchCache::progress_is_ordered`]); if not, the cache writes a
    /// barrier key instead. None = detect from etcd's version.
    pub trust_progress: Option<bool>,
}

impl CacheConfig {
    /// A configuration with upstream-like defaults: a window of 10,000
    /// events, bookmarks every 60 s, 1,000 buffered events per watcher,
    /// pages of 10,000 objects, no extra selectable fields.
    pub fn new(prefix: &str, api_version: &str, kind: &str) -> CacheConfig {
        CacheConfig {
            prefix: prefix.to_string(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            window: 10_000,
            attrs: Arc::new(|_| Vec::new()),
            transform: None,
            resource: String::new(),
            bookmark_interval: Duration::from_secs(60),
            watcher_buffer: 1_000,
            list_page_size: 10_000,
            trust_progress: None,
        }
    }

    pub(super) fn metrics_resource(&self) -> String {
        if self.resource.is_empty() {
            resource_of(&self.prefix)
        } else {
            self.resource.clone()
        }
    }
}

impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheConfig")
            .field("prefix", &self.prefix)
            .field("api_version", &self.api_version)
            .field("kind", &self.kind)
            .field("window", &self.window)
            .field("bookmark_interval", &self.bookmark_interval)
            .field("watcher_buffer", &self.watcher_buffer)
            .finish_non_exhaustive()
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// Send every current object as ADDED first, then changes.
    /// (resourceVersion unset or "0", or sendInitialEvents=true.)
    InitialState,
    /// Send changes after this revision (resourceVersion=N). 410 if the
    /// window no longer covers it.
    After(i64),
}

/// A watch request.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// Relative key prefix to watch (`pods/` or `pods/default/`); an exact
    /// key (no trailing `/`) watches that one object.
    pub prefix: String,
    /// Selectors.
    pub filter: Filter,
    /// Where to start.
    pub start: WatchStart,
    /// Send periodic BOOKMARK events.
    pub bookmarks: bool,
    /// After the initial state, send a BOOKMARK annotated
    /// `k8s.io/initial-events-end: "true"` (sendInitialEvents=true).
    pub initial_events_end_bookmark: bool,
}

/// A LIST request served from memory.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// Relative key prefix (`pods/` or `pods/default/`); an exact key (no
    /// trailing `/`) lists at most that one object.
    pub prefix: String,
    /// Selectors.
    pub filter: Filter,
    /// Start strictly after this relative key.
    pub start_after: Option<String>,
    /// At most this many items (None or 0 = all).
    pub limit: Option<usize>,
}

/// A LIST answer.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// Matching objects in key order.
    pub items: Vec<Arc<CachedObject>>,
    /// The revision the answer reflects.
    pub revision: i64,
    /// If the list was cut by `limit` and more matching items follow, the
    /// key of the last item returned.
    pub continue_after: Option<String>,
    /// How many more matching items follow, when known (only set together
    /// with `continue_after`, and only for lists without selectors).
    pub remaining: Option<i64>,
}
