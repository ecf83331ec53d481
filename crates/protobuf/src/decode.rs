//! Protobuf body -> upstream JSON, walking the generated schema table.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value};

use crate::schema::{self, Cardinality, Field, FieldType, Message, MessageKind};
use crate::wellknown::{format_duration, format_time};
use crate::wire::{FIXED64, LEN, Reader, VARINT, WireError};
use crate::{DecodeError, MAGIC, MAX_DEPTH};

type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// The `runtime.Unknown` envelope around every object.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

/// Decoding state: the JSON path (for errors) and the message nesting depth.
#[derive(Default)]
pub(crate) struct Decoder {
    path: Vec<&'static str>,
    depth: usize,
}

impl Decoder {
    fn path(&self) -> String {
        self.path.join(".")
    }

    fn wire(&self, e: WireError) -> DecodeError {
        let path = self.path();
        match e {
            WireError::TruncatedVarint => DecodeError::TruncatedVarint { path },
            WireError::VarintTooLong => DecodeError::VarintTooLong { path },
            WireError::Truncated { needed, remaining } => DecodeError::Truncated {
                path,
                needed,
                remaining,
            },
            WireError::InvalidFieldNumber(number) => {
                DecodeError::InvalidFieldNumber { path, number }
            }
            WireError::UnsupportedWireType { field, wire_type } => {
                DecodeError::UnsupportedWireType {
                    path,
                    field,
                    wire_type,
                }
            }
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(DecodeError::NestingTooDeep {
                path: self.path(),
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    fn expect(&self, field: u32, found: u8, expected: u8) -> Result<()> {
        if found == expected {
            Ok(())
        } else {
            Err(DecodeError::WireTypeMismatch {
                path: self.path(),
                field,
                expected,
                found,
            })
        }
    }

    fn string(&self, bytes: &[u8]) -> Result<String> {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| DecodeError::InvalidUtf8 { path: self.path() })
    }

    /// Decodes `k8s\0` + envelope + object.
    pub(crate) fn body(&mut self, body: &[u8]) -> Result<Value> {
        let rest = body.strip_prefix(MAGIC).ok_or(DecodeError::BadMagic)?;
        self.enter()?;
        let envelope = self.envelope(rest)?;
        let value = self.object(envelope)?;
        self.depth -= 1;
        Ok(value)
    }

    fn envelope<'a>(&mut self, buf: &'a [u8]) -> Result<Envelope<'a>> {
        let mut env = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (number, wt) = r.key().map_err(|e| self.wire(e))?;
            if !(1..=4).contains(&number) {
                r.skip(number, wt).map_err(|e| self.wire(e))?;
                continue;
            }
            self.expect(number, wt, LEN)?;
            let bytes = r.len_delimited().map_err(|e| self.wire(e))?;
            match number {
                1 => {
                    let mut tm = Reader::new(bytes);
                    while !tm.is_empty() {
                        let (n, wt) = tm.key().map_err(|e| self.wire(e))?;
                        if n != 1 && n != 2 {
                            tm.skip(n, wt).map_err(|e| self.wire(e))?;
                            continue;
                        }
                        self.expect(n, wt, LEN)?;
                        let s = self.string(tm.len_delimited().map_err(|e| self.wire(e))?)?;
                        if n == 1 {
                            env.api_version = s
                        } else {
                            env.kind = s
                        }
                    }
                }
                2 => env.raw = bytes,
                3 => env.content_encoding = self.string(bytes)?,
                _ => env.content_type = self.string(bytes)?,
            }
        }
        Ok(env)
    }

