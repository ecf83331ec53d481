//! Strategic merge patch (`application/strategic-merge-patch+json`), as the
//! apiserver applies it to `PATCH` requests on built-in resources
//! (upstream's `k8s.io/apimachinery/pkg/util/strategicpatch`,
//! `StrategicMergeMapPatch`).
//!
//! A strategic merge patch is a JSON merge patch whose lists can merge
//! instead of being replaced, steered by per-field metadata (upstream's
//! `patchStrategy` / `patchMergeKey` struct tags) and by directives inside
//! the patch:
//!
//! * maps merge recursively; a `null` value deletes the key;
//! * a list field with `patchStrategy: merge` and a merge key merges its
//!   items by that key (matching items merge recursively, new items are
//!   added); without a merge key (e.g. `finalizers`) it merges as a set;
//!   any other list is replaced by the patch's list;
//! * `$patch: delete` on a list item deletes the items with its key;
//!   `$patch: replace` in a list replaces the whole list with the patch's
//!   other items; on a map, `$patch: replace` replaces the map and
//!   `$patch: delete` empties it;
//! * `$deleteFromPrimitiveList/<list>: [values]` removes scalars;
//! * `$setElementOrder/<list>: [...]` gives the final order of a list's
//!   items (for lists of maps, items holding only the merge key);
//! * `$retainKeys: [keys]` keeps only those keys of the original map.
//!
//! Order of list items, without `$setElementOrder`: patch items keep the
//! patch's order; items only on the server keep theirs; the two are
//! interleaved by live position, a patch item that is not yet in the list
//! going first. So `finalizers: [c]` on `[a, b]` gives `[c, a, b]`, exactly
//! as upstream (kubectl sends `$setElementOrder` when order matters).
//!
//! The engine knows nothing about Kubernetes types: a [`PatchMeta`] answers
//! the metadata questions by walking its own type graph. [`Untyped`] is the
//! metadata-free variant (every list replaced, every map merged).
//!
//! Exactness: results, error classes and messages follow upstream,
//! including its quirks (a key whose value is another Go type is replaced;
//! directive keys other than `$patch` survive in values that are copied
//! from the patch; `$patch: merge` on a map is an error; where Go would
//! panic, [`SmpError::Panic`] is returned). One documented gap: when a
//! stored scalar list already holds duplicates and `$setElementOrder`
//! orders it, upstream's result depends on Go slice capacities; here the
//! stored list is taken as unaliased. Output maps keep the original's key
//! order with new keys appended (upstream sorts keys when it serializes;
//! either way the apiserver re-encodes the typed object). Nothing panics on
//! any input: documents nested deeper than [`MAX_DEPTH`] are refused.

mod go;
mod merge;
mod order;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod upstream_tests;

use serde_json::{Map, Value};

/// The directive key of a map or list item: `$patch: replace|delete`.
pub const DIRECTIVE_MARKER: &str = "$patch";
/// The directive listing the keys a map keeps: `$retainKeys: [..]`.
pub const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
/// Prefix of the parallel list of scalars to delete from list `<name>`:
/// `$deleteFromPrimitiveList/<name>`.
pub const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
/// Prefix of the parallel list giving the order of list `<name>`:
/// `$setElementOrder/<name>`.
pub const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

/// The deepest nesting of the original or the patch that is merged (the
/// merge recurses once per level). The same limit as `serde_json`'s
/// decoder, so nothing decoded from a request or from storage is refused;
/// at this depth the merge needs well under 1 MiB of stack even in debug
/// builds.
pub const MAX_DEPTH: usize = 128;

/// A node of a [`PatchMeta`]'s type graph. Only the implementation gives
/// the number a meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchemaId(pub u32);

/// How a list field merges (upstream's `patchStrategy` / `patchMergeKey`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy<'a> {
    /// No merge strategy (an atomic list): the patch's list replaces the
    /// original's. Maps in such a field still merge.
    Replace,
    /// `patchStrategy:"merge"` with `patchMergeKey:"<key>"`: items merge by
    /// the value of `key`.
    Merge {
        /// The merge key (a field of the list's items).
        key: &'a str,
    },
    /// `patchStrategy:"merge"` without a merge key: a list of scalars
    /// merged as a set (e.g. `metadata.finalizers`).
    MergePrimitives,
}

/// The patch metadata of one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldMeta<'a> {
    /// The schema of the field's value (for a list field, of the list: its
    /// [`Shape::List`] names the items' schema).
    pub schema: SchemaId,
    /// How the field merges when it is a list.
    pub strategy: ListStrategy<'a>,
    /// Whether the field's strategy includes `retainKeys` (informational:
    /// the `$retainKeys` directive is honoured wherever it appears, and
    /// only patch generation consults this).
    pub retain_keys: bool,
    /// `patchStrategy:"replace"`: a map value is replaced, not merged (no
    /// built-in type uses it).
    pub replace: bool,
}

impl<'a> FieldMeta<'a> {
    /// A field without any patch strategy.
    pub fn plain(schema: SchemaId) -> Self {
        FieldMeta {
            schema,
            strategy: ListStrategy::Replace,
            retain_keys: false,
            replace: false,
        }
    }
}

