//! Upstream JSON -> protobuf body, walking the generated schema table.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use crate::schema::{self, Cardinality, Field, FieldType, Message, MessageKind};
use crate::wellknown::{parse_duration, parse_time};
use crate::wire::Writer;
use crate::{EncodeError, MAGIC, MAX_DEPTH};

type Result<T, E = EncodeError> = std::result::Result<T, E>;

/// Encoding state: the JSON path (for errors) and the nesting depth.
#[derive(Default)]
pub(crate) struct Encoder {
    path: Vec<String>,
    depth: usize,
}

impl Encoder {
    fn path(&self) -> String {
        self.path.join(".")
    }

    fn mismatch(&self, expected: &'static str) -> EncodeError {
        EncodeError::TypeMismatch {
            path: self.path(),
            expected,
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> EncodeError {
        EncodeError::InvalidValue {
            path: self.path(),
            reason: reason.into(),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(EncodeError::NestingTooDeep {
                path: self.path(),
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    /// Encodes `k8s\0` + envelope + object.
    pub(crate) fn body(&mut self, obj: &Value) -> Result<Vec<u8>> {
        let map = obj.as_object().ok_or(EncodeError::NotAnObject)?;
        let text = |k: &'static str| {
            map.get(k)
                .and_then(Value::as_str)
                .ok_or(EncodeError::MissingTypeField(k))
        };
        let (api_version, kind) = (text("apiVersion")?, text("kind")?);
        let msg = schema::kind(api_version, kind)
            .filter(|m| m.kind == MessageKind::Struct)
            .ok_or_else(|| EncodeError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            })?;
        self.enter()?;
        let raw = self.struct_fields(map, msg)?;
        self.depth -= 1;

        let mut type_meta = Writer::default();
        type_meta.bytes_field(1, api_version.as_bytes());
        type_meta.bytes_field(2, kind.as_bytes());
        let mut out = Writer {
            buf: MAGIC.to_vec(),
        };
        out.bytes_field(1, &type_meta.buf);
        out.bytes_field(2, &raw);
        // contentEncoding and contentType are empty, as upstream writes them.
        out.bytes_field(3, b"");
        out.bytes_field(4, b"");
        Ok(out.buf)
    }

    /// Encodes one frame of a protobuf watch stream.
    pub(crate) fn watch_event(&mut self, event_type: &str, obj: &Value) -> Result<Vec<u8>> {
        let object = self.body(obj)?;
        // metav1.WatchEvent {type = 1, object = 2 (RawExtension {raw = 1})}.
        let mut raw_extension = Writer::default();
        raw_extension.bytes_field(1, &object);
        let mut event = Writer::default();
        event.bytes_field(1, event_type.as_bytes());
        event.bytes_field(2, &raw_extension.buf);
        // WatchEvent has no TypeMeta, so upstream's envelope carries an empty one.
        let mut envelope = Writer {
            buf: MAGIC.to_vec(),
        };
        envelope.bytes_field(1, &[]);
        envelope.bytes_field(2, &event.buf);
        envelope.bytes_field(3, b"");
        envelope.bytes_field(4, b"");
        let len = u32::try_from(envelope.buf.len()).map_err(|_| EncodeError::InvalidValue {
            path: String::new(),
            reason: "watch event over 4 GiB".into(),
        })?;
        let mut frame = len.to_be_bytes().to_vec();
        frame.extend_from_slice(&envelope.buf);
        Ok(frame)
    }

    /// Encodes the fields of `msg` found in `obj`, in field-number order. Unknown keys are ignored.
    fn struct_fields(
        &mut self,
        obj: &Map<String, Value>,
        msg: &'static Message,
    ) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        for field in msg.fields {
            if field.card == Cardinality::Inline {
                if let FieldType::Message(id) = field.ty {
                    self.enter()?;
                    let bytes = self.struct_fields(obj, schema::message(id))?;
                    self.depth -= 1;
                    if !bytes.is_empty() {
                        w.bytes_field(field.number, &bytes);
                    }
                }
                continue;
            }
            let Some(value) = obj.get(field.json).filter(|v| !v.is_null()) else {
                continue;
            };
            self.path.push(field.json.to_string());
            self.field(&mut w, field, value)?;
            self.path.pop();
        }
        Ok(w.buf)
    }

    fn field(&mut self, w: &mut Writer, field: &Field, value: &Value) -> Result<()> {
        match field.card {
            Cardinality::Many => {
                let items = value.as_array().ok_or_else(|| self.mismatch("an array"))?;
                for item in items {
                    self.value(w, field.number, field.ty, item)?;
                }
            }
            Cardinality::Map => {
                let map = value
                    .as_object()
                    .ok_or_else(|| self.mismatch("an object"))?;
                // Sorted keys, as Go marshals maps deterministically.
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                for k in keys {
                    let mut entry = Writer::default();
                    entry.bytes_field(1, k.as_bytes());
                    self.path.push(k.clone());
                    if !map[k].is_null() {
                        self.value(&mut entry, 2, field.ty, &map[k])?;
                    }
                    self.path.pop();
                    w.bytes_field(field.number, &entry.buf);
                }
            }
            Cardinality::One | Cardinality::Inline => {
                self.value(w, field.number, field.ty, value)?
            }
        }
        Ok(())
    }

    /// Writes one value of type `ty` as field `number`.
    fn value(&mut self, w: &mut Writer, number: u32, ty: FieldType, value: &Value) -> Result<()> {
        match ty {
            FieldType::String => w.bytes_field(
                number,
                value
                    .as_str()
                    .ok_or_else(|| self.mismatch("a string"))?
                    .as_bytes(),
            ),
            FieldType::Bytes => {
                let text = value
                    .as_str()
                    .ok_or_else(|| self.mismatch("a base64 string"))?;
                let bytes = BASE64
                    .decode(text)
                    .map_err(|e| self.invalid(format!("bad base64: {e}")))?;
                w.bytes_field(number, &bytes);
            }
            FieldType::Bool => w.varint_field(
                number,
                u64::from(value.as_bool().ok_or_else(|| self.mismatch("a boolean"))?),
            ),
            FieldType::Int32 => {
                let v = value.as_i64().ok_or_else(|| self.mismatch("an integer"))?;
                let v = i32::try_from(v).map_err(|_| self.invalid("out of int32 range"))?;
                // Negative int32 values are sign-extended to 64 bits on the wire.
                w.varint_field(number, i64::from(v) as u64);
            }
            FieldType::Int64 => {
                let v = value.as_i64().ok_or_else(|| self.mismatch("an integer"))?;
                w.varint_field(number, v as u64);
            }
            FieldType::Double => w.double_field(
                number,
                value.as_f64().ok_or_else(|| self.mismatch("a number"))?,
            ),
            FieldType::Message(id) => {
                self.enter()?;
                let bytes = self.message(schema::message(id), value)?;
                self.depth -= 1;
                w.bytes_field(number, &bytes);
            }
        }
        Ok(())
    }

    /// The protobuf bytes of one message from its JSON form.
    fn message(&mut self, msg: &'static Message, value: &Value) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        let num = |n: u32| msg.field(n).map_or(n, |f| f.number);
        match msg.kind {
            MessageKind::Struct => {
                return self.struct_fields(
                    value
                        .as_object()
                        .ok_or_else(|| self.mismatch("an object"))?,
                    msg,
                );
            }
            MessageKind::Time | MessageKind::MicroTime => {
                let text = value
                    .as_str()
                    .ok_or_else(|| self.mismatch("an RFC 3339 time string"))?;
                let (seconds, nanos) =
                    parse_time(text).ok_or_else(|| self.invalid(format!("bad time {text:?}")))?;
                // Both always, as Go writes them.
                w.varint_field(num(1), seconds as u64);
                w.varint_field(num(2), i64::from(nanos) as u64);
            }
            MessageKind::Duration => {
                let text = value
                    .as_str()
                    .ok_or_else(|| self.mismatch("a duration string"))?;
                let nanos = parse_duration(text)
                    .ok_or_else(|| self.invalid(format!("bad duration {text:?}")))?;
                w.varint_field(num(1), nanos as u64);
            }
            MessageKind::Quantity => {
                // Upstream also accepts bare JSON numbers for quantities.
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(self.mismatch("a quantity string")),
                };
                w.bytes_field(num(1), text.as_bytes());
            }
            MessageKind::IntOrString => match value {
                Value::String(s) => {
                    w.varint_field(num(1), 1);
                    w.varint_field(num(2), 0);
                    w.bytes_field(num(3), s.as_bytes());
                }
                Value::Number(_) => {
                    let v = value.as_i64().and_then(|v| i32::try_from(v).ok());
                    let v =
                        v.ok_or_else(|| self.invalid("IntOrString integer out of int32 range"))?;
                    w.varint_field(num(1), 0);
                    w.varint_field(num(2), i64::from(v) as u64);
                    w.bytes_field(num(3), b"");
                }
                _ => return Err(self.mismatch("an integer or a string")),
            },
            MessageKind::RawExtension | MessageKind::RawJson => {
                let raw = serde_json::to_vec(value).map_err(|e| self.invalid(e.to_string()))?;
                w.bytes_field(num(1), &raw);
            }
            MessageKind::StringList => {
                for item in value
                    .as_array()
                    .ok_or_else(|| self.mismatch("an array of strings"))?
                {
                    w.bytes_field(
                        num(1),
                        item.as_str()
                            .ok_or_else(|| self.mismatch("an array of strings"))?
                            .as_bytes(),
                    );
                }
            }
            MessageKind::SchemaOrArray
            | MessageKind::SchemaOrBool
            | MessageKind::SchemaOrStringArray => {
                self.schema_or(&mut w, msg, value)?;
            }
        }
        Ok(w.buf)
    }

    /// JSONSchemaPropsOr{Array,Bool,StringArray}: the JSON type picks the protobuf field.
    fn schema_or(&mut self, w: &mut Writer, msg: &'static Message, value: &Value) -> Result<()> {
        let field = |n: u32| {
            msg.field(n)
                .ok_or_else(|| self.invalid(format!("{} has no field {n}", msg.full_name)))
        };
        let (schema_field, other) = match msg.kind {
            MessageKind::SchemaOrBool => (field(2)?, field(1)?),
            _ => (field(1)?, field(2)?),
        };
        match (msg.kind, value) {
            (MessageKind::SchemaOrBool, Value::Bool(b)) => {
                w.varint_field(other.number, u64::from(*b))
            }
            (MessageKind::SchemaOrBool, Value::Object(_)) => {
                w.varint_field(other.number, 1);
                self.value(w, schema_field.number, schema_field.ty, value)?;
            }
            (
                MessageKind::SchemaOrArray | MessageKind::SchemaOrStringArray,
                Value::Array(items),
            ) => {
                for item in items {
                    self.value(w, other.number, other.ty, item)?;
                }
            }
            (_, Value::Object(_)) => self.value(w, schema_field.number, schema_field.ty, value)?,
            _ => return Err(self.mismatch("a schema object, or a boolean or array")),
        }
        Ok(())
    }
}
