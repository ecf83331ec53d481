//! `daemonset-controller`: one daemon pod on every eligible node, rolled
//! out through ControllerRevisions, with upstream 1.33's semantics.
//!
//! One sync ([`sync`]):
//!
//! 1. the history: the revision whose data equals the current template
//!    (`{"spec":{"template":{...,"$patch":"replace"}}}`) is the current
//!    one (created as `<name>-<hash>`, or renumbered to the newest on a
//!    rollback); its hash labels the new pods (`controller-revision-hash`);
//! 2. the pods are claimed and grouped by node (`spec.nodeName`, or the
//!    node their affinity pins them to);
//! 3. per node ([`node_fit`]): a node that should run the daemon and has
//!    no pod gets one (pinned by a required `metadata.name` node affinity,
//!    with the automatic tolerations); failed pods are deleted
//!    (`FailedDaemonPod`, with backoff); extra pods and pods on nodes
//!    that should not run them are deleted;
//! 4. `RollingUpdate` ([`rolling`]): old pods are replaced within
//!    `maxUnavailable`, or (with `maxSurge`) new pods start next to old
//!    ones, which go once the new ones are available; `OnDelete` waits
//!    for the user to delete old pods;
//! 5. old revisions beyond `revisionHistoryLimit` that no pod uses are
//!    deleted, and the status is written (desired/current/misscheduled/
//!    ready/available/unavailable/updated counts, `observedGeneration`,
//!    `collisionCount`), so `kubectl rollout status ds/x` works.

pub mod node_fit;
mod rolling;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{Client, ResourceExt};

use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::controller_ref::{ClaimError, add_claim_indexes, controller_of};
use crate::framework::events::EventRecorder;
use crate::framework::expectations::Expectations;
use crate::framework::informer::{Change, Informer};
use crate::framework::key::ObjectKey;
use crate::framework::pod_readiness::{is_ready, pod_key};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "daemonset-controller";
/// `source.component` of its events.
pub const EVENT_COMPONENT: &str = "daemonset-controller";
/// Most pods created or deleted per sync (upstream `BurstReplicas`).
pub const BURST_REPLICAS: usize = 250;
/// The pod label with the DaemonSet's generation when the pod was made.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// Why a sync failed (the key is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A request failed.
    #[error("{}", api_errors::message(.0))]
    Api(#[from] kube::Error),
    /// Adopting or releasing pods or revisions failed.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// Creating or deleting pods failed.
    #[error("{0}")]
    Pods(String),
}

/// Builds the controller (`--concurrent-daemonset-syncs` workers).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let daemonsets = ctx.informers.informer::<DaemonSet>();
    let pods = ctx.informers.informer::<Pod>();
    // Syncs claim their own pods and matching orphans only.
    add_claim_indexes(&pods);
    let nodes = ctx.informers.informer::<Node>();
    let revisions = ctx.informers.informer::<ControllerRevision>();
    add_claim_indexes(&revisions);
    let queue = WorkQueue::<ObjectKey>::new("daemonset");
    let expectations = Arc::new(Expectations::new());
    {
        let queue = queue.clone();
        let expectations = expectations.clone();
        daemonsets.add_event_handler(move |change: Change<'_, DaemonSet>| {
            let key = ObjectKey::of(change.object());
            if let Change::Deleted(_) = change {
                expectations.delete(&key.to_string());
            }
            queue.add(key);
        });
    }
    add_pod_handlers(&daemonsets, &pods, &queue, &expectations);
    {
        // A node that appears or changes labels/taints may need (or no
        // longer want) daemon pods.
        let daemonsets = daemonsets.clone();
        let queue = queue.clone();
        nodes.add_event_handler(move |change: Change<'_, Node>| {
            if let Change::Updated { old, new } = change
                && old.metadata.labels == new.metadata.labels
                && old.spec.as_ref().map(|s| &s.taints) == new.spec.as_ref().map(|s| &s.taints)
            {
                return;
            }
            for ds in daemonsets.list() {
                queue.add(ObjectKey::of(ds.as_ref()));
            }
        });
    }
    let reconciler = DaemonSetReconciler {
        client: ctx.client.clone(),
        daemonsets: daemonsets.clone(),
        pods: pods.clone(),
        nodes: nodes.clone(),
        revisions: revisions.clone(),
        expectations,
        recorder: ctx.recorder(EVENT_COMPONENT),
        failed_backoff: std::sync::Mutex::new(std::collections::HashMap::new()),
    };
    Ok(Some(Box::new(
        QueueController::new(
            NAME,
            queue,
            reconciler,
            ctx.config.concurrency.daemonset,
            ctx,
        )
        .wait_for(daemonsets)
        .wait_for(pods)
        .wait_for(nodes)
        .wait_for(revisions),
    )))
}

