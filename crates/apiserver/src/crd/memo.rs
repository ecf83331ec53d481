//! Recent conversion webhook answers, so one write does not ask the
//! webhook twice for the same conversion.
//!
//! A write through a non-storage version sees the same content converted
//! several times: the stored object is read in the served version for
//! validation and again for managedFields, and the object just written
//! is converted for managedFields and again for the response (which
//! differ only in `resourceVersion`, `generation` and `managedFields`).
//! A conversion webhook may change only labels and annotations in
//! `metadata` (everything else is restored from the original), so its
//! answer depends on the object without the rest of `metadata`: that is
//! the key here. Answers are kept per webhook client, which is rebuilt
//! whenever the CRD changes; the memo is small, and an answer is reused
//! for a few seconds only (the span of one write), so a webhook whose
//! behaviour changes is heard from again at once. Lists and watches do
//! not read it: like upstream they convert what they send.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// How many answers are kept; the memo starts over when full.
const CAPACITY: usize = 256;

/// How long an answer is reused.
const MAX_AGE: Duration = Duration::from_secs(10);

/// The `metadata` fields a webhook sees that matter to its answer.
const KEY_METADATA: &[&str] = &["name", "namespace", "uid", "labels", "annotations"];

/// Converted objects by (desired apiVersion, object without volatile
/// metadata).
#[derive(Default)]
pub struct ConversionMemo {
    answers: Mutex<HashMap<String, (Instant, Value)>>,
}

/// The memo key of converting `obj` to `desired`.
fn key(obj: &Value, desired: &str) -> Option<String> {
    let map = obj.as_object()?;
    let mut keyed = Map::new();
    for (k, v) in map {
        if k == "metadata" {
            let mut meta = Map::new();
            for f in KEY_METADATA {
                if let Some(x) = v.get(*f) {
                    meta.insert((*f).to_string(), x.clone());
                }
            }
            keyed.insert(k.clone(), Value::Object(meta));
        } else {
            keyed.insert(k.clone(), v.clone());
        }
    }
    let mut key = serde_json::to_string(&Value::Object(keyed)).ok()?;
    key.push('\n');
    key.push_str(desired);
    Some(key)
}

impl ConversionMemo {
    /// The webhook's earlier answer for `obj` to `desired`, as it came
    /// back (the caller restores the metadata of `obj`).
    pub fn get(&self, obj: &Value, desired: &str) -> Option<Value> {
        let key = key(obj, desired)?;
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers
            .get(&key)
            .filter(|(at, _)| at.elapsed() < MAX_AGE)
            .map(|(_, v)| v.clone())
    }

    /// Remembers the webhook's answer for `obj` to `desired`.
    pub fn put(&self, obj: &Value, desired: &str, converted: &Value) {
        let Some(key) = key(obj, desired) else {
            return;
        };
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if answers.len() >= CAPACITY {
            answers.clear();
        }
        answers.insert(key, (Instant::now(), converted.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volatile_metadata_does_not_matter_content_does() {
        let memo = ConversionMemo::default();
        let obj = json!({"apiVersion": "g/v1", "kind": "K",
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "5", "generation": 2,
                "labels": {"x": "1"}},
            "spec": {"a": 1}});
        memo.put(
            &obj,
            "g/v2",
            &json!({"apiVersion": "g/v2", "spec": {"b": 1}}),
        );
        let mut written = obj.clone();
        written["metadata"]["resourceVersion"] = json!("6");
        written["metadata"]["generation"] = json!(3);
        written["metadata"]["managedFields"] = json!([{"manager": "m"}]);
        assert_eq!(memo.get(&written, "g/v2").unwrap()["spec"], json!({"b": 1}));
        assert!(memo.get(&written, "g/v3").is_none());
        let mut changed = obj.clone();
        changed["spec"]["a"] = json!(2);
        assert!(memo.get(&changed, "g/v2").is_none());
        let mut relabeled = obj.clone();
        relabeled["metadata"]["labels"]["x"] = json!("2");
        assert!(memo.get(&relabeled, "g/v2").is_none());
    }
}
