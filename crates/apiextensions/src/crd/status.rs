//! CRD status maintenance (upstream naming and establishing controllers):
//! which requested names are accepted given the other CRDs of the group,
//! the `NamesAccepted` and `Established` conditions and `storedVersions`.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::str_at;

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

/// Upstream `equalToAcceptedOrFresh`.
fn fresh(requested: &str, accepted: &str, used: &HashSet<String>) -> Result<(), String> {
    if requested == accepted || !used.contains(requested) {
        Ok(())
    } else {
        Err(format!("{requested:?} is already in use"))
    }
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": type_, "status": status, "lastTransitionTime": now, "reason": reason, "message": message})
}

/// Computes the new `status` of `crd`: `acceptedNames` (every requested
/// name not claimed by another CRD of the same group in `others`, whose
/// `status.acceptedNames` count), the `NamesAccepted` condition
/// (`NoConflicts` or `PluralConflict`/`SingularConflict`/
/// `ShortNamesConflict`/`KindConflict`/`ListKindConflict` with
/// `"x" is already in use`), `Established` (`InitialNamesAccepted` once the
/// names are accepted; it stays true afterwards) and `storedVersions`
/// (the storage version appended). `now` stamps changed conditions'
/// `lastTransitionTime` (RFC 3339).
pub fn crd_status(crd: &Value, others: &[Value], now: &str) -> Value {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut resources = HashSet::new();
    let mut kinds = HashSet::new();
    for o in others {
        if o.pointer("/spec/group").and_then(Value::as_str) != Some(group)
            || o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
        {
            continue;
        }
        let acc = o
            .pointer("/status/acceptedNames")
            .cloned()
            .unwrap_or(Value::Null);
        for k in ["plural", "singular"] {
            resources.insert(str_at(&acc, k).to_string());
        }
        resources.extend(strings(&acc, "shortNames"));
        for k in ["kind", "listKind"] {
            kinds.insert(str_at(&acc, k).to_string());
        }
    }
    let null = Value::Null;
    let requested = crd.pointer("/spec/names").unwrap_or(&null);
    let accepted = crd.pointer("/status/acceptedNames").unwrap_or(&null);
    let mut new_names = accepted.as_object().cloned().unwrap_or_default();
    let mut conflict: Option<(&str, String)> = None;
    for (key, reason, used) in [
        ("plural", "PluralConflict", &resources),
        ("singular", "SingularConflict", &resources),
    ] {
        match fresh(str_at(requested, key), str_at(accepted, key), used) {
            Ok(()) => {
                new_names.insert(
                    key.into(),
                    Value::String(str_at(requested, key).to_string()),
                );
            }
            Err(e) => conflict = Some((reason, e)),
        }
    }
    let req_short = strings(requested, "shortNames");
    let acc_short = strings(accepted, "shortNames");
    if req_short != acc_short {
        let errs: Vec<String> = req_short
            .iter()
            .filter(|s| !acc_short.contains(s))
            .filter_map(|s| fresh(s, "", &resources).err())
            .collect();
        if errs.is_empty() {
            new_names.insert("shortNames".into(), json!(req_short));
        } else {
            let msg = if errs.len() == 1 {
                errs[0].clone()
            } else {
                format!("[{}]", errs.join(", "))
            };
            conflict = Some(("ShortNamesConflict", msg));
        }
    }
    for (key, reason) in [("kind", "KindConflict"), ("listKind", "ListKindConflict")] {
        match fresh(str_at(requested, key), str_at(accepted, key), &kinds) {
            Ok(()) => {
                new_names.insert(
                    key.into(),
                    Value::String(str_at(requested, key).to_string()),
                );
            }
            Err(e) => conflict = Some((reason, e)),
        }
    }
    if let Some(c) = requested.get("categories") {
        new_names.insert("categories".into(), c.clone());
    }
    let names_ok = conflict.is_none();
    let old_conditions: Vec<Value> = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let find = |t: &str| {
        old_conditions
            .iter()
            .find(|c| str_at(c, "type") == t)
            .cloned()
    };
    let names_cond = match &conflict {
        None => condition(
            "NamesAccepted",
            "True",
            "NoConflicts",
            "no conflicts found",
            now,
        ),
        Some((reason, msg)) => condition("NamesAccepted", "False", reason, msg, now),
    };
    let was_established = find("Established").is_some_and(|c| str_at(&c, "status") == "True");
    let established_cond = if was_established {
        find("Established").unwrap_or(Value::Null)
    } else if names_ok {
        condition(
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
            now,
        )
    } else {
        condition(
            "Established",
            "False",
            "NotAccepted",
            "not all names are accepted",
            now,
        )
    };
    // Upstream `SetCRDCondition`: an existing condition is replaced where
    // it is, a new one appended (NamesAccepted before Established).
    let mut conditions: Vec<Value> = old_conditions.clone();
    for new in [names_cond, established_cond] {
        let t = str_at(&new, "type").to_string();
        let merged = match find(&t) {
            Some(old) if str_at(&old, "status") == str_at(&new, "status") => {
                let mut n = new.clone();
                n["lastTransitionTime"] = old
                    .get("lastTransitionTime")
                    .cloned()
                    .unwrap_or(Value::Null);
                n
            }
            _ => new,
        };
        match conditions.iter_mut().find(|c| str_at(c, "type") == t) {
            Some(slot) => *slot = merged,
            None => conditions.push(merged),
        }
    }
    let mut stored = strings(crd.pointer("/status").unwrap_or(&null), "storedVersions");
    if let Some(v) = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name").and_then(Value::as_str))
        && !stored.iter().any(|s| s == v)
    {
        stored.push(v.to_string());
    }
    let mut status = crd
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    status.insert("acceptedNames".into(), Value::Object(new_names));
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("storedVersions".into(), json!(stored));
    Value::Object(status)
}
