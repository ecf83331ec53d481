//! The prober: one worker per (container, probe kind) running upstream's
//! timing rules (initialDelaySeconds, periodSeconds, timeoutSeconds,
//! success/failureThreshold, startup probes gating liveness and readiness),
//! publishing results by container id and poking the pod worker when a
//! result changes.
//!
//! Initial results are upstream's: readiness starts failed (not ready until
//! the first success), liveness starts successful, startup is unknown.

pub mod check;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use corten_cri::Runtime;
use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use tokio::sync::mpsc;

use crate::events::{EventRecorder, WARNING};
use crate::pod::actions::ProbeVerdicts;
use crate::pod::api_status::ProbeStatus;
use crate::pod::runtime_pod::RuntimePod;
use check::Outcome;

/// The three probe kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// livenessProbe.
    Liveness,
    /// readinessProbe.
    Readiness,
    /// startupProbe.
    Startup,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
            Kind::Startup => "Startup",
        }
    }

    fn of(self, container: &Container) -> Option<&Probe> {
        match self {
            Kind::Liveness => container.liveness_probe.as_ref(),
            Kind::Readiness => container.readiness_probe.as_ref(),
            Kind::Startup => container.startup_probe.as_ref(),
        }
    }
}

struct Worker {
    container_id: String,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct State {
    /// (container id, kind) -> last published result (true = success).
    results: HashMap<(String, Kind), bool>,
    /// (container id, kind) that have a probe.
    probed: HashSet<(String, Kind)>,
    /// (pod uid, container name, kind) -> worker.
    workers: HashMap<(String, String, Kind), Worker>,
}

/// Runs probes and answers "is it ready/started/alive".
pub struct ProbeManager {
    runtime: Arc<dyn Runtime>,
    recorder: EventRecorder,
    state: Mutex<State>,
    changed: mpsc::UnboundedSender<String>,
    simulated_network: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ProbeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeManager").finish_non_exhaustive()
    }
}

impl ProbeManager {
    /// A manager; the UID of a pod whose results changed is sent on `changed`.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        recorder: EventRecorder,
        changed: mpsc::UnboundedSender<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            recorder,
            state: Mutex::new(State::default()),
            changed,
            simulated_network: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether network probes and hooks reach real pod IPs.
    pub fn network(&self) -> check::Network {
        if self
            .simulated_network
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            check::Network::Simulated
        } else {
            check::Network::Real
        }
    }

    /// Sets [`ProbeManager::network`] (simulated nodes).
    pub fn set_network(&self, network: check::Network) {
        self.simulated_network.store(
            network == check::Network::Simulated,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the workers match the pod's running containers: one per probe of
    /// each running container, stopped for containers that are gone.
    pub fn sync_pod(self: &Arc<Self>, pod: &Pod, runtime: &RuntimePod, pod_ip: &str) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let containers: Vec<&Container> = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| crate::pod::actions::is_sidecar(c))
            .chain(spec.containers.iter())
            .collect();
        let mut state = self.state();
        let mut wanted = HashSet::new();
        for container in containers {
            let Some(running) = runtime.latest(&container.name).filter(|c| c.is_running()) else {
                continue;
            };
            for kind in [Kind::Startup, Kind::Liveness, Kind::Readiness] {
                let Some(probe) = kind.of(container) else {
                    continue;
                };
                let key = (uid.clone(), container.name.clone(), kind);
                wanted.insert(key.clone());
                if state
                    .workers
                    .get(&key)
                    .is_some_and(|w| w.container_id == running.id)
                {
                    continue;
                }
                if let Some(old) = state.workers.remove(&key) {
                    old.task.abort();
                }
                let id = running.id.clone();
                state.probed.insert((id.clone(), kind));
                match kind {
                    Kind::Readiness => {
                        state.results.insert((id.clone(), kind), false);
                    }
                    Kind::Liveness => {
                        state.results.insert((id.clone(), kind), true);
                    }
                    Kind::Startup => {}
                }
                let task = tokio::spawn(worker(
                    Arc::downgrade(self),
                    pod.clone(),
                    container.clone(),
                    id.clone(),
                    running.started_at,
                    kind,
                    probe.clone(),
                    pod_ip.to_string(),
                ));
                state.workers.insert(
                    key,
                    Worker {
                        container_id: id,
                        task,
                    },
                );
            }
        }
        let stale: Vec<_> = state
            .workers
            .keys()
            .filter(|k| k.0 == uid && !wanted.contains(*k))
            .cloned()
            .collect();
        for key in stale {
            if let Some(w) = state.workers.remove(&key) {
                w.task.abort();
                state.results.retain(|(id, _), _| *id != w.container_id);
                state.probed.retain(|(id, _)| *id != w.container_id);
            }
        }
    }

    /// Stops every worker of the pod and forgets its results.
    pub fn remove_pod(&self, uid: &str) {
        let mut state = self.state();
        let keys: Vec<_> = state
            .workers
            .keys()
            .filter(|k| k.0 == uid)
            .cloned()
            .collect();
        for key in keys {
            if let Some(w) = state.workers.remove(&key) {
                w.task.abort();
                state.results.retain(|(id, _), _| *id != w.container_id);
                state.probed.retain(|(id, _)| *id != w.container_id);
            }
        }
    }

    fn result(&self, id: &str, kind: Kind) -> Option<bool> {
        self.state().results.get(&(id.to_string(), kind)).copied()
    }

    fn has_probe(&self, id: &str, kind: Kind) -> bool {
        self.state().probed.contains(&(id.to_string(), kind))
    }

    fn publish(&self, uid: &str, id: &str, kind: Kind, success: bool) {
        let changed = {
            let mut state = self.state();
            if !state.probed.contains(&(id.to_string(), kind)) {
                return;
            }
            state.results.insert((id.to_string(), kind), success) != Some(success)
        };
        if changed {
            let _ = self.changed.send(uid.to_string());
        }
    }
}

