//! The scale of a pod's controller (upstream `getExpectedScale` and its
//! finders): ReplicationControllers, Deployments (through the pod's
//! ReplicaSet), ReplicaSets without a Deployment and StatefulSets from the
//! informers; any other controller through its `/scale` subresource (a
//! custom resource with a scale subresource, for instance), its kind
//! resolved to a resource by discovery of its group version.
//!
//! Pods without a controller are *unmanaged*: they are left out of the
//! sum and reported (`UnmanagedPods`), rather than failing the sync. A
//! pod whose controller cannot be found fails it (`found no controllers
//! for pod ...`), as upstream.

use std::collections::HashMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Client, ResourceExt};

use super::budget::BudgetError;
use crate::controllers::horizontal_pod_autoscaler::target::resolve_kind;
use crate::framework::api_errors;
use crate::framework::controller_ref::controller_of;
use crate::framework::discovery::parse_group_version;
use crate::framework::informer::Informer;

/// The informers and client the finders read.
pub struct ScaleFinder {
    pub(super) client: Client,
    pub(super) replica_sets: Informer<ReplicaSet>,
    pub(super) deployments: Informer<Deployment>,
    pub(super) controllers: Informer<ReplicationController>,
    pub(super) stateful_sets: Informer<StatefulSet>,
}

/// The summed scale of the pods' controllers and the unmanaged pods.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpectedScale {
    /// Sum of the controllers' `spec.replicas`, each controller once.
    pub total: i32,
    /// Names of the selected pods without a controller.
    pub unmanaged: Vec<String>,
}

/// The group of an `apiVersion` (`apps/v1` -> `apps`, `v1` -> ``).
fn group_of(reference: &OwnerReference) -> Result<String, BudgetError> {
    parse_group_version(&reference.api_version)
        .map(|(group, _)| group)
        .ok_or_else(|| {
            BudgetError::Lookup(format!(
                "unexpected GroupVersion string: {}",
                reference.api_version
            ))
        })
}

/// Whether `reference` is a `kind` in one of `groups` (upstream
/// `verifyGroupKind`).
fn is_kind(reference: &OwnerReference, kind: &str, groups: &[&str]) -> Result<bool, BudgetError> {
    let group = group_of(reference)?;
    Ok(reference.kind == kind && groups.contains(&group.as_str()))
}

impl ScaleFinder {
    /// Upstream `getExpectedScale`.
    pub async fn expected_scale(&self, pods: &[&Pod]) -> Result<ExpectedScale, BudgetError> {
        let mut scales: HashMap<String, i32> = HashMap::new();
        let mut unmanaged = Vec::new();
        for pod in pods {
            let Some(reference) = controller_of(&pod.metadata) else {
                unmanaged.push(pod.name_any());
                continue;
            };
            if scales.contains_key(&reference.uid) {
                continue;
            }
            let namespace = pod.namespace().unwrap_or_default();
            let Some((uid, replicas)) = self.find(reference, &namespace).await? else {
                return Err(BudgetError::UnknownController(pod.name_any()));
            };
            scales.insert(uid, replicas);
        }
        let total = scales
            .values()
            .fold(0i32, |sum, replicas| sum.saturating_add(*replicas));
        Ok(ExpectedScale { total, unmanaged })
    }

    /// `(uid, replicas)` of the controller `reference` points to; `None`
    /// when no finder knows it (upstream's finders in their order).
    async fn find(
        &self,
        reference: &OwnerReference,
        namespace: &str,
    ) -> Result<Option<(String, i32)>, BudgetError> {
        if let Some(found) = self.find_cached(reference, namespace)? {
            return Ok(Some(found));
        }
        self.find_by_scale_subresource(reference, namespace).await
    }

    fn find_cached(
        &self,
        reference: &OwnerReference,
        namespace: &str,
    ) -> Result<Option<(String, i32)>, BudgetError> {
        let same = |uid: Option<String>| uid.as_deref() == Some(reference.uid.as_str());
        if is_kind(reference, "ReplicationController", &[""])? {
            return Ok(self
                .controllers
                .get(Some(namespace), &reference.name)
                .filter(|rc| same(rc.uid()))
                .map(|rc| {
                    let replicas = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    (reference.uid.clone(), replicas)
                }));
        }
        if is_kind(reference, "ReplicaSet", &["apps", "extensions"])? {
            let Some(rs) = self
                .replica_sets
                .get(Some(namespace), &reference.name)
                .filter(|rs| same(rs.uid()))
            else {
                return Ok(None);
            };
            match controller_of(&rs.metadata) {
                Some(owner) if owner.kind == "Deployment" => {
                    // The Deployment's scale, or nothing (upstream's
                    // ReplicaSet finder skips ReplicaSets of Deployments).
                    if !is_kind(owner, "Deployment", &["apps", "extensions"])? {
                        return Ok(None);
                    }
                    return Ok(self
                        .deployments
                        .get(Some(namespace), &owner.name)
                        .filter(|d| d.uid().as_deref() == Some(owner.uid.as_str()))
                        .map(|d| {
                            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                            (owner.uid.clone(), replicas)
                        }));
                }
                _ => {
                    let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    return Ok(Some((reference.uid.clone(), replicas)));
                }
            }
        }
        if is_kind(reference, "StatefulSet", &["apps"])? {
            return Ok(self
                .stateful_sets
                .get(Some(namespace), &reference.name)
                .filter(|sts| same(sts.uid()))
                .map(|sts| {
                    let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    (reference.uid.clone(), replicas)
                }));
        }
        Ok(None)
    }

    /// Upstream `getScaleController`: the kind's resource from discovery,
    /// then a GET of its `/scale`. A missing object is "not found"; a
    /// resource without a scale subresource is an error.
    async fn find_by_scale_subresource(
        &self,
        reference: &OwnerReference,
        namespace: &str,
    ) -> Result<Option<(String, i32)>, BudgetError> {
        let group = group_of(reference)?;
        let resolved = resolve_kind(&self.client, Some(&reference.api_version), &reference.kind)
            .await
            .map_err(|_| {
                BudgetError::Lookup(format!(
                    "no matches for kind \"{}\" in version \"{}\"",
                    reference.kind, reference.api_version
                ))
            })?;
        let group_resource = if group.is_empty() {
            resolved.resource.clone()
        } else {
            format!("{}.{group}", resolved.resource)
        };
        if !resolved.has_scale {
            return Err(BudgetError::Lookup(format!(
                "{group_resource} does not implement the scale subresource"
            )));
        }
        let path = format!(
            "{}/namespaces/{namespace}/{}/{}/scale",
            resolved.prefix(),
            resolved.resource,
            reference.name
        );
        let request = http::Request::get(&path)
            .body(Vec::new())
            .map_err(|e| BudgetError::Lookup(e.to_string()))?;
        let scale: Scale = match self.client.request(request).await {
            Ok(scale) => scale,
            Err(err) if api_errors::is_not_found(&err) => return Ok(None),
            Err(err) => return Err(BudgetError::Lookup(api_errors::message(&err))),
        };
        if scale.metadata.uid.as_deref() != Some(reference.uid.as_str()) {
            return Ok(None);
        }
        let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
        Ok(Some((reference.uid.clone(), replicas)))
    }
}
