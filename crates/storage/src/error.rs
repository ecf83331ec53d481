//! Storage errors. The apiserver maps each to a metav1.Status.

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key does not exist.
    #[error("key not found: {key}")]
    NotFound {
        /// The relative key.
        key: String,
    },
    /// A create found the key already present.
    #[error("key already exists: {key}")]
    AlreadyExists {
        /// The relative key.
        key: String,
    },
    /// A compare-and-swap saw a different mod_revision than expected.
    #[error("revision mismatch on {key}")]
    Conflict {
        /// The relative key.
        key: String,
    },
    /// The requested revision is older than what etcd or the cache window holds.
    #[error("too old resource version: {requested} ({oldest})")]
    TooOldResourceVersion {
        /// The revision the client asked for.
        requested: i64,
        /// The oldest revision still available.
        oldest: i64,
    },
    /// Waiting for the cache to reach a revision timed out.
    #[error("Too large resource version: {requested}, current: {current}")]
    ResourceVersionTooLarge {
        /// The revision the client asked for.
        requested: i64,
        /// The cache's revision when the wait gave up.
        current: i64,
    },
    /// A stored value could not be decoded.
    #[error("corrupt object at {key}: {detail}")]
    Corrupt {
        /// The relative key.
        key: String,
        /// What failed to decode.
        detail: String,
    },
    /// etcd returned an error or is unreachable.
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    /// The cache is not ready or was shut down.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Result alias for storage operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
