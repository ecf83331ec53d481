//! A small, fast pseudo-random generator (SplitMix64) for tie-breaking and
//! for spreading preemption's starting node: no cryptographic needs, no
//! dependency.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static STATE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// A per-thread sequence that replaces the global one while set.
    static SEEDED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Makes this thread's draws a fixed sequence starting from `seed`
/// (`None`: back to the shared, time-seeded one). Tests and the benchmark
/// use it to compare runs that must decide alike, ties included.
pub fn seed_thread(seed: Option<u64>) {
    SEEDED.with(|s| s.set(seed));
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// A random u64.
pub fn next_u64() -> u64 {
    if let Some(state) = SEEDED.with(Cell::get) {
        let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        SEEDED.with(|s| s.set(Some(next)));
        return mix(next);
    }
    let mut current = STATE.load(Ordering::Relaxed);
    if current == 0 {
        let _ = STATE.compare_exchange(0, seed() | 1, Ordering::Relaxed, Ordering::Relaxed);
        current = STATE.load(Ordering::Relaxed);
    }
    let next = current.wrapping_add(0x9E37_79B9_7F4A_7C15);
    STATE.store(next, Ordering::Relaxed);
    mix(next)
}

/// A random number in `0..n` (0 when `n` is 0).
pub fn below(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (next_u64() % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_range_and_varies() {
        let draws: Vec<usize> = (0..1000).map(|_| below(10)).collect();
        assert!(draws.iter().all(|d| *d < 10));
        assert!((0..10).all(|v| draws.contains(&v)));
        assert_eq!(below(0), 0);
    }

    #[test]
    fn a_seeded_thread_repeats_its_draws() {
        seed_thread(Some(42));
        let first: Vec<usize> = (0..20).map(|_| below(1000)).collect();
        seed_thread(Some(42));
        let second: Vec<usize> = (0..20).map(|_| below(1000)).collect();
        seed_thread(None);
        assert_eq!(first, second);
    }
}
