//! Strategic-merge-patch metadata of the built-in types (merge keys and
//! patch strategies of list and map fields), for
//! [`corten_apimachinery::strategic`].
//!
//! Upstream reads this metadata from the Go struct tags of the versioned
//! type of the request (`patchStrategy:"merge" patchMergeKey:"name"`,
//! `patchStrategy:"merge,retainKeys"`). Here it comes from two files:
//!
//! * `table_generated.rs`: every type reachable from a built-in kind, its
//!   fields (JSON name, type) and how k8s-openapi merges its lists, which
//!   encodes `patchMergeKey` / `patchStrategy: merge` where the OpenAPI
//!   document has them and `x-kubernetes-list-type` otherwise. A keyed list
//!   with one key merges by it, a set merges as a set of scalars, anything
//!   else is replaced.
//! * `overrides.rs`: the fields where that derivation is wrong for strategic
//!   merge patch (list-type maps and sets without a patch strategy, which
//!   strategic merge patch replaces), and the `retainKeys` strategies,
//!   which the OpenAPI-derived data does not carry. Each entry says why.
//!
//! Regenerate the table after a k8s-openapi upgrade (the sources are read
//! from the cargo registry, or from `$K8S_OPENAPI_SRC` pointing at the
//! crate's `src/v1_33`):
//!
//! ```text
//! cargo test -p corten-api --lib patch_meta::generate::regenerate -- --ignored
//! ```
//!
//! and check a checked-in table against the sources with
//! `patch_meta::generate::generated_table_is_up_to_date` (also ignored: it
//! needs the registry sources).
//!
//! Maps always merge key by key: strategic merge patch ignores
//! `x-kubernetes-map-type: atomic` (only server-side apply honours it), and
//! no built-in field uses `patchStrategy: replace`.

mod overrides;
pub mod ssa;
mod table;
#[rustfmt::skip]
mod table_generated;

#[cfg(test)]
mod generate;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::OnceLock;

use corten_apimachinery::strategic::{FieldMeta, ListStrategy, PatchMeta, SchemaId, Shape};

pub use table::Kind;
use table::{Lists, Type};
use table_generated::{KINDS, TYPES};

/// Patch metadata for a built-in kind (`"apps"`, `"Deployment"`; the core
/// group is `""`), in its most stable version; `None` for kinds that are
/// not built in (callers then treat every list as atomic, or refuse the
/// patch like upstream does for custom resources with 415).
pub fn for_kind(group: &str, kind: &str) -> Option<&'static dyn PatchMeta> {
    KINDS
        .iter()
        .filter(|k| k.group == group && k.kind == kind)
        .max_by_key(|k| version_priority(k.version))
        .map(|k| k as &'static dyn PatchMeta)
}

/// Patch metadata for a kind in a given version (upstream uses the
/// request's version); `None` when that version does not have the kind.
pub fn for_gvk(group: &str, version: &str, kind: &str) -> Option<&'static dyn PatchMeta> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
        .map(|k| k as &'static dyn PatchMeta)
}

/// Every kind with metadata, as `(group, version, kind)`.
pub fn kinds() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    KINDS.iter().map(|k| (k.group, k.version, k.kind))
}

/// Orders versions like Kubernetes does: GA over beta over alpha, then by
/// major and minor number (`v2` > `v1` > `v2beta1` > `v1beta2` > `v1alpha1`).
fn version_priority(version: &str) -> (u8, u32, u32) {
    let Some(rest) = version.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stability, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stability, major, minor)
}

/// The strategic merge patch strategy k8s-openapi's list type implies.
fn derived_strategy(lists: Lists) -> ListStrategy<'static> {
    match lists {
        Lists::Keyed([key]) => ListStrategy::Merge { key },
        Lists::Set => ListStrategy::MergePrimitives,
        Lists::Keyed(_) | Lists::Atomic | Lists::Plain => ListStrategy::Replace,
    }
}

/// The overrides, by (struct node, JSON field name).
fn override_index() -> &'static HashMap<(u32, &'static str), &'static overrides::Override> {
    static INDEX: OnceLock<HashMap<(u32, &'static str), &'static overrides::Override>> =
        OnceLock::new();
    INDEX.get_or_init(|| {
        let nodes: HashMap<&str, u32> = TYPES
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match t {
                Type::Struct { def, .. } => Some((*def, i as u32)),
                _ => None,
            })
            .collect();
        overrides::OVERRIDES
            .iter()
            .filter_map(|o| Some(((*nodes.get(o.def)?, o.field), o)))
            .collect()
    })
}

impl PatchMeta for Kind {
    fn root(&self) -> SchemaId {
        SchemaId(self.root)
    }

    fn shape(&self, schema: SchemaId) -> Shape<'_> {
        match TYPES.get(schema.0 as usize) {
            Some(Type::Struct { name, .. }) => Shape::Struct { name },
            Some(Type::List(items)) => Shape::List {
                items: SchemaId(*items),
            },
            Some(Type::Map(values)) => Shape::Map {
                values: SchemaId(*values),
            },
            Some(Type::Scalar(kind)) => Shape::Scalar { kind },
            None => Shape::Any,
        }
    }

    fn field(&self, schema: SchemaId, name: &str) -> Option<FieldMeta<'_>> {
        let Some(Type::Struct { fields, .. }) = TYPES.get(schema.0 as usize) else {
            return None;
        };
        let field = &fields[fields.binary_search_by(|f| f.json.cmp(name)).ok()?];
        let (strategy, retain_keys) = match override_index().get(&(schema.0, field.json)) {
            Some(o) => (
                o.strategy.unwrap_or_else(|| derived_strategy(field.lists)),
                o.retain_keys,
            ),
            None => (derived_strategy(field.lists), false),
        };
        Some(FieldMeta {
            schema: SchemaId(field.ty),
            strategy,
            retain_keys,
            replace: false,
        })
    }
}
