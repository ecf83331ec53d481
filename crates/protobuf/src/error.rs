//! Errors of [`crate::decode`] and [`crate::encode`].

/// Why a protobuf body could not be decoded into JSON.
///
/// `path` fields name the JSON property being decoded, dotted from the object root
/// (e.g. `spec.template.spec.containers.image`; list indices are not tracked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body does not start with the 4-byte magic `k8s\0`.
    #[error("body does not start with the Kubernetes protobuf magic \"k8s\\x00\"")]
    BadMagic,
    /// The input ended inside a varint.
    #[error("truncated varint at {path:?}")]
    TruncatedVarint {
        /// Where it happened.
        path: String,
    },
    /// A varint was longer than 10 bytes.
    #[error("varint longer than 10 bytes at {path:?}")]
    VarintTooLong {
        /// Where it happened.
        path: String,
    },
    /// A length-delimited field or fixed-size value runs past the end of its message.
    #[error("field at {path:?} needs {needed} bytes but only {remaining} remain")]
    Truncated {
        /// Where it happened.
        path: String,
        /// Bytes the field claims.
        needed: u64,
        /// Bytes left in the enclosing message.
        remaining: usize,
    },
    /// A field key carries field number 0 or one above 2^29-1.
    #[error("invalid field number {number} at {path:?}")]
    InvalidFieldNumber {
        /// Where it happened.
        path: String,
        /// The field number read.
        number: u64,
    },
    /// Wire types 3, 4 (groups), 6 and 7 are not used by Kubernetes.
    #[error("unsupported wire type {wire_type} for field {field} at {path:?}")]
    UnsupportedWireType {
        /// Where it happened.
        path: String,
        /// The field number.
        field: u32,
        /// The wire type read.
        wire_type: u8,
    },
    /// A known field arrived with a wire type its schema does not allow.
    #[error("field {field} at {path:?} has wire type {found}, expected {expected}")]
    WireTypeMismatch {
        /// Where it happened.
        path: String,
        /// The field number.
        field: u32,
        /// Wire type the schema wants.
        expected: u8,
        /// Wire type read.
        found: u8,
    },
    /// A string field is not valid UTF-8.
    #[error("invalid UTF-8 in string field {path:?}")]
    InvalidUtf8 {
        /// Where it happened.
        path: String,
    },
    /// The envelope has no kind.
    #[error("protobuf envelope has no typeMeta.kind")]
    MissingKind,
    /// The envelope names a kind this crate has no schema for.
    #[error("unknown kind {kind:?} in apiVersion {api_version:?}")]
    UnknownKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// The envelope's contentEncoding is set (upstream defines none).
    #[error("unsupported protobuf envelope contentEncoding {0:?}")]
    UnsupportedContentEncoding(String),
    /// The envelope's contentType is neither protobuf nor JSON.
    #[error("unsupported protobuf envelope contentType {0:?}")]
    UnsupportedContentType(String),
    /// Messages nest deeper than [`crate::MAX_DEPTH`].
    #[error("messages nest deeper than {limit} levels at {path:?}")]
    NestingTooDeep {
        /// Where it happened.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// A Time or MicroTime lies outside years 0000-9999, or its nanos are out of range.
    #[error("invalid timestamp at {path:?}: seconds={seconds} nanos={nanos}")]
    InvalidTime {
        /// Where it happened.
        path: String,
        /// Seconds since the epoch.
        seconds: i64,
        /// Nanoseconds.
        nanos: i64,
    },
    /// An IntOrString has a type other than 0 (int) or 1 (string).
    #[error("invalid IntOrString type {value} at {path:?}")]
    InvalidIntOrString {
        /// Where it happened.
        path: String,
        /// The type read.
        value: i64,
    },
    /// A RawExtension, FieldsV1 or JSON field holds bytes that are not JSON.
    #[error("embedded object at {path:?} is not valid JSON: {message}")]
    InvalidEmbeddedJson {
        /// Where it happened.
        path: String,
        /// serde_json's message.
        message: String,
    },
    /// A double field is NaN or infinite, which JSON cannot hold.
    #[error("non-finite number at {path:?}")]
    NonFiniteNumber {
        /// Where it happened.
        path: String,
    },
}

/// Why a JSON object could not be encoded as protobuf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The value is not a JSON object.
    #[error("only JSON objects can be encoded")]
    NotAnObject,
    /// `apiVersion` or `kind` is missing or not a string.
    #[error("object has no string {0:?}")]
    MissingTypeField(&'static str),
    /// No schema for this apiVersion and kind.
    #[error("unknown kind {kind:?} in apiVersion {api_version:?}")]
    UnknownKind {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// A property has the wrong JSON type for its protobuf field.
    #[error("{path:?} must be {expected}")]
    TypeMismatch {
        /// Where it happened.
        path: String,
        /// What the schema wants, in words.
        expected: &'static str,
    },
    /// A property's value cannot be encoded (out-of-range integer, bad base64, bad timestamp...).
    #[error("invalid value at {path:?}: {reason}")]
    InvalidValue {
        /// Where it happened.
        path: String,
        /// Why.
        reason: String,
    },
    /// Objects nest deeper than [`crate::MAX_DEPTH`].
    #[error("objects nest deeper than {limit} levels at {path:?}")]
    NestingTooDeep {
        /// Where it happened.
        path: String,
        /// The limit.
        limit: usize,
    },
}
