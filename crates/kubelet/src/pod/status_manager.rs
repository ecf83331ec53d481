//! The status manager: the single writer of pod status to the apiserver.
//!
//! Pod workers hand it the status they computed; it keeps the latest per pod
//! and patches `pods/<name>/status` only when that differs from what it last
//! wrote (a JSON merge patch of the whole status), retrying failed writes on
//! a 10s tick like upstream's `syncBatch`. When a terminated pod's final
//! status is written and its worker has cleaned up, it deletes the pod with
//! grace period 0 and a UID precondition, which completes graceful deletion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::Notify;

/// Upstream's status sync period.
const RESYNC: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
struct Entry {
    namespace: String,
    name: String,
    status: PodStatus,
    version: u64,
    written: u64,
    delete: bool,
    /// A static pod: its status goes to the mirror pod, whose UID differs.
    static_pod: bool,
}

/// Writes pod status.
pub struct StatusManager {
    client: Option<kube::Client>,
    entries: Mutex<HashMap<String, Entry>>,
    notify: Notify,
}

impl std::fmt::Debug for StatusManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusManager")
            .field("pods", &self.entries().len())
            .finish()
    }
}

fn not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

impl StatusManager {
    /// A manager writing through `client` (`None`: keep statuses in memory only).
    pub fn new(client: Option<kube::Client>) -> Arc<Self> {
        Arc::new(Self {
            client,
            entries: Mutex::new(HashMap::new()),
            notify: Notify::new(),
        })
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The status last set for the pod.
    pub fn get(&self, uid: &str) -> Option<PodStatus> {
        self.entries().get(uid).map(|e| e.status.clone())
    }

    /// Sets the pod's status; a write is scheduled if it changed.
    pub fn set(&self, pod: &Pod, status: PodStatus) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut entries = self.entries();
        let entry = entries.entry(uid).or_insert_with(|| Entry {
            namespace: pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: pod.metadata.name.clone().unwrap_or_default(),
            status: PodStatus::default(),
            version: 0,
            written: 0,
            delete: false,
            static_pod: super::static_pods::is_static(pod),
        });
        if entry.version > 0 && entry.status == status {
            return;
        }
        entry.status = status;
        entry.version += 1;
        drop(entries);
        self.notify.notify_one();
    }

    /// Asks for the pod object to be deleted (grace 0) once its last status is written.
    pub fn delete_when_written(&self, pod: &Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if let Some(entry) = self.entries().get_mut(&uid) {
            entry.delete = true;
        }
        self.notify.notify_one();
    }

    /// Forgets a pod (gone from the apiserver).
    pub fn forget(&self, uid: &str) {
        self.entries().remove(uid);
    }

    /// Whether everything set so far has been written.
    pub fn is_synced(&self) -> bool {
        self.entries()
            .values()
            .all(|e| e.written == e.version && !e.delete)
    }

    /// Writes pending statuses until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.sync_once().await;
            tokio::select! {
                () = self.notify.notified() => {}
                () = tokio::time::sleep(RESYNC) => {}
                () = &mut shutdown => return,
            }
        }
    }

    /// One pass over the pending writes and deletions.
    pub async fn sync_once(&self) {
        let pending: Vec<(String, Entry)> = self
            .entries()
            .iter()
            .filter(|(_, e)| e.written < e.version || e.delete)
            .map(|(uid, e)| (uid.clone(), e.clone()))
            .collect();
        let Some(client) = &self.client else {
            let mut entries = self.entries();
            for (uid, entry) in pending {
                if let Some(e) = entries.get_mut(&uid) {
                    e.written = entry.version;
                }
            }
            return;
        };
        for (uid, entry) in pending {
            let api: Api<Pod> = Api::namespaced(client.clone(), &entry.namespace);
            if entry.written < entry.version {
                let patch = serde_json::json!({"status": entry.status});
                match api
                    .patch_status(&entry.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(current)
                        if entry.static_pod
                            || current.metadata.uid.as_deref() == Some(uid.as_str()) =>
                    {
                        if let Some(e) = self.entries().get_mut(&uid) {
                            e.written = e.written.max(entry.version);
                        }
                        tracing::debug!(pod = %format!("{}/{}", entry.namespace, entry.name), phase = ?entry.status.phase, "status written");
                    }
                    Ok(_) => {
                        // A different pod with the same name: ours is gone.
                        self.forget(&uid);
                        continue;
                    }
                    Err(err) if not_found(&err) => {
                        self.forget(&uid);
                        continue;
                    }
                    Err(err) => {
                        tracing::warn!(pod = %format!("{}/{}", entry.namespace, entry.name), error = %err, "writing pod status; will retry");
                        continue;
                    }
                }
            }
            if entry.delete && entry.static_pod {
                self.forget(&uid);
            } else if entry.delete {
                let params = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: Some(uid.clone()),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(&entry.name, &params).await {
                    Ok(_) => {
                        tracing::info!(pod = %format!("{}/{}", entry.namespace, entry.name), "pod deleted after termination");
                        self.forget(&uid);
                    }
                    Err(err) if not_found(&err) => self.forget(&uid),
                    Err(kube::Error::Api(s)) if s.code == 409 => self.forget(&uid),
                    Err(err) => {
                        tracing::warn!(pod = %format!("{}/{}", entry.namespace, entry.name), error = %err, "deleting pod; will retry")
                    }
                }
            }
        }
    }
}
