//! The binding cycle (upstream `bindingCycle`): PreBind, Bind, PostBind in
//! a background task; the result goes back to the loop, which confirms the
//! assumption or forgets it and retries the pod.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::Scheduler;
use super::failure::Failure;
use crate::framework::events::known;
use crate::framework::{
    ClusterApi, Diagnosis, EventObjects, EventSpec, EventType, Framework, PodInfo, Status,
};
use crate::metrics;
use crate::plugins::defaultpreemption::object_ref;
use crate::queue::QueuedPodInfo;

/// The outcome of one binding cycle.
#[derive(Debug)]
pub struct BindResult {
    fwk_name: String,
    pod: Arc<PodInfo>,
    node: String,
    queued: QueuedPodInfo,
    status: Status,
    start: Instant,
}

pub(super) fn spawn_binding(
    fwk: Arc<Framework>,
    pod: Arc<PodInfo>,
    node: String,
    queued: QueuedPodInfo,
    start: Instant,
    results: mpsc::UnboundedSender<BindResult>,
    api: Arc<dyn ClusterApi>,
) {
    let task = async move {
        metrics::binding_in_flight(1.0);
        let mut status = fwk.run_pre_bind(&pod, &node).await;
        if status.is_success() {
            status = fwk.run_bind(&pod, &node).await;
        }
        if status.is_success() {
            fwk.run_post_bind(&pod, &node);
            api.record_event(EventSpec {
                regarding: object_ref(&pod),
                related: None,
                type_: EventType::Normal,
                reason: "Scheduled".into(),
                action: "Binding".into(),
                note: format!(
                    "Successfully assigned {}/{} to {node}",
                    pod.namespace, pod.name
                ),
                reporting_controller: fwk.profile_name.clone(),
            });
        }
        metrics::binding_in_flight(-1.0);
        let _ = results.send(BindResult {
            fwk_name: fwk.profile_name.clone(),
            pod,
            node,
            queued,
            status,
            start,
        });
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(task);
        }
        Err(_) => tracing::error!("no async runtime: cannot bind"),
    }
}

impl Scheduler {
    pub(super) fn on_bind_result(&mut self, result: BindResult) {
        let BindResult {
            fwk_name,
            pod,
            node,
            queued,
            status,
            start,
        } = result;
        let Some(fwk) = self.profiles.get(&fwk_name).cloned() else {
            return;
        };
        if status.is_success() {
            self.stats.bound += 1;
            self.queue.done(&pod.uid);
            metrics::schedule_attempt(&fwk.profile_name, "scheduled", start.elapsed());
            let since = queued
                .initial_attempt
                .map_or(std::time::Duration::ZERO, |t| {
                    tokio::time::Instant::now().saturating_duration_since(t)
                });
            metrics::pod_scheduled(queued.attempts, since);
            return;
        }
        tracing::debug!(pod = %pod.key(), node = %node, status = %status, "binding failed");
        fwk.run_unreserve(&pod, &node);
        let was_assumed = self.snapshot.is_assumed(&pod.uid);
        self.snapshot.forget_pod(&pod.uid);
        if was_assumed {
            // Forgetting frees what the pod held: like a deletion for the others.
            self.queue.move_on_event(
                &known::ASSIGNED_POD_DELETE,
                &EventObjects::Pod {
                    old: Some(&pod),
                    new: None,
                },
                tokio::time::Instant::now(),
            );
        }
        let failure = if status.is_rejected() {
            let mut diagnosis = Diagnosis::default();
            diagnosis.unschedulable_plugins.insert(status.plugin());
            Failure::Plugin(status.message(), diagnosis)
        } else {
            Failure::Error(status.message())
        };
        self.handle_failure(&fwk, queued, failure, None, start);
    }
}