/// What a schema node is, as far as the merge cares (upstream looks at the
/// Go type's kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape<'a> {
    /// A struct: its fields are looked up by JSON name with
    /// [`PatchMeta::field`]. `name` is the Go type name, for messages.
    Struct {
        /// The Go type name (`PodSpec`).
        name: &'a str,
    },
    /// A map with arbitrary keys (`map[string]T`): every value has schema
    /// `values` and no patch strategy.
    Map {
        /// The schema of the map's values.
        values: SchemaId,
    },
    /// A list.
    List {
        /// The schema of the list's items.
        items: SchemaId,
    },
    /// Anything else, e.g. a string or a type serialized as a string.
    Scalar {
        /// The Go reflect kind: `string`, `int32`, `bool`, ...
        kind: &'a str,
    },
    /// Untyped: any field exists, lists are atomic, maps merge.
    Any,
}

/// Patch metadata: a type graph walked from the patched object's root.
///
/// The merge asks for the [`Shape`] of the node it is in and, for structs,
/// for the metadata of the field it is about to merge; the field's
/// [`FieldMeta::schema`] is the node to continue from.
pub trait PatchMeta: Send + Sync {
    /// The schema of the patched document.
    fn root(&self) -> SchemaId;
    /// What `schema` is.
    fn shape(&self, schema: SchemaId) -> Shape<'_>;
    /// The field with JSON name `name` of the struct `schema`; `None` when
    /// the struct has no such field (upstream fails the patch when it
    /// needs metadata for it).
    fn field(&self, schema: SchemaId, name: &str) -> Option<FieldMeta<'_>>;
}

/// Metadata for documents without a schema: every field exists, every list
/// is atomic, every map merges.
#[derive(Clone, Copy, Debug, Default)]
pub struct Untyped;

impl PatchMeta for Untyped {
    fn root(&self) -> SchemaId {
        SchemaId(0)
    }
    fn shape(&self, _: SchemaId) -> Shape<'_> {
        Shape::Any
    }
    fn field(&self, schema: SchemaId, _: &str) -> Option<FieldMeta<'_>> {
        Some(FieldMeta::plain(schema))
    }
}

/// The metadata of the field at `path` (JSON names from the root; list
/// items are stepped through implicitly), or `None` when a step is unknown.
/// `lookup_path(meta, &["spec", "template", "spec", "containers"])`.
pub fn lookup_path<'m>(meta: &'m dyn PatchMeta, path: &[&str]) -> Option<FieldMeta<'m>> {
    let mut node = meta.root();
    let mut found = None;
    for step in path {
        if let Shape::List { items } = meta.shape(node) {
            node = items;
        }
        let f = match meta.shape(node) {
            Shape::Struct { .. } => meta.field(node, step)?,
            Shape::Map { values } => FieldMeta::plain(values),
            Shape::Any => FieldMeta::plain(node),
            Shape::List { .. } | Shape::Scalar { .. } => return None,
        };
        node = f.schema;
        found = Some(f);
    }
    found
}

/// A patch that cannot be applied. The variants follow how the apiserver
/// classifies upstream's errors; the message is upstream's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// A malformed directive (`invalid patch format of retainKeys`, of a
    /// primitive list, of a setElementOrder list) or a patch that is not a
    /// JSON object: 400 Bad Request.
    #[error("{0}")]
    BadRequest(String),
    /// `lists of lists are not supported`: 422 (upstream answers with
    /// reason Invalid and its generic "the server rejected our request due
    /// to an error in our request").
    #[error("{0}")]
    Unprocessable(String),
    /// Any other failure (a list item without its merge key, an unknown
    /// `$patch` value, a field missing from the schema, ...). Upstream
    /// passes these through unclassified: 500 with reason "" and this
    /// message.
    #[error("{0}")]
    Internal(String),
    /// Input on which upstream's Go code panics (comparing or hashing maps,
    /// a list starting with `null`); upstream's apiserver then answers 500
    /// "This request caused apiserver to panic. Look in the logs for
    /// details.". The message is the Go runtime error.
    #[error("{0}")]
    Panic(String),
}

impl SmpError {
    /// The HTTP status upstream's apiserver answers with: 400, 422 or 500.
    pub fn status_code(&self) -> u16 {
        match self {
            SmpError::BadRequest(_) => 400,
            SmpError::Unprocessable(_) => 422,
            SmpError::Internal(_) | SmpError::Panic(_) => 500,
        }
    }
}

/// Applies the strategic merge `patch` to `original` with `meta`'s field
/// metadata and returns the patched document.
///
/// `original` must be a JSON object (`null` counts as `{}`); a `null` patch
/// changes nothing, any other non-object patch is a [`SmpError::BadRequest`]
/// with the message Go's JSON decoder gives.
pub fn apply_strategic_merge_patch(
    original: &Value,
    patch: &Value,
    meta: &dyn PatchMeta,
) -> Result<Value, SmpError> {
    for doc in [original, patch] {
        if !depth_at_most(doc, MAX_DEPTH) {
            return Err(SmpError::BadRequest(format!(
                "the document is nested more than {MAX_DEPTH} levels deep"
            )));
        }
    }
    let original = match original {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => {
            return Err(SmpError::Internal(
                "the original document is not a JSON object".into(),
            ));
        }
    };
    let patch = match patch {
        Value::Object(m) => m.clone(),
        Value::Null => return Ok(Value::Object(original)),
        other => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            };
            return Err(SmpError::BadRequest(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            )));
        }
    };
    let merger = merge::Merger { meta };
    merger
        .merge_map(original, patch, meta.root())
        .map(Value::Object)
}

/// Whether `v` nests at most `max` containers deep (iterative).
fn depth_at_most(v: &Value, max: usize) -> bool {
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(m) => Box::new(m.values()),
            _ => continue,
        };
        if depth + 1 > max {
            return false;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    true
}
