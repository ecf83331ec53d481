//! The Kubernetes protobuf wire format (`application/vnd.kubernetes.protobuf`), translated to
//! and from the upstream JSON form of objects.
//!
//! Go clients (kubectl's typed commands, client-go controllers) send request bodies as
//! protobuf: the magic `k8s\0`, then a `runtime.Unknown` envelope
//! `{typeMeta {apiVersion=1, kind=2} = 1, raw = 2, contentEncoding = 3, contentType = 4}` whose
//! `raw` is the typed message (e.g. `k8s.io.api.core.v1.Namespace`). [`decode`] turns such a
//! body into the `serde_json::Value` the rest of Corten works with; [`encode`] does the
//! reverse for clients that ask for protobuf responses.
//!
//! ```
//! use serde_json::json;
//!
//! let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}});
//! let body = corten_protobuf::encode(&ns).unwrap();
//! assert!(body.starts_with(corten_protobuf::MAGIC));
//! assert_eq!(corten_protobuf::decode(&body).unwrap(), ns);
//! ```
//!
//! # How it works
//!
//! A generic wire reader walks a static schema table (`schema_generated.rs`): for each of
//! the ~1,250 messages of Kubernetes 1.33's API groups, the field numbers, wire types and
//! upstream JSON names. Upstream's custom JSON forms are handled by message kind: `Time`
//! and `MicroTime` become RFC 3339 strings, `Quantity` a string, `IntOrString` a number or
//! string, `RawExtension`/`FieldsV1`/`JSON` the embedded JSON, `bytes` base64, Go structs
//! embedded with `json:",inline"` (e.g. `Probe.handler`, `Volume.volumeSource`) are
//! flattened into their parent.
//!
//! Go's protobuf encoder writes every non-pointer field, so bodies carry many empty
//! strings Go's JSON encoder would omit (`omitempty`). The decoder drops empty singular
//! strings and bytes (except Go `*string` fields where `""` means something, like
//! `PersistentVolumeClaimSpec.storageClassName`) but keeps zero numbers and `false`, which
//! for Go pointer fields (`replicas: 0`, `automountServiceAccountToken: false`) are
//! meaningful.
//!
//! # Regenerating the schema
//!
//! The table is generated from the k8s-pb crate (field numbers) and k8s-openapi's `v1_33`
//! module (JSON names), both pinned by the workspace `Cargo.lock`. From the workspace root:
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/protobuf-gen cargo run --manifest-path crates/protobuf/gen/Cargo.toml
//! ```
//!
//! The output is deterministic; see `crates/protobuf/README.md`.

mod decode;
mod encode;
mod error;
mod schema;
#[rustfmt::skip]
#[allow(clippy::all)]
mod schema_generated;
mod wellknown;
mod wire;

pub use error::{DecodeError, EncodeError};

/// The media type of Kubernetes protobuf bodies.
pub const PROTOBUF_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The 4 bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The deepest message nesting [`decode`] and [`encode`] accept; deeper input is an error
/// rather than a stack overflow. Real objects nest about 15 levels deep.
pub const MAX_DEPTH: usize = 100;

/// Decodes a Kubernetes protobuf body (magic, envelope, typed object) into upstream JSON,
/// with `apiVersion` and `kind` set from the envelope.
///
/// Unknown field numbers are skipped, as protobuf does. Malformed input of any kind is an
/// error, never a panic.
pub fn decode(body: &[u8]) -> Result<serde_json::Value, DecodeError> {
    decode::Decoder::default().body(body)
}

/// Encodes an object in upstream JSON form (with `apiVersion` and `kind`) as a Kubernetes
/// protobuf body. JSON properties the schema does not know are ignored.
pub fn encode(obj: &serde_json::Value) -> Result<Vec<u8>, EncodeError> {
    encode::Encoder::default().body(obj)
}

/// Encodes one event of a protobuf watch stream (`?watch=1` with
/// `Accept: application/vnd.kubernetes.protobuf;stream=watch`): a 4-byte big-endian length,
/// then a body whose envelope has an empty typeMeta (Go's `metav1.WatchEvent` has none) and
/// holds `WatchEvent {type, object: RawExtension {raw: <encode(object)>}}`.
///
/// `event_type` is `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR` (with a `Status`).
pub fn encode_watch_event(
    event_type: &str,
    object: &serde_json::Value,
) -> Result<Vec<u8>, EncodeError> {
    encode::Encoder::default().watch_event(event_type, object)
}

/// Whether objects of this apiVersion and kind can be decoded and encoded.
pub fn supports(api_version: &str, kind: &str) -> bool {
    schema::kind(api_version, kind).is_some_and(|m| m.kind == schema::MessageKind::Struct)
}

/// Every (apiVersion, kind) with a schema, e.g. `("apps/v1", "Deployment")`. Besides the
/// served kinds this lists every message of each group version (specs, lists, options).
pub fn kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    schema::messages()
        .iter()
        .filter(|m| !m.api_version.is_empty() && m.kind == schema::MessageKind::Struct)
        .map(|m| (m.api_version, m.name))
}
