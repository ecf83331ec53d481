//! Component schemas generated from the k8s-openapi types (their
//! `schemars::JsonSchema` implementations), plus the Kubernetes vendor
//! extensions kubectl reads.

use corten_apimachinery::strategic::{ListStrategy, PatchMeta, SchemaId, Shape};
use k8s_openapi::api;
use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

/// Adds the schema of `T` (and everything it references) to `gen` and
/// returns the component name.
fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

macro_rules! kinds {
    ($( ($g:literal, $v:literal, $k:literal) => $t:ty ),* $(,)?) => {
        /// Adds the schema of a served kind; returns its component name,
        /// or None for kinds without a typed form.
        fn add_kind(generator: &mut SchemaGenerator, group: &str, version: &str, kind: &str) -> Option<String> {
            match (group, version, kind) {
                $( ($g, $v, $k) => Some(add::<$t>(generator)), )*
                _ => None,
            }
        }
    };
}

kinds! {
    ("", "v1", "Binding") => api::core::v1::Binding,
    ("", "v1", "ConfigMap") => api::core::v1::ConfigMap,
    ("", "v1", "Endpoints") => api::core::v1::Endpoints,
    ("", "v1", "Event") => api::core::v1::Event,
    ("", "v1", "LimitRange") => api::core::v1::LimitRange,
    ("", "v1", "Namespace") => api::core::v1::Namespace,
    ("", "v1", "Node") => api::core::v1::Node,
    ("", "v1", "PersistentVolumeClaim") => api::core::v1::PersistentVolumeClaim,
    ("", "v1", "PersistentVolume") => api::core::v1::PersistentVolume,
    ("", "v1", "Pod") => api::core::v1::Pod,
    ("", "v1", "PodTemplate") => api::core::v1::PodTemplate,
    ("", "v1", "ReplicationController") => api::core::v1::ReplicationController,
    ("", "v1", "ResourceQuota") => api::core::v1::ResourceQuota,
    ("", "v1", "Secret") => api::core::v1::Secret,
    ("", "v1", "ServiceAccount") => api::core::v1::ServiceAccount,
    ("", "v1", "Service") => api::core::v1::Service,
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration") => api::admissionregistration::v1::MutatingWebhookConfiguration,
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration") => api::admissionregistration::v1::ValidatingWebhookConfiguration,
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy") => api::admissionregistration::v1::ValidatingAdmissionPolicy,
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding") => api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    ("apiregistration.k8s.io", "v1", "APIService") => k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService,
    ("apps", "v1", "ControllerRevision") => api::apps::v1::ControllerRevision,
    ("apps", "v1", "DaemonSet") => api::apps::v1::DaemonSet,
    ("apps", "v1", "Deployment") => api::apps::v1::Deployment,
    ("apps", "v1", "ReplicaSet") => api::apps::v1::ReplicaSet,
    ("apps", "v1", "StatefulSet") => api::apps::v1::StatefulSet,
    ("autoscaling", "v1", "HorizontalPodAutoscaler") => api::autoscaling::v1::HorizontalPodAutoscaler,
    ("autoscaling", "v1", "Scale") => api::autoscaling::v1::Scale,
    ("autoscaling", "v2", "HorizontalPodAutoscaler") => api::autoscaling::v2::HorizontalPodAutoscaler,
    ("authentication.k8s.io", "v1", "SelfSubjectReview") => api::authentication::v1::SelfSubjectReview,
    ("authentication.k8s.io", "v1", "TokenReview") => api::authentication::v1::TokenReview,
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview") => api::authorization::v1::LocalSubjectAccessReview,
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview") => api::authorization::v1::SelfSubjectAccessReview,
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview") => api::authorization::v1::SelfSubjectRulesReview,
    ("authorization.k8s.io", "v1", "SubjectAccessReview") => api::authorization::v1::SubjectAccessReview,
    ("batch", "v1", "CronJob") => api::batch::v1::CronJob,
    ("batch", "v1", "Job") => api::batch::v1::Job,
    ("certificates.k8s.io", "v1", "CertificateSigningRequest") => api::certificates::v1::CertificateSigningRequest,
    ("coordination.k8s.io", "v1", "Lease") => api::coordination::v1::Lease,
    ("discovery.k8s.io", "v1", "EndpointSlice") => api::discovery::v1::EndpointSlice,
    ("events.k8s.io", "v1", "Event") => api::events::v1::Event,
    ("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema") => api::flowcontrol::v1::FlowSchema,
    ("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration") => api::flowcontrol::v1::PriorityLevelConfiguration,
    ("networking.k8s.io", "v1", "IngressClass") => api::networking::v1::IngressClass,
    ("networking.k8s.io", "v1", "Ingress") => api::networking::v1::Ingress,
    ("networking.k8s.io", "v1", "NetworkPolicy") => api::networking::v1::NetworkPolicy,
    ("node.k8s.io", "v1", "RuntimeClass") => api::node::v1::RuntimeClass,
    ("policy", "v1", "PodDisruptionBudget") => api::policy::v1::PodDisruptionBudget,
    ("policy", "v1", "Eviction") => api::policy::v1::Eviction,
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => api::rbac::v1::ClusterRoleBinding,
    ("rbac.authorization.k8s.io", "v1", "ClusterRole") => api::rbac::v1::ClusterRole,
    ("rbac.authorization.k8s.io", "v1", "RoleBinding") => api::rbac::v1::RoleBinding,
    ("rbac.authorization.k8s.io", "v1", "Role") => api::rbac::v1::Role,
    ("scheduling.k8s.io", "v1", "PriorityClass") => api::scheduling::v1::PriorityClass,
    ("storage.k8s.io", "v1", "CSIDriver") => api::storage::v1::CSIDriver,
    ("storage.k8s.io", "v1", "CSINode") => api::storage::v1::CSINode,
    ("storage.k8s.io", "v1", "CSIStorageCapacity") => api::storage::v1::CSIStorageCapacity,
    ("storage.k8s.io", "v1", "StorageClass") => api::storage::v1::StorageClass,
    ("storage.k8s.io", "v1", "VolumeAttachment") => api::storage::v1::VolumeAttachment,
}

