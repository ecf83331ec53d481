//! Remembers the slices a controller wrote until its informer shows them,
//! so a sync never plans from a cache that does not yet hold its own last
//! writes (upstream `EndpointSliceTracker`; without it a second sync right
//! after a create would create the same slices again).

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use crate::framework::key::ObjectKey;

/// The resourceVersion as a number (etcd's mod revision); 0 when unknown.
fn revision(slice: &EndpointSlice) -> u64 {
    slice
        .resource_version()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

/// Expected slice states per owner.
#[derive(Debug, Default)]
pub struct SliceTracker {
    /// owner -> slice name -> the revision we wrote (`None`: we deleted it).
    expected: Mutex<HashMap<ObjectKey, HashMap<String, Option<u64>>>>,
}

impl SliceTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, HashMap<String, Option<u64>>>> {
        self.expected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a slice we created or updated (as the API returned it).
    pub fn wrote(&self, owner: &ObjectKey, slice: &EndpointSlice) {
        self.lock()
            .entry(owner.clone())
            .or_default()
            .insert(slice.name_any(), Some(revision(slice)));
    }

    /// Records a slice we deleted.
    pub fn deleted(&self, owner: &ObjectKey, name: &str) {
        self.lock()
            .entry(owner.clone())
            .or_default()
            .insert(name.to_string(), None);
    }

    /// Forgets an owner (it was deleted).
    pub fn forget(&self, owner: &ObjectKey) {
        self.lock().remove(owner);
    }

    /// Whether `cached` (the owner's slices in the informer) is older than
    /// our writes; expectations the cache has caught up with are dropped.
    pub fn is_stale(&self, owner: &ObjectKey, cached: &[std::sync::Arc<EndpointSlice>]) -> bool {
        let mut all = self.lock();
        let Some(expected) = all.get_mut(owner) else {
            return false;
        };
        expected.retain(|name, want| {
            let seen = cached.iter().find(|s| s.name_any() == *name);
            match (want, seen) {
                (Some(rv), Some(slice)) => revision(slice) < *rv,
                (Some(_), None) => true,
                (None, Some(_)) => true,
                (None, None) => false,
            }
        });
        let stale = !expected.is_empty();
        if !stale {
            all.remove(owner);
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn slice(name: &str, rv: &str) -> Arc<EndpointSlice> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "resourceVersion": rv},
                "addressType": "IPv4", "endpoints": []
            }))
            .unwrap(),
        )
    }

    #[test]
    fn stale_until_the_cache_shows_our_writes() {
        let tracker = SliceTracker::default();
        let owner = ObjectKey::parse("ns/web");
        assert!(!tracker.is_stale(&owner, &[]));
        tracker.wrote(&owner, &slice("web-a", "10"));
        tracker.deleted(&owner, "web-b");
        assert!(tracker.is_stale(&owner, &[slice("web-b", "5")]));
        assert!(tracker.is_stale(&owner, &[slice("web-a", "9"), slice("web-b", "5")]));
        assert!(tracker.is_stale(&owner, &[slice("web-a", "10"), slice("web-b", "5")]));
        assert!(!tracker.is_stale(&owner, &[slice("web-a", "11")]));
        // Caught up: nothing expected any more.
        assert!(!tracker.is_stale(&owner, &[]));
    }
}
