//! Request bodies whose objects repeat a key.
//!
//! Upstream decodes YAML (apply configurations, `application/yaml`
//! bodies) leniently: a repeated key keeps its last value, and
//! `fieldValidation` decides what the repetition costs. Its strict
//! re-decode names each repetition by the line of the repeated key, in
//! go-yaml's words (`line 10: key "paused" already set in map`).
//! serde_yaml's own `Mapping` rejects repeated keys outright, so YAML is
//! decoded here by a visitor that keeps the last value and counts the
//! repetitions; their lines come from decoding again with the visitor
//! failing at the n-th repetition, whose error serde_yaml marks with the
//! key's position (only bodies that repeat a key pay for that).

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A key repeated in one mapping of a YAML document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepeatedKey {
    /// 1-based line of the repetition.
    pub line: usize,
    /// The key.
    pub key: String,
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
    let count = Cell::new(0);
    let names = RefCell::new(Vec::new());
    let value = Lenient {
        count: &count,
        names: &names,
        fail_at: None,
    }
    .deserialize(serde_yaml::Deserializer::from_slice(body))?;
    if count.get() == 0 {
        return Ok((value, Vec::new()));
    }
    let mut repeated = Vec::with_capacity(count.get());
    for (n, key) in names.into_inner().into_iter().enumerate() {
        let at = Cell::new(0);
        let unused = RefCell::new(Vec::new());
        let seed = Lenient {
            count: &at,
            names: &unused,
            fail_at: Some(n),
        };
        let line = match seed.deserialize(serde_yaml::Deserializer::from_slice(body)) {
            Err(e) if e.to_string().contains(REPEATED) => e.location().map_or(0, |l| l.line()),
            // Decoded once already, so the n-th repetition is reached;
            // should it not be, the line stays unknown.
            _ => 0,
        };
        repeated.push(RepeatedKey { line, key });
    }
    Ok((value, repeated))
}

/// Marks the error that stops the n-th-repetition decode.
const REPEATED: &str = "repeated key: ";

#[derive(Clone, Copy)]
struct Lenient<'c> {
    /// Repetitions seen so far.
    count: &'c Cell<usize>,
    /// Their keys, in document order.
    names: &'c RefCell<Vec<String>>,
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
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            outer: self,
            seen: &out,
        })? {
            let v = map.next_value_seed(self)?;
            out.insert(key, v);
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
        if self.seen.contains_key(&key) {
            let n = self.outer.count.get();
            self.outer.count.set(n + 1);
            if self.outer.fail_at == Some(n) {
                return Err(E::custom(format!("{REPEATED}{key}")));
            }
            self.outer.names.borrow_mut().push(key.clone());
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
                key: "paused".into()
            }]
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
