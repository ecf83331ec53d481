//! NamespaceLifecycle, called by the store right before a create (it must
//! see the namespace as close to the write as possible). The plugin lives
//! with the rest of the admission chain in [`crate::admission`].

pub use crate::admission::namespace_lifecycle::{IMMORTAL_NAMESPACES, admit_create, admit_delete};
