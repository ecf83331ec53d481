//! The built-in Kubernetes resources Corten serves.
//!
//! * [`resources`]: the table of every built-in resource (group, version,
//!   plural, kind, scope, short names, categories, subresources, verbs,
//!   storage key), from which the apiserver derives its routes and discovery.
//! * [`strategy`]: the per-kind hooks the generic REST store calls in a fixed
//!   order (canonicalize -> prepare -> default -> validate), like upstream's
//!   `rest.RESTCreateStrategy` / `RESTUpdateStrategy`.
//! * [`pipeline`]: the create and update pipelines that run those hooks
//!   with the store's generic steps in between.
//! * [`kind`]: [`kind::KindStrategy`], a [`Strategy`] built from typed
//!   per-kind rules ([`kind::KindRules`]).
//! * [`validate`]: field checks shared by several kinds.
//! * One module per API group with the defaulting and validation of its kinds.

pub mod kind;
pub mod patch_meta;
pub mod pipeline;
pub mod resources;
pub mod strategy;
pub mod typed;
pub mod validate;

pub mod admissionregistration;
pub mod apiregistration;
pub mod apps;
pub mod autoscaling;
pub mod batch;
pub mod certificates;
pub mod coordination;
pub mod corev1;
pub mod discovery;
pub mod events;
pub mod flowcontrol;
pub mod networking;
pub mod node;
pub mod pod;
pub mod policy;
pub mod rbac;
pub mod scheduling;
pub mod service;
pub mod storage;

pub use pipeline::{PipelineError, Prepared, StoreSteps, UpdateTarget};
pub use resources::{
    ApiGroup, Conversion, ResourceDef, Subresource, builtin_resources, find_by_kind, find_resource,
    groups, preferred_version,
};
pub use strategy::Strategy;
