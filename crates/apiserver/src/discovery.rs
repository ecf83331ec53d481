//! API discovery documents, computed once at startup from the resource
//! table: the legacy form (`/api`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`)
//! and the aggregated form (apidiscovery.k8s.io/v2) kubectl prefers.

use std::collections::BTreeMap;

use bytes::Bytes;
use corten_api::{ResourceDef, Subresource, builtin_resources};
use serde_json::{Value, json};

/// One API group with its versions, preferred first.
struct Group {
    name: &'static str,
    versions: Vec<&'static str>,
}

/// Precomputed discovery responses.
pub struct Discovery {
    api_versions: Bytes,
    api_groups: Bytes,
    groups: BTreeMap<String, Bytes>,
    resource_lists: BTreeMap<(String, String), Bytes>,
    aggregated_core: Value,
    aggregated_groups: Value,
}

/// Whether the Accept header asks for aggregated discovery, and in which
/// version (`v2` or `v2beta1`).
pub fn wants_aggregated(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept?;
    for entry in accept.split(',') {
        let e = entry.replace(' ', "");
        if e.contains("g=apidiscovery.k8s.io") && e.contains("as=APIGroupDiscoveryList") {
            if e.contains("v=v2beta1") {
                return Some("v2beta1");
            }
            if e.contains("v=v2") {
                return Some("v2");
            }
        }
        if e.starts_with("application/json") && !e.contains("as=") {
            return None;
        }
    }
    None
}

fn groups() -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for d in builtin_resources() {
        match out.iter_mut().find(|g| g.name == d.group) {
            Some(g) => {
                if !g.versions.contains(&d.version) {
                    g.versions.push(d.version);
                }
            }
            None => out.push(Group {
                name: d.group,
                versions: vec![d.version],
            }),
        }
    }
    // Preferred version first: the one the group stores.
    for g in &mut out {
        let storage = builtin_resources()
            .iter()
            .find(|d| d.group == g.name && d.storage_group == g.name)
            .map(|d| d.storage_version);
        if let Some(sv) = storage {
            g.versions.sort_by_key(|v| *v != sv);
        }
    }
    out
}

/// `group/version` (`v1` for core).
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// (kind, group, version, verbs) of a subresource as discovery lists it.
fn subresource_shape(
    d: &ResourceDef,
    s: Subresource,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
) {
    match s {
        Subresource::Status => (d.kind, "", "", &["get", "patch", "update"]),
        Subresource::Scale => ("Scale", "autoscaling", "v1", &["get", "patch", "update"]),
        Subresource::Binding => ("Binding", "", "", &["create"]),
        Subresource::Eviction => ("Eviction", "policy", "v1", &["create"]),
        Subresource::Finalize => (d.kind, "", "", &["update"]),
        Subresource::Token => ("TokenRequest", "authentication.k8s.io", "v1", &["create"]),
        Subresource::Proxy("log") => (d.kind, "", "", &["get"]),
        Subresource::Proxy("exec") => ("PodExecOptions", "", "", &["create", "get"]),
        Subresource::Proxy("attach") => ("PodAttachOptions", "", "", &["create", "get"]),
        Subresource::Proxy("portforward") => ("PodPortForwardOptions", "", "", &["create", "get"]),
        Subresource::Proxy(_) => (
            "PodProxyOptions",
            "",
            "",
            &["create", "delete", "get", "patch", "update"],
        ),
        #[allow(unreachable_patterns)]
        _ => (d.kind, "", "", &["get", "patch", "update"]),
    }
}

fn subresource_kind_for(d: &ResourceDef, s: Subresource) -> &'static str {
    let (kind, ..) = subresource_shape(d, s);
    if kind == "PodProxyOptions" && d.resource == "services" {
        return "ServiceProxyOptions";
    }
    if kind == "PodProxyOptions" && d.resource == "nodes" {
        return "NodeProxyOptions";
    }
    kind
}

/// The legacy discovery entries (`APIResource`s) of one resource: the
/// resource, then its subresources.
pub fn resource_entries(d: &ResourceDef) -> Vec<Value> {
    let mut resources = Vec::new();
    let mut r = json!({
        "name": d.resource,
        "singularName": d.singular,
        "namespaced": d.namespaced,
        "kind": d.kind,
        "verbs": d.verbs,
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        r["categories"] = json!(d.categories);
    }
    resources.push(r);
    for s in d.subresources {
        let (_, g, v, verbs) = subresource_shape(d, *s);
        let mut sr = json!({
            "name": format!("{}/{}", d.resource, s.name()),
            "singularName": "",
            "namespaced": d.namespaced,
            "kind": subresource_kind_for(d, *s),
            "verbs": verbs,
        });
        if !g.is_empty() || !v.is_empty() {
            sr["group"] = json!(g);
            sr["version"] = json!(v);
        }
        resources.push(sr);
    }
    resources
}

/// An `APIResourceList` document.
pub fn resource_list_doc(group: &str, version: &str, resources: Vec<Value>) -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    })
}

