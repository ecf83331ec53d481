//! CEL runtime values, equality and ordering, and the conversion of custom
//! resource data into CEL values following the schema (upstream
//! `UnstructuredToVal`): typed objects with escaped property names, maps,
//! lists, timestamps/durations/bytes for formatted strings.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

use corten_apimachinery::quantity::Quantity;
use serde_json::Value;

use crate::schema::{Node, formats, is_json_int};

/// A map key (CEL allows bool, int, uint and string keys; ints and uints
/// with equal values are the same key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Bool(bool),
    Num(i128),
    Str(Rc<str>),
}

impl Key {
    pub(crate) fn from_val(v: &Val) -> Option<Key> {
        match v {
            Val::Bool(b) => Some(Key::Bool(*b)),
            Val::Int(i) => Some(Key::Num(i128::from(*i))),
            Val::Uint(u) => Some(Key::Num(i128::from(*u))),
            Val::Str(s) => Some(Key::Str(s.clone())),
            _ => None,
        }
    }
    pub(crate) fn to_val(&self) -> Val {
        match self {
            Key::Bool(b) => Val::Bool(*b),
            Key::Num(n) => i64::try_from(*n).map_or_else(|_| Val::Uint(*n as u64), Val::Int),
            Key::Str(s) => Val::Str(s.clone()),
        }
    }
}

/// A map or typed object: entries in insertion order plus an index.
#[derive(Debug, Clone, Default)]
pub(crate) struct MapVal {
    pub entries: Vec<(Key, Val)>,
    index: HashMap<Key, usize>,
    /// A schema object (field selection on it is typed) rather than a map.
    pub is_object: bool,
}

impl MapVal {
    pub(crate) fn new(is_object: bool) -> Self {
        MapVal {
            entries: Vec::new(),
            index: HashMap::new(),
            is_object,
        }
    }
    pub(crate) fn insert(&mut self, k: Key, v: Val) -> bool {
        if self.index.contains_key(&k) {
            return false;
        }
        self.index.insert(k.clone(), self.entries.len());
        self.entries.push((k, v));
        true
    }
    pub(crate) fn get(&self, k: &Key) -> Option<&Val> {
        self.index.get(k).map(|&i| &self.entries[i].1)
    }
    pub(crate) fn get_str(&self, k: &str) -> Option<&Val> {
        self.get(&Key::Str(Rc::from(k)))
    }
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A parsed URL (the Kubernetes URL library).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UrlVal {
    pub raw: String,
    pub scheme: String,
    pub host: String,
    pub path: String,
    pub query: String,
}

/// A CEL value.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    List(Rc<Vec<Val>>),
    Map(Rc<MapVal>),
    Type(Rc<str>),
    Timestamp(jiff::Timestamp),
    Duration(jiff::SignedDuration),
    Optional(Option<Rc<Val>>),
    Quantity(Rc<Quantity>),
    Url(Rc<UrlVal>),
    Ip(IpAddr),
    Cidr(ipnet::IpNet),
    /// A named format from `format.<name>()`.
    Format(Rc<str>),
}

impl PartialEq for Val {
    fn eq(&self, other: &Val) -> bool {
        equals(self, other)
    }
}

impl Val {
    pub(crate) fn str(s: &str) -> Val {
        Val::Str(Rc::from(s))
    }
    pub(crate) fn list(items: Vec<Val>) -> Val {
        Val::List(Rc::new(items))
    }

    /// The CEL type name (`int`, `string`, `map`, `list`, ...).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null_type",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Uint(_) => "uint",
            Val::Double(_) => "double",
            Val::Str(_) => "string",
            Val::Bytes(_) => "bytes",
            Val::List(_) => "list",
            Val::Map(m) if m.is_object => "object",
            Val::Map(_) => "map",
            Val::Type(_) => "type",
            Val::Timestamp(_) => "google.protobuf.Timestamp",
            Val::Duration(_) => "google.protobuf.Duration",
            Val::Optional(_) => "optional_type",
            Val::Quantity(_) => "kubernetes.Quantity",
            Val::Url(_) => "kubernetes.URL",
            Val::Ip(_) => "net.IP",
            Val::Cidr(_) => "net.CIDR",
            Val::Format(_) => "kubernetes.NamedFormat",
        }
    }

    /// A rough size for cost accounting.
    pub(crate) fn size_hint(&self) -> u64 {
        match self {
            Val::Str(s) => s.len() as u64,
            Val::Bytes(b) => b.len() as u64,
            Val::List(l) => l.len() as u64,
            Val::Map(m) => m.len() as u64,
            _ => 1,
        }
    }
}

