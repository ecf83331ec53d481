//! A small time-to-live cache for TokenReview and SubjectAccessReview
//! answers: delegated authentication and authorization ask the apiserver
//! once per token (or user and request) and reuse the answer briefly, as
//! upstream's caching webhook clients do.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bounds each cache so a flood of distinct tokens or paths cannot grow
/// memory without limit.
pub const CACHE_LIMIT: usize = 4096;

/// Entries expire `ttl` after they were put; a full cache first drops its
/// expired entries and, if still full, everything (answers are cheap to ask
/// again, memory is not).
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Hash + Eq, V: Clone> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// The live value for `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &K, now: Instant) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(until, _)| *until > now)
            .map(|(_, v)| v.clone())
    }

    /// Stores `value` for `ttl` (a zero TTL stores nothing).
    pub fn put(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_LIMIT {
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= CACHE_LIMIT {
                entries.clear();
            }
        }
        entries.insert(key, (now + ttl, value));
    }

    /// How many entries are held (expired ones included).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_cache_is_bounded() {
        let cache: TtlCache<u32, u32> = TtlCache::default();
        cache.put(1, 10, Duration::from_secs(60));
        cache.put(2, 20, Duration::ZERO);
        assert_eq!(cache.get(&1), Some(10));
        assert_eq!(cache.get(&2), None);
        assert_eq!(
            cache.get_at(&1, Instant::now() + Duration::from_secs(61)),
            None
        );
        for i in 0..(CACHE_LIMIT as u32 + 10) {
            cache.put(i, i, Duration::from_secs(60));
        }
        assert!(cache.len() <= CACHE_LIMIT);
        assert!(!cache.is_empty());
    }
}
