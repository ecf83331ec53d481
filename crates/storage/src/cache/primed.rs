//! Objects this process is writing, prepared for the cache before etcd's
//! watch event for them arrives.
//!
//! The writer hands over the bytes it stores together with the decoded
//! object it already has. When the event for that key carries exactly
//! those bytes, the cache builds its entry from the prepared parts instead
//! of parsing the bytes again: the JSON with the resourceVersion is the
//! stored bytes with `"resourceVersion":"<rv>"` spliced in as the last
//! member of `metadata`, which is byte for byte what parsing, setting the
//! field and serializing gives for JSON that serde_json produced (compact,
//! canonical, no resourceVersion). Anything else is not primed, and an
//! event that does not match falls back to the full decode.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

use super::object::CachedObject;
use crate::filter::AttrsFn;

/// At most this many writes wait for their events; beyond it (a stuck
/// watch) the oldest guesses are simply dropped.
const MAX_PRIMED: usize = 4096;

/// What the cache keeps of an object besides its JSON, from a writer that
/// has the object decoded anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectAttrs {
    /// `metadata.namespace` ("" if unset).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels` (string values only).
    pub labels: BTreeMap<String, String>,
    /// The values of the cache's selectable fields (`CacheConfig::attrs`).
    pub fields: Vec<(String, String)>,
}

impl ObjectAttrs {
    /// Extracts them from a decoded object like the cache does; `None` if
    /// its `metadata` is not an object.
    pub fn from_value(object: &Value, attrs: &AttrsFn) -> Option<ObjectAttrs> {
        let meta = object.get("metadata")?.as_object()?;
        let text = |field: &str| {
            meta.get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let labels = match meta.get("labels") {
            Some(Value::Object(l)) => l
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        Some(ObjectAttrs {
            namespace: text("namespace"),
            name: text("name"),
            labels,
            fields: attrs(object),
        })
    }
}

/// An object written by this process, waiting for its watch event.
pub(crate) struct Primed {
    /// Exactly the bytes written.
    stored: Bytes,
    /// Where `metadata` closes in `stored`, and whether it has members.
    metadata_end: MetadataEnd,
    attrs: ObjectAttrs,
}

impl Primed {
    /// Prepares a write of `stored`, or `None` if `stored` is not in the
    /// shape the splice needs.
    pub(crate) fn new(stored: Bytes, attrs: ObjectAttrs) -> Option<Primed> {
        Some(Primed {
            metadata_end: metadata_end(&stored)?,
            stored,
            attrs,
        })
    }

    /// The cache entry for the event that wrote these bytes at `revision`.
    pub(crate) fn into_cached(self, key: String, revision: i64) -> CachedObject {
        let json = splice_at(&self.stored, self.metadata_end, revision);
        let ObjectAttrs {
            namespace,
            name,
            labels,
            fields,
        } = self.attrs;
        CachedObject::new(key, namespace, name, revision, labels, fields, json)
    }
}

/// The primed objects of one cache, by relative key.
#[derive(Default)]
pub(crate) struct PrimedObjects {
    map: Mutex<HashMap<String, Primed>>,
}

impl PrimedObjects {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Primed>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers a write to `key` (replacing an earlier one).
    pub(crate) fn insert(&self, key: String, primed: Primed) {
        let mut map = self.map();
        if map.len() >= MAX_PRIMED && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, primed);
    }

    /// Takes the write to `key` if it stored exactly `value`; forgets it
    /// either way (the event supersedes it).
    pub(crate) fn take(&self, key: &str, value: &[u8]) -> Option<Primed> {
        let primed = self.map().remove(key)?;
        (primed.stored == value).then_some(primed)
    }

    /// Forgets the write to `key`.
    pub(crate) fn remove(&self, key: &str) {
        self.map().remove(key);
    }

    /// Forgets every write (after a relist).
    pub(crate) fn clear(&self) {
        self.map().clear();
    }

    /// Whether nothing waits (cheap check before locking per event).
    pub(crate) fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

/// The closing brace of the top-level `metadata` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MetadataEnd {
    /// Offset of the `}`.
    offset: usize,
    /// Whether `metadata` has members (a comma is needed before a new one).
    has_members: bool,
}

/// `stored` (compact JSON as serde_json writes it, without
/// `metadata.resourceVersion`) with `"resourceVersion":"<revision>"` added
/// as the last member of `metadata`: what parsing, setting the field and
/// serializing would give. `None` if `stored` is not in that shape.
pub fn splice_resource_version(stored: &[u8], revision: i64) -> Option<Bytes> {
    Some(splice_at(stored, metadata_end(stored)?, revision))
}

fn splice_at(stored: &[u8], end: MetadataEnd, revision: i64) -> Bytes {
    const FIELD: &[u8] = b"\"resourceVersion\":\"";
    let rv = revision.to_string();
    let mut out = BytesMut::with_capacity(stored.len() + FIELD.len() + rv.len() + 2);
    out.put_slice(&stored[..end.offset]);
    if end.has_members {
        out.put_u8(b',');
    }
    out.put_slice(FIELD);
    out.put_slice(rv.as_bytes());
    out.put_u8(b'"');
    out.put_slice(&stored[end.offset..]);
    out.freeze()
}

/// Finds where the top-level `metadata` object of compact JSON closes.
/// `None` unless the document is an object without whitespace between
/// tokens, with exactly one `metadata` member, which is an object without
/// a `resourceVersion`; keys with escapes also give `None` (they could
/// spell those names).
pub(crate) fn metadata_end(json: &[u8]) -> Option<MetadataEnd> {
    let mut s = Scanner { json, pos: 0 };
    s.expect(b'{')?;
    let mut found = None;
    if s.peek()? == b'}' {
        return None;
    }
    loop {
        let key = s.key()?;
        s.expect(b':')?;
        if key == b"metadata" {
            if found.is_some() {
                return None;
            }
            found = Some(s.metadata_object()?);
        } else {
            s.skip_value()?;
        }
        match s.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    (s.pos == json.len()).then_some(found).flatten()
}

/// A cursor over JSON bytes that only understands its structure.
struct Scanner<'a> {
    json: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    /// An object key without escapes, as raw bytes.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.pos;
        let len = self.json[start..].iter().position(|&b| b == b'"')?;
        let key = &self.json[start..start + len];
        if key.contains(&b'\\') {
            return None;
        }
        self.pos = start + len + 1;
        Some(key)
    }

