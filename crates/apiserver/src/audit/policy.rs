//! The audit.k8s.io/v1 `Policy`: rules matched in order, the first match
//! giving the level and the stages to omit.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::auth::authz::Attributes;

/// Audit levels, in increasing detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Not logged.
    None,
    /// Request metadata only.
    Metadata,
    /// Metadata and the request object.
    Request,
    /// Metadata, request and response objects.
    RequestResponse,
}

impl Level {
    fn parse(s: &str) -> Result<Level> {
        Ok(match s {
            "None" => Level::None,
            "Metadata" => Level::Metadata,
            "Request" => Level::Request,
            "RequestResponse" => Level::RequestResponse,
            other => bail!("unknown audit level {other:?}"),
        })
    }

    /// The level's name.
    pub fn name(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

const STAGES: &[&str] = &[
    "RequestReceived",
    "ResponseStarted",
    "ResponseComplete",
    "Panic",
];

#[derive(Debug, Clone)]
struct GroupResources {
    group: String,
    resources: Vec<String>,
    names: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    level: Level,
    users: Vec<String>,
    groups: Vec<String>,
    verbs: Vec<String>,
    resources: Vec<GroupResources>,
    namespaces: Vec<String>,
    urls: Vec<String>,
    omit: Vec<String>,
}

/// A parsed policy.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    omit: Vec<String>,
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

fn check_stages(stages: &[String]) -> Result<()> {
    for s in stages {
        if !STAGES.contains(&s.as_str()) {
            bail!("unknown audit stage {s:?}");
        }
    }
    Ok(())
}

impl Policy {
    /// Reads a policy file (YAML or JSON).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --audit-policy-file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses policy text.
    pub fn parse(text: &str) -> Result<Self> {
        let y: serde_yaml::Value = serde_yaml::from_str(text).context("not YAML")?;
        let v: Value = serde_json::to_value(y)?;
        match v.get("kind").and_then(Value::as_str) {
            Some("Policy") => {}
            other => bail!("expected kind Policy, got {other:?}"),
        }
        match v.get("apiVersion").and_then(Value::as_str) {
            Some("audit.k8s.io/v1") => {}
            other => bail!("expected apiVersion audit.k8s.io/v1, got {other:?}"),
        }
        let omit = strings(v.get("omitStages"));
        check_stages(&omit)?;
        let mut rules = Vec::new();
        for (i, r) in v
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let level = Level::parse(r.get("level").and_then(Value::as_str).unwrap_or(""))
                .with_context(|| format!("rules[{i}].level"))?;
            let omit = strings(r.get("omitStages"));
            check_stages(&omit)?;
            let resources = r
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|g| GroupResources {
                    group: g
                        .get("group")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    resources: strings(g.get("resources")),
                    names: strings(g.get("resourceNames")),
                })
                .collect();
            let rule = Rule {
                level,
                users: strings(r.get("users")),
                groups: strings(r.get("userGroups")),
                verbs: strings(r.get("verbs")),
                resources,
                namespaces: strings(r.get("namespaces")),
                urls: strings(r.get("nonResourceURLs")),
                omit,
            };
            if !rule.urls.is_empty() && (!rule.resources.is_empty() || !rule.namespaces.is_empty())
            {
                bail!(
                    "rules[{i}]: rules cannot apply to both regular resources and non-resource URLs"
                );
            }
            rules.push(rule);
        }
        Ok(Policy { rules, omit })
    }

    /// The level and omitted stages for a request (None if no rule
    /// matches).
    pub fn evaluate(&self, a: &Attributes) -> (Level, Vec<String>) {
        for r in &self.rules {
            if r.matches(a) {
                let mut omit = self.omit.clone();
                omit.extend(r.omit.iter().cloned());
                return (r.level, omit);
            }
        }
        (Level::None, Vec::new())
    }
}

impl Rule {
    fn matches(&self, a: &Attributes) -> bool {
        if !self.users.is_empty() && !self.users.contains(&a.user.name) {
            return false;
        }
        if !self.groups.is_empty() && !a.user.groups.iter().any(|g| self.groups.contains(g)) {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.contains(&a.verb) {
            return false;
        }
        if !a.resource_request {
            if !self.resources.is_empty() || !self.namespaces.is_empty() {
                return false;
            }
            return self.urls.is_empty()
                || self.urls.iter().any(|u| {
                    u == &a.path || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
                });
        }
        if !self.urls.is_empty() {
            return false;
        }
        if !self.namespaces.is_empty() && !self.namespaces.contains(&a.namespace) {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        let full = a.full_resource();
        self.resources.iter().any(|g| {
            g.group == a.api_group
                && (g.resources.is_empty()
                    || g.resources.iter().any(|r| {
                        r == "*"
                            || r == &full
                            || r.strip_prefix("*/").is_some_and(|s| s == a.subresource)
                            || r.strip_suffix("/*").is_some_and(|b| b == a.resource)
                    }))
                && (g.names.is_empty() || g.names.contains(&a.name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;

    #[test]
    fn first_matching_rule_wins() {
        let p = Policy::parse(
            r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["secrets"]
- level: None
  users: ["system:kube-proxy"]
- level: Metadata
"#,
        )
        .unwrap();
        let u = UserInfo::new("alice", &[]);
        let nr = |p: &str| Attributes::non_resource(&u, "get", p);
        assert_eq!(p.evaluate(&nr("/healthz/etcd")).0, Level::None);
        assert_eq!(p.evaluate(&nr("/metrics")).0, Level::Metadata);
        let s = Attributes::resource(&u, "get", "", "secrets", "d", "x");
        let (level, omit) = p.evaluate(&s);
        assert_eq!(level, Level::RequestResponse);
        assert_eq!(omit, ["RequestReceived"]);
        let proxy = UserInfo::new("system:kube-proxy", &[]);
        assert_eq!(
            p.evaluate(&Attributes::resource(
                &proxy, "list", "", "services", "", ""
            ))
            .0,
            Level::None
        );
        assert!(
            Policy::parse("kind: Policy\napiVersion: audit.k8s.io/v1\nrules:\n- level: Loud\n")
                .is_err()
        );
        assert!(Policy::parse("kind: Nope\n").is_err());
    }
}