/// The components of one group-version document: every served kind of
/// the group-version (with `x-kubernetes-group-version-kind`) and every
/// schema they reference. Returns (components, kind -> component name).
pub fn components(
    group: &str,
    version: &str,
    kinds: &[&str],
) -> (Map<String, Value>, Vec<(String, String)>) {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut named = Vec::new();
    for k in kinds {
        if let Some(name) = add_kind(&mut generator, group, version, k) {
            named.push((k.to_string(), name));
        }
    }
    let common = [
        add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>(&mut generator),
        add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>(&mut generator),
    ];
    let _ = common;
    let mut defs = generator.take_definitions(true);
    for (kind, name) in &named {
        if let Some(Value::Object(schema)) = defs.get_mut(name) {
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": group, "kind": kind, "version": version}]),
            );
        }
        if let Some(meta) = corten_api::patch_meta::for_gvk(group, version, kind) {
            let mut visited = std::collections::HashSet::new();
            annotate(&mut defs, name, meta, meta.root(), &mut visited);
        }
    }
    (defs, named)
}

/// The metav1 components custom resource documents reference: returns
/// (components, ObjectMeta's name, ListMeta's name).
pub fn meta_components() -> (Map<String, Value>, String, String) {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
    let mut generator = SchemaSettings::openapi3().into_generator();
    let object_meta = add::<metav1::ObjectMeta>(&mut generator);
    let list_meta = add::<metav1::ListMeta>(&mut generator);
    add::<metav1::Status>(&mut generator);
    add::<metav1::DeleteOptions>(&mut generator);
    (generator.take_definitions(true), object_meta, list_meta)
}

/// The component a property schema refers to, directly or through
/// `allOf`, list `items` or map `additionalProperties`.
fn referenced(schema: &Value) -> Option<String> {
    let r = schema
        .get("$ref")
        .or_else(|| schema.pointer("/allOf/0/$ref"))
        .or_else(|| schema.pointer("/items/$ref"))
        .or_else(|| schema.pointer("/items/allOf/0/$ref"))
        .or_else(|| schema.pointer("/additionalProperties/$ref"))?;
    r.as_str()?
        .strip_prefix("#/components/schemas/")
        .map(str::to_string)
}

