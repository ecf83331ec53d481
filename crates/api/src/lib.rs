//! The built-in Kubernetes resources Corten serves.
//!
//! * [`resources`]: the table of every built-in resource (group, version,
//!   plural, kind, scope, short names, categories, subresources, verbs,
//!   storage key), from which the apiserver derives its routes and discovery.
//! * [`strategy`]: the per-kind hooks the generic REST store calls in a fixed
//!   order (canonicalize -> prepare -> default -> validate), like upstream's
//!   `rest.RESTCreateStrategy` / `RESTUpdateStrategy`.
//! * One module per API group with the defaulting and validation of its kinds.

pub mod resources;
pub mod strategy;
pub mod typed;

pub mod admissionregistration;
pub mod apps;
pub mod autoscaling;
pub mod batch;
pub mod certificates;
pub mod coordination;
pub mod corev1;
pub mod discovery;
pub mod events;
pub mod networking;
pub mod node;
pub mod pod;
pub mod policy;
pub mod rbac;
pub mod scheduling;
pub mod service;
pub mod storage;

pub use resources::{ResourceDef, Subresource, builtin_resources, find_resource};
pub use strategy::Strategy;
