//! Request bodies whose objects repeat a key.
//!
//! Upstream decodes bodies leniently: a repeated key keeps its last
//! value, and `fieldValidation` decides what the repetition costs. JSON
//! bodies name each repetition by its path (`duplicate field
//! "spec.paused"`, sigs.k8s.io/json's strict errors); YAML bodies
//! (apply configurations, `application/yaml`) by the line of the
//! repeated key, in go-yaml's words (`line 10: key "paused" already set
//! in map`). serde's own maps reject or silently merge repeated keys, so
//! bodies are decoded here by a visitor that keeps the last value and
//! records the repetitions; YAML lines come from decoding again with the
//! visitor failing at the n-th repetition, whose error serde_yaml marks
//! with the key's position (only bodies that repeat a key pay for that).

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// At most this many repetitions are reported (sigs.k8s.io/json keeps at
/// most 100 strict errors too); it also bounds the YAML line search,
/// which decodes the body once per repetition.
const MAX_REPORTED: usize = 100;

/// A key repeated in one mapping of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepeatedKey {
    /// 1-based line of the repetition (YAML bodies; 0 for JSON ones).
    pub line: usize,
    /// The key.
    pub key: String,
    /// The key's path in the document, as upstream's strict JSON decoding
    /// names it: `spec.template.spec.containers[0].image`.
    pub path: String,
}

impl RepeatedKey {
    /// sigs.k8s.io/json's strict error for the repetition.
    pub fn duplicate_field(&self) -> String {
        format!("duplicate field \"{}\"", self.path)
    }
}

impl fmt::Display for RepeatedKey {
    /// go-yaml's words for a repeated key, as upstream's warnings show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: key {:?} already set in map",
            self.line, self.key
        )
    }
}

/// Upstream's strict-decoding text for repeated keys (sigs.k8s.io/yaml
/// over go-yaml): `yaml: unmarshal errors:` and one indented line each.
pub fn unmarshal_errors(keys: &[RepeatedKey]) -> String {
    let mut s = String::from("yaml: unmarshal errors:");
    for k in keys {
        s.push_str(&format!("\n  {k}"));
    }
    s
}

/// Decodes one YAML (or JSON) document into JSON, a repeated key keeping
/// its last value; returns the repetitions in document order.
pub fn decode_yaml(body: &[u8]) -> Result<(Value, Vec<RepeatedKey>), serde_yaml::Error> {
    let state = State::default();
    let value = state
        .seed(None)
        .deserialize(serde_yaml::Deserializer::from_slice(body))?;
    let found = state.repeated.into_inner();
    if found.is_empty() {
        return Ok((value, Vec::new()));
    }
    let mut repeated = Vec::with_capacity(found.len());
    for (n, mut key) in found.into_iter().enumerate() {
        let again = State::default();
        key.line = match again
            .seed(Some(n))
            .deserialize(serde_yaml::Deserializer::from_slice(body))
        {
            Err(e) if e.to_string().contains(REPEATED) => e.location().map_or(0, |l| l.line()),
            // Decoded once already, so the n-th repetition is reached;
            // should it not be, the line stays unknown.
            _ => 0,
        };
        repeated.push(key);
    }
    Ok((value, repeated))
}

/// Decodes a JSON document, a repeated key keeping its last value (as
/// upstream's decoder does); returns the repetitions in document order.
pub fn decode_json(body: &[u8]) -> Result<(Value, Vec<RepeatedKey>), serde_json::Error> {
    let state = State::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = state.seed(None).deserialize(&mut de)?;
    de.end()?;
    Ok((value, state.repeated.into_inner()))
}

/// One key of a document, in document order (see [`trace_json`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOccurrence {
    /// The key's path (`spec.ports[0].name`).
    pub path: String,
    /// Whether its mapping had the key already.
    pub repeated: bool,
}

