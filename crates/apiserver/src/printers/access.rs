//! Lenient reads of objects held as JSON, and the cell formats upstream's
//! printers share (labels, selectors, containers, ages, quantities).
//!
//! Printing never fails: a missing or mistyped field reads as the Go zero
//! value (empty string, 0, nil), which is what upstream sees for an unset
//! field of a typed object.

use std::collections::BTreeMap;

use corten_apimachinery::labels::Selector;
use corten_apimachinery::quantity::Quantity;
use jiff::Timestamp;
use serde_json::Value;

use super::duration::{human_signed_duration, since};

static NULL: Value = Value::Null;

/// The value at `path` (object keys), or `null`.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return &NULL,
        }
    }
    cur
}

/// The string at `path`, or "".
pub(crate) fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).as_str().unwrap_or("")
}

/// The string at `path` if it is set (a Go `*string`).
pub(crate) fn opt_text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).as_str()
}

/// The integer at `path`, if set.
pub(crate) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    as_int(at(v, path))
}

/// The integer at `path`, or 0.
pub(crate) fn int(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

/// A JSON number as an integer (floats truncated, like a Go conversion).
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// The boolean at `path`, if set.
pub(crate) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    at(v, path).as_bool()
}

/// The array at `path`, or an empty slice.
pub(crate) fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path).as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The number of entries of the object (map) at `path`.
pub(crate) fn map_len(v: &Value, path: &[&str]) -> usize {
    at(v, path).as_object().map_or(0, serde_json::Map::len)
}

/// `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    text(obj, &["metadata", "name"])
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_deleting(obj: &Value) -> bool {
    !at(obj, &["metadata", "deletionTimestamp"]).is_null()
}

/// The annotation `key`, if present.
pub(crate) fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    at(obj, &["metadata", "annotations", key]).as_str()
}

/// A metav1.Time / MicroTime, or `None` for an unset (zero) time.
pub(crate) fn timestamp(v: &Value) -> Option<Timestamp> {
    let t: Timestamp = v.as_str()?.parse().ok()?;
    // Go's zero time, 0001-01-01T00:00:00Z, is "unset" too.
    (t.as_second() != GO_ZERO_TIME_SECONDS || t.subsec_nanosecond() != 0).then_some(t)
}

/// Seconds from the Unix epoch to 0001-01-01T00:00:00Z.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// Upstream `translateTimestampSince`: the human age of a timestamp, or
/// `<unknown>` when it is unset.
pub(crate) fn time_since(v: &Value, now: Timestamp) -> String {
    match timestamp(v) {
        Some(t) => ago(t, now),
        None => "<unknown>".to_string(),
    }
}

/// The human age of a set timestamp.
pub(crate) fn ago(t: Timestamp, now: Timestamp) -> String {
    human_signed_duration(since(t, now))
}

/// The AGE cell: the age of `metadata.creationTimestamp`.
pub(crate) fn age(obj: &Value, now: Timestamp) -> String {
    time_since(at(obj, &["metadata", "creationTimestamp"]), now)
}

