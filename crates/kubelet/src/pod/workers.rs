//! Pod workers: one task per pod, syncing it whenever something about it
//! changes (a new spec from the apiserver, a container event from PLEG, a
//! probe result) and at least every `syncFrequency`. Updates coalesce: a
//! worker always syncs the latest spec, never a queue of old ones.
//!
//! A pod with a deletion timestamp (or gone from the apiserver) is
//! terminated once and its worker ends when the pod is gone from the
//! apiserver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::Notify;
use tracing::Instrument;

use super::sync::WorkerState;
use crate::kubelet::Kubelet;
use crate::metrics;

/// What the worker should do with its pod.
#[derive(Clone, Debug)]
pub enum Desired {
    /// Run (or terminate, if it has a deletion timestamp) this pod.
    Pod(Pod),
    /// The pod is gone from the apiserver.
    Removed(Pod),
}

/// The part of a worker shared with the kubelet.
#[derive(Debug)]
pub struct WorkerShared {
    desired: Mutex<Desired>,
    notify: Notify,
}

impl WorkerShared {
    fn desired(&self) -> Desired {
        self.desired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, desired: Desired) {
        *self.desired.lock().unwrap_or_else(|e| e.into_inner()) = desired;
        self.notify.notify_one();
    }
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

impl Kubelet {
    /// A new or changed pod from a source.
    pub fn update_pod(self: &Arc<Self>, pod: Pod) {
        let uid = uid(&pod);
        if uid.is_empty() {
            return;
        }
        {
            let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(worker) = workers.get(&uid) {
                self.pods
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(uid.clone(), pod.clone());
                worker.set(Desired::Pod(pod));
                return;
            }
        }
        // A pod new to the kubelet goes through admission first, under the
        // admission lock, so that every pod in `pods` is an admitted (or
        // rejected, hence terminal) one. A rejected pod still gets a
        // worker, which sees the Failed phase and only reports it.
        let _admission = self.admission.lock().unwrap_or_else(|e| e.into_inner());
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.clone(), pod.clone());
        self.admit_new_pod(&pod);
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(worker) = workers.get(&uid) {
            worker.set(Desired::Pod(pod));
            return;
        }
        let shared = Arc::new(WorkerShared {
            desired: Mutex::new(Desired::Pod(pod)),
            notify: Notify::new(),
        });
        workers.insert(uid.clone(), shared.clone());
        let kubelet = self.clone();
        self.worker_tasks.spawn(async move {
            worker_loop(kubelet.clone(), shared).await;
            kubelet
                .workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            kubelet
                .pods
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
        });
    }

    /// A pod deleted from the apiserver.
    pub fn remove_pod(self: &Arc<Self>, pod: Pod) {
        let uid = uid(&pod);
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid);
        let worker = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uid)
            .cloned();
        match worker {
            Some(worker) => worker.set(Desired::Removed(pod)),
            None => {
                self.status.forget(&uid);
            }
        }
    }

    /// Wakes the worker of a pod (PLEG event, probe result).
    pub fn poke(&self, uid: &str) {
        if let Some(worker) = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uid)
        {
            worker.notify.notify_one();
        }
    }

    /// UIDs of pods with a worker.
    pub fn worker_uids(&self) -> Vec<String> {
        self.workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// The pods the kubelet knows (for the kubelet API's /pods).
    pub fn known_pods(&self) -> Vec<Pod> {
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<Pod> = pods
            .values()
            .map(|p| {
                let mut p = p.clone();
                if let Some(status) = self
                    .status
                    .get(p.metadata.uid.as_deref().unwrap_or_default())
                {
                    p.status = Some(status);
                }
                p
            })
            .collect();
        list.sort_by(|a, b| {
            (a.metadata.namespace.as_deref(), a.metadata.name.as_deref())
                .cmp(&(b.metadata.namespace.as_deref(), b.metadata.name.as_deref()))
        });
        list
    }

    /// The pod `namespace/name` the kubelet knows.
    pub fn find_pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        self.pods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|p| {
                p.metadata.namespace.as_deref() == Some(namespace)
                    && p.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    }
}

async fn worker_loop(kubelet: Arc<Kubelet>, shared: Arc<WorkerShared>) {
    let mut state = WorkerState::default();
    let resync = kubelet.config.sync_frequency();
    let cancel = kubelet.cancel.clone();
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let desired = shared.desired();
        let started = std::time::Instant::now();
        // `None`: the worker is done. Dropped half-way when the kubelet stops.
        let work = async {
            Some(match &desired {
                Desired::Removed(pod) => {
                    let span = tracing::info_span!("terminate", pod = %pod.metadata.name.as_deref().unwrap_or_default());
                    kubelet
                        .terminate_pod(pod, true, &mut state)
                        .instrument(span)
                        .await;
                    metrics::observe_worker("terminate", started.elapsed());
                    return None;
                }
                Desired::Pod(pod) if pod.metadata.deletion_timestamp.is_some() => {
                    if !state.terminated {
                        kubelet.terminate_pod(pod, false, &mut state).await;
                        metrics::observe_worker("terminate", started.elapsed());
                    }
                    // Wait for the apiserver to confirm the deletion.
                    Duration::from_secs(10)
                }
                Desired::Pod(pod) => {
                    let result = kubelet.sync_pod(pod, &mut state).await;
                    metrics::observe_worker("sync", started.elapsed());
                    result.requeue_after.unwrap_or(resync).min(resync)
                }
            })
        };
        let wait = tokio::select! {
            wait = work => match wait {
                Some(wait) => wait,
                None => return,
            },
            () = cancel.cancelled() => return,
        };
        tokio::select! {
            () = shared.notify.notified() => {}
            () = tokio::time::sleep(wait) => {}
            () = cancel.cancelled() => return,
        }
    }
}
