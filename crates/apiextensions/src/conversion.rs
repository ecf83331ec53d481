//! `conversion: None`: versions share one schema shape, so converting only
//! rewrites `apiVersion` (upstream `nopConverter`).

use serde_json::Value;

/// Converts a custom resource (or a list of them, `items[*]` included) to
/// `group/to_version` by rewriting `apiVersion`; nothing else changes.
/// Objects of another group are left alone and reported with `false`.
pub fn convert_none(obj: &mut Value, group: &str, to_version: &str) -> bool {
    let target = format!("{group}/{to_version}");
    let in_group = |o: &Value| {
        o.get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|av| av.rsplit_once('/').is_some_and(|(g, _)| g == group))
    };
    let mut ok = true;
    if let Some(items) = obj.get_mut("items").and_then(Value::as_array_mut) {
        for item in items.iter_mut() {
            if in_group(item) {
                item["apiVersion"] = Value::String(target.clone());
            } else {
                ok = false;
            }
        }
        if obj
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
        {
            obj["apiVersion"] = Value::String(target);
        }
        return ok;
    }
    if !in_group(obj) {
        return false;
    }
    obj["apiVersion"] = Value::String(target);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrites_api_version_only() {
        let mut o =
            json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "spec": {"a": 1}});
        assert!(convert_none(&mut o, "stable.example.com", "v2"));
        assert_eq!(
            o,
            json!({"apiVersion": "stable.example.com/v2", "kind": "CronTab", "spec": {"a": 1}})
        );
        let mut other = json!({"apiVersion": "other.io/v1", "kind": "X"});
        assert!(!convert_none(&mut other, "stable.example.com", "v2"));
        let mut list = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTabList",
            "items": [{"apiVersion": "stable.example.com/v1", "kind": "CronTab"}]});
        assert!(convert_none(&mut list, "stable.example.com", "v2"));
        assert_eq!(list["items"][0]["apiVersion"], "stable.example.com/v2");
    }
}
