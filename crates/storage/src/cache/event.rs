//! Watch events: the per-watcher view ([`WatchEvent`]) and the cache's
//! record of one change ([`CacheEvent`]) that produces it.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::object::{CachedObject, encode_event};
use crate::filter::Filter;

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
    /// delete's revision as resourceVersion; for a bookmark: an object
    /// with only kind, apiVersion and metadata).
    pub object: Arc<CachedObject>,
    encoded: Bytes,
}

impl WatchEvent {
    /// Encodes an event (once; callers share the result).
    pub(crate) fn new(event_type: EventType, object: Arc<CachedObject>) -> WatchEvent {
        let encoded = match event_type {
            EventType::Added => object.added_event_json().clone(),
            _ => encode_event(event_type, &object.json),
        };
        WatchEvent {
            event_type,
            object,
            encoded,
        }
    }

    /// A BOOKMARK event at `resource_version`.
    pub(crate) fn bookmark(
        api_version: &str,
        kind: &str,
        resource_version: i64,
        initial_events_end: bool,
    ) -> WatchEvent {
        let object = Arc::new(CachedObject::bookmark(
            api_version,
            kind,
            resource_version,
            initial_events_end,
        ));
        WatchEvent::new(EventType::Bookmark, object)
    }

    /// The wire encoding, newline-terminated.
    pub fn encoded_json(&self) -> &Bytes {
        &self.encoded
    }

    /// The resourceVersion the event carries.
    pub fn resource_version(&self) -> i64 {
        self.object.resource_version
    }
}

/// One change of one key as the cache recorded it: the state before and
/// after. Watchers see it as ADDED, MODIFIED or DELETED depending on which
/// of the two states their filter selects; each variant is encoded at most
/// once, on first use, and shared.
#[derive(Debug)]
pub(crate) struct CacheEvent {
    /// The etcd revision of the change.
    pub revision: i64,
    /// The state before (None for a creation).
    pub prev: Option<Arc<CachedObject>>,
    /// The state after (None for a deletion).
    pub current: Option<Arc<CachedObject>>,
    added: OnceLock<Arc<WatchEvent>>,
    modified: OnceLock<Arc<WatchEvent>>,
    deleted: OnceLock<Arc<WatchEvent>>,
}

impl CacheEvent {
    /// A change; at least one of `prev` and `current` should be set.
    pub fn new(
        revision: i64,
        prev: Option<Arc<CachedObject>>,
        current: Option<Arc<CachedObject>>,
    ) -> CacheEvent {
        CacheEvent {
            revision,
            prev,
            current,
            added: OnceLock::new(),
            modified: OnceLock::new(),
            deleted: OnceLock::new(),
        }
    }

    /// The relative key of the changed object.
    pub fn key(&self) -> &str {
        match (&self.current, &self.prev) {
            (Some(o), _) | (None, Some(o)) => &o.key,
            (None, None) => "",
        }
    }

    /// The event a watcher with `filter` sees, with upstream semantics: old
    /// and new state match -> MODIFIED; only the new one -> ADDED; only the
    /// old one -> DELETED carrying the old content with this event's
    /// resourceVersion; neither -> nothing. `everything` short-cuts the
    /// filter.
    pub fn for_watcher(&self, filter: &Filter, everything: bool) -> Option<Arc<WatchEvent>> {
        let passes = |o: &Arc<CachedObject>| everything || filter.matches(o);
        let new_matches = self.current.as_ref().is_some_and(passes);
        let old_matches = self.prev.as_ref().is_some_and(passes);
        match (old_matches, new_matches) {
            (true, true) => Some(self.modified()),
            (false, true) => Some(self.added()),
            (true, false) => Some(self.deleted()),
            (false, false) => None,
        }
    }

    fn added(&self) -> Arc<WatchEvent> {
        self.added
            .get_or_init(|| Arc::new(WatchEvent::new(EventType::Added, self.current_object())))
            .clone()
    }

    fn modified(&self) -> Arc<WatchEvent> {
        self.modified
            .get_or_init(|| Arc::new(WatchEvent::new(EventType::Modified, self.current_object())))
            .clone()
    }

    fn deleted(&self) -> Arc<WatchEvent> {
        self.deleted
            .get_or_init(|| {
                let object = match &self.prev {
                    Some(prev) => Arc::new(prev.with_resource_version(self.revision)),
                    None => self.current_object(),
                };
                Arc::new(WatchEvent::new(EventType::Deleted, object))
            })
            .clone()
    }

    fn current_object(&self) -> Arc<CachedObject> {
        match (&self.current, &self.prev) {
            (Some(o), _) | (None, Some(o)) => o.clone(),
            // Never constructed (the cache drops such events); an empty
            // bookmark-like object keeps this total without panicking.
            (None, None) => Arc::new(CachedObject::bookmark("", "", self.revision, false)),
        }
    }
}
