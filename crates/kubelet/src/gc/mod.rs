//! Garbage collection of images ([`images`]), dead containers and
//! sandboxes ([`containers`]) and the log directories of removed pods
//! ([`pod_logs`]), on upstream's periods (5m and 1m), and the node-level
//! disk reclaim the eviction manager asks for before evicting.

pub mod containers;
pub mod images;
pub mod pod_logs;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use containers::PodState;

use crate::kubelet::Kubelet;

impl Kubelet {
    /// Whether a pod's dead containers and sandboxes may all go: it is
    /// unknown to the kubelet (once every source listed its pods), or
    /// terminal and evicted (upstream `ShouldPodContentBeRemoved`).
    pub(crate) fn gc_pod_state(&self, uid: &str) -> PodState {
        if !self.sources_ready.load(Ordering::SeqCst) {
            return PodState::Active;
        }
        let pod = self
            .pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uid)
            .cloned();
        let Some(pod) = pod else {
            return PodState::Removable;
        };
        let status = self.status.get(uid).or(pod.status);
        let evicted = status.as_ref().is_some_and(|s| {
            s.phase.as_deref() == Some("Failed")
                && s.reason.as_deref() == Some(crate::eviction::REASON)
        });
        if evicted || pod.metadata.deletion_timestamp.is_some() {
            PodState::Removable
        } else {
            PodState::Active
        }
    }

    /// One container garbage collection (`all_dead`: keep no dead
    /// container), then the log directories of pods that are gone.
    pub async fn collect_containers(&self, all_dead: bool) {
        if let Err(err) =
            containers::collect(&self.runtime, |uid| self.gc_pod_state(uid), all_dead).await
        {
            tracing::error!(error = %err, "container garbage collection failed");
            return;
        }
        self.collect_pod_log_dirs().await;
    }

    /// Removes the log directories of pods whose content may go and of
    /// which the runtime holds nothing any more.
    pub async fn collect_pod_log_dirs(&self) {
        if !self.sources_ready.load(Ordering::SeqCst) {
            return;
        }
        let (Ok(containers), Ok(sandboxes)) = (
            self.runtime.list_containers(None).await,
            self.runtime.list_pod_sandbox(None).await,
        ) else {
            return;
        };
        let uid = |labels: &std::collections::HashMap<String, String>| {
            labels.get(crate::pod::labels::POD_UID).cloned()
        };
        let in_runtime: std::collections::HashSet<String> = containers
            .iter()
            .filter_map(|c| uid(&c.labels))
            .chain(sandboxes.iter().filter_map(|s| uid(&s.labels)))
            .collect();
        let logs_dir = self.config.pod_logs_dir();
        pod_logs::remove(&logs_dir, |uid| self.gc_pod_state(uid), &in_runtime);
    }

    /// Node-level disk reclaim before evicting for a disk signal: every dead
    /// container, then every unused image (upstream
    /// `DeleteAllUnusedContainers` + `DeleteUnusedImages`).
    pub(crate) async fn reclaim_disk(&self) {
        self.collect_containers(true).await;
        match self.image_gc.delete_unused(Instant::now()).await {
            Ok(freed) => tracing::info!(bytes = freed, "removed unused images to reclaim disk"),
            Err(err) => tracing::warn!(error = %err, "removing unused images to reclaim disk"),
        }
    }
}

/// Runs container garbage collection now and every [`containers::PERIOD`].
pub async fn run_container_gc(
    kubelet: Arc<Kubelet>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        kubelet.collect_containers(false).await;
        tokio::select! {
            () = tokio::time::sleep(containers::PERIOD) => {}
            () = &mut shutdown => return,
        }
    }
}

#[cfg(test)]
mod tests;