fn num_cmp(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Uint(x), Val::Uint(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Uint(y)) => Some(i128::from(*x).cmp(&i128::from(*y))),
        (Val::Uint(x), Val::Int(y)) => Some(i128::from(*x).cmp(&i128::from(*y))),
        (Val::Double(x), Val::Double(y)) => x.partial_cmp(y),
        (Val::Double(x), Val::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Int(x), Val::Double(y)) => (*x as f64).partial_cmp(y),
        (Val::Double(x), Val::Uint(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Uint(x), Val::Double(y)) => (*x as f64).partial_cmp(y),
        _ => None,
    }
}

/// CEL ordering for `<`, `<=`, ... (`None`: no such overload or NaN).
pub(crate) fn compare(a: &Val, b: &Val) -> Result<Option<Ordering>, ()> {
    if let Some(o) = num_cmp(a, b) {
        return Ok(Some(o));
    }
    match (a, b) {
        (Val::Double(_), _) | (_, Val::Double(_))
            if matches!(a, Val::Int(_) | Val::Uint(_) | Val::Double(_))
                && matches!(b, Val::Int(_) | Val::Uint(_) | Val::Double(_)) =>
        {
            Ok(None)
        }
        (Val::Bool(x), Val::Bool(y)) => Ok(Some(x.cmp(y))),
        (Val::Str(x), Val::Str(y)) => Ok(Some(x.cmp(y))),
        (Val::Bytes(x), Val::Bytes(y)) => Ok(Some(x.cmp(y))),
        (Val::Timestamp(x), Val::Timestamp(y)) => Ok(Some(x.cmp(y))),
        (Val::Duration(x), Val::Duration(y)) => Ok(Some(x.cmp(y))),
        _ => Err(()),
    }
}

/// CEL equality (heterogeneous numeric equality; different types are
/// unequal rather than an error).
pub(crate) fn equals(a: &Val, b: &Val) -> bool {
    if let Some(o) = num_cmp(a, b) {
        return o == Ordering::Equal;
    }
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Bytes(x), Val::Bytes(y)) => x == y,
        (Val::List(x), Val::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equals(p, q))
        }
        (Val::Map(x), Val::Map(y)) => {
            x.len() == y.len()
                && x.entries
                    .iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w)))
        }
        (Val::Type(x), Val::Type(y)) => x == y,
        (Val::Timestamp(x), Val::Timestamp(y)) => x == y,
        (Val::Duration(x), Val::Duration(y)) => x == y,
        (Val::Optional(x), Val::Optional(y)) => match (x, y) {
            (None, None) => true,
            (Some(p), Some(q)) => equals(p, q),
            _ => false,
        },
        (Val::Quantity(x), Val::Quantity(y)) => x.cmp_value(y) == Ordering::Equal,
        (Val::Url(x), Val::Url(y)) => x == y,
        (Val::Ip(x), Val::Ip(y)) => x == y,
        (Val::Cidr(x), Val::Cidr(y)) => x == y,
        (Val::Format(x), Val::Format(y)) => x == y,
        _ => false,
    }
}

/// CEL reserved words that property names are escaped from.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// The CEL identifier of a property name (upstream `model.Escape`), or
/// `None` when the name cannot be accessed from CEL.
pub(crate) fn escape_name(name: &str) -> Option<String> {
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '.' | '-' | '/'));
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c => out.push(c),
        }
    }
    Some(out)
}

