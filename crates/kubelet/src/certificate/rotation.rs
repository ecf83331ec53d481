//! The rotation schedule shared by the client and the serving certificate
//! (upstream's certificate manager loop): wait until 70–90% (uniformly
//! jittered) of the current certificate's lifetime has passed, or rotate at
//! once when there is no usable certificate, then request a new one;
//! failures are retried with backoff (1s doubling to 5m) and counted.

use std::time::Duration;

/// One certificate kept fresh by [`run`].
#[async_trait::async_trait]
pub trait Rotate: Send + Sync {
    /// `client` or `serving`, for logs.
    fn kind(&self) -> &'static str;
    /// (not before, not after) of the current certificate, Unix seconds;
    /// `None` when there is none or it no longer fits what would be
    /// requested (a rotation is due now).
    fn current_validity(&self) -> Option<(i64, i64)>;
    /// Requests, stores and swaps in a new certificate.
    async fn rotate(&self) -> anyhow::Result<()>;
    /// Counts a failed rotation (the renew error metric).
    fn rotation_failed(&self);
}

/// When to rotate: 70–90% (uniformly jittered by `jitter` in 0..1) of the
/// way from not-before to not-after (upstream `nextRotationDeadline`).
pub fn rotation_deadline(not_before: i64, not_after: i64, jitter: f64) -> i64 {
    let total = (not_after - not_before).max(0) as f64;
    not_before + (total * (0.7 + 0.2 * jitter.clamp(0.0, 1.0))).round() as i64
}

/// A random number in 0..1.
pub fn jitter() -> f64 {
    let n = uuid::Uuid::new_v4().as_u128();
    (n % 1_000_000) as f64 / 1_000_000.0
}

/// Keeps `cert` fresh until `shutdown`.
pub async fn run<R: Rotate + ?Sized>(cert: &R, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match cert.current_validity() {
            Some((not_before, not_after)) => {
                let deadline = rotation_deadline(not_before, not_after, jitter());
                let wait = (deadline - jiff::Timestamp::now().as_second()).max(0) as u64;
                tracing::info!(
                    kind = cert.kind(),
                    not_after,
                    rotation_in_seconds = wait,
                    "waiting to rotate the certificate"
                );
                wait
            }
            None => 0,
        };
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(wait)) => {}
            () = &mut shutdown => return,
        }
        loop {
            let result = tokio::select! {
                r = cert.rotate() => r,
                () = &mut shutdown => return,
            };
            match result {
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    break;
                }
                Err(err) => {
                    cert.rotation_failed();
                    tracing::error!(kind = cert.kind(), error = %format!("{err:#}"), retry_in = ?backoff, "failed to rotate the certificate");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut shutdown => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(300));
                }
            }
        }
    }
}