    /// Skips a string whose opening quote was consumed.
    fn skip_string_rest(&mut self) -> Option<()> {
        loop {
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => {
                    self.next()?;
                }
                _ => {}
            }
        }
    }

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> Option<()> {
        match self.next()? {
            b'"' => self.skip_string_rest(),
            b'{' | b'[' => {
                let mut depth = 1usize;
                while depth > 0 {
                    match self.next()? {
                        b'"' => self.skip_string_rest()?,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        b' ' | b'\t' | b'\n' | b'\r' => return None,
                        _ => {}
                    }
                }
                Some(())
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']') {
                        break;
                    }
                    if b.is_ascii_whitespace() {
                        return None;
                    }
                    self.pos += 1;
                }
                Some(())
            }
            _ => None,
        }
    }

    /// The `metadata` object: checks its keys and returns where it closes.
    fn metadata_object(&mut self) -> Option<MetadataEnd> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            let offset = self.pos;
            self.pos += 1;
            return Some(MetadataEnd {
                offset,
                has_members: false,
            });
        }
        loop {
            if self.key()? == b"resourceVersion" {
                return None;
            }
            self.expect(b':')?;
            self.skip_value()?;
            match self.next()? {
                b',' => continue,
                b'}' => {
                    return Some(MetadataEnd {
                        offset: self.pos - 1,
                        has_members: true,
                    });
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn decoded_json(stored: &[u8], revision: i64) -> Vec<u8> {
        let attrs: AttrsFn = Arc::new(|_| Vec::new());
        CachedObject::decode("k", stored, revision, &attrs)
            .unwrap()
            .json
            .to_vec()
    }

    #[test]
    fn splicing_matches_a_full_decode() {
        for obj in [
            json!({"kind": "Pod", "metadata": {"name": "a", "labels": {"x": "}{\"\\"}}, "spec": {"a": [1, {"b": "]"}]}}),
            json!({"metadata": {}, "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "a"}}),
            json!({"metadata": {"name": "ü\n\u{1}"}, "n": -1.5e300, "t": true, "z": null}),
        ] {
            let stored = serde_json::to_vec(&obj).unwrap();
            let no_attrs: AttrsFn = Arc::new(|_| Vec::new());
            let attrs = ObjectAttrs::from_value(&obj, &no_attrs).unwrap();
            let primed = Primed::new(Bytes::from(stored.clone()), attrs).unwrap();
            let cached = primed.into_cached("k".into(), 42);
            let want = String::from_utf8(decoded_json(&stored, 42)).unwrap();
            assert_eq!(String::from_utf8(cached.json.to_vec()).unwrap(), want);
            let spliced = splice_resource_version(&stored, 42).unwrap();
            assert_eq!(String::from_utf8(spliced.to_vec()).unwrap(), want);
        }
    }

    #[test]
    fn unusual_shapes_are_not_primed() {
        for stored in [
            &br#"{"metadata":{"name":"a","resourceVersion":"3"}}"#[..],
            br#"{"metadata":{"name":"a"},"metadata":{"name":"b"}}"#,
            br#"{"metadata":"x"}"#,
            br#"{"spec":{}}"#,
            br#"{"metadata": {"name":"a"}}"#,
            br#"{"metadata":{"name":"a", "x":1}}"#,
            br#"{"meta\u0064ata":{"name":"a"}}"#,
            br#"{"metadata":{"resource\u0056ersion":"1"}}"#,
            br#"{"metadata":{"name":"a"}} "#,
            br#"{"metadata":{"name":"a"}"#,
            br#"[1]"#,
            br#"{}"#,
        ] {
            assert_eq!(
                metadata_end(stored),
                None,
                "{}",
                String::from_utf8_lossy(stored)
            );
        }
    }

    #[test]
    fn only_identical_bytes_are_taken() {
        let obj = json!({"metadata": {"name": "a"}});
        let stored = Bytes::from(serde_json::to_vec(&obj).unwrap());
        let objects = PrimedObjects::default();
        let attrs = ObjectAttrs::default();
        objects.insert(
            "k".into(),
            Primed::new(stored.clone(), attrs.clone()).unwrap(),
        );
        assert!(
            objects
                .take("k", b"{\"metadata\":{\"name\":\"b\"}}")
                .is_none()
        );
        assert!(objects.is_empty(), "a mismatch forgets the write");
        objects.insert("k".into(), Primed::new(stored.clone(), attrs).unwrap());
        assert!(objects.take("k", &stored).is_some());
        assert!(objects.take("k", &stored).is_none());
    }
}