/// Converts data to a CEL value following its schema. `resource_root`
/// (also implied by `x-kubernetes-embedded-resource`) exposes `apiVersion`,
/// `kind` and `metadata.name`/`metadata.generateName` even if the schema
/// does not declare them.
pub(crate) fn from_json(v: &Value, s: Option<&Node>, resource_root: bool, depth: usize) -> Val {
    if depth > 200 {
        return Val::Null;
    }
    let Some(s) = s else {
        return from_json_dyn(v, depth);
    };
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match s.type_.as_str() {
            "number" => Val::Double(n.as_f64().unwrap_or(0.0)),
            _ if is_json_int(n) => n
                .as_i64()
                .map_or_else(|| Val::Uint(n.as_u64().unwrap_or(0)), Val::Int),
            "integer" => {
                let f = n.as_f64().unwrap_or(0.0);
                if f.fract() == 0.0 && f.abs() < 9.2e18 {
                    Val::Int(f as i64)
                } else {
                    Val::Double(f)
                }
            }
            _ => Val::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(text) => string_val(text, s),
        Value::Array(items) => {
            let item = s.items.as_deref();
            Val::list(
                items
                    .iter()
                    .map(|i| from_json(i, item, false, depth + 1))
                    .collect(),
            )
        }
        Value::Object(m) => {
            let root = resource_root || s.x_embedded_resource;
            if !s.properties.is_empty() || root {
                let mut out = MapVal::new(true);
                for (k, val) in m {
                    let sub = s.prop(k);
                    if sub.is_none()
                        && !(root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    {
                        if s.preserve_unknown()
                            && let Some(name) = escape_name(k)
                        {
                            out.insert(
                                Key::Str(Rc::from(name.as_str())),
                                from_json_dyn(val, depth + 1),
                            );
                        }
                        continue;
                    }
                    let Some(name) = escape_name(k) else { continue };
                    let cv = if sub.is_none() && k == "metadata" {
                        metadata_val(val)
                    } else {
                        from_json(val, sub, false, depth + 1)
                    };
                    out.insert(Key::Str(Rc::from(name.as_str())), cv);
                }
                Val::Map(Rc::new(out))
            } else {
                let add = s.additional_schema();
                let mut out = MapVal::new(false);
                for (k, val) in m {
                    let cv = match add {
                        Some(a) => from_json(val, Some(a), false, depth + 1),
                        None => from_json_dyn(val, depth + 1),
                    };
                    out.insert(Key::Str(Rc::from(k.as_str())), cv);
                }
                Val::Map(Rc::new(out))
            }
        }
    }
}

fn metadata_val(v: &Value) -> Val {
    let mut out = MapVal::new(true);
    if let Value::Object(m) = v {
        for k in ["name", "generateName"] {
            if let Some(Value::String(s)) = m.get(k) {
                out.insert(Key::Str(Rc::from(k)), Val::str(s));
            }
        }
    }
    Val::Map(Rc::new(out))
}

fn string_val(text: &str, s: &Node) -> Val {
    if s.type_ == "string" {
        match s.format.as_str() {
            "date-time" | "datetime" => {
                if let Ok(t) = text.parse::<jiff::Timestamp>() {
                    return Val::Timestamp(t);
                }
            }
            "duration" => {
                if let Some(ns) = formats::parse_go_duration(text)
                    && let Ok(n) = i64::try_from(ns)
                {
                    return Val::Duration(jiff::SignedDuration::from_nanos(n));
                }
            }
            "byte" => {
                use base64::Engine;
                if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(text) {
                    return Val::Bytes(Rc::from(b));
                }
            }
            _ => {}
        }
    }
    Val::str(text)
}

/// Converts schemaless data (`x-kubernetes-preserve-unknown-fields`,
/// int-or-string) as a dynamic value.
pub(crate) fn from_json_dyn(v: &Value, depth: usize) -> Val {
    if depth > 200 {
        return Val::Null;
    }
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Val::Int(i),
            (None, Some(u)) => Val::Uint(u),
            _ => Val::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Val::str(s),
        Value::Array(items) => {
            Val::list(items.iter().map(|i| from_json_dyn(i, depth + 1)).collect())
        }
        Value::Object(m) => {
            let mut out = MapVal::new(false);
            for (k, val) in m {
                out.insert(
                    Key::Str(Rc::from(k.as_str())),
                    from_json_dyn(val, depth + 1),
                );
            }
            Val::Map(Rc::new(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_property_names() {
        assert_eq!(escape_name("foo-bar").as_deref(), Some("foo__dash__bar"));
        assert_eq!(escape_name("a.b/c").as_deref(), Some("a__dot__b__slash__c"));
        assert_eq!(escape_name("x__y").as_deref(), Some("x__underscores__y"));
        assert_eq!(escape_name("namespace").as_deref(), Some("__namespace__"));
        assert_eq!(escape_name("1abc"), None);
        assert_eq!(escape_name("a b"), None);
    }

    #[test]
    fn numeric_equality_is_heterogeneous() {
        assert!(equals(&Val::Int(1), &Val::Double(1.0)));
        assert!(equals(&Val::Uint(2), &Val::Int(2)));
        assert!(!equals(&Val::Int(1), &Val::str("1")));
        assert_eq!(
            compare(&Val::Int(1), &Val::Double(1.5)),
            Ok(Some(Ordering::Less))
        );
        assert!(compare(&Val::Int(1), &Val::str("a")).is_err());
    }
}
