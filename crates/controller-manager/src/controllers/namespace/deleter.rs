//! Removing everything in a terminating namespace (upstream's
//! `namespacedResourcesDeleter`).
//!
//! One pass: set `status.phase=Terminating`; discover every namespaced
//! resource type that supports `delete` (custom resources included); per
//! type, `deletecollection` (or list + delete each) with background
//! propagation, then list what is left; update the `NamespaceDeletion*`
//! conditions. If objects remain because of finalizers or pod grace
//! periods, the pass ends with [`DeletionError::ResourcesRemaining`] and an
//! estimate; once nothing is left, `kubernetes` is removed from
//! `spec.finalizers` through `PUT .../finalize`, and the namespace is
//! deleted again so the apiserver removes it (upstream's apiserver does that
//! as part of the finalize call; doing it here too is harmless there).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use super::conditions::ConditionUpdater;
use crate::framework::api_errors;
use crate::framework::discovery::{self, DiscoveredResource};

/// The finalizer this controller owns in `spec.finalizers`.
pub const FINALIZER_KUBERNETES: &str = "kubernetes";
/// Seconds to wait for objects whose own finalizers keep them around.
pub const FINALIZER_ESTIMATE_SECONDS: i64 = 15;
/// Resource types whose content is cleaned concurrently.
const CONCURRENT_RESOURCE_DELETES: usize = 8;
/// Attempts of an update that keeps hitting conflicts.
const CONFLICT_RETRIES: usize = 10;

/// Why a deletion pass did not finish the namespace.
#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    /// Content remains that is expected to go away (finalizers, pods
    /// terminating); retry after about half the estimate.
    #[error(
        "some content remains in the namespace, estimate {estimate} seconds before it is removed"
    )]
    ResourcesRemaining {
        /// Seconds until it should be gone.
        estimate: i64,
    },
    /// A request about the namespace itself failed.
    #[error("{}", api_errors::message(.0))]
    Api(#[from] kube::Error),
    /// The namespace was replaced by another one of the same name.
    #[error("namespace uid has changed across retries")]
    UidChanged,
    /// Discovery or content deletion failed (upstream's aggregate message).
    #[error("{0}")]
    Content(String),
}

/// What is left of one resource type after a pass.
#[derive(Debug, Default)]
struct GvrOutcome {
    estimate: i64,
    remaining: usize,
    finalizers: BTreeMap<String, usize>,
    error: Option<String>,
}

/// Deletes the content of namespaces and finalizes them.
pub struct NamespacedResourcesDeleter {
    client: Client,
    namespaces: Api<Namespace>,
    /// `(verb, gvr)` pairs the server refused with 404/405.
    unsupported: Mutex<HashSet<(&'static str, String)>>,
}

impl std::fmt::Debug for NamespacedResourcesDeleter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespacedResourcesDeleter")
            .finish_non_exhaustive()
    }
}

fn join_errors(errors: &[String]) -> String {
    if errors.len() == 1 {
        errors[0].clone()
    } else {
        format!("[{}]", errors.join(", "))
    }
}

enum NamespaceUpdate {
    Terminating,
    Finalize,
}

impl NamespacedResourcesDeleter {
    /// A deleter using `client`.
    pub fn new(client: Client) -> Self {
        Self {
            namespaces: Api::all(client.clone()),
            client,
            unsupported: Mutex::new(HashSet::new()),
        }
    }

    fn is_unsupported(&self, verb: &'static str, resource: &DiscoveredResource) -> bool {
        !resource.supports(verb)
            || self
                .unsupported
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .contains(&(verb, resource.gvr_string()))
    }

    fn set_unsupported(&self, verb: &'static str, resource: &DiscoveredResource) {
        self.unsupported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((verb, resource.gvr_string()));
    }

