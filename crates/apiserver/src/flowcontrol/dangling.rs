//! The `Dangling` condition of FlowSchemas (upstream's APF config
//! controller): `True` (reason `NotFound`) while the referenced priority
//! level does not exist, `False` (reason `Found`) once it does.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::app::ApiServer;
use crate::registry::store::{self, UpdateTarget, WriteOptions};

const CONDITION: &str = "Dangling";
/// The field manager upstream's controller writes the condition with.
const FIELD_MANAGER: &str = "api-priority-and-fairness-config-consumer-v1";

/// The condition a FlowSchema should carry, without `lastTransitionTime`.
fn desired(level: &str, exists: bool) -> Value {
    if exists {
        json!({
            "type": CONDITION, "status": "False", "reason": "Found",
            "message": "This FlowSchema references an existing PriorityLevelConfiguration object",
        })
    } else {
        json!({
            "type": CONDITION, "status": "True", "reason": "NotFound",
            "message": format!("This FlowSchema references the PriorityLevelConfiguration object named \"{level}\" but there is no such object"),
        })
    }
}

/// The FlowSchema with its `Dangling` condition set, or None when it
/// already says the right thing.
pub(super) fn with_condition(fs: &Value, levels: &HashSet<String>, now: &str) -> Option<Value> {
    let level = fs["spec"]["priorityLevelConfiguration"]["name"]
        .as_str()
        .unwrap_or_default();
    let mut want = desired(level, levels.contains(level));
    let conditions = fs["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let current = conditions.iter().position(|c| c["type"] == CONDITION);
    if let Some(i) = current {
        let c = &conditions[i];
        if ["status", "reason", "message"]
            .iter()
            .all(|k| c[*k] == want[*k])
        {
            return None;
        }
    }
    want["lastTransitionTime"] = match current {
        Some(i) if conditions[i]["status"] == want["status"] => {
            conditions[i]["lastTransitionTime"].clone()
        }
        _ => json!(now),
    };
    let mut new = fs.clone();
    let mut conditions = conditions;
    match current {
        Some(i) => conditions[i] = want,
        None => conditions.push(want),
    }
    if !new["status"].is_object() {
        new["status"] = json!({});
    }
    new["status"]["conditions"] = Value::Array(conditions);
    Some(new)
}

/// Brings every FlowSchema's condition up to date.
pub(super) async fn sync(server: &ApiServer) {
    let reg = &server.registry;
    let Some(res) = reg.resource(corten_api::flowcontrol::GROUP, "v1", "flowschemas") else {
        return;
    };
    let levels: HashSet<String> = reg
        .cached_values("prioritylevelconfigurations", None)
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string();
    let opts = WriteOptions {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    for fs in reg.cached_values("flowschemas", None) {
        let Some(new) = with_condition(&fs, &levels, &now) else {
            continue;
        };
        let name = fs["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // A conflict or a deletion meanwhile: the next pass sees the news.
        if let Err(e) =
            store::update(reg, &res, None, &name, new, UpdateTarget::Status, &opts).await
            && e.code != 409
            && e.code != 404
        {
            tracing::warn!(flowschema = %name, error = %e.message, "setting the Dangling condition");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_follows_the_level() {
        let fs = json!({"metadata": {"name": "f"}, "spec": {"priorityLevelConfiguration": {"name": "p"}},
                        "status": {"conditions": [{"type": "Other", "status": "True"}]}});
        let none = HashSet::new();
        let dangling = with_condition(&fs, &none, "2026-01-01T00:00:00Z").unwrap();
        let c = &dangling["status"]["conditions"][1];
        assert_eq!(c["status"], "True");
        assert_eq!(c["reason"], "NotFound");
        assert_eq!(
            c["message"],
            "This FlowSchema references the PriorityLevelConfiguration object named \"p\" but there is no such object"
        );
        assert_eq!(dangling["status"]["conditions"][0]["type"], "Other");
        assert!(with_condition(&dangling, &none, "later").is_none());
        let levels: HashSet<String> = ["p".to_string()].into();
        let found = with_condition(&dangling, &levels, "2026-01-02T00:00:00Z").unwrap();
        let c = &found["status"]["conditions"][1];
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("False"), Some("Found"))
        );
        assert_eq!(c["lastTransitionTime"], "2026-01-02T00:00:00Z");
    }
}