impl ProbeVerdicts for ProbeManager {
    fn liveness_failed(&self, id: &str) -> bool {
        self.result(id, Kind::Liveness) == Some(false)
    }
    fn startup_failed(&self, id: &str) -> bool {
        self.result(id, Kind::Startup) == Some(false)
    }
    fn started(&self, id: &str) -> bool {
        !self.has_probe(id, Kind::Startup) || self.result(id, Kind::Startup) == Some(true)
    }
}

impl ProbeStatus for ProbeManager {
    fn ready(&self, id: &str) -> bool {
        !self.has_probe(id, Kind::Readiness) || self.result(id, Kind::Readiness) == Some(true)
    }
    fn started(&self, id: &str) -> bool {
        ProbeVerdicts::started(self, id)
    }
}

fn secs(value: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(u64::try_from(value.unwrap_or(default).max(0)).unwrap_or(0))
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    manager: std::sync::Weak<ProbeManager>,
    pod: Pod,
    container: Container,
    container_id: String,
    started_at: i64,
    kind: Kind,
    probe: Probe,
    pod_ip: String,
) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let period = secs(probe.period_seconds, 10).max(Duration::from_secs(1));
    let initial_delay = secs(probe.initial_delay_seconds, 0);
    let success_threshold = probe.success_threshold.unwrap_or(1).max(1);
    let failure_threshold = probe.failure_threshold.unwrap_or(3).max(1);
    let mut last: Option<bool> = None;
    let mut run = 0;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(manager) = manager.upgrade() else {
            return;
        };
        let running_for = (corten_cri::now_nanos() - started_at).max(0);
        if (running_for as u128) < initial_delay.as_nanos() {
            continue;
        }
        let started = ProbeVerdicts::started(&*manager, &container_id);
        if kind != Kind::Startup && !started {
            continue;
        }
        if kind == Kind::Startup && started {
            return;
        }
        let outcome = check::run(
            &manager.runtime,
            &probe,
            &container,
            &container_id,
            &pod_ip,
            manager.network(),
        )
        .await;
        let success = outcome == Outcome::Success;
        if let Outcome::Failure(output) = &outcome {
            manager.recorder.pod(
                &pod,
                Some((&container.name, false)),
                WARNING,
                "Unhealthy",
                format!("{} probe failed: {output}", kind.label()),
            );
        }
        if last == Some(success) {
            run += 1;
        } else {
            last = Some(success);
            run = 1;
        }
        if (!success && run < failure_threshold) || (success && run < success_threshold) {
            continue;
        }
        manager.publish(&uid, &container_id, kind, success);
        if !success && kind != Kind::Readiness {
            // The container will be restarted; its successor gets a new worker.
            return;
        }
    }
}
