//! Remote groups in discovery. The locally served documents (built-in and
//! CRD groups) stay as they are; the groups of remote APIServices are
//! slotted in by `groupPriorityMinimum` (upstream orders all of `/apis`
//! that way), their versions by `versionPriority`:
//!
//! - legacy `/apis` lists every remote APIService, available or not, as
//!   upstream does (a client then learns of an unavailable one from the
//!   503 of `/apis/<group>/<version>`);
//! - aggregated `/apis` carries the resources the availability controller
//!   last read from the backend (its aggregated `/apis`, or its legacy
//!   `/apis/<group>/<version>`), marked `Stale` while the APIService is
//!   unavailable;
//! - `/apis/<group>` of a remote-only group is answered here.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use super::priorities::{by_group_and_version, local_group_priority};
use super::snapshot::Entry;
use crate::discovery::group_version;

/// One remote group-version with what is known of its resources.
#[derive(Debug, Clone)]
pub struct RemoteVersion {
    /// The version.
    pub version: String,
    /// Aggregated (`APIResourceDiscovery`) entries, if ever fetched.
    pub resources: Option<Vec<Value>>,
    /// Whether the APIService is available.
    pub available: bool,
}

/// One group of remote APIServices, versions in priority order.
#[derive(Debug, Clone)]
pub struct RemoteGroup {
    /// The group name.
    pub name: String,
    /// The highest `groupPriorityMinimum` of its APIServices.
    pub priority: i32,
    /// Versions, preferred first.
    pub versions: Vec<RemoteVersion>,
}

/// The remote groups in discovery order.
pub fn remote_groups(
    remotes: &[Arc<Entry>],
    resources: &HashMap<String, Vec<Value>>,
) -> Vec<RemoteGroup> {
    by_group_and_version(remotes)
        .into_iter()
        .filter(|g| !g[0].group.is_empty())
        .map(|g| RemoteGroup {
            name: g[0].group.clone(),
            priority: g.iter().map(|e| e.priority.group).max().unwrap_or(0),
            versions: g
                .iter()
                .map(|e| RemoteVersion {
                    version: e.version.clone(),
                    resources: resources.get(&e.name).cloned(),
                    available: e.available,
                })
                .collect(),
        })
        .collect()
}

/// Where a group of priority `priority` goes among `names` (the local
/// groups in their order): before the first of lower priority, or of equal
/// priority and a later name.
fn position(names: &[String], name: &str, priority: i32) -> usize {
    names
        .iter()
        .position(|n| {
            let p = if n == "apiregistration.k8s.io" {
                // Always first (upstream's aggregator lists its own group
                // before any APIService).
                i32::MAX
            } else {
                local_group_priority(n)
            };
            p < priority || (p == priority && n.as_str() > name)
        })
        .unwrap_or(names.len())
}

