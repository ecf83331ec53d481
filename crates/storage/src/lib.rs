//! Storage for the apiserver: the real etcd (v3 API) plus a watch cache per
//! resource.
//!
//! * [`EtcdStore`] is the only thing in Corten that talks to etcd. Keys are
//!   given relative to the configured prefix (`pods/default/web-1` is stored
//!   at `/registry/pods/default/web-1`). Every write is a transaction:
//!   create is put-if-absent, update and delete compare the key's
//!   `mod_revision`. An object's resourceVersion *is* its `mod_revision`.
//! * [`WatchCache`] keeps one etcd watch per resource, an in-memory copy of
//!   every object (already serialized, with its resourceVersion set) and a
//!   bounded window of recent events, so LIST and WATCH never touch etcd and
//!   each event is encoded once no matter how many watchers receive it.
//! * `testing` (feature `testing`, or in this crate's tests) starts a real
//!   etcd on free loopback ports for tests.
#![warn(missing_docs)]

pub mod cache;
pub mod error;
pub mod etcd;
pub mod filter;
pub mod metrics;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use cache::{
    CacheConfig, CachedObject, EventType, ListRequest, ListResult, WatchCache, WatchEvent,
    WatchRequest, WatchStart, Watcher,
};
pub use error::{Error, Result};
pub use etcd::{
    EtcdEvent, EtcdEventKind, EtcdStore, EtcdWatch, EtcdWatchMessage, KeyValue, ListOptions,
    ListPage, UpdateDecision, UpdateOutcome, ValueTransformer,
};
pub use filter::{AttrsFn, Filter, TransformFn};
