//! Upstream's controller "expectations": what a controller has just asked
//! the apiserver to create or delete and not yet seen in its informer.
//!
//! A ReplicaSet that created 3 pods must not create 3 more because its pod
//! cache has not caught up yet. Before creating or deleting, the controller
//! records how many adds (and which pod keys it deletes); the pod informer's
//! handlers lower the counts as the pods show up or go away. Replicas are
//! only managed while the expectations of the controller are satisfied:
//! nothing pending, no record at all, or the record is older than
//! [`EXPECTATIONS_TIMEOUT`] (a lost watch event must not block a controller
//! forever).
//!
//! Deletions are tracked by pod key (upstream's
//! `UIDTrackingControllerExpectations`), so a pod that disappears for
//! another reason (or twice: update with deletionTimestamp, then delete)
//! is counted once.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// After this long, unfulfilled expectations no longer block a sync.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Record {
    adds: i64,
    deletes: i64,
    pending_deletes: HashSet<String>,
    set_at: Instant,
}

impl Record {
    fn fulfilled(&self) -> bool {
        self.adds <= 0 && self.deletes <= 0
    }
}

/// Expectations per controller key (`namespace/name`). Cheap to share
/// behind an `Arc`; all methods take `&self`.
#[derive(Debug, Default)]
pub struct Expectations {
    records: Mutex<HashMap<String, Record>>,
}

impl Expectations {
    /// No expectations.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `key` may manage its replicas now.
    pub fn satisfied(&self, key: &str) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(record) => record.fulfilled() || record.set_at.elapsed() > EXPECTATIONS_TIMEOUT,
        }
    }

    /// `key` is about to create `adds` objects (replaces earlier
    /// expectations, as upstream's `SetExpectations`).
    pub fn expect_creations(&self, key: &str, adds: usize) {
        self.lock().insert(
            key.to_string(),
            Record {
                adds: i64::try_from(adds).unwrap_or(i64::MAX),
                deletes: 0,
                pending_deletes: HashSet::new(),
                set_at: Instant::now(),
            },
        );
    }

    /// `key` is about to delete the objects named by `object_keys`.
    pub fn expect_deletions(&self, key: &str, object_keys: impl IntoIterator<Item = String>) {
        let pending: HashSet<String> = object_keys.into_iter().collect();
        self.lock().insert(
            key.to_string(),
            Record {
                adds: 0,
                deletes: i64::try_from(pending.len()).unwrap_or(i64::MAX),
                pending_deletes: pending,
                set_at: Instant::now(),
            },
        );
    }

    /// One of `key`'s creations was seen (or will never happen).
    pub fn creation_observed(&self, key: &str) {
        if let Some(record) = self.lock().get_mut(key) {
            record.adds -= 1;
        }
    }

    /// The object `object_key` that `key` may have deleted is gone (or the
    /// delete failed); counted once per object.
    pub fn deletion_observed(&self, key: &str, object_key: &str) {
        if let Some(record) = self.lock().get_mut(key)
            && record.pending_deletes.remove(object_key)
        {
            record.deletes -= 1;
        }
    }

    /// Forgets `key` (its controller was deleted).
    pub fn delete(&self, key: &str) {
        self.lock().remove(key);
    }

    /// The (adds, deletes) still pending for `key`, for logs and tests.
    pub fn pending(&self, key: &str) -> Option<(i64, i64)> {
        self.lock().get(key).map(|r| (r.adds, r.deletes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_must_be_observed() {
        let e = Expectations::new();
        assert!(e.satisfied("ns/rs"));
        e.expect_creations("ns/rs", 2);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs"));
        // Extra observations (an adopted pod) do not hurt.
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs"));
    }

    #[test]
    fn deletions_count_each_object_once() {
        let e = Expectations::new();
        e.expect_deletions("ns/rs", ["ns/a".to_string(), "ns/b".to_string()]);
        e.deletion_observed("ns/rs", "ns/a");
        e.deletion_observed("ns/rs", "ns/a");
        e.deletion_observed("ns/rs", "ns/other");
        assert_eq!(e.pending("ns/rs"), Some((0, 1)));
        assert!(!e.satisfied("ns/rs"));
        e.deletion_observed("ns/rs", "ns/b");
        assert!(e.satisfied("ns/rs"));
        e.delete("ns/rs");
        assert_eq!(e.pending("ns/rs"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_expectations_expire() {
        let e = Expectations::new();
        e.expect_creations("ns/rs", 1);
        tokio::time::advance(EXPECTATIONS_TIMEOUT - Duration::from_secs(1)).await;
        assert!(!e.satisfied("ns/rs"));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(e.satisfied("ns/rs"));
    }
}