fn legacy_group(g: &RemoteGroup) -> Value {
    let versions: Vec<Value> = g
        .versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(&g.name, &v.version), "version": v.version}))
        .collect();
    json!({
        "name": g.name,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// Inserts (or extends) groups in a list of JSON groups named by `name_of`.
fn merge_into(
    list: &mut Vec<Value>,
    groups: &[RemoteGroup],
    name_of: fn(&Value) -> String,
    make: &dyn Fn(&RemoteGroup) -> Value,
    versions_key: &str,
) {
    for g in groups {
        let names: Vec<String> = list.iter().map(name_of).collect();
        if let Some(i) = names.iter().position(|n| *n == g.name) {
            // A group served here and remotely: the remote versions join
            // after the local ones.
            let extra = make(g);
            if let (Some(have), Some(add)) = (
                list[i].get_mut(versions_key).and_then(Value::as_array_mut),
                extra.get(versions_key).and_then(Value::as_array),
            ) {
                have.extend(add.iter().cloned());
            }
            continue;
        }
        let at = position(&names, &g.name, g.priority);
        list.insert(at, make(g));
    }
}

/// Legacy `/apis` (an `APIGroupList`) with the remote groups.
pub fn merge_legacy(doc: &Bytes, groups: &[RemoteGroup]) -> Bytes {
    if groups.is_empty() {
        return doc.clone();
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(doc) else {
        return doc.clone();
    };
    if let Some(list) = v.get_mut("groups").and_then(Value::as_array_mut) {
        merge_into(
            list,
            groups,
            |g| g["name"].as_str().unwrap_or("").to_string(),
            &legacy_group,
            "versions",
        );
    }
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

fn aggregated_group(g: &RemoteGroup) -> Value {
    let versions: Vec<Value> = g
        .versions
        .iter()
        .map(|v| {
            let fresh = v.available && v.resources.is_some();
            json!({
                "version": v.version,
                "resources": v.resources.clone().unwrap_or_default(),
                "freshness": if fresh { "Current" } else { "Stale" },
            })
        })
        .collect();
    json!({"metadata": {"name": g.name, "creationTimestamp": null}, "versions": versions})
}

/// Aggregated `/apis` (an `APIGroupDiscoveryList`) with the remote groups.
pub fn merge_aggregated(doc: &Bytes, groups: &[RemoteGroup]) -> Bytes {
    if groups.is_empty() {
        return doc.clone();
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(doc) else {
        return doc.clone();
    };
    if let Some(list) = v.get_mut("items").and_then(Value::as_array_mut) {
        merge_into(
            list,
            groups,
            |g| {
                g.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            },
            &aggregated_group,
            "versions",
        );
    }
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// `/apis/<group>` for a remote group.
pub fn group_doc(groups: &[RemoteGroup], name: &str) -> Option<Bytes> {
    let g = groups.iter().find(|g| g.name == name)?;
    let mut doc = legacy_group(g);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()))
}

/// Converts a legacy `APIResourceList` (what `/apis/<g>/<v>` answers) to
/// aggregated `APIResourceDiscovery` entries: subresources (`a/b`) nest
/// under their resource.
pub fn aggregated_from_legacy(list: &Value, group: &str, version: &str) -> Vec<Value> {
    let entries = list
        .get("resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    for r in entries.iter().filter(|r| {
        r.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.contains('/'))
    }) {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        let kind_group = r.get("group").and_then(Value::as_str).unwrap_or(group);
        let kind_version = r.get("version").and_then(Value::as_str).unwrap_or(version);
        let mut entry = json!({
            "resource": s("name"),
            "responseKind": {"group": kind_group, "version": kind_version, "kind": s("kind")},
            "scope": if r["namespaced"].as_bool().unwrap_or(false) { "Namespaced" } else { "Cluster" },
            "singularResource": s("singularName"),
            "verbs": r.get("verbs").cloned().unwrap_or(json!([])),
        });
        for k in ["shortNames", "categories"] {
            if let Some(v) = r
                .get(k)
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
            {
                entry[k] = v.clone();
            }
        }
        out.push(entry);
    }
    for r in &entries {
        let Some((parent, sub)) = r
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| n.split_once('/'))
        else {
            continue;
        };
        let Some(p) = out.iter_mut().find(|e| e["resource"] == parent) else {
            continue;
        };
        let kind_group = r.get("group").and_then(Value::as_str).unwrap_or(group);
        let kind_version = r.get("version").and_then(Value::as_str).unwrap_or(version);
        let entry = json!({
            "subresource": sub,
            "responseKind": {"group": kind_group, "version": kind_version, "kind": r["kind"]},
            "verbs": r.get("verbs").cloned().unwrap_or(json!([])),
        });
        match p.get_mut("subresources").and_then(Value::as_array_mut) {
            Some(list) => list.push(entry),
            None => p["subresources"] = json!([entry]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregator::priorities::Priority;
    use crate::aggregator::snapshot::ServiceRef;

    fn remote(group: &str, version: &str, gp: i32, vp: i32, available: bool) -> Arc<Entry> {
        Arc::new(Entry {
            name: format!("{version}.{group}"),
            group: group.into(),
            version: version.into(),
            priority: Priority {
                group: gp,
                version: vp,
            },
            service: Some(ServiceRef {
                namespace: "ns".into(),
                name: "svc".into(),
                port: 443,
            }),
            ca_bundle: Vec::new(),
            insecure_skip_tls_verify: false,
            available,
            tls: Default::default(),
        })
    }

    fn local_groups() -> Bytes {
        let groups: Vec<Value> = [
            "apiregistration.k8s.io",
            "apps",
            "batch",
            "discovery.k8s.io",
            "stable.example.com",
        ]
        .iter()
        .map(|n| json!({"name": n, "versions": [{"groupVersion": format!("{n}/v1"), "version": "v1"}]}))
        .collect();
        Bytes::from(serde_json::to_vec(&json!({"kind": "APIGroupList", "groups": groups})).unwrap())
    }

    fn names(doc: &Bytes) -> Vec<String> {
        let v: Value = serde_json::from_slice(doc).unwrap();
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn remote_groups_are_slotted_in_by_priority() {
        let remotes = vec![
            remote("wardle.example.com", "v1alpha1", 1000, 15, true),
            remote("wardle.example.com", "v1beta1", 1000, 15, false),
            remote("metrics.k8s.io", "v1beta1", 100, 100, true),
            remote("high.example.com", "v1", 17450, 15, true),
        ];
        let groups = remote_groups(&remotes, &HashMap::new());
        let merged = merge_legacy(&local_groups(), &groups);
        assert_eq!(
            names(&merged),
            [
                "apiregistration.k8s.io",
                "apps",
                "high.example.com",
                "batch",
                "discovery.k8s.io",
                "stable.example.com",
                "wardle.example.com",
                "metrics.k8s.io"
            ]
        );
        let v: Value = serde_json::from_slice(&merged).unwrap();
        assert_eq!(
            v["groups"][6]["preferredVersion"]["groupVersion"],
            "wardle.example.com/v1beta1"
        );
        let g: Value =
            serde_json::from_slice(&group_doc(&groups, "metrics.k8s.io").unwrap()).unwrap();
        assert_eq!(g["kind"], "APIGroup");
        assert_eq!(g["versions"][0]["version"], "v1beta1");
        assert!(group_doc(&groups, "apps").is_none());
    }

    #[test]
    fn aggregated_entries_carry_fetched_resources_and_freshness() {
        let legacy = json!({"kind": "APIResourceList", "groupVersion": "wardle.example.com/v1alpha1", "resources": [
            {"name": "flunders", "singularName": "flunder", "namespaced": true, "kind": "Flunder",
             "verbs": ["get", "list"], "shortNames": ["fl"]},
            {"name": "flunders/status", "singularName": "", "namespaced": true, "kind": "Flunder", "verbs": ["get"]},
            {"name": "fischers", "singularName": "fischer", "namespaced": false, "kind": "Fischer", "verbs": ["list"]}
        ]});
        let resources = aggregated_from_legacy(&legacy, "wardle.example.com", "v1alpha1");
        assert_eq!(resources[0]["resource"], "flunders");
        assert_eq!(resources[0]["scope"], "Namespaced");
        assert_eq!(resources[0]["shortNames"], json!(["fl"]));
        assert_eq!(resources[0]["subresources"][0]["subresource"], "status");
        assert_eq!(resources[1]["scope"], "Cluster");
        let remotes = vec![
            remote("wardle.example.com", "v1alpha1", 1000, 15, true),
            remote("metrics.k8s.io", "v1beta1", 100, 100, false),
        ];
        let mut fetched = HashMap::new();
        fetched.insert("v1alpha1.wardle.example.com".to_string(), resources);
        let groups = remote_groups(&remotes, &fetched);
        let base = Bytes::from(
            serde_json::to_vec(&json!({"kind": "APIGroupDiscoveryList", "items": [
                {"metadata": {"name": "apps"}, "versions": []}
            ]}))
            .unwrap(),
        );
        let v: Value = serde_json::from_slice(&merge_aggregated(&base, &groups)).unwrap();
        let items = v["items"].as_array().unwrap();
        assert_eq!(items[1]["metadata"]["name"], "wardle.example.com");
        assert_eq!(items[1]["versions"][0]["freshness"], "Current");
        assert_eq!(
            items[1]["versions"][0]["resources"][0]["resource"],
            "flunders"
        );
        assert_eq!(items[2]["versions"][0]["freshness"], "Stale");
    }
}
