//! Server-side apply and field ownership (`metadata.managedFields`).
//!
//! * [`path`] and [`set`]: field paths and sets of them, with the
//!   `fieldsV1` encoding (`f:`, `k:{...}`, `v:`, `i:`) upstream uses.
//! * [`schema`]: how each node of an object merges, compiled from an
//!   OpenAPI schema with the Kubernetes list/map extensions. Built-in kinds
//!   and custom resources both hand in a JSON schema; nothing else about
//!   the kind is needed.
//! * [`typed`]: field sets, comparison, merge and removal over an object
//!   and its schema.
//! * [`created`]: the field set of a create, straight in `fieldsV1` form
//!   (the write path's shortcut for [`managers::update`] on create).
//! * [`validate`]: the typed check of an apply configuration (undeclared
//!   fields, wrong shapes and scalar types, keyed list items), with
//!   upstream's paths and messages.
//! * [`managers`]: the managedFields entries and what create/update/patch
//!   ([`managers::update`]) and apply ([`managers::apply`]) do to them.

pub mod created;
pub mod managers;
pub mod path;
pub mod schema;
pub mod set;
pub mod typed;
pub mod validate;

#[cfg(test)]
mod tests;

pub use created::{Unsupported, created_fields_v1};
pub use managers::{
    ApplyError, Conflicts, Entry, ManagerId, Managers, Operation, Requested, Versions,
};
pub use path::{Path, PathElement};
pub use schema::{ListType, Node, NodeId, ScalarKind, Schema};
pub use set::Set;
