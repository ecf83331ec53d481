//! The container log manager: upstream's rotation of the CRI log files
//! the runtime writes (`<podLogsDir>/<ns>_<pod>_<uid>/<container>/<n>.log`).
//!
//! Every `containerLogMonitorInterval` it lists the running containers;
//! a container whose log reached `containerLogMaxSize` gets its log
//! rotated ([`rotate`]): older rotated files compressed or removed down to
//! `containerLogMaxFiles`, the current file renamed, then CRI
//! `ReopenContainerLog` makes the runtime write a fresh file (if that
//! fails the rename is undone and the next round tries again). Up to
//! `containerLogMaxWorkers` containers are rotated at once. Readers
//! (`kubectl logs -f`) notice the new file and carry on with it.

pub mod rotate;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use corten_apimachinery::quantity::Quantity;
use corten_cri::{Runtime, api};
use futures::StreamExt;

use crate::config::KubeletConfiguration;

/// When and how much to rotate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Rotate at this size (bytes); `None`: rotation is disabled (a
    /// negative `containerLogMaxSize`).
    pub max_size: Option<u64>,
    /// Files kept per container, the current one included (at least 2).
    pub max_files: usize,
}

impl Policy {
    /// The policy of a (defaulted) configuration; `Err` is upstream's
    /// message for a log manager that cannot start.
    pub fn from_config(c: &KubeletConfiguration) -> Result<Self, String> {
        let max_files = c.container_log_max_files.unwrap_or(5);
        if max_files <= 1 {
            return Err(format!(
                "failed to initialize container log manager: invalid MaxFiles {max_files}, must be > 1"
            ));
        }
        let size = c.container_log_max_size.as_deref().unwrap_or("10Mi");
        let parsed = Quantity::parse(size).map_err(|_| {
            format!(
                "failed to initialize container log manager: failed to parse container log max size {size:?}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            )
        })?;
        Ok(Self {
            max_size: u64::try_from(parsed.value()).ok(),
            max_files: usize::try_from(max_files).unwrap_or(5),
        })
    }
}

/// Rotates the logs of running containers.
pub struct ContainerLogManager {
    runtime: Arc<dyn Runtime>,
    policy: Policy,
    workers: usize,
    interval: Duration,
}

impl ContainerLogManager {
    /// The manager for a (defaulted, validated) configuration.
    pub fn new(runtime: Arc<dyn Runtime>, c: &KubeletConfiguration) -> Self {
        Self {
            runtime,
            policy: Policy::from_config(c).unwrap_or(Policy {
                max_size: Some(10 << 20),
                max_files: 5,
            }),
            workers: usize::try_from(c.container_log_max_workers.unwrap_or(1))
                .unwrap_or(1)
                .max(1),
            interval: c
                .container_log_monitor_interval
                .unwrap_or(Duration::from_secs(10)),
        }
    }

    /// Rotates every `containerLogMonitorInterval` until `stop`.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        if self.policy.max_size.is_none() {
            tracing::info!("container log rotation is disabled (negative containerLogMaxSize)");
            return;
        }
        tokio::pin!(stop);
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.rotate_logs().await,
                () = &mut stop => return,
            }
        }
    }

    /// One round: every running container whose log is too big.
    pub async fn rotate_logs(&self) {
        let Some(max_size) = self.policy.max_size else {
            return;
        };
        let containers = match self.runtime.list_containers(None).await {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(error = %err.message(), "listing containers for log rotation");
                return;
            }
        };
        // Exited containers write nothing more: an empty fresh log would
        // only hide their last lines.
        let running = containers
            .into_iter()
            .filter(|c| c.state == api::ContainerState::ContainerRunning as i32)
            .map(|c| c.id);
        futures::stream::iter(running)
            .for_each_concurrent(self.workers, |id| async move {
                if let Err(err) = self.check(&id, max_size).await {
                    tracing::warn!(container = %id, error = %err, "rotating a container log");
                }
            })
            .await;
    }

    async fn check(&self, id: &str, max_size: u64) -> Result<(), String> {
        let status = self
            .runtime
            .container_status(id)
            .await
            .map_err(|e| format!("failed to get container status: {}", e.message()))?;
        if status.log_path.is_empty() {
            return Ok(());
        }
        let path = PathBuf::from(&status.log_path);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                // A rotation whose reopen failed and whose rename back
                // failed too: ask the runtime for the file again.
                self.reopen(id).await?;
                std::fs::metadata(&path)
                    .map_err(|e| format!("failed to stat the reopened log: {e}"))?
                    .len()
            }
            Err(err) => return Err(format!("failed to stat {}: {err}", path.display())),
        };
        if size < max_size {
            return Ok(());
        }
        self.rotate(id, path).await
    }

    async fn reopen(&self, id: &str) -> Result<(), String> {
        self.runtime
            .reopen_container_log(id)
            .await
            .map_err(|e| format!("failed to reopen container log: {}", e.message()))
    }

    async fn rotate(&self, id: &str, log: PathBuf) -> Result<(), String> {
        let max_files = self.policy.max_files;
        let rotated = tokio::task::spawn_blocking(move || -> Result<PathBuf, String> {
            rotate::prepare(&log, max_files)
                .map_err(|e| format!("failed to prepare rotation: {e}"))?;
            let rotated = rotate::rotated_name(&log, &jiff::Zoned::now());
            std::fs::rename(&log, &rotated)
                .map_err(|e| format!("failed to rotate log {}: {e}", log.display()))?;
            Ok(rotated)
        })
        .await
        .map_err(|e| e.to_string())??;
        if let Err(err) = self.reopen(id).await {
            // Put the file back so that the next round tries again.
            if let Some(back) = strip_rotation(&rotated)
                && let Err(rename) = std::fs::rename(&rotated, &back)
            {
                tracing::error!(container = %id, error = %rename, "renaming a rotated log back");
            }
            return Err(err);
        }
        tracing::debug!(container = %id, rotated = %rotated.display(), "rotated a container log");
        Ok(())
    }
}

/// `0.log` of `0.log.<timestamp>`.
fn strip_rotation(rotated: &Path) -> Option<PathBuf> {
    let text = rotated.to_string_lossy();
    let (log, _) = text.rsplit_once('.')?;
    Some(PathBuf::from(log))
}

/// Removes the log files of container `id` (before it is removed), as
/// upstream's log manager does.
pub async fn clean(runtime: &Arc<dyn Runtime>, id: &str) {
    let Ok(status) = runtime.container_status(id).await else {
        return;
    };
    clean_path(&status.log_path).await;
}

/// Removes the log file `log_path` and its rotated files.
pub async fn clean_path(log_path: &str) {
    if log_path.is_empty() {
        return;
    }
    let path = PathBuf::from(log_path);
    let result = tokio::task::spawn_blocking(move || rotate::clean(&path)).await;
    if let Ok(Err(err)) = result {
        tracing::debug!(log = %log_path, error = %err, "removing container logs");
    }
}

#[cfg(test)]
mod tests;
