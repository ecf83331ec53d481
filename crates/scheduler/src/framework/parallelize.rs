//! Parallel evaluation of nodes (upstream `framework/parallelize`), built so
//! that a parallel run decides exactly what a sequential one would.
//!
//! Work is cut into chunks that workers claim in increasing order from one
//! atomic counter. A worker may ask to stop (enough feasible nodes found);
//! from then on no new chunk is claimed, but every claimed chunk is
//! finished. The chunks that ran are therefore always a prefix `0..k` of
//! the chunk sequence, and their results come back in chunk order, so the
//! caller can merge them in node order and cut where the sequential loop
//! would have stopped. Work past that cut is wasted, never visible.
//!
//! Upstream runs `parallelism` goroutines on GOMAXPROCS threads; here the
//! workers are OS threads, so their number is `parallelism` capped by the
//! CPUs the process may use. The calling thread is one of them (a rayon
//! pool holds the others), which keeps the hand-off to one wake-up.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Below this many pieces a job runs on the calling thread: waking the
/// other workers costs more than it saves.
pub const MIN_PARALLEL_PIECES: usize = 128;

/// Runs chunked work on `workers` threads (the caller included). Clones
/// share one pool: the scheduling loop and the plugins it calls use the
/// same workers (upstream's `Handle.Parallelizer()`).
#[derive(Clone)]
pub struct Parallelizer {
    workers: usize,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl std::fmt::Debug for Parallelizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parallelizer")
            .field("workers", &self.workers)
            .finish()
    }
}

impl Default for Parallelizer {
    fn default() -> Self {
        Parallelizer::sequential()
    }
}

impl Parallelizer {
    /// One worker: everything runs on the calling thread.
    pub fn sequential() -> Self {
        Parallelizer {
            workers: 1,
            pool: None,
        }
    }

    /// `KubeSchedulerConfiguration.parallelism`, capped by the CPUs this
    /// process may run on (more threads than CPUs only add switching).
    pub fn from_parallelism(parallelism: i32) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let wanted = usize::try_from(parallelism.max(1)).unwrap_or(1);
        Parallelizer::with_workers(wanted.min(cpus))
    }

    /// Exactly `workers` workers, whatever the CPU count (tests, benchmark).
    pub fn with_workers(workers: usize) -> Self {
        let workers = workers.max(1);
        if workers == 1 {
            return Parallelizer::sequential();
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers - 1)
            .thread_name(|i| format!("sched-worker-{i}"))
            .build();
        match pool {
            Ok(pool) => Parallelizer {
                workers,
                pool: Some(Arc::new(pool)),
            },
            Err(err) => {
                tracing::warn!(error = %err, "cannot start scheduler worker threads; evaluating nodes on one thread");
                Parallelizer::sequential()
            }
        }
    }

    /// How many threads evaluate nodes.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether a job of `pieces` pieces is worth spreading.
    pub fn is_parallel_for(&self, pieces: usize) -> bool {
        self.pool.is_some() && pieces >= MIN_PARALLEL_PIECES
    }

    /// Upstream `chunkSizeFor`: about sqrt(pieces), so early stopping
    /// wastes little, and no larger than an even share per worker.
    pub fn chunk_size(&self, pieces: usize) -> usize {
        let sqrt = pieces.isqrt();
        sqrt.min(pieces / self.workers + 1).max(1)
    }

    /// Runs `work` over `0..pieces` in chunks of `chunk` pieces and returns
    /// each chunk's result in chunk order. `work` returns its result and
    /// whether no further chunk should be started. The chunks that ran are
    /// always a prefix of the sequence; with one worker (or few pieces)
    /// chunks simply run in order on the calling thread.
    pub fn run_chunks<R, F>(&self, pieces: usize, chunk: usize, work: F) -> Vec<R>
    where
        R: Send,
        F: Fn(Range<usize>) -> (R, bool) + Sync,
    {
        let chunk = chunk.max(1);
        let chunks = pieces.div_ceil(chunk);
        let range = |c: usize| c * chunk..((c + 1) * chunk).min(pieces);
        let pool = match &self.pool {
            Some(pool) if chunks > 1 => pool,
            _ => {
                let mut out = Vec::with_capacity(chunks);
                for c in 0..chunks {
                    let (result, stop) = work(range(c));
                    out.push(result);
                    if stop {
                        break;
                    }
                }
                return out;
            }
        };
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(chunks));
        let worker = || {
            let mut mine = Vec::new();
            while !stop.load(Ordering::Acquire) {
                let c = next.fetch_add(1, Ordering::AcqRel);
                if c >= chunks {
                    break;
                }
                let (result, halt) = work(range(c));
                mine.push((c, result));
                if halt {
                    stop.store(true, Ordering::Release);
                }
            }
            if !mine.is_empty() {
                done.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
            }
        };
        let helpers = (self.workers - 1).min(chunks - 1);
        pool.in_place_scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|_| worker());
            }
            worker();
        });
        let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
        done.sort_unstable_by_key(|(c, _)| *c);
        debug_assert!(done.iter().enumerate().all(|(i, (c, _))| i == *c));
        done.into_iter().map(|(_, r)| r).collect()
    }
}