/// A string-to-string map (labels, a Service selector) as a sorted map.
pub(crate) fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Upstream `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>`
/// when empty.
pub(crate) fn format_labels(v: &Value) -> String {
    let labels = string_map(v);
    if labels.is_empty() {
        return "<none>".to_string();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Upstream `LabelSelectorAsSelector(sel).String()`: `None` if the
/// selector is invalid; "" for a missing (nil) or empty selector.
pub(crate) fn selector_string(v: &Value) -> Option<String> {
    Selector::from_label_selector(v).ok().map(|s| s.to_string())
}

/// Upstream `metav1.FormatLabelSelector`: the selector string, `<none>`
/// when it is empty and `<error>` when it is invalid.
pub(crate) fn format_label_selector(v: &Value) -> String {
    match selector_string(v) {
        None => "<error>".to_string(),
        Some(s) if s.is_empty() => "<none>".to_string(),
        Some(s) => s,
    }
}

/// Upstream `layoutContainerCells`: container names and images, each
/// comma-joined.
pub(crate) fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| text(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// A resource.Quantity as upstream prints it (`Quantity.String()`): the
/// canonical form, `0` when unset. A string that does not parse is shown
/// as written.
pub(crate) fn quantity(v: &Value) -> String {
    match v {
        Value::String(s) => Quantity::parse(s).map_or_else(|_| s.clone(), |q| q.to_string()),
        Value::Number(n) => {
            let s = n.to_string();
            Quantity::parse(&s).map_or(s, |q| q.to_string())
        }
        _ => "0".to_string(),
    }
}

/// An IntOrString as upstream's `IntOrString.String()`.
pub(crate) fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => as_int(other).unwrap_or(0).to_string(),
    }
}

/// Upstream `listWithMoreString`: `a,b,c + 2 more...`, `<unset>` when
/// there is nothing.
pub(crate) fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let joined = list.join(",");
    if more {
        return format!("{joined} + {} more...", count.saturating_sub(max));
    }
    if joined.is_empty() {
        return "<unset>".to_string();
    }
    joined
}

/// Upstream `printBool`: `True` / `False`.
pub(crate) fn go_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The `status` of the first condition of `type_` in `conditions`.
pub(crate) fn condition_status<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| text(c, &["type"]) == type_)
        .map(|c| text(c, &["status"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_are_lenient() {
        let v = json!({"a": {"b": "x", "n": 3, "f": 2.9, "l": [1]}});
        assert_eq!(text(&v, &["a", "b"]), "x");
        assert_eq!(text(&v, &["a", "n"]), "");
        assert_eq!(text(&v, &["zz", "b"]), "");
        assert_eq!(int(&v, &["a", "n"]), 3);
        assert_eq!(int(&v, &["a", "f"]), 2);
        assert_eq!(int(&v, &["a", "b"]), 0);
        assert_eq!(list(&v, &["a", "l"]).len(), 1);
        assert!(list(&v, &["a", "b"]).is_empty());
    }

    #[test]
    fn zero_and_bad_times_are_unknown() {
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(time_since(&json!(null), now), "<unknown>");
        assert_eq!(time_since(&json!("0001-01-01T00:00:00Z"), now), "<unknown>");
        assert_eq!(time_since(&json!("garbage"), now), "<unknown>");
        assert_eq!(time_since(&json!("2023-12-31T23:59:00Z"), now), "60s");
        assert_eq!(time_since(&json!("2023-12-31T23:59:59.500000Z"), now), "0s");
    }

    #[test]
    fn labels_and_selectors() {
        assert_eq!(format_labels(&json!({"b": "2", "a": "1"})), "a=1,b=2");
        assert_eq!(format_labels(&json!({})), "<none>");
        assert_eq!(format_labels(&json!(null)), "<none>");
        assert_eq!(
            format_label_selector(&json!({"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]})),
            "app=web,tier in (a,b)"
        );
        assert_eq!(format_label_selector(&json!({})), "<none>");
        assert_eq!(format_label_selector(&json!(null)), "<none>");
        assert_eq!(
            format_label_selector(&json!({"matchExpressions": [{"key": "a", "operator": "Bad"}]})),
            "<error>"
        );
        assert_eq!(selector_string(&json!(null)).as_deref(), Some(""));
    }

    #[test]
    fn quantities_print_canonically() {
        assert_eq!(quantity(&json!("1024Mi")), "1Gi");
        assert_eq!(quantity(&json!("500m")), "500m");
        assert_eq!(quantity(&json!(2)), "2");
        assert_eq!(quantity(&json!(null)), "0");
        assert_eq!(quantity(&json!("not a quantity")), "not a quantity");
    }

    #[test]
    fn more_lists() {
        let l: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(list_with_more(&l, true, 5, 3), "a,b,c + 2 more...");
        assert_eq!(list_with_more(&l, false, 3, 3), "a,b,c");
        assert_eq!(list_with_more(&[], false, 0, 3), "<unset>");
    }
}
