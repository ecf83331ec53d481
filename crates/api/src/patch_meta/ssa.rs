//! Server-side apply's view of the built-in types, which the OpenAPI
//! documents publish as `x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys` and `x-kubernetes-map-type`.
//!
//! The generated table already says how k8s-openapi merges each list
//! (keyed, set or atomic). It keys lists with a `patchMergeKey` by that
//! key alone, while upstream's `+listMapKey` tags name more keys for a few
//! of them; those, and lists k8s-openapi keys wrongly, are corrected here.
//! `+structType=atomic` / `+mapType=atomic` are not in the table at all.
//! Checked against the upstream 1.33 Go types.

use super::table::{Lists, Type};
use super::table_generated::TYPES;
use corten_apimachinery::strategic::SchemaId;

/// How server-side apply merges a list field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListType {
    /// `x-kubernetes-list-type: atomic`.
    Atomic,
    /// `x-kubernetes-list-type: set`.
    Set,
    /// `x-kubernetes-list-type: map` with these keys.
    Map(&'static [&'static str]),
}

/// Lists keyed by more fields than their `patchMergeKey`, or keyed
/// wrongly by k8s-openapi: (definition, field, list type).
static LISTS: &[(&str, &str, ListType)] = &[
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        ListType::Map(&["containerPort", "protocol"]),
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "ports",
        ListType::Map(&["containerPort", "protocol"]),
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        ListType::Map(&["port", "protocol"]),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        ListType::Map(&["topologyKey", "whenUnsatisfiable"]),
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetSpec",
        "volumeClaimTemplates",
        ListType::Atomic,
    ),
];

/// Structs owned and replaced as a whole (`+structType=atomic`).
static ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.TopologySelectorTerm",
];

/// Fields Go holds as non-pointer structs, by definition (besides every
/// kind's `metadata`, `spec` and `status`): in the zero object a create is
/// compared with they already exist.
static ZERO_PRESENT: &[(&str, &[&str])] = &[
    ("io.k8s.api.core.v1.PodTemplateSpec", &["metadata", "spec"]),
    ("io.k8s.api.core.v1.PodTemplate", &["template"]),
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        &["strategy", "template"],
    ),
    ("io.k8s.api.apps.v1.ReplicaSetSpec", &["template"]),
    (
        "io.k8s.api.apps.v1.DaemonSetSpec",
        &["template", "updateStrategy"],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetSpec",
        &["template", "updateStrategy"],
    ),
    ("io.k8s.api.batch.v1.JobSpec", &["template"]),
    ("io.k8s.api.batch.v1.CronJobSpec", &["jobTemplate"]),
    ("io.k8s.api.batch.v1.JobTemplateSpec", &["metadata", "spec"]),
    ("io.k8s.api.core.v1.Container", &["resources"]),
    ("io.k8s.api.core.v1.EphemeralContainer", &["resources"]),
    ("io.k8s.api.core.v1.ServiceStatus", &["loadBalancer"]),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        &["resources"],
    ),
    (
        "io.k8s.api.core.v1.NodeStatus",
        &["daemonEndpoints", "nodeInfo"],
    ),
    (
        "io.k8s.api.core.v1.NodeDaemonEndpoints",
        &["kubeletEndpoint"],
    ),
    ("io.k8s.api.core.v1.Event", &["involvedObject", "source"]),
    ("io.k8s.api.rbac.v1.RoleBinding", &["roleRef"]),
    ("io.k8s.api.rbac.v1.ClusterRoleBinding", &["roleRef"]),
    (
        "io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec",
        &["scaleTargetRef"],
    ),
    (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec",
        &["scaleTargetRef"],
    ),
];

/// The definition name of a struct node.
fn def_of(schema: SchemaId) -> Option<&'static str> {
    match TYPES.get(schema.0 as usize) {
        Some(Type::Struct { def, .. }) => Some(def),
        _ => None,
    }
}

/// How server-side apply merges the list field `name` of the struct
/// `schema`; `None` when it is not a list field.
pub fn list_type(schema: SchemaId, name: &str) -> Option<ListType> {
    let Some(Type::Struct { def, fields, .. }) = TYPES.get(schema.0 as usize) else {
        return None;
    };
    let field = &fields[fields.binary_search_by(|f| f.json.cmp(name)).ok()?];
    if let Some((_, _, t)) = LISTS.iter().find(|(d, f, _)| d == def && *f == name) {
        return Some(*t);
    }
    match field.lists {
        Lists::Plain => None,
        Lists::Atomic => Some(ListType::Atomic),
        Lists::Set => Some(ListType::Set),
        Lists::Keyed(keys) => Some(ListType::Map(keys)),
    }
}

/// Whether the struct `def` is atomic for server-side apply.
pub fn is_atomic_struct(def: &str) -> bool {
    ATOMIC_STRUCTS.contains(&def)
}

/// Whether the struct node `schema` is atomic.
pub fn is_atomic_node(schema: SchemaId) -> bool {
    def_of(schema).is_some_and(is_atomic_struct)
}

/// The non-pointer struct fields of `def` (see [`ZERO_PRESENT`]).
pub fn zero_present(def: &str) -> &'static [&'static str] {
    ZERO_PRESENT
        .iter()
        .find(|(d, _)| *d == def)
        .map(|(_, f)| *f)
        .unwrap_or(&[])
}
