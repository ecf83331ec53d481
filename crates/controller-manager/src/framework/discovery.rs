//! API discovery as client-go's `ServerPreferredResources` does it: every
//! group version the apiserver serves (custom resources included), and for
//! each group/resource the preferred version's entry. Groups whose versions
//! cannot be listed are reported, not fatal: callers work with what they got.

use std::collections::{BTreeMap, HashMap};

use futures::future::join_all;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};
use kube::Client;
use kube::discovery::ApiResource;

/// One top-level resource (no subresources) in its preferred version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredResource {
    /// API group (`""` for core).
    pub group: String,
    /// Version (`v1`).
    pub version: String,
    /// Plural name (`configmaps`).
    pub resource: String,
    /// Kind (`ConfigMap`).
    pub kind: String,
    /// Whether it lives in namespaces.
    pub namespaced: bool,
    /// The verbs it supports (`list`, `delete`, `deletecollection`, ...).
    pub verbs: Vec<String>,
}

impl DiscoveredResource {
    /// Whether discovery lists `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// The kube-rs description used to build a dynamic `Api`.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: if self.group.is_empty() {
                self.version.clone()
            } else {
                format!("{}/{}", self.group, self.version)
            },
            kind: self.kind.clone(),
            plural: self.resource.clone(),
        }
    }

    /// `group/version, Resource=resource`, Go's `GroupVersionResource.String()`.
    pub fn gvr_string(&self) -> String {
        format!(
            "{}/{}, Resource={}",
            self.group, self.version, self.resource
        )
    }
}

/// The outcome of one discovery round.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Resources in their preferred versions.
    pub resources: Vec<DiscoveredResource>,
    /// Resources in every served version (what a REST mapper needs to
    /// resolve an `apiVersion` + `kind` that is not the preferred one).
    pub all_versions: Vec<DiscoveredResource>,
    /// Group versions that could not be listed, with the error.
    pub failed: BTreeMap<String, String>,
    /// Group versions that did not parse.
    pub unparsable: Vec<String>,
}

impl Discovered {
    /// Upstream's `ErrGroupDiscoveryFailed` message, if any group failed.
    pub fn failure_message(&self) -> Option<String> {
        if self.failed.is_empty() {
            return None;
        }
        let groups: Vec<String> = self
            .failed
            .iter()
            .map(|(gv, err)| format!("{gv}: {err}"))
            .collect();
        Some(format!(
            "unable to retrieve the complete list of server APIs: {}",
            groups.join(", ")
        ))
    }
}

/// Splits `group/version` (or `version` for core).
pub fn parse_group_version(gv: &str) -> Option<(String, String)> {
    match gv.split('/').collect::<Vec<_>>().as_slice() {
        [version] if !version.is_empty() => Some((String::new(), (*version).to_string())),
        [group, version] if !version.is_empty() => {
            Some(((*group).to_string(), (*version).to_string()))
        }
        _ => None,
    }
}

struct GroupVersions {
    name: String,
    versions: Vec<String>,
    preferred: Option<String>,
}

/// Lists every group version and picks each resource's preferred version.
/// Errs only when the group lists themselves (`/api`, `/apis`) fail.
pub async fn server_preferred_resources(client: &Client) -> Result<Discovered, kube::Error> {
    let core = client.list_core_api_versions().await?;
    let groups = client.list_api_groups().await?;
    let mut all = vec![GroupVersions {
        name: String::new(),
        preferred: core.versions.first().cloned(),
        versions: core.versions,
    }];
    for group in groups.groups {
        all.push(GroupVersions {
            name: group.name,
            versions: group.versions.iter().map(|v| v.version.clone()).collect(),
            preferred: group.preferred_version.map(|v| v.version),
        });
    }

    let requests = all.iter().flat_map(|group| {
        group.versions.iter().map(move |version| {
            let gv = if group.name.is_empty() {
                version.clone()
            } else {
                format!("{}/{version}", group.name)
            };
            async move {
                let result = if group.name.is_empty() {
                    client.list_core_api_resources(version).await
                } else {
                    client.list_api_group_resources(&gv).await
                };
                (gv, result)
            }
        })
    });
    let lists: HashMap<String, Result<APIResourceList, kube::Error>> =
        join_all(requests).await.into_iter().collect();

    let mut out = Discovered::default();
    // (group, resource) -> chosen entry; the preferred version wins.
    let mut chosen: BTreeMap<(String, String), DiscoveredResource> = BTreeMap::new();
    for group in &all {
        for version in &group.versions {
            let gv = if group.name.is_empty() {
                version.clone()
            } else {
                format!("{}/{version}", group.name)
            };
            let list = match lists.get(&gv) {
                Some(Ok(list)) => list,
                Some(Err(err)) => {
                    out.failed
                        .insert(gv.clone(), crate::framework::api_errors::message(err));
                    continue;
                }
                None => continue,
            };
            let Some((group_name, version_name)) = parse_group_version(&list.group_version) else {
                out.unparsable.push(list.group_version.clone());
                continue;
            };
            let preferred = group.preferred.as_deref() == Some(version.as_str());
            for resource in &list.resources {
                if resource.name.contains('/') {
                    continue;
                }
                out.all_versions
                    .push(discovered(&group_name, &version_name, resource));
                let key = (group.name.clone(), resource.name.clone());
                if chosen.contains_key(&key) && !preferred {
                    continue;
                }
                chosen.insert(key, discovered(&group_name, &version_name, resource));
            }
        }
    }
    out.resources = chosen.into_values().collect();
    Ok(out)
}

fn discovered(group: &str, version: &str, resource: &APIResource) -> DiscoveredResource {
    DiscoveredResource {
        group: resource
            .group
            .clone()
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| group.to_string()),
        version: resource
            .version
            .clone()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| version.to_string()),
        resource: resource.name.clone(),
        kind: resource.kind.clone(),
        namespaced: resource.namespaced,
        verbs: resource.verbs.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_versions_parse_like_schema_parse() {
        assert_eq!(
            parse_group_version("v1"),
            Some((String::new(), "v1".into()))
        );
        assert_eq!(
            parse_group_version("apps/v1"),
            Some(("apps".into(), "v1".into()))
        );
        assert_eq!(parse_group_version("a/b/c"), None);
        assert_eq!(parse_group_version(""), None);
    }

    #[test]
    fn failure_message_is_upstreams() {
        let mut d = Discovered::default();
        assert_eq!(d.failure_message(), None);
        d.failed.insert(
            "metrics.k8s.io/v1beta1".into(),
            "the server is currently unable to handle the request".into(),
        );
        assert_eq!(
            d.failure_message().unwrap(),
            "unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: the server is currently unable to handle the request"
        );
        let r = DiscoveredResource {
            group: String::new(),
            version: "v1".into(),
            resource: "configmaps".into(),
            kind: "ConfigMap".into(),
            namespaced: true,
            verbs: vec!["list".into()],
        };
        assert_eq!(r.gvr_string(), "/v1, Resource=configmaps");
        assert_eq!(r.api_resource().api_version, "v1");
        assert!(r.supports("list") && !r.supports("delete"));
    }
}
