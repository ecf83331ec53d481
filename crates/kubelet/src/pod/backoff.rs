//! Upstream's `flowcontrol.Backoff`: per-key exponential backoff used for
//! container restarts (CrashLoopBackOff, 10s doubling to 5m) and image pulls
//! (ImagePullBackOff). An entry older than twice the maximum is forgotten, so
//! a container that ran fine for 10 minutes starts again at 10s.
//!
//! Times are wall-clock nanoseconds, because the event times are the
//! runtime's (a container's `finishedAt`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upstream's initial container restart backoff.
pub const CRASH_LOOP_INITIAL: Duration = Duration::from_secs(10);
/// Upstream's maximum container restart backoff.
pub const CRASH_LOOP_MAX: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug)]
struct Entry {
    backoff: Duration,
    last_update: i64,
}

/// Exponential backoff per key.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Backoff {
    /// A backoff starting at `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expired(&self, event_time: i64, last_update: i64) -> bool {
        event_time - last_update > 2 * nanos(self.max)
    }

    /// The current backoff of `key` (zero if none).
    pub fn get(&self, key: &str) -> Duration {
        self.entries()
            .get(key)
            .map_or(Duration::ZERO, |e| e.backoff)
    }

    /// Moves `key` to its next backoff, counted from `event_time`.
    pub fn next(&self, key: &str, event_time: i64) {
        let mut entries = self.entries();
        let entry = match entries.get(key) {
            Some(e) if !self.expired(event_time, e.last_update) => Entry {
                backoff: (e.backoff * 2).min(self.max),
                last_update: event_time,
            },
            _ => Entry {
                backoff: self.initial,
                last_update: event_time,
            },
        };
        entries.insert(key.to_string(), entry);
    }

    /// Upstream's `IsInBackOffSince`: whether less than the backoff has
    /// passed since `event_time`. Returns the time left.
    pub fn in_backoff_since(&self, key: &str, event_time: i64, now: i64) -> Option<Duration> {
        let entries = self.entries();
        let entry = entries.get(key)?;
        if self.expired(event_time, entry.last_update) {
            return None;
        }
        let elapsed = now - event_time;
        let left = nanos(entry.backoff) - elapsed;
        (left > 0).then(|| Duration::from_nanos(u64::try_from(left).unwrap_or(0)))
    }

    /// Upstream's `IsInBackOffSinceUpdate`: whether less than the backoff
    /// has passed since the last failure. Returns the time left.
    pub fn in_backoff_since_update(&self, key: &str, now: i64) -> Option<Duration> {
        let entries = self.entries();
        let entry = entries.get(key)?;
        if self.expired(now, entry.last_update) {
            return None;
        }
        let left = nanos(entry.backoff) - (now - entry.last_update);
        (left > 0).then(|| Duration::from_nanos(u64::try_from(left).unwrap_or(0)))
    }

    /// Forgets `key` (after a success).
    pub fn reset(&self, key: &str) {
        self.entries().remove(key);
    }

    /// Forgets keys starting with `prefix` (a deleted pod's containers).
    pub fn forget_prefix(&self, prefix: &str) {
        self.entries().retain(|k, _| !k.starts_with(prefix));
    }

    /// Drops entries not updated for twice the maximum.
    pub fn gc(&self, now: i64) {
        let max = 2 * nanos(self.max);
        self.entries().retain(|_, e| now - e.last_update <= max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn crash_loop_like_upstream() {
        let b = Backoff::new(CRASH_LOOP_INITIAL, CRASH_LOOP_MAX);
        let key = "uid_c";
        // First exit: no entry, restart at once, then 10s.
        assert_eq!(b.in_backoff_since(key, 100 * S, 100 * S), None);
        b.next(key, 100 * S);
        assert_eq!(b.get(key), Duration::from_secs(10));
        // Second exit at 105s: in backoff until 115s.
        assert_eq!(
            b.in_backoff_since(key, 105 * S, 106 * S),
            Some(Duration::from_secs(9))
        );
        assert_eq!(b.in_backoff_since(key, 105 * S, 115 * S), None);
        b.next(key, 105 * S);
        assert_eq!(b.get(key), Duration::from_secs(20));
        for _ in 0..10 {
            b.next(key, 106 * S);
        }
        assert_eq!(b.get(key), CRASH_LOOP_MAX);
        // Ran fine for more than 10 minutes: back to the start.
        b.next(key, 106 * S + 601 * S);
        assert_eq!(b.get(key), CRASH_LOOP_INITIAL);
    }

    #[test]
    fn since_update_and_gc() {
        let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));
        assert_eq!(b.in_backoff_since_update("img", 0), None);
        b.next("img", 0);
        assert_eq!(
            b.in_backoff_since_update("img", 4 * S),
            Some(Duration::from_secs(6))
        );
        assert_eq!(b.in_backoff_since_update("img", 10 * S), None);
        b.forget_prefix("im");
        assert_eq!(b.get("img"), Duration::ZERO);
        b.next("a", 0);
        b.gc(601 * S);
        assert_eq!(b.get("a"), Duration::ZERO);
    }
}
