//! The etcd v3 backend: transactional create/update/delete keyed by
//! mod_revision, paginated range reads (optionally at a past revision) and
//! watches.

use bytes::Bytes;

use crate::error::Result;

/// One stored key.
#[derive(Debug, Clone)]
pub struct KeyValue {
    /// The key relative to the store prefix, e.g. `pods/default/web`.
    pub key: String,
    /// The stored bytes (JSON without `metadata.resourceVersion`).
    pub value: Bytes,
    /// The revision of the last write: the object's resourceVersion.
    pub mod_revision: i64,
    /// The revision at which the key was created.
    pub create_revision: i64,
}

/// Options of a range read.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Start strictly after this relative key (for continue tokens).
    pub start_after: Option<String>,
    /// At most this many items (None = all).
    pub limit: Option<i64>,
    /// Read at this past revision (None = current).
    pub revision: Option<i64>,
}

/// One page of a range read.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// Items in key order.
    pub items: Vec<KeyValue>,
    /// The revision the read was served at.
    pub revision: i64,
    /// Whether more keys follow the last item.
    pub more: bool,
    /// How many keys follow the last item (0 if unknown or none).
    pub remaining: i64,
}

/// What a `guaranteed_update` callback wants done with the current value.
#[derive(Debug, Clone)]
pub enum UpdateDecision {
    /// Write these bytes (compare-and-swap on the value's mod_revision).
    Write(Vec<u8>),
    /// Delete the key (compare-and-swap on the value's mod_revision).
    Delete,
    /// Leave it as it is (e.g. the update is a no-op).
    Unchanged,
}

/// What `guaranteed_update` did.
#[derive(Debug, Clone)]
pub enum UpdateOutcome {
    /// New bytes were written; this is the new key-value.
    Written(KeyValue),
    /// The key was deleted; this is the last value, with `mod_revision` set
    /// to the revision of the delete.
    Deleted(KeyValue),
    /// Nothing was written; this is the current value.
    Unchanged(KeyValue),
}

/// A handle on etcd. Cheap to clone.
#[derive(Clone)]
pub struct EtcdStore {
    client: etcd_client::Client,
    prefix: String,
}

impl EtcdStore {
    /// Connects to the given endpoints (`http://127.0.0.1:2379`). `prefix`
    /// is the `--etcd-prefix` (default `/registry`).
    pub async fn connect(_endpoints: &[String], _prefix: &str) -> Result<Self> {
        todo!("implemented by the storage work")
    }

    /// The configured prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The underlying client (for watches and health checks).
    pub fn client(&self) -> &etcd_client::Client {
        &self.client
    }

    /// Put-if-absent. Returns the new revision, or `Error::AlreadyExists`.
    pub async fn create(&self, _key: &str, _value: Vec<u8>) -> Result<i64> {
        todo!("implemented by the storage work")
    }

    /// Reads one key at the current revision (a linearizable read).
    pub async fn get(&self, _key: &str) -> Result<Option<KeyValue>> {
        todo!("implemented by the storage work")
    }

    /// Range read over keys starting with `prefix`.
    /// `Error::TooOldResourceVersion` if `opts.revision` was compacted.
    pub async fn list(&self, _prefix: &str, _opts: &ListOptions) -> Result<ListPage> {
        todo!("implemented by the storage work")
    }

    /// Read-modify-write with optimistic concurrency: reads the key (or
    /// starts from `hint` if given, to skip a round trip), calls `decide`,
    /// and compare-and-swaps on mod_revision, re-reading and calling
    /// `decide` again whenever another writer got there first. `decide`
    /// returns the caller's error type to abort (e.g. a precondition or
    /// validation failure). `Error::NotFound` (via `E: From<Error>`) if the
    /// key does not exist.
    pub async fn guaranteed_update<E, F>(
        &self,
        _key: &str,
        _hint: Option<KeyValue>,
        _decide: F,
    ) -> std::result::Result<UpdateOutcome, E>
    where
        E: From<crate::Error>,
        F: FnMut(&KeyValue) -> std::result::Result<UpdateDecision, E>,
    {
        todo!("implemented by the storage work")
    }

    /// The current etcd revision (from a cheap read's header).
    pub async fn current_revision(&self) -> Result<i64> {
        todo!("implemented by the storage work")
    }

    /// Compacts history up to `revision`.
    pub async fn compact(&self, _revision: i64) -> Result<()> {
        todo!("implemented by the storage work")
    }

    /// Whether etcd answers (for /healthz and /readyz `etcd` checks).
    pub async fn healthy(&self) -> bool {
        todo!("implemented by the storage work")
    }
}