/// Adds `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` to
/// the properties of `component` (and, recursively, the components they
/// reference) from the strategic-merge-patch metadata, so clients such as
/// `kubectl apply` compute patches with the same merge keys the server
/// applies them with.
fn annotate(
    defs: &mut Map<String, Value>,
    component: &str,
    meta: &dyn PatchMeta,
    schema: SchemaId,
    visited: &mut std::collections::HashSet<String>,
) {
    if !visited.insert(component.to_string()) {
        return;
    }
    if corten_api::patch_meta::ssa::is_atomic_struct(component)
        && let Some(Value::Object(d)) = defs.get_mut(component)
    {
        d.insert("x-kubernetes-map-type".into(), json!("atomic"));
    }
    let props: Vec<String> = match defs.get(component).and_then(|d| d.get("properties")) {
        Some(Value::Object(p)) => p.keys().cloned().collect(),
        _ => return,
    };
    for prop in props {
        let Some(fm) = meta.field(schema, &prop) else {
            continue;
        };
        let (strategy, key) = match fm.strategy {
            ListStrategy::Merge { key } => (Some("merge"), Some(key.to_string())),
            ListStrategy::MergePrimitives => (Some("merge"), None),
            ListStrategy::Replace => (None, None),
        };
        let strategy = match (strategy, fm.retain_keys) {
            (Some(s), true) => Some(format!("{s},retainKeys")),
            (Some(s), false) => Some(s.to_string()),
            (None, true) => Some("retainKeys".to_string()),
            (None, false) => None,
        };
        let list_type = corten_api::patch_meta::ssa::list_type(schema, &prop);
        let child_ref = defs
            .get_mut(component)
            .and_then(|d| {
                d.pointer_mut(&format!(
                    "/properties/{}",
                    prop.replace('~', "~0").replace('/', "~1")
                ))
            })
            .map(|p| {
                if let (Some(s), Some(o)) = (&strategy, p.as_object_mut()) {
                    o.insert("x-kubernetes-patch-strategy".into(), json!(s));
                    if let Some(k) = &key {
                        o.insert("x-kubernetes-patch-merge-key".into(), json!(k));
                    }
                }
                if let (Some(t), Some(o)) = (&list_type, p.as_object_mut()) {
                    insert_list_type(o, t);
                }
                referenced(p)
            })
            .unwrap_or(None);
        let Some(child) = child_ref else {
            continue;
        };
        let child_schema = match meta.shape(fm.schema) {
            Shape::List { items } => items,
            Shape::Map { values } => values,
            _ => fm.schema,
        };
        annotate(defs, &child, meta, child_schema, visited);
    }
}

/// `x-kubernetes-list-type` (and `x-kubernetes-list-map-keys`) of a list
/// property, which server-side apply merges by.
fn insert_list_type(o: &mut Map<String, Value>, t: &corten_api::patch_meta::ssa::ListType) {
    use corten_api::patch_meta::ssa::ListType;
    match t {
        ListType::Atomic => {
            o.insert("x-kubernetes-list-type".into(), json!("atomic"));
        }
        ListType::Set => {
            o.insert("x-kubernetes-list-type".into(), json!("set"));
        }
        ListType::Map(keys) => {
            o.insert("x-kubernetes-list-type".into(), json!("map"));
            o.insert("x-kubernetes-list-map-keys".into(), json!(keys));
        }
    }
}

#[cfg(test)]
mod tests {
    /// A kind added to the resource table without a schema here would be
    /// served without OpenAPI (`kubectl explain` and client-side validation
    /// then fail for it).
    #[test]
    fn every_table_kind_has_a_schema() {
        for d in corten_api::builtin_resources() {
            let (_, named) = super::components(d.group, d.version, &[d.kind]);
            assert_eq!(
                named.len(),
                1,
                "no schema for {}/{} {}",
                d.group,
                d.version,
                d.kind
            );
        }
    }
}
