//! CustomResourceDefinitions without I/O (upstream `apiextensions-apiserver`).
//!
//! What lives here is everything the apiserver needs to serve a CRD that is
//! pure computation:
//!
//! - [`default_crd`], [`validate_crd`], [`validate_crd_update`],
//!   [`prepare_crd_for_create`], [`prepare_crd_for_update`]: the REST
//!   strategy of `apiextensions.k8s.io/v1` CustomResourceDefinitions, with
//!   upstream's field paths (validation runs on upstream's internal form,
//!   so a schema shared by all versions is reported under
//!   `spec.validation.openAPIV3Schema`, as upstream does).
//! - [`crd_status`]: the `NamesAccepted`/`Established` conditions,
//!   `acceptedNames` and `storedVersions` the naming and establishing
//!   controllers maintain.
//! - [`CustomResourceSchema`]: one served version of a CRD: defaulting,
//!   pruning, OpenAPI validation, `x-kubernetes-validations` (CEL), printer
//!   columns, selectable fields and the scale subresource paths.
//! - [`convert_none`]: `conversion: None` between versions.
//!
//! Recommended write path, as upstream's decoder and strategy run it:
//! [`CustomResourceSchema::default`] → [`CustomResourceSchema::prune`] →
//! [`CustomResourceSchema::validate_full`] (schema, metadata, list types,
//! scale, then CEL unless the object is already malformed).

mod cel;
/// CEL for admission (webhook matchConditions, ValidatingAdmissionPolicy).
pub use cel::admission as admission_cel;
mod conversion;
mod crd;
mod go_fmt;
mod resource;
mod schema;

pub use conversion::convert_none;
pub use crd::defaults::{default_crd, prepare_crd_for_create, prepare_crd_for_update};
pub use crd::status::crd_status;
pub use crd::validation::{validate_crd, validate_crd_update};
pub use resource::ScalePaths;
pub use resource::{CustomResourceSchema, SchemaError};
pub use schema::MAX_SCHEMA_DEPTH;

/// Per-expression runtime cost limit of a CEL rule (upstream
/// `celconfig.PerCallLimit`).
pub const CEL_PER_CALL_LIMIT: u64 = 1_000_000;

/// Total CEL cost budget of one validation of one object (upstream
/// `celconfig.RuntimeCELCostBudget`).
pub const CEL_RUNTIME_BUDGET: u64 = 10_000_000;
