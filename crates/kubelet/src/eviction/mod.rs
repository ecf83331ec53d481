//! The eviction manager (upstream `pkg/kubelet/eviction`): every 10 seconds
//! it observes the node's signals, decides which thresholds are met (hard
//! ones at once, soft ones after their grace period, met ones until
//! `evictionMinimumReclaim` is back), keeps the pressure conditions
//! (MemoryPressure, DiskPressure, PIDPressure) for
//! `evictionPressureTransitionPeriod` after the last time a threshold was
//! met, reclaims node-level resources for disk signals (dead containers and
//! unused images), and otherwise evicts one pod per pass, ranked like
//! upstream, then waits for it to be cleaned up.
//!
//! The taints (`node.kubernetes.io/memory-pressure:NoSchedule`, ...) are
//! not the kubelet's: as upstream, the node lifecycle controller adds them
//! from the conditions.

pub mod observe;
pub mod rank;
pub mod threshold;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;

use crate::events::{EventRecorder, WARNING};
use observe::{Observer, Stats};
use threshold::{Signal, Threshold};

/// Upstream's `monitoringInterval`.
pub const MONITORING_INTERVAL: Duration = Duration::from_secs(10);
/// How long to wait for an evicted pod to be cleaned up (upstream `podCleanupTimeout`).
pub const POD_CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Grace period of pods evicted for a hard threshold (upstream
/// `immediateEvictionGracePeriodSeconds`).
pub const IMMEDIATE_GRACE_SECONDS: i64 = 1;
/// Status reason of evicted pods and the event reason.
pub const REASON: &str = "Evicted";

static EVICTIONS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    let c = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "kubelet_evictions",
            "Cumulative number of pod evictions by eviction signal",
        ),
        &["eviction_signal"],
    )
    .expect("metric");
    if let Err(err) = prometheus::register(Box::new(c.clone())) {
        tracing::debug!(error = %err, "registering kubelet_evictions");
    }
    c
});

/// What the eviction manager needs from the kubelet.
#[async_trait]
pub trait PodKiller: Send + Sync {
    /// Pods that are running or may still run (candidates for eviction).
    fn active_pods(&self) -> Vec<Pod>;
    /// Stops the pod with `grace_seconds` and makes its status Failed with
    /// reason `Evicted` and `message`.
    async fn evict(&self, pod: &Pod, grace_seconds: i64, message: &str);
    /// Whether the pod has no running containers any more.
    async fn cleaned_up(&self, pod: &Pod) -> bool;
    /// Frees disk without evicting pods: removes dead containers and unused
    /// images (upstream `reclaimNodeLevelResources`).
    async fn reclaim_disk(&self);
}

#[derive(Debug, Default)]
struct State {
    /// Thresholds acted on in the last pass (kept until min-reclaim is free).
    met: Vec<Threshold>,
    /// When each threshold was first seen met.
    first_observed: HashMap<(Signal, bool), Instant>,
    /// When each condition's threshold was last met.
    condition_last_observed: HashMap<&'static str, Instant>,
    /// The conditions reported now.
    conditions: BTreeSet<&'static str>,
    /// The last observation (for messages and /stats).
    last: Option<Stats>,
}

/// The eviction manager.
pub struct EvictionManager {
    thresholds: Vec<Threshold>,
    transition_period: Duration,
    max_pod_grace_seconds: i64,
    observer: Mutex<Arc<dyn Observer>>,
    recorder: EventRecorder,
    state: Mutex<State>,
}

impl std::fmt::Debug for EvictionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvictionManager")
            .field("thresholds", &self.thresholds)
            .finish_non_exhaustive()
    }
}

impl EvictionManager {
    /// A manager with these thresholds (see [`threshold::from_config`]).
    pub fn new(
        thresholds: Vec<Threshold>,
        transition_period: Duration,
        max_pod_grace_seconds: i64,
        observer: Arc<dyn Observer>,
        recorder: EventRecorder,
    ) -> Self {
        Self {
            thresholds,
            transition_period,
            max_pod_grace_seconds,
            observer: Mutex::new(observer),
            recorder,
            state: Mutex::new(State::default()),
        }
    }