    /// One deletion pass over namespace `name`. `Ok` when there is nothing
    /// (more) to do: not deleting, gone, or finalized now.
    pub async fn delete(&self, name: &str) -> Result<(), DeletionError> {
        let Some(namespace) = self.namespaces.get_opt(name).await? else {
            return Ok(());
        };
        if namespace.metadata.deletion_timestamp.is_none() {
            return Ok(());
        }
        let namespace = match self
            .retry_on_conflict(namespace, NamespaceUpdate::Terminating)
            .await
        {
            Ok(ns) => ns,
            Err(DeletionError::Api(err)) if api_errors::is_not_found(&err) => return Ok(()),
            Err(err) => return Err(err),
        };
        if namespace.metadata.deletion_timestamp.is_none() {
            return Ok(());
        }
        if finalized(&namespace) {
            return Ok(());
        }
        let estimate = self.delete_all_content(&namespace).await?;
        if estimate > 0 {
            return Err(DeletionError::ResourcesRemaining { estimate });
        }
        let finalized = match self
            .retry_on_conflict(namespace, NamespaceUpdate::Finalize)
            .await
        {
            Ok(ns) => ns,
            Err(DeletionError::Api(err)) if api_errors::is_not_found(&err) => return Ok(()),
            Err(err) => return Err(err),
        };
        tracing::info!(namespace = name, "namespace finalized");
        self.delete_if_done(&finalized).await
    }

