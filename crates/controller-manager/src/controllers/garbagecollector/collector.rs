//! The garbage collector's workers (upstream `attemptToDeleteItem` and
//! `attemptToOrphanWorker`). Every decision is taken on fresh reads from
//! the apiserver, never on the graph alone.
//!
//! For an object queued for deletion, its owner references are classified:
//! *dangling* (the owner is gone, or another object has its name),
//! *waiting* (the owner is being deleted in the foreground) or *solid*.
//!
//! | references | action |
//! | --- | --- |
//! | some solid | remove the dangling and waiting references, keep the object |
//! | some waiting, and the object has dependents | delete it in the foreground (after making its own references non-blocking if a dependent also waits: a cycle) |
//! | otherwise | delete it, honouring an `orphan`/`foregroundDeletion` finalizer it already has, else in the background |
//!
//! An owner deleting in the foreground loses its `foregroundDeletion`
//! finalizer once no dependent blocks it; an owner deleted with `orphan`
//! first has its reference removed from every dependent, then loses the
//! finalizer. Deletes carry UID and resourceVersion preconditions.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Api;
use kube::api::{
    DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use serde_json::json;
use tokio::sync::mpsc;

use super::graph::{FOREGROUND_FINALIZER, Graph, GraphEvent, Identity, Node, ORPHAN_FINALIZER};
use super::monitors::SharedMapper;
use crate::framework::api_errors;
use crate::framework::events::{EventRecorder, EventType};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Entries of the cache of owners known to be absent (upstream's LRU size).
const ABSENT_OWNER_CACHE_SIZE: usize = 500;
/// Attempts of a metadata patch that keeps conflicting.
const PATCH_RETRIES: usize = 5;
/// How soon a virtual node that exists but is not observed yet is checked.
const NOT_OBSERVED_RETRY: Duration = Duration::from_secs(1);

/// Why a garbage collection step failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// A request failed.
    #[error("{}", api_errors::message(.0))]
    Api(#[from] kube::Error),
    /// The apiVersion/kind is not served (yet): retried after discovery.
    #[error("unable to get REST mapping for {api_version}/{kind}")]
    UnknownKind {
        /// The reference's apiVersion.
        api_version: String,
        /// The reference's kind.
        kind: String,
    },
}

/// A bounded set of `(uid, namespace)` of owners known to be gone.
#[derive(Debug, Default)]
struct AbsentOwners {
    order: VecDeque<(String, String)>,
    set: HashSet<(String, String)>,
}

impl AbsentOwners {
    fn contains(&self, uid: &str, namespace: &str) -> bool {
        self.set.contains(&(uid.to_string(), namespace.to_string()))
    }

    fn insert(&mut self, uid: &str, namespace: &str) {
        let key = (uid.to_string(), namespace.to_string());
        if self.set.insert(key.clone()) {
            self.order.push_back(key);
            while self.order.len() > ABSENT_OWNER_CACHE_SIZE {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// Owner references sorted by what they mean for the dependent.
#[derive(Debug, Default)]
struct Classified {
    solid: Vec<OwnerReference>,
    dangling: Vec<OwnerReference>,
    waiting: Vec<OwnerReference>,
}

/// Shared state of the workers.
pub struct Collector {
    client: kube::Client,
    graph: Arc<Mutex<Graph>>,
    mapper: SharedMapper,
    graph_events: mpsc::UnboundedSender<GraphEvent>,
    delete_queue: WorkQueue<String>,
    absent: Mutex<AbsentOwners>,
    recorder: EventRecorder,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Collector {
    /// Workers over `graph`, queueing follow-ups on `delete_queue` and
    /// virtual deletes on `graph_events`.
    pub fn new(
        client: kube::Client,
        graph: Arc<Mutex<Graph>>,
        mapper: SharedMapper,
        graph_events: mpsc::UnboundedSender<GraphEvent>,
        delete_queue: WorkQueue<String>,
        recorder: EventRecorder,
    ) -> Self {
        Self {
            client,
            graph,
            mapper,
            graph_events,
            delete_queue,
            absent: Mutex::new(AbsentOwners::default()),
            recorder,
        }
    }

    fn node(&self, uid: &str) -> Option<Node> {
        lock(&self.graph).node(uid).cloned()
    }

    /// The API of `api_version`/`kind`, in `namespace` if it is namespaced.
    fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<(Api<DynamicObject>, bool), GcError> {
        let mapping = self
            .mapper
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .mapping(api_version, kind)
            .ok_or_else(|| GcError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            })?;
        let api = if mapping.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &mapping.resource)
        } else {
            Api::all_with(self.client.clone(), &mapping.resource)
        };
        Ok((api, mapping.namespaced))
    }

    /// The object's current metadata; `None` if it does not exist.
    async fn get_meta(&self, identity: &Identity) -> Result<Option<ObjectMeta>, GcError> {
        let (api, _) = self.api(&identity.api_version, &identity.kind, &identity.namespace)?;
        Ok(api
            .get_metadata_opt(&identity.name)
            .await?
            .map(|m| m.metadata))
    }

    fn virtual_delete(&self, identity: &Identity) {
        let _ = self.graph_events.send(GraphEvent::Delete {
            identity: identity.clone(),
            virtual_: true,
        });
    }

    /// Upstream `classifyReferences` / `isDangling`. `Ok(None)`: a
    /// cluster-scoped object names a namespaced owner, which can never be
    /// resolved (reported, not retried).
    async fn classify(
        &self,
        item: &Identity,
        references: &[OwnerReference],
    ) -> Result<Option<Classified>, GcError> {
        let mut out = Classified::default();
        for reference in references {
            if lock(&self.absent).contains(&reference.uid, "")
                || lock(&self.absent).contains(&reference.uid, &item.namespace)
            {
                out.dangling.push(reference.clone());
                continue;
            }
            let (api, namespaced) =
                self.api(&reference.api_version, &reference.kind, &item.namespace)?;
            if namespaced && item.namespace.is_empty() {
                self.recorder.event_for_reference(
                    object_reference(item),
                    EventType::Warning,
                    "OwnerRefInvalidNamespace",
                    &format!(
                        "ownerRef [{}/{}, namespace: , name: {}, uid: {}] does not exist in namespace \"\"",
                        reference.api_version, reference.kind, reference.name, reference.uid
                    ),
                );
                return Ok(None);
            }
            let cache_namespace = if namespaced {
                item.namespace.as_str()
            } else {
                ""
            };
            match api.get_metadata_opt(&reference.name).await? {
                Some(owner) if owner.metadata.uid.as_deref() == Some(reference.uid.as_str()) => {
                    let waiting = owner.metadata.deletion_timestamp.is_some()
                        && owner
                            .metadata
                            .finalizers
                            .iter()
                            .flatten()
                            .any(|f| f == FOREGROUND_FINALIZER);
                    if waiting {
                        out.waiting.push(reference.clone());
                    } else {
                        out.solid.push(reference.clone());
                    }
                }
                _ => {
                    lock(&self.absent).insert(&reference.uid, cache_namespace);
                    out.dangling.push(reference.clone());
                }
            }
        }
        Ok(Some(out))
    }

    /// Upstream `attemptToDeleteItem`.
    async fn attempt_to_delete(&self, uid: &str) -> Result<Action, GcError> {
        let Some(node) = self.node(uid) else {
            return Ok(Action::await_change());
        };
        if node.being_deleted && !node.deleting_dependents {
            // Its deletion will be observed; its dependents are handled then.
            return Ok(Action::await_change());
        }
        let latest = match self.get_meta(&node.identity).await? {
            Some(latest) if latest.uid.as_deref() == Some(node.identity.uid.as_str()) => latest,
            _ => {
                self.virtual_delete(&node.identity);
                return Ok(Action::await_change());
            }
        };
        if node.deleting_dependents {
            self.process_deleting_dependents(&node).await?;
            return Ok(self.done(&node));
        }
        let references = latest.owner_references.clone().unwrap_or_default();
        if references.is_empty() {
            return Ok(self.done(&node));
        }
        let Some(classified) = self.classify(&node.identity, &references).await? else {
            return Ok(Action::await_change());
        };
        if !classified.solid.is_empty() {
            if classified.dangling.is_empty() && classified.waiting.is_empty() {
                return Ok(self.done(&node));
            }
            let remove: Vec<String> = classified
                .dangling
                .iter()
                .chain(&classified.waiting)
                .map(|r| r.uid.clone())
                .collect();
            tracing::debug!(item = %node.identity, "removing dangling owner references");
            self.remove_owner_references(&node.identity, &remove)
                .await?;
        } else if !classified.waiting.is_empty() && !node.dependents.is_empty() {
            let dependent_waits = {
                let graph = lock(&self.graph);
                node.dependents
                    .iter()
                    .filter_map(|d| graph.node(d))
                    .any(|d| d.deleting_dependents)
            };
            if dependent_waits {
                // A cycle of foreground deletions: stop blocking our owners
                // so both sides can finish.
                tracing::info!(item = %node.identity, "owner and dependent both wait for dependents; unblocking owner references");
                self.unblock_owner_references(&node.identity).await?;
            }
            tracing::debug!(item = %node.identity, "deleting in the foreground: an owner waits for its dependents");
            self.delete_object(&node.identity, &latest, PropagationPolicy::Foreground)
                .await?;
        } else {
            let finalizers = latest.finalizers.clone().unwrap_or_default();
            let policy = if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
                PropagationPolicy::Orphan
            } else if finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
                PropagationPolicy::Foreground
            } else {
                PropagationPolicy::Background
            };
            tracing::debug!(item = %node.identity, policy = ?policy, "deleting object whose owners are gone");
            self.delete_object(&node.identity, &latest, policy).await?;
        }
        Ok(self.done(&node))
    }

    /// A virtual node that exists is looked at again until a monitor sees it.
    fn done(&self, node: &Node) -> Action {
        if node.observed {
            Action::await_change()
        } else {
            Action::requeue(NOT_OBSERVED_RETRY)
        }
    }

    /// Upstream `processDeletingDependentsItem`.
    async fn process_deleting_dependents(&self, node: &Node) -> Result<(), GcError> {
        let blocking = lock(&self.graph).blocking_dependents(&node.identity.uid);
        if blocking.is_empty() {
            tracing::debug!(item = %node.identity, "no blocking dependents left; removing foregroundDeletion");
            return self
                .remove_finalizer(&node.identity, FOREGROUND_FINALIZER)
                .await;
        }
        for (dependent, deleting_dependents) in blocking {
            if !deleting_dependents {
                self.delete_queue.add(dependent);
            }
        }
        Ok(())
    }

    /// Upstream `attemptToOrphanWorker`.
    async fn attempt_to_orphan(&self, uid: &str) -> Result<Action, GcError> {
        let Some(node) = self.node(uid) else {
            return Ok(Action::await_change());
        };
        let dependents = lock(&self.graph).dependents(uid);
        let owner = [uid.to_string()];
        let results = futures::future::join_all(
            dependents
                .iter()
                .map(|dependent| self.remove_owner_references(dependent, &owner)),
        )
        .await;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            return Err(err);
        }
        self.remove_finalizer(&node.identity, ORPHAN_FINALIZER)
            .await?;
        Ok(Action::await_change())
    }

    /// A JSON merge patch of `metadata` with `resourceVersion` and `uid` as
    /// preconditions, computed from a fresh read, retried on conflicts.
    /// `change` returns the new metadata fields, or `None` for no change.
    async fn patch_metadata(
        &self,
        identity: &Identity,
        change: impl Fn(&ObjectMeta) -> Option<serde_json::Value>,
    ) -> Result<(), GcError> {
        let (api, _) = self.api(&identity.api_version, &identity.kind, &identity.namespace)?;
        for attempt in 0..PATCH_RETRIES {
            let Some(current) = api.get_metadata_opt(&identity.name).await? else {
                return Ok(());
            };
            let current = current.metadata;
            if current.uid.as_deref() != Some(identity.uid.as_str()) {
                return Ok(());
            }
            let Some(mut fields) = change(&current) else {
                return Ok(());
            };
            fields["resourceVersion"] = json!(current.resource_version);
            fields["uid"] = json!(identity.uid);
            let patch = json!({ "metadata": fields });
            match api
                .patch(
                    &identity.name,
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(err) if api_errors::is_not_found(&err) => return Ok(()),
                Err(err) if api_errors::is_conflict(&err) && attempt + 1 < PATCH_RETRIES => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Removes the references to `owner_uids` from the object.
    async fn remove_owner_references(
        &self,
        identity: &Identity,
        owner_uids: &[String],
    ) -> Result<(), GcError> {
        self.patch_metadata(identity, |meta| {
            let references = meta.owner_references.clone().unwrap_or_default();
            let kept: Vec<&OwnerReference> = references
                .iter()
                .filter(|r| !owner_uids.contains(&r.uid))
                .collect();
            if kept.len() == references.len() {
                return None;
            }
            Some(json!({
                "ownerReferences": if kept.is_empty() { serde_json::Value::Null } else { json!(kept) }
            }))
        })
        .await
    }

    /// Sets `blockOwnerDeletion: false` on the object's blocking references.
    async fn unblock_owner_references(&self, identity: &Identity) -> Result<(), GcError> {
        self.patch_metadata(identity, |meta| {
            let mut references = meta.owner_references.clone().unwrap_or_default();
            let mut changed = false;
            for reference in references.iter_mut() {
                if reference.block_owner_deletion == Some(true) {
                    reference.block_owner_deletion = Some(false);
                    changed = true;
                }
            }
            changed.then(|| json!({ "ownerReferences": references }))
        })
        .await
    }

    /// Upstream `removeFinalizer`.
    async fn remove_finalizer(&self, identity: &Identity, finalizer: &str) -> Result<(), GcError> {
        self.patch_metadata(identity, |meta| {
            let finalizers = meta.finalizers.clone().unwrap_or_default();
            if !finalizers.iter().any(|f| f == finalizer) {
                return None;
            }
            let kept: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
            Some(json!({
                "finalizers": if kept.is_empty() { serde_json::Value::Null } else { json!(kept) }
            }))
        })
        .await
    }

    /// Upstream `deleteObject`: UID and resourceVersion preconditions; on a
    /// conflict that did not change the owner references, once more with
    /// the UID only.
    async fn delete_object(
        &self,
        identity: &Identity,
        latest: &ObjectMeta,
        policy: PropagationPolicy,
    ) -> Result<(), GcError> {
        let (api, _) = self.api(&identity.api_version, &identity.kind, &identity.namespace)?;
        let mut params = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(identity.uid.clone()),
                resource_version: latest.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        match api.delete(&identity.name, &params).await {
            Ok(_) => Ok(()),
            Err(err) if api_errors::is_not_found(&err) => Ok(()),
            Err(err) if api_errors::is_conflict(&err) => {
                let Some(live) = api.get_metadata_opt(&identity.name).await? else {
                    return Ok(());
                };
                let live = live.metadata;
                if live.uid.as_deref() == Some(identity.uid.as_str())
                    && live.resource_version != latest.resource_version
                    && live.owner_references == latest.owner_references
                {
                    if let Some(p) = params.preconditions.as_mut() {
                        p.resource_version = None;
                    }
                    match api.delete(&identity.name, &params).await {
                        Ok(_) => Ok(()),
                        Err(err) if api_errors::is_not_found(&err) => Ok(()),
                        Err(err) => Err(err.into()),
                    }
                } else {
                    Err(err.into())
                }
            }
            Err(err) => Err(err.into()),
        }
    }
}

fn object_reference(identity: &Identity) -> ObjectReference {
    ObjectReference {
        api_version: Some(identity.api_version.clone()),
        kind: Some(identity.kind.clone()),
        name: Some(identity.name.clone()),
        namespace: (!identity.namespace.is_empty()).then(|| identity.namespace.clone()),
        uid: Some(identity.uid.clone()),
        ..ObjectReference::default()
    }
}

/// The attempt-to-delete queue's reconciler (keys are UIDs).
pub struct AttemptToDelete(pub Arc<Collector>);

impl Reconciler<String> for AttemptToDelete {
    type Error = GcError;

    async fn reconcile(&self, uid: &String) -> Result<Action, GcError> {
        self.0.attempt_to_delete(uid).await
    }
}

/// The attempt-to-orphan queue's reconciler (keys are UIDs).
pub struct AttemptToOrphan(pub Arc<Collector>);

impl Reconciler<String> for AttemptToOrphan {
    type Error = GcError;

    async fn reconcile(&self, uid: &String) -> Result<Action, GcError> {
        self.0.attempt_to_orphan(uid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_owner_cache_is_bounded() {
        let mut cache = AbsentOwners::default();
        for i in 0..(ABSENT_OWNER_CACHE_SIZE + 10) {
            cache.insert(&i.to_string(), "ns");
        }
        assert!(!cache.contains("0", "ns"));
        assert!(cache.contains(&(ABSENT_OWNER_CACHE_SIZE + 9).to_string(), "ns"));
        assert!(!cache.contains(&(ABSENT_OWNER_CACHE_SIZE + 9).to_string(), "other"));
        assert_eq!(cache.set.len(), ABSENT_OWNER_CACHE_SIZE);
    }
}
