//! RBAC policy rules: matching a request (upstream `RuleAllows`) and one
//! rule set covering another (upstream `validation.Covers`, used by the
//! escalation checks).

use serde_json::{Value, json};

use super::Attributes;

/// One `rules[]` entry of a Role or ClusterRole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRule {
    /// Verbs (`*` = all).
    pub verbs: Vec<String>,
    /// API groups (`*` = all).
    pub api_groups: Vec<String>,
    /// Resources, `res/sub`, `*`, `*/sub`.
    pub resources: Vec<String>,
    /// Names (empty = all).
    pub resource_names: Vec<String>,
    /// Non-resource URLs (`/healthz`, `/api/*`, `*`).
    pub non_resource_urls: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl PolicyRule {
    /// A rule from its JSON form.
    pub fn from_json(v: &Value) -> Self {
        PolicyRule {
            verbs: strings(v.get("verbs")),
            api_groups: strings(v.get("apiGroups")),
            resources: strings(v.get("resources")),
            resource_names: strings(v.get("resourceNames")),
            non_resource_urls: strings(v.get("nonResourceURLs")),
        }
    }

    /// The rules of a Role/ClusterRole JSON object.
    pub fn list_from(obj: &Value) -> Vec<PolicyRule> {
        obj.get("rules")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(PolicyRule::from_json).collect())
            .unwrap_or_default()
    }

    /// The JSON form (empty lists omitted, like upstream's encoding).
    pub fn to_json(&self) -> Value {
        let mut v = json!({"verbs": self.verbs});
        if !self.api_groups.is_empty() {
            v["apiGroups"] = json!(self.api_groups);
        }
        if !self.resources.is_empty() {
            v["resources"] = json!(self.resources);
        }
        if !self.resource_names.is_empty() {
            v["resourceNames"] = json!(self.resource_names);
        }
        if !self.non_resource_urls.is_empty() {
            v["nonResourceURLs"] = json!(self.non_resource_urls);
        }
        v
    }

    /// Whether this rule allows the request.
    pub fn allows(&self, a: &Attributes) -> bool {
        if !has(&self.verbs, &a.verb) {
            return false;
        }
        if a.resource_request {
            has(&self.api_groups, &a.api_group)
                && self.resource_matches(&a.resource, &a.subresource)
                && (self.resource_names.is_empty() || self.resource_names.contains(&a.name))
        } else {
            self.non_resource_urls
                .iter()
                .any(|u| url_matches(u, &a.path))
        }
    }

    /// Whether `resources` names `resource[/subresource]`, compared piece
    /// by piece (no `resource/subresource` string is built per rule).
    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == "*"
                || if subresource.is_empty() {
                    r == resource
                } else {
                    r.strip_prefix(resource)
                        .and_then(|rest| rest.strip_prefix('/'))
                        .is_some_and(|s| s == subresource)
                        || r.strip_prefix("*/").is_some_and(|s| s == subresource)
                }
        })
    }
}

fn has(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x == "*" || x == item)
}

fn url_matches(rule: &str, path: &str) -> bool {
    rule == "*"
        || rule == path
        || rule
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix))
}

/// One atomic permission of a rule (a single verb on a single
/// group/resource/name, or a single verb on a single URL).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Atom<'a> {
    verb: &'a str,
    group: Option<&'a str>,
    resource: Option<&'a str>,
    name: Option<&'a str>,
    url: Option<&'a str>,
}

fn atoms(rule: &PolicyRule) -> Vec<Atom<'_>> {
    let mut out = Vec::new();
    for verb in &rule.verbs {
        for url in &rule.non_resource_urls {
            out.push(Atom {
                verb,
                group: None,
                resource: None,
                name: None,
                url: Some(url),
            });
        }
        for group in &rule.api_groups {
            for resource in &rule.resources {
                if rule.resource_names.is_empty() {
                    out.push(Atom {
                        verb,
                        group: Some(group),
                        resource: Some(resource),
                        name: None,
                        url: None,
                    });
                }
                for name in &rule.resource_names {
                    out.push(Atom {
                        verb,
                        group: Some(group),
                        resource: Some(resource),
                        name: Some(name),
                        url: None,
                    });
                }
            }
        }
    }
    out
}

fn owner_covers(owner: &PolicyRule, atom: &Atom<'_>) -> bool {
    if !has(&owner.verbs, atom.verb) {
        return false;
    }
    if let Some(url) = atom.url {
        return owner.non_resource_urls.iter().any(|o| url_matches(o, url));
    }
    let (Some(group), Some(resource)) = (atom.group, atom.resource) else {
        return false;
    };
    if !has(&owner.api_groups, group) {
        return false;
    }
    let resource_ok = owner.resources.iter().any(|o| {
        if o == "*" || o == resource {
            return true;
        }
        // `pods/*` covers `pods/log`; `*/scale` covers `deployments/scale`.
        if let Some(base) = o.strip_suffix("/*") {
            return resource.split_once('/').is_some_and(|(b, _)| b == base);
        }
        if let Some(sub) = o.strip_prefix("*/") {
            return resource.split_once('/').is_some_and(|(_, s)| s == sub);
        }
        false
    });
    if !resource_ok {
        return false;
    }
    owner.resource_names.is_empty()
        || atom
            .name
            .is_some_and(|n| owner.resource_names.iter().any(|o| o == n))
}

