//! Rate limiters for work queues, as client-go's `workqueue` package has them.
//!
//! A rate limiter answers "how long should this item wait before it is
//! processed again?" ([`RateLimiter::when`]) and forgets an item once it was
//! processed successfully ([`RateLimiter::forget`]). The default for
//! controllers, [`default_controller_rate_limiter`], is the maximum of a
//! per-item exponential backoff (5ms doubling up to 1000s) and an overall
//! token bucket (10 qps, burst 100), exactly as upstream's
//! `DefaultControllerRateLimiter`.
//!
//! Time is `tokio::time::Instant`, so tests drive these with paused time.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Decides how long an item waits before it is retried.
pub trait RateLimiter<K>: Send + Sync {
    /// The delay before `item` may be processed again; counts a failure.
    fn when(&self, item: &K) -> Duration;
    /// Stops tracking `item` (it was processed successfully).
    fn forget(&self, item: &K);
    /// How many times `item` has been requeued through this limiter.
    fn num_requeues(&self, item: &K) -> u32;
}

/// Per-item exponential backoff: `base * 2^failures`, capped at `max`
/// (client-go's `ItemExponentialFailureRateLimiter`).
#[derive(Debug)]
pub struct ItemExponentialFailureRateLimiter<K> {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<K, u32>>,
}

impl<K: Eq + Hash + Clone> ItemExponentialFailureRateLimiter<K> {
    /// A limiter starting at `base` and never waiting longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<K, u32>> {
        // A poisoned map only means a panic elsewhere; the counts stay usable.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<K: Eq + Hash + Clone + Send> RateLimiter<K> for ItemExponentialFailureRateLimiter<K> {
    fn when(&self, item: &K) -> Duration {
        let exp = {
            let mut failures = self.failures();
            let count = failures.entry(item.clone()).or_insert(0);
            let exp = *count;
            *count = count.saturating_add(1);
            exp
        };
        2u32.checked_pow(exp)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.max, |backoff| backoff.min(self.max))
    }

    fn forget(&self, item: &K) {
        self.failures().remove(item);
    }

    fn num_requeues(&self, item: &K) -> u32 {
        self.failures().get(item).copied().unwrap_or(0)
    }
}

/// An overall token bucket (golang.org/x/time/rate's `Limiter.Reserve`):
/// `qps` tokens per second, at most `burst` saved up. Every call takes a
/// token; without one, the delay is the time until the debt is repaid.
#[derive(Debug)]
pub struct BucketRateLimiter {
    qps: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
}

impl BucketRateLimiter {
    /// A bucket refilled at `qps` tokens per second holding at most `burst`.
    pub fn new(qps: f64, burst: u32) -> Self {
        Self {
            qps,
            burst: f64::from(burst),
            state: Mutex::new(Bucket {
                tokens: f64::from(burst),
                last: None,
            }),
        }
    }
}

impl<K> RateLimiter<K> for BucketRateLimiter {
    fn when(&self, _item: &K) -> Duration {
        let now = Instant::now();
        let mut bucket = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(last) = bucket.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * self.qps).min(self.burst);
        }
        bucket.last = Some(now);
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 || self.qps <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(-bucket.tokens / self.qps).unwrap_or(Duration::MAX)
    }

    fn forget(&self, _item: &K) {}

    fn num_requeues(&self, _item: &K) -> u32 {
        0
    }
}

/// The worst (longest) answer of several limiters (client-go's
/// `MaxOfRateLimiter`). Every limiter sees every call.
pub struct MaxOfRateLimiter<K> {
    limiters: Vec<Box<dyn RateLimiter<K>>>,
}

impl<K> MaxOfRateLimiter<K> {
    /// Combines `limiters`.
    pub fn new(limiters: Vec<Box<dyn RateLimiter<K>>>) -> Self {
        Self { limiters }
    }
}

impl<K> std::fmt::Debug for MaxOfRateLimiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaxOfRateLimiter")
            .field("limiters", &self.limiters.len())
            .finish()
    }
}

impl<K> RateLimiter<K> for MaxOfRateLimiter<K> {
    fn when(&self, item: &K) -> Duration {
        self.limiters
            .iter()
            .map(|l| l.when(item))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    fn forget(&self, item: &K) {
        for limiter in &self.limiters {
            limiter.forget(item);
        }
    }

    fn num_requeues(&self, item: &K) -> u32 {
        self.limiters
            .iter()
            .map(|l| l.num_requeues(item))
            .max()
            .unwrap_or(0)
    }
}

/// client-go's `DefaultControllerRateLimiter`: per-item backoff from 5ms to
/// 1000s, and 10 qps with a burst of 100 overall.
pub fn default_controller_rate_limiter<K>() -> MaxOfRateLimiter<K>
where
    K: Eq + Hash + Clone + Send + 'static,
{
    MaxOfRateLimiter::new(vec![
        Box::new(ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        )),
        Box::new(BucketRateLimiter::new(10.0, 100)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_and_caps() {
        let limiter = ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        );
        let expected_ms = [5u64, 10, 20, 40, 80, 160, 320, 640, 1280, 2560];
        for ms in expected_ms {
            assert_eq!(limiter.when(&"a"), Duration::from_millis(ms));
        }
        assert_eq!(limiter.num_requeues(&"a"), 10);
        // Another item has its own count.
        assert_eq!(limiter.when(&"b"), Duration::from_millis(5));
        for _ in 0..30 {
            limiter.when(&"a");
        }
        assert_eq!(limiter.when(&"a"), Duration::from_secs(1000));
        // Far beyond u32 exponents it still answers the cap.
        for _ in 0..100 {
            assert_eq!(limiter.when(&"a"), Duration::from_secs(1000));
        }
        limiter.forget(&"a");
        assert_eq!(limiter.num_requeues(&"a"), 0);
        assert_eq!(limiter.when(&"a"), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_paces() {
        let limiter = BucketRateLimiter::new(10.0, 100);
        for _ in 0..100 {
            assert_eq!(RateLimiter::<&str>::when(&limiter, &"x"), Duration::ZERO);
        }
        // The 101st waits one token (100ms), the 102nd two.
        let d = RateLimiter::<&str>::when(&limiter, &"x");
        assert!((d.as_secs_f64() - 0.1).abs() < 1e-6, "{d:?}");
        let d = RateLimiter::<&str>::when(&limiter, &"x");
        assert!((d.as_secs_f64() - 0.2).abs() < 1e-6, "{d:?}");
        // After a second, ten tokens came back: the debt of 2 is repaid and 8 remain.
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..8 {
            assert_eq!(RateLimiter::<&str>::when(&limiter, &"x"), Duration::ZERO);
        }
        assert!(RateLimiter::<&str>::when(&limiter, &"x") > Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn default_limiter_is_the_max_of_both() {
        let limiter = default_controller_rate_limiter::<String>();
        let key = "ns/name".to_string();
        assert_eq!(limiter.when(&key), Duration::from_millis(5));
        assert_eq!(limiter.when(&key), Duration::from_millis(10));
        assert_eq!(limiter.num_requeues(&key), 2);
        limiter.forget(&key);
        assert_eq!(limiter.num_requeues(&key), 0);
        // Exhaust the bucket with other keys: then the bucket dominates.
        for i in 0..200 {
            limiter.when(&format!("k{i}"));
        }
        assert!(limiter.when(&key) > Duration::from_secs(5));
    }
}
