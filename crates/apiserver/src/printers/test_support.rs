//! Shared helpers for the printer tests.

use jiff::Timestamp;
use serde_json::Value;

use super::IncludeObject;

/// The fixed "now" of every printer test.
pub(crate) fn now() -> Timestamp {
    "2024-06-01T12:00:00Z".parse().unwrap()
}

/// `now` minus a number of seconds, as a metav1.Time string.
pub(crate) fn ago(seconds: i64) -> String {
    let t = now() - jiff::SignedDuration::from_secs(seconds);
    corten_apimachinery::time::format_time(t)
}

/// The cells of one object's row.
pub(crate) fn cells(group: &str, kind: &str, obj: &Value) -> Value {
    super::row(group, kind, obj, IncludeObject::None, now())["cells"].clone()
}

/// The column names of a kind's table.
pub(crate) fn column_names(group: &str, kind: &str) -> Vec<String> {
    super::column_definitions(group, kind)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}
