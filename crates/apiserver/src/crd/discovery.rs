//! Discovery of the `apiextensions.k8s.io` group and of served CRDs,
//! merged into the built-in documents.
//!
//! Like upstream, CRD groups come after every built-in group (their
//! APIServices have group priority 1000), by name; the versions of a group
//! are in Kubernetes version order (`v2` > `v1` > `v1beta1` > `v1alpha1`),
//! the first being the preferred one.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::{Value, json};

use super::definition::{CRD_DEF, GROUP};
use super::to_bytes;
use crate::discovery::{aggregated_resource, group_version, resource_entries, resource_list_doc};
use crate::registry::Resource;

/// Upstream's group priority of apiextensions.k8s.io.
const APIEXTENSIONS_PRIORITY: u32 = 16700;

fn parse_kube_version(v: &str) -> Option<(u64, u8, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major: u64 = digits.parse().ok()?;
    let rest = &rest[digits.len()..];
    if rest.is_empty() {
        return Some((major, 2, 0));
    }
    let (level, rest) = if let Some(r) = rest.strip_prefix("beta") {
        (1, r)
    } else if let Some(r) = rest.strip_prefix("alpha") {
        (0, r)
    } else {
        return None;
    };
    let minor: u64 = rest.parse().ok()?;
    Some((major, level, minor))
}

/// Kubernetes version order, highest priority first (upstream
/// `CompareKubeAwareVersionStrings`): GA before beta before alpha, higher
/// numbers first, anything else last and alphabetically.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (parse_kube_version(a), parse_kube_version(b)) {
        (Some((ma, la, na)), Some((mb, lb, nb))) => lb.cmp(&la).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The documents for apiextensions.k8s.io and the served CRD groups.
pub struct Docs {
    /// Groups served here: name -> versions (preferred first).
    groups: Vec<(String, Vec<String>)>,
    /// group/version -> resources of that version.
    by_gv: BTreeMap<(String, String), Vec<Arc<Resource>>>,
    merged_groups: OnceLock<Bytes>,
    merged_aggregated: OnceLock<Value>,
}

impl Docs {
    /// Builds the documents for `resources` (every served CR version).
    pub fn build(resources: &[Arc<Resource>]) -> Docs {
        let mut by_gv: BTreeMap<(String, String), Vec<Arc<Resource>>> = BTreeMap::new();
        for r in resources {
            by_gv
                .entry((r.def.group.to_string(), r.def.version.to_string()))
                .or_default()
                .push(r.clone());
        }
        for list in by_gv.values_mut() {
            list.sort_by(|a, b| a.def.resource.cmp(b.def.resource));
        }
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, v) in by_gv.keys() {
            groups.entry(g.clone()).or_default().push(v.clone());
        }
        let mut groups: Vec<(String, Vec<String>)> = groups
            .into_iter()
            .map(|(g, mut vs)| {
                vs.sort_by(|a, b| compare_versions(a, b));
                (g, vs)
            })
            .collect();
        groups.insert(0, (GROUP.to_string(), vec!["v1".to_string()]));
        Docs {
            groups,
            by_gv,
            merged_groups: OnceLock::new(),
            merged_aggregated: OnceLock::new(),
        }
    }

    fn group_json(name: &str, versions: &[String]) -> Value {
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": group_version(name, v), "version": v}))
            .collect();
        json!({
            "name": name,
            "versions": versions,
            "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
        })
    }

    /// `/apis/<group>`, if the group is served here.
    pub fn group(&self, name: &str) -> Option<Bytes> {
        let (_, versions) = self.groups.iter().find(|(g, _)| g == name)?;
        let mut doc = Self::group_json(name, versions);
        doc["kind"] = json!("APIGroup");
        doc["apiVersion"] = json!("v1");
        Some(to_bytes(&doc))
    }

    /// `/apis/<group>/<version>`, if served here.
    pub fn resources(&self, group: &str, version: &str) -> Option<Bytes> {
        if group == GROUP && version == "v1" {
            return Some(to_bytes(&resource_list_doc(
                GROUP,
                "v1",
                resource_entries(&CRD_DEF),
            )));
        }
        let list = self.by_gv.get(&(group.to_string(), version.to_string()))?;
        let entries = list.iter().flat_map(|r| resource_entries(r.def)).collect();
        Some(to_bytes(&resource_list_doc(group, version, entries)))
    }

    /// Where apiextensions.k8s.io goes among the built-in groups (by
    /// upstream priority, then name).
    fn apiextensions_position(names: &[&str]) -> usize {
        let priority = |n: &str| {
            corten_api::groups()
                .iter()
                .find(|g| g.name == n)
                .map(|g| g.priority)
                .unwrap_or(0)
        };
        names
            .iter()
            .position(|n| {
                let p = priority(n);
                p < APIEXTENSIONS_PRIORITY || (p == APIEXTENSIONS_PRIORITY && *n > GROUP)
            })
            .unwrap_or(names.len())
    }

    /// `/apis` with the groups served here merged into `base`.
    pub fn api_groups(&self, base: &Bytes) -> Bytes {
        self.merged_groups
            .get_or_init(|| {
                let mut doc: Value = serde_json::from_slice(base).unwrap_or_else(|_| json!({}));
                let Some(list) = doc.get_mut("groups").and_then(Value::as_array_mut) else {
                    return base.clone();
                };
                let names: Vec<&str> = list
                    .iter()
                    .map(|g| g.get("name").and_then(Value::as_str).unwrap_or(""))
                    .collect();
                let at = Self::apiextensions_position(&names);
                let mut extra = self.groups.iter().map(|(g, vs)| Self::group_json(g, vs));
                if let Some(first) = extra.next() {
                    list.insert(at, first);
                }
                list.extend(extra);
                to_bytes(&doc)
            })
            .clone()
    }

    fn aggregated_group(&self, name: &str, versions: &[String]) -> Value {
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| {
                let resources: Vec<Value> = if name == GROUP {
                    vec![aggregated_resource(&CRD_DEF)]
                } else {
                    self.by_gv
                        .get(&(name.to_string(), v.clone()))
                        .into_iter()
                        .flatten()
                        .map(|r| aggregated_resource(r.def))
                        .collect()
                };
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        json!({"metadata": {"name": name, "creationTimestamp": null}, "versions": versions})
    }

    /// Aggregated discovery of `/apis` with the groups served here merged
    /// into `base` (the built-in document), in apidiscovery `version`.
    pub fn aggregated(&self, base: &Bytes, version: &str) -> Bytes {
        let merged = self.merged_aggregated.get_or_init(|| {
            let mut doc: Value = serde_json::from_slice(base).unwrap_or_else(|_| json!({}));
            if let Some(list) = doc.get_mut("items").and_then(Value::as_array_mut) {
                let names: Vec<&str> = list
                    .iter()
                    .map(|g| {
                        g.pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    })
                    .collect();
                let at = Self::apiextensions_position(&names);
                let mut extra = self
                    .groups
                    .iter()
                    .map(|(g, vs)| self.aggregated_group(g, vs));
                if let Some(first) = extra.next() {
                    list.insert(at, first);
                }
                list.extend(extra);
            }
            doc
        });
        let mut out = merged.clone();
        out["apiVersion"] = json!(format!("apidiscovery.k8s.io/{version}"));
        to_bytes(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_version_order() {
        let mut v = vec![
            "v1alpha1", "v1", "foo", "v2beta1", "v1beta2", "v2", "v10", "v1beta1",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            vec![
                "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"
            ]
        );
    }
}