fn resolve(daemonsets: &Informer<DaemonSet>, pod: &Pod) -> Option<Arc<DaemonSet>> {
    let reference = controller_of(&pod.metadata)?;
    if reference.kind != "DaemonSet" {
        return None;
    }
    daemonsets
        .get(pod.namespace().as_deref(), &reference.name)
        .filter(|d| d.uid().as_deref() == Some(reference.uid.as_str()))
}

fn add_pod_handlers(
    daemonsets: &Informer<DaemonSet>,
    pods: &Informer<Pod>,
    queue: &WorkQueue<ObjectKey>,
    expectations: &Arc<Expectations>,
) {
    let daemonsets = daemonsets.clone();
    let queue = queue.clone();
    let expectations = expectations.clone();
    pods.add_event_handler(move |change: Change<'_, Pod>| {
        let pod = change.object();
        let Some(ds) = resolve(&daemonsets, pod) else {
            // Orphans that match a DaemonSet are adopted by its next sync.
            if controller_of(&pod.metadata).is_none() {
                let namespace = pod.namespace().unwrap_or_default();
                for ds in daemonsets.list_namespace(&namespace) {
                    let matches = sync::selector_of(&ds)
                        .is_some_and(|s| s.matches(pod.metadata.labels.as_ref()));
                    if matches {
                        queue.add(ObjectKey::of(ds.as_ref()));
                    }
                }
            }
            return;
        };
        let key = ObjectKey::of(ds.as_ref());
        let key_string = key.to_string();
        match change {
            Change::Added(p) if p.metadata.deletion_timestamp.is_none() => {
                expectations.creation_observed(&key_string);
            }
            Change::Added(p) | Change::Deleted(p) => {
                expectations.deletion_observed(&key_string, &pod_key(p));
            }
            Change::Updated { old, new } => {
                if new.metadata.deletion_timestamp.is_some() {
                    expectations.deletion_observed(&key_string, &pod_key(new));
                }
                let min_ready = ds
                    .spec
                    .as_ref()
                    .and_then(|s| s.min_ready_seconds)
                    .unwrap_or(0);
                if !is_ready(old) && is_ready(new) && min_ready > 0 {
                    queue.add_after(
                        key.clone(),
                        Duration::from_secs(u64::try_from(min_ready).unwrap_or(0) + 1),
                    );
                }
            }
        }
        queue.add(key);
    });
}

/// Reconciles DaemonSets by key.
pub struct DaemonSetReconciler {
    client: Client,
    daemonsets: Informer<DaemonSet>,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    revisions: Informer<ControllerRevision>,
    expectations: Arc<Expectations>,
    recorder: EventRecorder,
    /// Per `<ds uid>/<node>`: when a failed pod was last deleted there and
    /// the delay before the next one (1 s doubling to 15 min, upstream's
    /// `failedPodsBackoff`), so a kubelet that rejects pods is not fought
    /// in a hot loop.
    failed_backoff:
        std::sync::Mutex<std::collections::HashMap<String, (tokio::time::Instant, Duration)>>,
}

impl Reconciler<ObjectKey> for DaemonSetReconciler {
    type Error = SyncError;

    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, SyncError> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(ds) = self.daemonsets.get(Some(&namespace), &key.name) else {
            self.expectations.delete(&key.to_string());
            return Ok(Action::await_change());
        };
        self.sync(&key.to_string(), (*ds).clone()).await
    }
}
