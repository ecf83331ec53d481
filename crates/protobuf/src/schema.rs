//! The schema table's types and lookups. The table itself is `schema_generated.rs`, written
//! by `crates/protobuf/gen` from k8s-pb (field numbers, wire types) and k8s-openapi (JSON
//! names).

use crate::schema_generated::{KINDS, MESSAGES};

/// A field's value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldType {
    String,
    /// `[]byte`: base64 in JSON.
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
    /// Index into the message table.
    Message(u16),
}

/// How a field occurs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cardinality {
    /// `optional`: one value, the last one on the wire wins (messages merge).
    One,
    /// `repeated`: a JSON array.
    Many,
    /// `map<string, T>`: a JSON object.
    Map,
    /// A Go struct embedded with `json:",inline"`: its fields sit in the parent object.
    Inline,
}

/// One protobuf field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) number: u32,
    pub(crate) json: &'static str,
    pub(crate) ty: FieldType,
    pub(crate) card: Cardinality,
    /// Keep an empty string: a Go `*string` where `""` differs from unset. Every other empty
    /// singular string or bytes field is dropped, as Go's `omitempty` would.
    pub(crate) keep_empty: bool,
}

/// Shorthand used by the generated table.
pub(crate) const fn f(
    number: u32,
    json: &'static str,
    ty: FieldType,
    card: Cardinality,
    keep_empty: bool,
) -> Field {
    Field {
        number,
        json,
        ty,
        card,
        keep_empty,
    }
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MessageKind {
    /// A plain object.
    Struct,
    /// metav1.Time {seconds=1, nanos=2}: RFC 3339 in UTC, whole seconds.
    Time,
    /// metav1.MicroTime: RFC 3339 in UTC with 6 fractional digits.
    MicroTime,
    /// metav1.Duration {duration=1 int64 nanoseconds}: Go duration string like `1h2m3s`.
    Duration,
    /// resource.Quantity {string=1}: the string.
    Quantity,
    /// intstr.IntOrString {type=1, intVal=2, strVal=3}: a number or a string.
    IntOrString,
    /// runtime.RawExtension {raw=1}: embedded JSON, or an embedded protobuf envelope.
    RawExtension,
    /// metav1.FieldsV1 and apiextensions JSON {raw=1}: embedded JSON.
    RawJson,
    /// metav1.Verbs and ExtraValue {items=1 repeated string}: an array of strings.
    StringList,
    /// JSONSchemaPropsOrArray {schema=1, jSONSchemas=2}: an object or an array of objects.
    SchemaOrArray,
    /// JSONSchemaPropsOrBool {allows=1, schema=2}: an object or a boolean.
    SchemaOrBool,
    /// JSONSchemaPropsOrStringArray {schema=1, property=2}: an object or an array of strings.
    SchemaOrStringArray,
}

/// One protobuf message type.
#[derive(Debug)]
pub(crate) struct Message {
    /// Full protobuf name, e.g. `k8s.io.api.core.v1.Namespace`.
    pub(crate) full_name: &'static str,
    /// Upstream type name, e.g. `AWSElasticBlockStoreVolumeSource`; the kind for root objects.
    pub(crate) name: &'static str,
    /// The apiVersion of the package (`v1`, `apps/v1`), empty for helper packages.
    pub(crate) api_version: &'static str,
    pub(crate) kind: MessageKind,
    /// Sorted by number.
    pub(crate) fields: &'static [Field],
}

impl Message {
    /// The field with this number.
    pub(crate) fn field(&self, number: u32) -> Option<&'static Field> {
        self.fields
            .binary_search_by_key(&number, |f| f.number)
            .ok()
            .map(|i| &self.fields[i])
    }
}

/// The message with this index. Indices come from the generated table, which a test checks.
pub(crate) fn message(id: u16) -> &'static Message {
    &MESSAGES[usize::from(id)]
}

/// The whole table.
pub(crate) fn messages() -> &'static [Message] {
    MESSAGES
}

/// The message for a root object. Kinds of `meta.k8s.io/v1` (DeleteOptions, Status, ...) are
/// registered in every group version upstream, so they are found under any apiVersion.
pub(crate) fn kind(api_version: &str, kind: &str) -> Option<&'static Message> {
    let find = |av: &str| {
        KINDS
            .binary_search_by(|(a, k, _)| (*a, *k).cmp(&(av, kind)))
            .ok()
            .map(|i| message(KINDS[i].2))
    };
    find(api_version).or_else(|| find("meta.k8s.io/v1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        assert!(
            KINDS
                .windows(2)
                .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)),
            "KINDS sorted and unique"
        );
        for (av, k, id) in KINDS {
            let m = &MESSAGES[usize::from(*id)];
            assert_eq!((m.api_version, m.name), (*av, *k));
        }
        for m in MESSAGES {
            assert!(
                m.fields.windows(2).all(|w| w[0].number < w[1].number),
                "{} fields sorted",
                m.full_name
            );
            for f in m.fields {
                if let FieldType::Message(id) = f.ty {
                    assert!(
                        usize::from(id) < MESSAGES.len(),
                        "{}.{}",
                        m.full_name,
                        f.json
                    );
                }
                if f.card == Cardinality::Inline {
                    assert!(
                        matches!(f.ty, FieldType::Message(id) if message(id).kind == MessageKind::Struct)
                    );
                }
            }
        }
    }

    #[test]
    fn kinds_resolve_by_api_version() {
        assert_eq!(
            kind("v1", "Namespace").map(|m| m.full_name),
            Some("k8s.io.api.core.v1.Namespace")
        );
        assert_eq!(
            kind("apps/v1", "Deployment").map(|m| m.full_name),
            Some("k8s.io.api.apps.v1.Deployment")
        );
        assert_eq!(
            kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding").map(|m| m.full_name),
            Some("k8s.io.api.rbac.v1.ClusterRoleBinding")
        );
        assert_eq!(
            kind("policy/v1", "DeleteOptions").map(|m| m.full_name),
            Some("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions")
        );
        assert_eq!(
            kind("apiextensions.k8s.io/v1", "CustomResourceDefinition").map(|m| m.name),
            Some("CustomResourceDefinition")
        );
        assert_eq!(
            kind("storage.k8s.io/v1", "CSIDriver").map(|m| m.name),
            Some("CSIDriver")
        );
        assert!(kind("v1", "Nope").is_none());
        assert!(kind("apps/v1", "Pod").is_none());
    }
}