/// Every key of a JSON document in document order (empty if it does not
/// decode). Only bodies that repeat a key need it: it orders their
/// repetitions among the unknown fields (see [`typed_strict_errors`]).
pub fn trace_json(body: &[u8]) -> Vec<KeyOccurrence> {
    let state = State {
        trace: Some(RefCell::new(Vec::new())),
        ..State::default()
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    if state.seed(None).deserialize(&mut de).is_err() {
        return Vec::new();
    }
    state.trace.map(RefCell::into_inner).unwrap_or_default()
}

/// Upstream's strict errors for a typed object decoded from a JSON body
/// that repeats keys: one pass in document order reports an unknown field
/// where it first appears (nothing inside it, and a repeated unknown
/// field only once, as unknown) and a repeated known field where it
/// repeats. `unknown` are the fields the typed decode dropped; any the
/// trace did not meet come last.
pub fn typed_strict_errors(trace: &[KeyOccurrence], unknown: &[String]) -> Vec<String> {
    let inside = |path: &str, field: &str| {
        path.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    let mut out: Vec<String> = Vec::new();
    let mut met = vec![false; unknown.len()];
    for occ in trace {
        if unknown.iter().any(|u| inside(&occ.path, u)) {
            continue;
        }
        if let Some(i) = unknown.iter().position(|u| *u == occ.path) {
            if !met[i] {
                met[i] = true;
                out.push(format!("unknown field \"{}\"", occ.path));
            }
            continue;
        }
        if occ.repeated {
            let e = format!("duplicate field \"{}\"", occ.path);
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    for (u, met) in unknown.iter().zip(met) {
        if !met {
            out.push(format!("unknown field \"{u}\""));
        }
    }
    out
}

/// Sorts field paths the way upstream lists the unknown fields of an
/// object it re-encoded from a Go map (YAML bodies, patch results): a
/// depth-first walk with each mapping's keys in byte order.
pub fn sort_like_go_maps(paths: &mut [String]) {
    paths.sort_by(|a, b| segments(a).cmp(segments(b)));
}

/// A field path's steps: keys compare as bytes, indexes as numbers.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Step<'a> {
    Key(&'a str),
    Index(u64),
}

fn segments(path: &str) -> impl Iterator<Item = Step<'_>> {
    path.split('.').flat_map(|part| {
        let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
        let key = (!key.is_empty()).then_some(Step::Key(key));
        let indexes = indexes
            .split('[')
            .filter(|i| !i.is_empty())
            .map(|i| Step::Index(i.trim_end_matches(']').parse().unwrap_or(0)));
        key.into_iter().chain(indexes)
    })
}

/// How a write's body was written, which decides how upstream reports
/// its repeated keys and unknown fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodySyntax {
    /// A JSON object: strict errors with paths, in document order.
    Json,
    /// A YAML object: go-yaml's lines first; the unknown fields come from
    /// the JSON the YAML became (Go map order).
    Yaml,
    /// A JSON merge or strategic merge patch: its repeated keys first,
    /// then the unknown fields of the patched object (Go map order).
    Patch,
}

/// The keys a write's body repeats, kept for `fieldValidation` until the
/// typed decode has found the unknown fields.
#[derive(Clone, Debug)]
pub struct BodyKeys {
    /// The body's syntax.
    pub syntax: BodySyntax,
    /// Its repetitions in document order.
    pub repeated: Vec<RepeatedKey>,
    /// The body itself, kept only when a JSON body repeats a key (see
    /// [`trace_json`]).
    pub body: bytes::Bytes,
    /// Strict errors of a JSON patch's operations (`json patch unknown
    /// field "[0].foo"`), reported before anything else.
    pub patch_errors: Vec<String>,
}

impl BodyKeys {
    /// What a JSON or YAML body's decode found.
    pub fn new(syntax: BodySyntax, repeated: Vec<RepeatedKey>, body: &[u8]) -> Self {
        let keep = syntax != BodySyntax::Yaml && !repeated.is_empty();
        BodyKeys {
            syntax,
            repeated,
            body: if keep {
                bytes::Bytes::copy_from_slice(body)
            } else {
                bytes::Bytes::new()
            },
            patch_errors: Vec::new(),
        }
    }

    /// What upstream's strict decode of a JSON patch finds: operation
    /// fields other than `op`, `path`, `from` and `value`, and repeated
    /// keys, in document order (`json patch duplicate field "[1].path"`).
    /// A patch that does not decode is left to the patch to refuse.
    pub fn json_patch(body: &[u8]) -> Self {
        let mut keys = BodyKeys::new(BodySyntax::Patch, Vec::new(), body);
        let Ok((Value::Array(ops), _)) = decode_json(body) else {
            return keys;
        };
        let mut unknown = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let Value::Object(op) = op {
                for k in op.keys() {
                    if !matches!(k.as_str(), "op" | "path" | "from" | "value") {
                        unknown.push(format!("[{i}].{k}"));
                    }
                }
            }
        }
        keys.patch_errors = typed_strict_errors(&trace_json(body), &unknown)
            .into_iter()
            .map(|e| format!("json patch {e}"))
            .collect();
        keys
    }
}

/// Marks the error that stops the n-th-repetition decode.
const REPEATED: &str = "repeated key: ";

/// One step of the path to the value being decoded.
enum Segment {
    Key(String),
    Index(usize),
}

/// What one decode collects.
#[derive(Default)]
struct State {
    /// Repetitions seen so far (all of them, reported or not).
    count: Cell<usize>,
    /// The reported ones, in document order.
    repeated: RefCell<Vec<RepeatedKey>>,
    /// The path to the value being decoded.
    path: RefCell<Vec<Segment>>,
    /// Every key met, when tracing.
    trace: Option<RefCell<Vec<KeyOccurrence>>>,
}

impl State {
    fn seed(&self, fail_at: Option<usize>) -> Lenient<'_> {
        Lenient {
            state: self,
            fail_at,
        }
    }

    /// The current path with `key` appended.
    fn path_to(&self, key: &str) -> String {
        let mut out = String::new();
        for s in self.path.borrow().iter() {
            match s {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
        out
    }
}

#[derive(Clone, Copy)]
struct Lenient<'c> {
    state: &'c State,
    /// Fail at this repetition (0-based), to learn where it is.
    fail_at: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for Lenient<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Lenient<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let path = &self.state.path;
            path.borrow_mut().push(Segment::Index(out.len()));
            let v = seq.next_element_seed(self);
            path.borrow_mut().pop();
            match v? {
                Some(v) => out.push(v),
                None => break,
            }
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            outer: self,
            seen: &out,
        })? {
            // The key is the path's last step while its value decodes.
            let path = &self.state.path;
            path.borrow_mut().push(Segment::Key(key));
            let v = map.next_value_seed(self);
            let Some(Segment::Key(key)) = path.borrow_mut().pop() else {
                return Err(de::Error::custom("unbalanced key path"));
            };
            out.insert(key, v?);
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key: scalars become strings (as upstream's YAML-to-JSON
/// conversion does); a key already in the mapping counts as a repetition.
/// The check runs inside the visitor so that serde_yaml marks its error
/// with the key's own position.
struct KeySeed<'c, 'm> {
    outer: Lenient<'c>,
    seen: &'m Map<String, Value>,
}

impl KeySeed<'_, '_> {
    fn check<E: de::Error>(&self, key: String) -> Result<String, E> {
        let state = self.outer.state;
        let repeated = self.seen.contains_key(&key);
        if let Some(trace) = &state.trace {
            trace.borrow_mut().push(KeyOccurrence {
                path: state.path_to(&key),
                repeated,
            });
        }
        if repeated {
            let n = state.count.get();
            state.count.set(n + 1);
            if self.outer.fail_at == Some(n) {
                return Err(E::custom(format!("{REPEATED}{key}")));
            }
            if n < MAX_REPORTED {
                state.repeated.borrow_mut().push(RepeatedKey {
                    line: 0,
                    path: state.path_to(&key),
                    key: key.clone(),
                });
            }
        }
        Ok(key)
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar map key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.check("null".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_yaml_keys_keep_the_last_value_and_name_their_lines() {
        let body = b"apiVersion: apps/v1\nkind: Deployment\nspec:\n  paused: true\n  paused: false\n  template:\n    spec:\n      containers:\n      - name: c\n        image: a\n        image: b\n";
        let (v, keys) = decode_yaml(body).unwrap();
        assert_eq!(v["spec"]["paused"], json!(false));
        assert_eq!(v["spec"]["template"]["spec"]["containers"][0]["image"], "b");
        let text: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "line 5: key \"paused\" already set in map",
                "line 11: key \"image\" already set in map"
            ]
        );
        assert_eq!(
            unmarshal_errors(&keys),
            "yaml: unmarshal errors:\n  line 5: key \"paused\" already set in map\n  line 11: key \"image\" already set in map"
        );
        assert_eq!(keys[1].path, "spec.template.spec.containers[0].image");
    }

    #[test]
    fn json_bodies_name_the_line_of_the_repeated_key() {
        // Upstream's field validation test body: the line is the second
        // "paused" one.
        let body = b"{\n\t\"apiVersion\": \"apps/v1\",\n\t\"kind\": \"Deployment\",\n\t\"metadata\": {\n\t\t\"name\": \"d\",\n\t\t\"labels\": {\"app\": \"nginx\"}\n\t},\n\t\"spec\": {\n\t\t\"paused\": false,\n\t\t\"paused\": true\n\t}\n}";
        let (v, keys) = decode_yaml(body).unwrap();
        assert_eq!(v["spec"]["paused"], json!(true));
        assert_eq!(
            keys,
            [RepeatedKey {
                line: 10,
                key: "paused".into(),
                path: "spec.paused".into(),
            }]
        );
    }

    #[test]
    fn json_bodies_name_the_path_of_each_repetition() {
        let body = br#"{"metadata": {"name": "a", "name": "b"},
            "spec": {"unknown1": 1, "unknownDupe": 1, "unknownDupe": 2, "paused": true, "paused": false,
              "template": {"spec": {"containers": [{"name": "c", "x": 1, "image": "a", "image": "b"}]}}}}"#;
        let (v, keys) = decode_json(body).unwrap();
        assert_eq!(v["metadata"]["name"], "b");
        assert_eq!(v["spec"]["template"]["spec"]["containers"][0]["image"], "b");
        let paths: Vec<String> = keys.iter().map(RepeatedKey::duplicate_field).collect();
        assert_eq!(
            paths,
            [
                "duplicate field \"metadata.name\"",
                "duplicate field \"spec.unknownDupe\"",
                "duplicate field \"spec.paused\"",
                "duplicate field \"spec.template.spec.containers[0].image\"",
            ]
        );
        assert!(decode_json(b"{\"a\": 1} x").is_err(), "trailing characters");
        assert!(decode_json(b"{\"a\": ").is_err());

        // A typed object: unknown fields where they first appear (nothing
        // inside them), repeated known fields where they repeat.
        let unknown = [
            "spec.unknown1".to_string(),
            "spec.unknownDupe".to_string(),
            "spec.template.spec.containers[0].x".to_string(),
        ];
        assert_eq!(
            typed_strict_errors(&trace_json(body), &unknown),
            [
                "duplicate field \"metadata.name\"",
                "unknown field \"spec.unknown1\"",
                "unknown field \"spec.unknownDupe\"",
                "duplicate field \"spec.paused\"",
                "unknown field \"spec.template.spec.containers[0].x\"",
                "duplicate field \"spec.template.spec.containers[0].image\"",
            ]
        );
    }

    #[test]
    fn json_patch_operations_are_decoded_strictly() {
        let body = br#"[{"op": "add", "path": "/a", "value": 1, "foo": "bar"},
            {"op": "add", "path": "/b", "path": "/c", "value": {"x": 1, "x": 2}}]"#;
        assert_eq!(
            BodyKeys::json_patch(body).patch_errors,
            [
                "json patch unknown field \"[0].foo\"",
                "json patch duplicate field \"[1].path\"",
                "json patch duplicate field \"[1].value.x\"",
            ]
        );
        assert!(BodyKeys::json_patch(b"[{").patch_errors.is_empty());
    }

    #[test]
    fn go_map_order_sorts_keys_bytewise_and_indexes_numerically() {
        let mut paths = vec![
            "spec.unknownDupe".to_string(),
            "spec.unknown1".to_string(),
            "spec.template.spec.containers[10].a".to_string(),
            "spec.template.spec.containers[2].b".to_string(),
            "metadata.unknownMeta".to_string(),
            "spec.Zed".to_string(),
        ];
        sort_like_go_maps(&mut paths);
        assert_eq!(
            paths,
            [
                "metadata.unknownMeta",
                "spec.Zed",
                "spec.template.spec.containers[2].b",
                "spec.template.spec.containers[10].a",
                "spec.unknown1",
                "spec.unknownDupe",
            ]
        );
    }

    #[test]
    fn ordinary_documents_decode_like_serde_yaml() {
        let body = b"a: 1\nb: [x, 2.5, true, null]\n3: c\nd: {e: f}\n";
        let (v, keys) = decode_yaml(body).unwrap();
        assert!(keys.is_empty());
        assert_eq!(
            v,
            json!({"a": 1, "b": ["x", 2.5, true, null], "3": "c", "d": {"e": "f"}})
        );
        assert!(decode_yaml(b"a: [").is_err());
    }
}
