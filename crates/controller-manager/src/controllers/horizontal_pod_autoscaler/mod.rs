//! `horizontal-pod-autoscaler-controller`: scales a workload's `/scale`
//! subresource to keep its pods' resource usage near the
//! HorizontalPodAutoscaler's target (upstream `podautoscaler` package).
//!
//! Every HPA is synced when it changes and every
//! `--horizontal-pod-autoscaler-sync-period` (15 s). One sync:
//!
//! 1. GET the target's scale ([`target`]); failure: `AbleToScale=False`
//!    `FailedGetScale`.
//! 2. A target at 0 replicas (with `minReplicas > 0`) is not autoscaled
//!    (`ScalingActive=False` `ScalingDisabled`); outside `[min, max]` it is
//!    brought back in range; otherwise each metric proposes a count
//!    ([`replicas`], from the pods matching the Scale's `status.selector` and
//!    their `metrics.k8s.io` samples) and the largest wins, normalized by
//!    stabilization windows and rate limits ([`normalize`]).
//! 3. A changed count is written to the scale (event `SuccessfulRescale`),
//!    and the status (replicas, current metrics, conditions) updated.
//!
//! Every metric source type is read: `Resource` and `ContainerResource`
//! from `metrics.k8s.io`, `Pods` and `Object` from
//! `custom.metrics.k8s.io`, `External` from `external.metrics.k8s.io`
//! ([`compute`], [`custom_metrics`]).

pub mod compute;
pub mod custom_metrics;
pub mod metrics;
pub mod normalize;
pub mod replicas;
pub mod status;
pub mod target;

mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;

use self::normalize::History;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::events::EventRecorder;
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;

/// Upstream name.
pub const NAME: &str = "horizontal-pod-autoscaler-controller";

/// `--horizontal-pod-autoscaler-*` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaConfig {
    /// `--horizontal-pod-autoscaler-sync-period` (15 s).
    pub sync_period: Duration,
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (5 min).
    pub downscale_stabilization: Duration,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 min):
    /// while a pod is this young, a cpu sample counts only if the pod is
    /// Ready and the sample was taken a whole window after it became so.
    pub cpu_initialization_period: Duration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s): an
    /// older pod that is not Ready is ignored if it never became Ready
    /// (its last transition came within this delay of its start).
    pub initial_readiness_delay: Duration,
}

// The tolerance is checked to be a finite number when the flags are read.
impl Eq for HpaConfig {}

impl Default for HpaConfig {
    fn default() -> Self {
        Self {
            sync_period: Duration::from_secs(15),
            tolerance: 0.1,
            downscale_stabilization: Duration::from_secs(300),
            cpu_initialization_period: Duration::from_secs(300),
            initial_readiness_delay: Duration::from_secs(30),
        }
    }
}

/// Builds the `horizontal-pod-autoscaler-controller`.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let hpas = ctx.informers.informer::<HorizontalPodAutoscaler>();
    let pods = ctx.informers.informer::<Pod>();
    let queue = WorkQueue::<ObjectKey>::new("horizontalpodautoscaler");
    let history: Arc<Mutex<HashMap<ObjectKey, History>>> = Arc::default();
    {
        let queue = queue.clone();
        let history = history.clone();
        hpas.add_event_handler(move |change: Change<'_, HorizontalPodAutoscaler>| {
            let key = ObjectKey::of(change.object());
            match change {
                Change::Deleted(_) => {
                    history
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&key);
                }
                // Status writes of our own come back as updates; only a
                // spec change needs an early sync, the periodic one covers
                // the rest.
                Change::Updated { old, new } if old.spec == new.spec => {}
                _ => queue.add(key),
            }
        });
    }
    let config = ctx.config.horizontal_pod_autoscaler.clone();
    let reconciler = HpaReconciler {
        client: ctx.client.clone(),
        hpas: hpas.clone(),
        pods: pods.clone(),
        recorder: ctx.recorder("horizontal-pod-autoscaler"),
        config,
        history,
    };
    Ok(Some(Box::new(
        QueueController::new(
            NAME,
            queue,
            reconciler,
            ctx.config.concurrency.horizontal_pod_autoscaler.max(1),
            ctx,
        )
        .wait_for(hpas)
        .wait_for(pods),
    )))
}

/// Syncs one HPA.
pub struct HpaReconciler {
    client: Client,
    hpas: Informer<HorizontalPodAutoscaler>,
    pods: Informer<Pod>,
    recorder: EventRecorder,
    config: HpaConfig,
    history: Arc<Mutex<HashMap<ObjectKey, History>>>,
}