    /// Replaces what the manager observes (tests simulate pressure with it).
    pub fn set_observer(&self, observer: Arc<dyn Observer>) {
        *self.observer.lock().unwrap_or_else(|e| e.into_inner()) = observer;
    }

    async fn observe(&self) -> Stats {
        let observer = self
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        observer.observe().await
    }

    /// One signal observed now (image GC reads the image filesystem this way).
    pub async fn observe_signal(&self, signal: Signal) -> Option<threshold::Observation> {
        self.observe().await.node.get(&signal).copied()
    }

    /// The last observation.
    pub fn last_stats(&self) -> Option<Stats> {
        self.state().last.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pressure conditions that are True now (`MemoryPressure`, ...).
    pub fn conditions(&self) -> BTreeSet<&'static str> {
        self.state().conditions.clone()
    }

    /// Whether `condition` is True now.
    pub fn under(&self, condition: &str) -> bool {
        self.state().conditions.contains(condition)
    }

    /// Pod admission under pressure (upstream's eviction `Admit`): `Some`
    /// rejection message when the pod may not start here. Critical pods
    /// are always admitted; under MemoryPressure alone, pods that are not
    /// BestEffort, or that tolerate the memory-pressure taint, are too;
    /// under any other pressure nothing else is.
    pub fn admit(&self, pod: &Pod) -> Option<String> {
        let conditions = self.conditions();
        if conditions.is_empty() || rank::is_critical(pod) {
            return None;
        }
        if conditions.len() == 1 && conditions.contains("MemoryPressure") {
            let best_effort =
                crate::pod::qos::qos_class(pod) == crate::pod::qos::QosClass::BestEffort;
            if !best_effort || tolerates_memory_pressure(pod) {
                return None;
            }
        }
        let list: Vec<&str> = ["MemoryPressure", "DiskPressure", "PIDPressure"]
            .into_iter()
            .filter(|c| conditions.contains(c))
            .collect();
        Some(format!("The node had condition: [{}]. ", list.join(" ")))
    }

