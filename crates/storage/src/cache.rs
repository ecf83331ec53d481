//! The watch cache: one etcd watch per resource, every object in memory
//! (serialized once, with its resourceVersion), and a bounded window of
//! recent events for resuming watches.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::filter::{AttrsFn, Filter};

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
}

/// One object as the cache holds it.
#[derive(Debug)]
pub struct CachedObject {
    /// Relative key.
    pub key: String,
    /// `metadata.namespace` ("" for cluster-scoped).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// mod_revision of the write that produced this state.
    pub resource_version: i64,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Selectable fields from `CacheConfig::attrs`.
    pub fields: Vec<(String, String)>,
    /// The object as JSON with `metadata.resourceVersion` set.
    pub json: Bytes,
}

impl CachedObject {
    /// The value of a selectable field (`metadata.name` and
    /// `metadata.namespace` always exist).
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "metadata.name" => Some(&self.name),
            "metadata.namespace" => Some(&self.namespace),
            _ => self
                .fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
        }
    }
}

/// The type of a watch event, as seen by one watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `ADDED`
    Added,
    /// `MODIFIED`
    Modified,
    /// `DELETED`
    Deleted,
    /// `BOOKMARK`
    Bookmark,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
            EventType::Bookmark => "BOOKMARK",
        }
    }
}

/// One event delivered to a watcher. The JSON encoding
/// (`{"type":"ADDED","object":{...}}\n`) is produced once per event and
/// variant and shared by every watcher that receives it.
#[derive(Debug)]
pub struct WatchEvent {
    /// The event type for this watcher.
    pub event_type: EventType,
    /// The object the watcher sees (for a delete: last state, with the
    /// delete's revision as resourceVersion).
    pub object: Arc<CachedObject>,
    encoded: Bytes,
}

impl WatchEvent {
    /// The wire encoding, newline-terminated.
    pub fn encoded_json(&self) -> &Bytes {
        &self.encoded
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
    /// key to watch one object is allowed.
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
    /// Relative key prefix (`pods/` or `pods/default/`).
    pub prefix: String,
    /// Selectors.
    pub filter: Filter,
    /// Start strictly after this relative key.
    pub start_after: Option<String>,
    /// At most this many items.
    pub limit: Option<usize>,
}

/// A LIST answer.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// Matching objects in key order.
    pub items: Vec<Arc<CachedObject>>,
    /// The revision the answer reflects.
    pub revision: i64,
    /// If the list was cut by `limit`, the key of the last item returned.
    pub continue_after: Option<String>,
    /// How many more matching items follow, when known.
    pub remaining: Option<i64>,
}

/// A live watch: a stream of events for one client.
pub struct Watcher {
    _private: (),
}

/// The cache of one resource.
pub struct WatchCache {
    _config: CacheConfig,
}