    fn object(&mut self, env: Envelope<'_>) -> Result<Value> {
        if !env.content_encoding.is_empty() {
            return Err(DecodeError::UnsupportedContentEncoding(
                env.content_encoding,
            ));
        }
        match env.content_type.as_str() {
            "" | crate::PROTOBUF_MEDIA_TYPE => {}
            "application/json" => return self.json(env.raw),
            other => return Err(DecodeError::UnsupportedContentType(other.to_string())),
        }
        if env.kind.is_empty() {
            return Err(DecodeError::MissingKind);
        }
        let msg = schema::kind(&env.api_version, &env.kind)
            .filter(|m| m.kind == MessageKind::Struct)
            .ok_or_else(|| DecodeError::UnknownKind {
                api_version: env.api_version.clone(),
                kind: env.kind.clone(),
            })?;
        let mut out = Map::new();
        out.insert("apiVersion".into(), Value::String(env.api_version));
        out.insert("kind".into(), Value::String(env.kind));
        self.struct_into(env.raw, msg, &mut out)?;
        Ok(Value::Object(out))
    }

    fn json(&self, raw: &[u8]) -> Result<Value> {
        serde_json::from_slice(raw).map_err(|e| DecodeError::InvalidEmbeddedJson {
            path: self.path(),
            message: e.to_string(),
        })
    }