/// The rules of `servant` not covered by `owner` (empty = covered).
pub fn uncovered(owner: &[PolicyRule], servant: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut missing: Vec<PolicyRule> = Vec::new();
    for rule in servant {
        for atom in atoms(rule) {
            if owner.iter().any(|o| owner_covers(o, &atom)) {
                continue;
            }
            let r = match atom.url {
                Some(url) => PolicyRule {
                    verbs: vec![atom.verb.into()],
                    non_resource_urls: vec![url.into()],
                    ..Default::default()
                },
                None => PolicyRule {
                    verbs: vec![atom.verb.into()],
                    api_groups: atom.group.map(|g| vec![g.into()]).unwrap_or_default(),
                    resources: atom.resource.map(|r| vec![r.into()]).unwrap_or_default(),
                    resource_names: atom.name.map(|n| vec![n.into()]).unwrap_or_default(),
                    ..Default::default()
                },
            };
            if !missing.contains(&r) {
                missing.push(r);
            }
        }
    }
    missing
}

/// Upstream's compact rule rendering in escalation errors:
/// `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}`.
pub fn compact_string(r: &PolicyRule) -> String {
    let q = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    if !r.api_groups.is_empty() {
        parts.push(format!("APIGroups:[{}]", q(&r.api_groups)));
    }
    if !r.resources.is_empty() {
        parts.push(format!("Resources:[{}]", q(&r.resources)));
    }
    if !r.resource_names.is_empty() {
        parts.push(format!("ResourceNames:[{}]", q(&r.resource_names)));
    }
    if !r.non_resource_urls.is_empty() {
        parts.push(format!("NonResourceURLs:[{}]", q(&r.non_resource_urls)));
    }
    parts.push(format!("Verbs:[{}]", q(&r.verbs)));
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;

    fn rule(v: Value) -> PolicyRule {
        PolicyRule::from_json(&v)
    }

    fn req(verb: &str, group: &str, res: &str, sub: &str, name: &str) -> Attributes {
        let mut a = Attributes::resource(&UserInfo::default(), verb, group, res, "ns", name);
        a.subresource = sub.into();
        a
    }

    #[test]
    fn matching_follows_upstream() {
        let r = rule(
            json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "*/status"]}),
        );
        assert!(r.allows(&req("get", "", "pods", "", "p")));
        assert!(!r.allows(&req("get", "", "pods", "log", "p")));
        assert!(r.allows(&req("get", "", "nodes", "status", "n")));
        assert!(!r.allows(&req("delete", "", "pods", "", "p")));
        assert!(!r.allows(&req("get", "apps", "pods", "", "p")));
        // `resource/subresource` compared piece by piece.
        let sub =
            rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log", "podsx"]}));
        assert!(sub.allows(&req("get", "", "pods", "log", "p")));
        assert!(!sub.allows(&req("get", "", "pods", "", "p")));
        assert!(!sub.allows(&req("get", "", "pods", "logs", "p")));
        assert!(!sub.allows(&req("get", "", "pod", "s/log", "p")));
        assert!(sub.allows(&req("get", "", "podsx", "", "p")));
        let named = rule(
            json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["configmaps"], "resourceNames": ["a"]}),
        );
        assert!(named.allows(&req("update", "", "configmaps", "", "a")));
        assert!(!named.allows(&req("update", "", "configmaps", "", "b")));
        assert!(!named.allows(&req("list", "", "configmaps", "", "")));
        let urls = rule(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/api/*"]}));
        let nr = |p: &str| Attributes::non_resource(&UserInfo::default(), "get", p);
        assert!(urls.allows(&nr("/healthz")));
        assert!(urls.allows(&nr("/api/v1")));
        assert!(!urls.allows(&nr("/apis")));
        assert!(!urls.allows(&req("get", "", "pods", "", "")));
    }

    #[test]
    fn coverage() {
        let owner = vec![
            rule(
                json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/*"]}),
            ),
            rule(json!({"verbs": ["*"], "apiGroups": ["apps"], "resources": ["*"]})),
        ];
        let ok = vec![rule(
            json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"], "resourceNames": ["x"]}),
        )];
        assert!(uncovered(&owner, &ok).is_empty());
        assert!(uncovered(&owner, &[rule(json!({"verbs": ["delete"], "apiGroups": ["apps"], "resources": ["deployments"]}))]).is_empty());
        let bad = vec![rule(
            json!({"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods"]}),
        )];
        let missing = uncovered(&owner, &bad);
        assert_eq!(missing.len(), 1);
        assert_eq!(
            compact_string(&missing[0]),
            "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"delete\"]}"
        );
        // A wildcard in the servant needs a wildcard in the owner.
        assert!(
            !uncovered(
                &owner,
                &[rule(
                    json!({"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]})
                )]
            )
            .is_empty()
        );
    }
}