fn resource_list(group: &str, version: &str) -> Value {
    let resources = builtin_resources()
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .flat_map(resource_entries)
        .collect();
    resource_list_doc(group, version, resources)
}

/// The aggregated discovery (`APIResourceDiscovery`) entry of a resource.
pub fn aggregated_resource(d: &ResourceDef) -> Value {
    let mut r = json!({
        "resource": d.resource,
        "responseKind": {"group": d.group, "version": d.version, "kind": d.kind},
        "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": d.singular,
        "verbs": d.verbs,
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        r["categories"] = json!(d.categories);
    }
    let subs: Vec<Value> = d
        .subresources
        .iter()
        .map(|s| {
            let (_, sg, sv, verbs) = subresource_shape(d, *s);
            let (sg, sv) = if sg.is_empty() && sv.is_empty() {
                (d.group, d.version)
            } else {
                (sg, sv)
            };
            json!({
                "subresource": s.name(),
                "responseKind": {"group": sg, "version": sv, "kind": subresource_kind_for(d, *s)},
                "verbs": verbs,
            })
        })
        .collect();
    if !subs.is_empty() {
        r["subresources"] = json!(subs);
    }
    r
}

fn aggregated_versions(g: &Group) -> Vec<Value> {
    g.versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = builtin_resources()
                .iter()
                .filter(|d| d.group == g.name && d.version == *v)
                .map(aggregated_resource)
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect()
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

impl Discovery {
    /// Computes every document; `server_address` is `<ip>:<port>`.
    pub fn new(server_address: &str) -> Self {
        let all = groups();
        let address = json!([{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]);
        let api_versions = to_bytes(&json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": address,
        }));
        let mut group_docs = BTreeMap::new();
        let mut group_list = Vec::new();
        let mut resource_lists = BTreeMap::new();
        for g in &all {
            for v in &g.versions {
                resource_lists.insert(
                    (g.name.to_string(), v.to_string()),
                    to_bytes(&resource_list(g.name, v)),
                );
            }
            if g.name.is_empty() {
                continue;
            }
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| json!({"groupVersion": group_version(g.name, v), "version": v}))
                .collect();
            let group = json!({
                "name": g.name,
                "versions": versions,
                "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
            });
            let mut doc = group.clone();
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            group_docs.insert(g.name.to_string(), to_bytes(&doc));
            group_list.push(group);
        }
        let api_groups = to_bytes(&json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": group_list,
        }));
        let aggregated_core = json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": all.iter().filter(|g| g.name.is_empty()).map(|g| json!({
                "metadata": {"creationTimestamp": null},
                "versions": aggregated_versions(g),
            })).collect::<Vec<_>>(),
        });
        let aggregated_groups = json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": all.iter().filter(|g| !g.name.is_empty()).map(|g| json!({
                "metadata": {"name": g.name, "creationTimestamp": null},
                "versions": aggregated_versions(g),
            })).collect::<Vec<_>>(),
        });
        Discovery {
            api_versions,
            api_groups,
            groups: group_docs,
            resource_lists,
            aggregated_core,
            aggregated_groups,
        }
    }

    /// `/api`.
    pub fn api_versions(&self) -> Bytes {
        self.api_versions.clone()
    }

    /// `/apis`.
    pub fn api_groups(&self) -> Bytes {
        self.api_groups.clone()
    }

    /// `/apis/<group>`.
    pub fn group(&self, name: &str) -> Option<Bytes> {
        self.groups.get(name).cloned()
    }

    /// `/api/v1` or `/apis/<group>/<version>`.
    pub fn resources(&self, group: &str, version: &str) -> Option<Bytes> {
        self.resource_lists
            .get(&(group.to_string(), version.to_string()))
            .cloned()
    }

    /// Aggregated discovery for `/api` (core) or `/apis` (groups), in the
    /// requested version of the apidiscovery API.
    pub fn aggregated(&self, core: bool, version: &str) -> Bytes {
        let mut v = if core {
            self.aggregated_core.clone()
        } else {
            self.aggregated_groups.clone()
        };
        v["apiVersion"] = json!(format!("apidiscovery.k8s.io/{version}"));
        to_bytes(&v)
    }

    /// Every discovery path, for `GET /`.
    pub fn paths(&self) -> Vec<String> {
        let mut p = vec!["/api".to_string(), "/apis".to_string()];
        for (g, v) in self.resource_lists.keys() {
            if g.is_empty() {
                p.push(format!("/api/{v}"));
            } else {
                p.push(format!("/apis/{g}"));
                p.push(format!("/apis/{g}/{v}"));
            }
        }
        p.extend(
            ["/healthz", "/livez", "/readyz", "/metrics", "/version"]
                .iter()
                .map(|s| s.to_string()),
        );
        p.sort();
        p.dedup();
        p
    }
}
