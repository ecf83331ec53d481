//! The shape of `table_generated.rs`: the built-in types as a graph of
//! numbered nodes, and the kinds that root it.

/// A node of the type graph; fields and items refer to nodes by index.
#[derive(Debug)]
pub(super) enum Type {
    /// A struct (Go struct) with fields sorted by JSON name. Newtypes and
    /// enums that serialize as scalars or raw JSON (`Quantity`, `Time`,
    /// `IntOrString`, `RawExtension`, ...) are structs without fields, as
    /// their Go types have no JSON fields either.
    Struct {
        /// The OpenAPI definition name (`io.k8s.api.core.v1.PodSpec`).
        def: &'static str,
        /// The Go type name (`PodSpec`).
        name: &'static str,
        /// The fields, sorted by JSON name.
        fields: &'static [Field],
    },
    /// A list of the given node.
    List(u32),
    /// A `map[string]T` of the given node.
    Map(u32),
    /// A scalar, by Go reflect kind (`string`, `int32`, ...; `slice` for
    /// `[]byte`).
    Scalar(&'static str),
}

/// A struct field.
#[derive(Debug)]
pub(super) struct Field {
    /// The JSON name.
    pub(super) json: &'static str,
    /// The node of the field's type.
    pub(super) ty: u32,
    /// How k8s-openapi merges the field if it is a list.
    pub(super) lists: Lists,
}

impl Field {
    pub(super) const fn new(json: &'static str, ty: u32, lists: Lists) -> Self {
        Field { json, ty, lists }
    }
}

/// A list field's merge type in k8s-openapi (its `DeepMerge` impl), which
/// encodes `patchMergeKey` / `patchStrategy: merge` where present and
/// `x-kubernetes-list-type` otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lists {
    /// Not a list.
    Plain,
    /// `list::atomic`.
    Atomic,
    /// `list::set`: scalars merged as a set.
    Set,
    /// `list::map`: items merged by these key fields (JSON names).
    Keyed(&'static [&'static str]),
}

/// A kind and the node of its object type.
#[derive(Debug)]
pub struct Kind {
    pub(super) group: &'static str,
    pub(super) version: &'static str,
    pub(super) kind: &'static str,
    pub(super) root: u32,
}

impl Kind {
    pub(super) const fn new(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        root: u32,
    ) -> Self {
        Kind {
            group,
            version,
            kind,
            root,
        }
    }
}