    /// Deletes the namespace once no finalizer of either kind is left, so an
    /// apiserver that keeps finalized namespaces removes it.
    async fn delete_if_done(&self, namespace: &Namespace) -> Result<(), DeletionError> {
        if !finalized(namespace) || !namespace.finalizers().is_empty() {
            return Ok(());
        }
        let mut params = DeleteParams::background();
        params.preconditions = Some(Preconditions {
            uid: namespace.uid(),
            resource_version: None,
        });
        match self.namespaces.delete(&namespace.name_any(), &params).await {
            Ok(_) => Ok(()),
            Err(err) if api_errors::is_not_found(&err) || api_errors::is_conflict(&err) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    async fn retry_on_conflict(
        &self,
        namespace: Namespace,
        update: NamespaceUpdate,
    ) -> Result<Namespace, DeletionError> {
        let mut latest = namespace;
        for _ in 0..CONFLICT_RETRIES {
            let result = match update {
                NamespaceUpdate::Terminating => self.update_terminating(&latest).await,
                NamespaceUpdate::Finalize => self.finalize(&latest).await,
            };
            match result {
                Ok(ns) => return Ok(ns),
                Err(err) if api_errors::is_conflict(&err) => {
                    let fresh = self.namespaces.get(&latest.name_any()).await?;
                    if fresh.uid() != latest.uid() {
                        return Err(DeletionError::UidChanged);
                    }
                    latest = fresh;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(DeletionError::Content(format!(
            "namespace {} kept changing; giving up for now",
            latest.name_any()
        )))
    }

    async fn update_terminating(&self, namespace: &Namespace) -> kube::Result<Namespace> {
        let phase = namespace.status.as_ref().and_then(|s| s.phase.as_deref());
        if namespace.metadata.deletion_timestamp.is_none() || phase == Some("Terminating") {
            return Ok(namespace.clone());
        }
        let mut updated = namespace.clone();
        updated.status.get_or_insert_with(Default::default).phase = Some("Terminating".into());
        self.namespaces
            .replace_status(&namespace.name_any(), &PostParams::default(), &updated)
            .await
    }

    async fn finalize(&self, namespace: &Namespace) -> kube::Result<Namespace> {
        let mut updated = namespace.clone();
        let spec = updated.spec.get_or_insert_with(Default::default);
        let mut remaining: Vec<String> = spec
            .finalizers
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f != FINALIZER_KUBERNETES)
            .collect();
        remaining.sort();
        remaining.dedup();
        spec.finalizers = Some(remaining);
        self.namespaces
            .replace_subresource(
                "finalize",
                &namespace.name_any(),
                &PostParams::default(),
                &updated,
            )
            .await
    }

    /// Deletes everything in the namespace; returns how many seconds the
    /// rest should take to go away (0: nothing left).
    async fn delete_all_content(&self, namespace: &Namespace) -> Result<i64, DeletionError> {
        let name = namespace.name_any();
        let deleted_at = namespace
            .metadata
            .deletion_timestamp
            .as_ref()
            .map_or_else(Timestamp::now, |t| t.0);
        let mut errors: Vec<String> = Vec::new();
        let mut conditions = ConditionUpdater::default();

        let resources = match discovery::server_preferred_resources(&self.client).await {
            Ok(discovered) => {
                if let Some(message) = discovered.failure_message() {
                    conditions.discovery_failed(discovered.failed.len(), &message);
                    errors.push(message);
                }
                if !discovered.unparsable.is_empty() {
                    let message = format!(
                        "unexpected GroupVersion string: {}",
                        discovered.unparsable.join(", ")
                    );
                    conditions.group_version_error(&message);
                    errors.push(message);
                }
                discovered.resources
            }
            Err(err) => {
                let message = api_errors::message(&err);
                conditions.discovery_error(&message);
                errors.push(message);
                Vec::new()
            }
        };
        let deletable: Vec<DiscoveredResource> = resources
            .into_iter()
            .filter(|r| r.namespaced && r.supports("delete"))
            .collect();

        let outcomes: Vec<(DiscoveredResource, GvrOutcome)> = futures::stream::iter(deletable)
            .map(|resource| {
                let name = name.as_str();
                async move {
                    let outcome = self.delete_all_of(&resource, name, deleted_at).await;
                    (resource, outcome)
                }
            })
            .buffer_unordered(CONCURRENT_RESOURCE_DELETES)
            .collect()
            .await;

        let mut estimate = 0;
        let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
        let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
        for (resource, outcome) in outcomes {
            if let Some(error) = outcome.error {
                conditions.delete_content_error(error.clone());
                errors.push(error);
            }
            estimate = estimate.max(outcome.estimate);
            if outcome.remaining > 0 {
                *remaining
                    .entry(format!("{}.{}", resource.resource, resource.group))
                    .or_default() += outcome.remaining;
                for (finalizer, count) in outcome.finalizers {
                    *finalizers.entry(finalizer).or_default() += count;
                }
            }
        }
        conditions.content_totals(&remaining, &finalizers);

        // Conditions are always refreshed: a condition that was failing
        // must be seen to recover.
        let mut updated = namespace.clone();
        if conditions.update(updated.status.get_or_insert_with(Default::default))
            && let Err(err) = self
                .namespaces
                .replace_status(&name, &PostParams::default(), &updated)
                .await
        {
            tracing::warn!(namespace = %name, error = %api_errors::message(&err), "couldn't update status conditions");
        }

        tracing::debug!(namespace = %name, estimate, errors = errors.len(), "deleted namespace content");
        if !errors.is_empty() {
            return Err(DeletionError::Content(join_errors(&errors)));
        }
        Ok(estimate)
    }

    async fn delete_all_of(
        &self,
        resource: &DiscoveredResource,
        namespace: &str,
        deleted_at: Timestamp,
    ) -> GvrOutcome {
        let estimate = match self
            .estimate_graceful_termination(resource, namespace, deleted_at)
            .await
        {
            Ok(estimate) => estimate,
            Err(err) => {
                return GvrOutcome {
                    error: Some(api_errors::message(&err)),
                    ..GvrOutcome::default()
                };
            }
        };
        let failed = |error: String| GvrOutcome {
            estimate,
            error: Some(error),
            ..GvrOutcome::default()
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource.api_resource());

        match self.delete_collection(&api, resource).await {
            Ok(true) => {}
            Ok(false) => {
                if let Err(err) = self.delete_each(&api, resource).await {
                    return failed(err);
                }
            }
            Err(err) => return failed(err),
        }

        let items = match self.list(&api, resource).await {
            Ok(Some(items)) => items,
            Ok(None) => {
                return GvrOutcome {
                    estimate,
                    ..GvrOutcome::default()
                };
            }
            Err(err) => return failed(err),
        };
        if items.is_empty() {
            return GvrOutcome::default();
        }
        let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
        for item in &items {
            for finalizer in item.finalizers() {
                *finalizers.entry(finalizer.clone()).or_default() += 1;
            }
        }
        let remaining = items.len();
        if estimate != 0 {
            return GvrOutcome {
                estimate,
                remaining,
                finalizers,
                error: None,
            };
        }
        if !finalizers.is_empty() {
            return GvrOutcome {
                estimate: FINALIZER_ESTIMATE_SECONDS,
                remaining,
                finalizers,
                error: None,
            };
        }
        GvrOutcome {
            estimate,
            remaining,
            finalizers,
            error: Some(format!(
                "unexpected items still remain in namespace: {namespace} for gvr: {}",
                resource.gvr_string()
            )),
        }
    }

    /// For pods: the longest grace period of the non-terminal ones, unless
    /// that much time has passed since the namespace's deletion.
    async fn estimate_graceful_termination(
        &self,
        resource: &DiscoveredResource,
        namespace: &str,
        deleted_at: Timestamp,
    ) -> kube::Result<i64> {
        if !(resource.group.is_empty() && resource.resource == "pods") {
            return Ok(0);
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let mut estimate = 0;
        for pod in pods.list(&ListParams::default()).await? {
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            if let Some(grace) = pod
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
            {
                estimate = estimate.max(grace);
            }
        }
        let elapsed = Timestamp::now().duration_since(deleted_at).as_secs();
        if elapsed >= estimate {
            return Ok(0);
        }
        Ok(estimate)
    }

    /// `Ok(false)`: not supported, delete item by item instead.
    async fn delete_collection(
        &self,
        api: &Api<DynamicObject>,
        resource: &DiscoveredResource,
    ) -> Result<bool, String> {
        if self.is_unsupported("deletecollection", resource) {
            return Ok(false);
        }
        match api
            .delete_collection(&DeleteParams::background(), &ListParams::default())
            .await
        {
            Ok(_) => Ok(true),
            Err(err)
                if api_errors::is_method_not_supported(&err) || api_errors::is_not_found(&err) =>
            {
                self.set_unsupported("deletecollection", resource);
                Ok(false)
            }
            Err(err) => Err(api_errors::message(&err)),
        }
    }

    async fn delete_each(
        &self,
        api: &Api<DynamicObject>,
        resource: &DiscoveredResource,
    ) -> Result<(), String> {
        let Some(items) = self.list(api, resource).await? else {
            return Ok(());
        };
        for item in items {
            match api
                .delete(&item.name_any(), &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(err)
                    if api_errors::is_not_found(&err)
                        || api_errors::is_method_not_supported(&err) => {}
                Err(err) => return Err(api_errors::message(&err)),
            }
        }
        Ok(())
    }

    /// `Ok(None)`: listing is not supported.
    async fn list(
        &self,
        api: &Api<DynamicObject>,
        resource: &DiscoveredResource,
    ) -> Result<Option<Vec<DynamicObject>>, String> {
        if self.is_unsupported("list", resource) {
            return Ok(None);
        }
        match api.list(&ListParams::default()).await {
            Ok(list) => Ok(Some(list.items)),
            Err(err)
                if api_errors::is_method_not_supported(&err) || api_errors::is_not_found(&err) =>
            {
                self.set_unsupported("list", resource);
                Ok(None)
            }
            Err(err) => Err(api_errors::message(&err)),
        }
    }
}

/// Whether nothing is left in `spec.finalizers`.
pub fn finalized(namespace: &Namespace) -> bool {
    namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_none_or(Vec::is_empty)
}