    /// Decodes the fields of `msg` into `out`; repeated occurrences merge as in protobuf.
    fn struct_into(
        &mut self,
        buf: &[u8],
        msg: &'static Message,
        out: &mut Map<String, Value>,
    ) -> Result<()> {
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (number, wt) = r.key().map_err(|e| self.wire(e))?;
            let Some(field) = msg.field(number) else {
                r.skip(number, wt).map_err(|e| self.wire(e))?;
                continue;
            };
            self.path.push(field.json);
            self.field(&mut r, wt, field, out)?;
            self.path.pop();
        }
        Ok(())
    }

    fn field(
        &mut self,
        r: &mut Reader<'_>,
        wt: u8,
        field: &'static Field,
        out: &mut Map<String, Value>,
    ) -> Result<()> {
        let key = field.json;
        match (field.card, field.ty) {
            (Cardinality::Map, ty) => {
                self.expect(field.number, wt, LEN)?;
                let entry = r.len_delimited().map_err(|e| self.wire(e))?;
                let (k, v) = self.map_entry(entry, ty)?;
                if let Value::Object(map) = slot(out, key, || Value::Object(Map::new())) {
                    map.insert(k, v);
                }
            }
            (card, FieldType::Message(id)) => {
                self.expect(field.number, wt, LEN)?;
                let bytes = r.len_delimited().map_err(|e| self.wire(e))?;
                let msg = schema::message(id);
                match card {
                    Cardinality::Inline => {
                        self.enter()?;
                        self.struct_into(bytes, msg, out)?;
                        self.depth -= 1;
                    }
                    Cardinality::Many => {
                        let v = self.message_value(bytes, msg)?.unwrap_or(Value::Null);
                        if let Value::Array(items) = slot(out, key, || Value::Array(Vec::new())) {
                            items.push(v);
                        }
                    }
                    _ if msg.kind == MessageKind::Struct => {
                        if let Value::Object(obj) = slot(out, key, || Value::Object(Map::new())) {
                            self.enter()?;
                            self.struct_into(bytes, msg, obj)?;
                            self.depth -= 1;
                        }
                    }
                    _ => match self.message_value(bytes, msg)? {
                        Some(v) => drop(out.insert(key.to_string(), v)),
                        None => drop(out.shift_remove(key)),
                    },
                }
            }
            (Cardinality::Many, ty) => {
                let packable = !matches!(ty, FieldType::String | FieldType::Bytes);
                let mut values = Vec::new();
                if packable && wt == LEN {
                    let packed = r.len_delimited().map_err(|e| self.wire(e))?;
                    let mut pr = Reader::new(packed);
                    while !pr.is_empty() {
                        values.push(self.scalar(
                            &mut pr,
                            field.number,
                            natural_wire_type(ty),
                            ty,
                        )?);
                    }
                } else {
                    values.push(self.scalar(r, field.number, wt, ty)?);
                }
                if let Value::Array(items) = slot(out, key, || Value::Array(Vec::new())) {
                    items.extend(values);
                }
            }
            (_, ty) => {
                let v = self.scalar(r, field.number, wt, ty)?;
                if v.as_str().is_some_and(str::is_empty) && !field.keep_empty {
                    out.shift_remove(key);
                } else {
                    out.insert(key.to_string(), v);
                }
            }
        }
        Ok(())
    }

    fn scalar(&self, r: &mut Reader<'_>, number: u32, wt: u8, ty: FieldType) -> Result<Value> {
        self.expect(number, wt, natural_wire_type(ty))?;
        Ok(match ty {
            FieldType::String => {
                Value::String(self.string(r.len_delimited().map_err(|e| self.wire(e))?)?)
            }
            // Messages are handled by `field` and `map_entry`; as a fallback they show as bytes.
            FieldType::Bytes | FieldType::Message(_) => {
                Value::String(BASE64.encode(r.len_delimited().map_err(|e| self.wire(e))?))
            }
            FieldType::Bool => Value::Bool(r.varint().map_err(|e| self.wire(e))? != 0),
            // int32 values travel sign-extended to 64 bits; protobuf keeps the low 32.
            FieldType::Int32 => Value::from(r.varint().map_err(|e| self.wire(e))? as i32),
            FieldType::Int64 => Value::from(r.varint().map_err(|e| self.wire(e))? as i64),
            FieldType::Double => {
                let v = f64::from_bits(r.fixed64().map_err(|e| self.wire(e))?);
                Value::Number(
                    Number::from_f64(v)
                        .ok_or_else(|| DecodeError::NonFiniteNumber { path: self.path() })?,
                )
            }
        })
    }

    fn map_entry(&mut self, entry: &[u8], ty: FieldType) -> Result<(String, Value)> {
        let (mut key, mut value) = (String::new(), None);
        let mut r = Reader::new(entry);
        while !r.is_empty() {
            let (number, wt) = r.key().map_err(|e| self.wire(e))?;
            match number {
                1 => {
                    self.expect(number, wt, LEN)?;
                    key = self.string(r.len_delimited().map_err(|e| self.wire(e))?)?;
                }
                2 => {
                    value = Some(match ty {
                        FieldType::Message(id) => {
                            self.expect(number, wt, LEN)?;
                            let bytes = r.len_delimited().map_err(|e| self.wire(e))?;
                            self.message_value(bytes, schema::message(id))?
                                .unwrap_or(Value::Null)
                        }
                        ty => self.scalar(&mut r, number, wt, ty)?,
                    })
                }
                _ => r.skip(number, wt).map_err(|e| self.wire(e))?,
            }
        }
        let value = match (value, ty) {
            (Some(v), _) => v,
            (None, FieldType::Message(id)) => self
                .message_value(&[], schema::message(id))?
                .unwrap_or(Value::Null),
            (None, FieldType::String | FieldType::Bytes) => Value::String(String::new()),
            (None, FieldType::Bool) => Value::Bool(false),
            (None, FieldType::Double) => Value::from(0.0),
            (None, FieldType::Int32 | FieldType::Int64) => Value::from(0),
        };
        Ok((key, value))
    }

    /// The JSON form of one message, `None` where upstream emits `null` (zero Time, empty raw).
    fn message_value(&mut self, bytes: &[u8], msg: &'static Message) -> Result<Option<Value>> {
        self.enter()?;
        let v = self.special(bytes, msg)?;
        self.depth -= 1;
        Ok(v)
    }

    fn special(&mut self, bytes: &[u8], msg: &'static Message) -> Result<Option<Value>> {
        match msg.kind {
            MessageKind::RawExtension | MessageKind::RawJson => {
                let raw = self.raw_bytes(bytes)?;
                if raw.is_empty() {
                    Ok(None)
                } else if msg.kind == MessageKind::RawExtension && raw.starts_with(MAGIC) {
                    self.body(raw).map(Some)
                } else {
                    self.json(raw).map(Some)
                }
            }
            // Go marshals the zero Time as an empty message and the zero Time's JSON is null.
            MessageKind::Time | MessageKind::MicroTime if bytes.is_empty() => Ok(None),
            _ => {
                let mut obj = Map::new();
                self.struct_into(bytes, msg, &mut obj)?;
                self.reshape(obj, msg)
            }
        }
    }

    /// The `raw` bytes (field 1) of a RawExtension, FieldsV1 or JSON message.
    fn raw_bytes<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8]> {
        let mut raw: &[u8] = &[];
        let mut r = Reader::new(bytes);
        while !r.is_empty() {
            let (number, wt) = r.key().map_err(|e| self.wire(e))?;
            if number == 1 {
                self.expect(number, wt, LEN)?;
                raw = r.len_delimited().map_err(|e| self.wire(e))?;
            } else {
                r.skip(number, wt).map_err(|e| self.wire(e))?;
            }
        }
        Ok(raw)
    }

    /// Turns a decoded message object into its custom JSON form.
    fn reshape(&self, mut obj: Map<String, Value>, msg: &'static Message) -> Result<Option<Value>> {
        let mut take = |n: u32| msg.field(n).and_then(|f| obj.remove(f.json));
        let int = |v: Option<Value>| v.and_then(|v| v.as_i64()).unwrap_or(0);
        Ok(match msg.kind {
            MessageKind::Struct | MessageKind::RawExtension | MessageKind::RawJson => {
                Some(Value::Object(obj))
            }
            MessageKind::Time | MessageKind::MicroTime => {
                let (seconds, nanos) = (int(take(1)), int(take(2)));
                let s = format_time(seconds, nanos, msg.kind == MessageKind::MicroTime)
                    .ok_or_else(|| DecodeError::InvalidTime {
                        path: self.path(),
                        seconds,
                        nanos,
                    })?;
                Some(Value::String(s))
            }
            MessageKind::Duration => Some(Value::String(format_duration(int(take(1))))),
            // The zero Quantity marshals as "0"; empty strings were dropped while decoding.
            MessageKind::Quantity => Some(take(1).unwrap_or_else(|| Value::String("0".into()))),
            MessageKind::IntOrString => match int(take(1)) {
                0 => Some(Value::from(int(take(2)))),
                1 => Some(take(3).unwrap_or_else(|| Value::String(String::new()))),
                value => {
                    return Err(DecodeError::InvalidIntOrString {
                        path: self.path(),
                        value,
                    });
                }
            },
            MessageKind::StringList => Some(take(1).unwrap_or_else(|| Value::Array(Vec::new()))),
            MessageKind::SchemaOrArray => {
                let (schema, list) = (take(1), take(2));
                list.filter(|l| l.as_array().is_some_and(|a| !a.is_empty()))
                    .or(schema)
            }
            MessageKind::SchemaOrBool => {
                let (allows, schema) = (take(1), take(2));
                schema.or_else(|| {
                    Some(Value::Bool(
                        allows.and_then(|a| a.as_bool()).unwrap_or(false),
                    ))
                })
            }
            MessageKind::SchemaOrStringArray => {
                let (schema, list) = (take(1), take(2));
                list.filter(|l| l.as_array().is_some_and(|a| !a.is_empty()))
                    .or(schema)
            }
        })
    }
}

fn natural_wire_type(ty: FieldType) -> u8 {
    match ty {
        FieldType::Bool | FieldType::Int32 | FieldType::Int64 => VARINT,
        FieldType::Double => FIXED64,
        FieldType::String | FieldType::Bytes | FieldType::Message(_) => LEN,
    }
}

/// The value at `key`, replaced by `init()` unless it already has the same JSON type.
fn slot<'m>(out: &'m mut Map<String, Value>, key: &str, init: impl Fn() -> Value) -> &'m mut Value {
    let v = out.entry(key).or_insert_with(&init);
    if std::mem::discriminant(v) != std::mem::discriminant(&init()) {
        *v = init();
    }
    v
}