impl Parallelizer {
    /// Folds every piece of `0..pieces` into one accumulator: chunks of
    /// pieces are folded into fresh accumulators (`init`) on the workers,
    /// then merged into the first in chunk order. With an order-insensitive
    /// merge (sums, unions of keys) the result is the sequential fold's.
    /// Used by plugins that scan every node before filtering or scoring
    /// (upstream's `Parallelizer().Until` over all nodes with atomic counts).
    pub fn fold<A, I, F, M>(&self, pieces: usize, init: I, fold: F, mut merge: M) -> A
    where
        A: Send,
        I: Fn() -> A + Sync,
        F: Fn(&mut A, usize) + Sync,
        M: FnMut(&mut A, A),
    {
        let chunk = if self.is_parallel_for(pieces) {
            self.chunk_size(pieces)
        } else {
            pieces.max(1)
        };
        let parts = self.run_chunks(pieces, chunk, |range| {
            let mut acc = init();
            for i in range {
                fold(&mut acc, i);
            }
            (acc, false)
        });
        let mut parts = parts.into_iter();
        let mut acc = parts.next().unwrap_or_else(&init);
        for part in parts {
            merge(&mut acc, part);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_follow_upstream() {
        let p = Parallelizer::with_workers(16);
        assert_eq!(p.chunk_size(5000), 70);
        assert_eq!(p.chunk_size(100), 7);
        assert_eq!(p.chunk_size(1), 1);
        assert_eq!(p.chunk_size(0), 1);
        let p = Parallelizer::with_workers(2);
        assert_eq!(p.chunk_size(10), 3);
    }

    #[test]
    fn results_come_back_in_chunk_order() {
        for workers in [1, 2, 4] {
            let p = Parallelizer::with_workers(workers);
            let out = p.run_chunks(1000, 7, |r| (r.clone(), false));
            assert_eq!(out.len(), 143);
            let flat: Vec<usize> = out.into_iter().flatten().collect();
            assert_eq!(flat, (0..1000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_stop_leaves_a_complete_prefix() {
        for workers in [1, 2, 4, 8] {
            let p = Parallelizer::with_workers(workers);
            for _ in 0..50 {
                let out = p.run_chunks(10_000, 10, |r| {
                    let stop = r.contains(&555);
                    (r.start, stop)
                });
                // Chunk 55 asked to stop: everything before it ran, and
                // whatever ran after it is still contiguous.
                assert!(out.len() >= 56, "{workers}: {}", out.len());
                assert!(out.iter().enumerate().all(|(i, s)| *s == i * 10));
                if workers == 1 {
                    assert_eq!(out.len(), 56);
                }
            }
        }
    }

    #[test]
    fn fold_sums_like_a_sequential_loop() {
        for workers in [1, 2, 4] {
            let p = Parallelizer::with_workers(workers);
            for pieces in [0, 1, 127, 128, 5000] {
                let total = p.fold(
                    pieces,
                    || (0u64, 0usize),
                    |acc, i| {
                        acc.0 += i as u64;
                        acc.1 += 1;
                    },
                    |acc, part| {
                        acc.0 += part.0;
                        acc.1 += part.1;
                    },
                );
                let n = pieces as u64;
                assert_eq!(
                    total,
                    (n * n.saturating_sub(1) / 2, pieces),
                    "{workers} {pieces}"
                );
            }
        }
    }

    #[test]
    fn work_really_spreads_over_threads() {
        let p = Parallelizer::with_workers(3);
        let threads = Mutex::new(std::collections::HashSet::new());
        p.run_chunks(300, 1, |_| {
            threads.lock().unwrap().insert(std::thread::current().id());
            std::thread::sleep(std::time::Duration::from_micros(200));
            ((), false)
        });
        assert!(threads.into_inner().unwrap().len() > 1);
    }
}
