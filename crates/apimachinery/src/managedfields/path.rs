//! Field paths as server-side apply names them: a field of a struct or map
//! (`f:name`), an item of a list-type map by its key fields
//! (`k:{"name":"nginx"}`), an item of a set by its value (`v:"x"`), or an
//! item of an atomic-by-position list by index (`i:0`).

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// One step of a [`Path`].
#[derive(Clone, Debug, PartialEq)]
pub enum PathElement {
    /// A struct field or map key.
    Field(String),
    /// A list-type map item: its key fields, sorted by name.
    Key(Vec<(String, Value)>),
    /// A set item (list of scalars merged as a set).
    Value(Value),
    /// A list item by position.
    Index(usize),
}

/// A path from the object's root.
pub type Path = Vec<PathElement>;

impl Eq for PathElement {}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders like upstream's PathElement.Compare: fields before keys before
/// values before indexes; within a kind, by content.
impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        use PathElement::*;
        fn rank(p: &PathElement) -> u8 {
            match p {
                Field(_) => 0,
                Key(_) => 1,
                Value(_) => 2,
                Index(_) => 3,
            }
        }
        match (self, other) {
            (Field(a), Field(b)) => a.cmp(b),
            (Key(a), Key(b)) => compare_keys(a, b),
            (Value(a), Value(b)) => compare_values(a, b),
            (Index(a), Index(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

fn compare_keys(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.0.cmp(&y.0).then_with(|| compare_values(&x.1, &y.1));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Orders JSON values like upstream's value.Compare: numbers (floats and
/// integers compared numerically), then strings, booleans, lists, maps,
/// null last.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => {
                let (f, g) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                f.partial_cmp(&g).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (i, j) in x.iter().zip(y) {
                let o = compare_values(i, j);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for (p, q) in xs.iter().zip(&ys) {
                let o = p.0.cmp(q.0).then_with(|| compare_values(p.1, q.1));
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A value as upstream's value.ToString prints it inside paths: strings
/// quoted, numbers and booleans bare.
fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(value_string).collect::<Vec<_>>().join(",")
        ),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", value_string(v)))
            .collect::<Vec<_>>()
            .join(""),
        other => other.to_string(),
    }
}

/// `.name`, `[name="nginx"]`, `[="x"]`, `[0]`: how conflict messages show
/// a path element.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(k) => {
                let parts: Vec<String> = k
                    .iter()
                    .map(|(n, v)| format!("{n}={}", value_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A whole path as conflict messages show it (`.spec.replicas`).
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

impl PathElement {
    /// The fieldsV1 key: `f:name`, `k:{"name":"x"}`, `v:"x"`, `i:0`.
    pub fn to_fields_key(&self) -> String {
        match self {
            PathElement::Field(n) => {
                let mut key = String::with_capacity(n.len() + 2);
                key.push_str("f:");
                key.push_str(n);
                key
            }
            PathElement::Key(k) => {
                let mut m = serde_json::Map::new();
                for (n, v) in k {
                    m.insert(n.clone(), v.clone());
                }
                format!("k:{}", Value::Object(m))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a fieldsV1 key.
    pub fn from_fields_key(s: &str) -> Result<Self, String> {
        let (prefix, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("invalid path element {s:?}: no type prefix"))?;
        match prefix {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => {
                let v: Value =
                    serde_json::from_str(rest).map_err(|e| format!("invalid key {rest:?}: {e}"))?;
                let Value::Object(m) = v else {
                    return Err(format!("invalid key {rest:?}: not an object"));
                };
                let mut k: Vec<(String, Value)> = m.into_iter().collect();
                k.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(PathElement::Key(k))
            }
            "v" => serde_json::from_str(rest)
                .map(PathElement::Value)
                .map_err(|e| format!("invalid value {rest:?}: {e}")),
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|e| format!("invalid index {rest:?}: {e}")),
            other => Err(format!("unknown path element type {other:?}")),
        }
    }
}