    /// One pass at time `now` (injectable for tests). Returns the pods it evicted.
    pub async fn synchronize(&self, killer: &dyn PodKiller, now: Instant) -> Vec<Pod> {
        let stats = self.observe().await;
        let thresholds = {
            let mut state = self.state();
            let mut met = threshold::met(&self.thresholds, &stats.node, false);
            // Thresholds met before stay until min-reclaim is free.
            let unresolved = threshold::met(&state.met, &stats.node, true);
            met = threshold::merge(met, unresolved);

            let mut first_observed = HashMap::new();
            for t in &met {
                let at = state.first_observed.get(&t.key()).copied().unwrap_or(now);
                first_observed.insert(t.key(), at);
            }
            state.first_observed = first_observed;

            for t in &met {
                state
                    .condition_last_observed
                    .insert(t.signal.condition(), now);
            }
            let period = self.transition_period;
            state
                .condition_last_observed
                .retain(|_, at| now.saturating_duration_since(*at) < period || *at == now);
            let conditions: BTreeSet<&'static str> =
                state.condition_last_observed.keys().copied().collect();
            for added in conditions.difference(&state.conditions) {
                tracing::warn!(condition = added, "node is under pressure");
            }
            state.conditions = conditions;

            // Soft thresholds act only after their grace period.
            let actionable: Vec<Threshold> = met
                .into_iter()
                .filter(|t| {
                    let first = state.first_observed.get(&t.key()).copied().unwrap_or(now);
                    now.saturating_duration_since(first) >= t.grace_period
                })
                .collect();
            state.met = actionable.clone();
            state.last = Some(stats.clone());
            actionable
        };
        if thresholds.is_empty() {
            return Vec::new();
        }
        // Memory first, then disk, then pids; hard before soft.
        let Some(chosen) = threshold::SIGNALS.iter().find_map(|s| {
            thresholds
                .iter()
                .filter(|t| t.signal == *s)
                .min_by_key(|t| !t.hard)
                .copied()
        }) else {
            return Vec::new();
        };
        tracing::warn!(
            signal = chosen.signal.as_str(),
            "eviction threshold met; attempting to reclaim resources"
        );

        let mut stats = stats;
        if !matches!(
            chosen.signal,
            Signal::MemoryAvailable | Signal::PidAvailable
        ) {
            killer.reclaim_disk().await;
            stats = self.observe().await;
            if threshold::met(&[chosen], &stats.node, true).is_empty() {
                tracing::info!(
                    signal = chosen.signal.as_str(),
                    "node-level reclaim freed enough; no pod evicted"
                );
                return Vec::new();
            }
        }

        let mut pods = killer.active_pods();
        if pods.is_empty() {
            tracing::error!("eviction threshold met but there are no pods to evict");
            return Vec::new();
        }
        rank::rank(chosen.signal, &mut pods, &stats.pods);
        let observation = stats.node.get(&chosen.signal).copied().unwrap_or_default();
        let quantity = chosen.value.amount(observation.capacity);
        for pod in pods {
            if rank::is_critical(&pod) {
                tracing::info!(
                    pod = pod.metadata.name.as_deref().unwrap_or_default(),
                    "cannot evict a critical pod"
                );
                continue;
            }
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let message = rank::message(
                chosen.signal,
                quantity,
                observation.available,
                &pod,
                stats.pods.get(&uid),
            );
            let grace = if chosen.hard {
                IMMEDIATE_GRACE_SECONDS
            } else {
                let pod_grace = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
                    .unwrap_or(crate::pod::lifecycle::DEFAULT_GRACE_SECONDS);
                self.max_pod_grace_seconds.min(pod_grace)
            };
            tracing::warn!(pod = %format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default()), signal = chosen.signal.as_str(), grace, "evicting pod");
            self.recorder
                .pod(&pod, None, WARNING, REASON, message.clone());
            killer.evict(&pod, grace, &message).await;
            EVICTIONS.with_label_values(&[chosen.signal.as_str()]).inc();
            // One pod per pass, as upstream.
            return vec![pod];
        }
        tracing::error!("eviction threshold met but every pod is critical");
        Vec::new()
    }

    /// Runs [`Self::synchronize`] every [`MONITORING_INTERVAL`] until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        killer: Arc<dyn PodKiller>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let evicted = tokio::select! {
                e = self.synchronize(&*killer, Instant::now()) => e,
                () = &mut shutdown => return,
            };
            let deadline = Instant::now() + POD_CLEANUP_TIMEOUT;
            for pod in &evicted {
                while Instant::now() < deadline && !killer.cleaned_up(pod).await {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = &mut shutdown => return,
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(MONITORING_INTERVAL) => {}
                () = &mut shutdown => return,
            }
        }
    }
}

/// Whether the pod tolerates `node.kubernetes.io/memory-pressure:NoSchedule`.
fn tolerates_memory_pressure(pod: &Pod) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.tolerations.iter().flatten())
        .any(|t| {
            let key_matches = match t.key.as_deref() {
                None | Some("") => t.operator.as_deref() == Some("Exists"),
                Some(k) => k == "node.kubernetes.io/memory-pressure",
            };
            let value_matches = match t.operator.as_deref() {
                Some("Exists") => true,
                _ => t.value.as_deref().unwrap_or("").is_empty(),
            };
            let effect_matches = t
                .effect
                .as_deref()
                .is_none_or(|e| e.is_empty() || e == "NoSchedule");
            key_matches && value_matches && effect_matches
        })
}

#[cfg(test)]
mod tests;
