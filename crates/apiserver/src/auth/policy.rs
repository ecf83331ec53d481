//! The RBAC bootstrap policy (`policy.txt`) and its reconciliation at
//! startup, like upstream's `rbac/bootstrap-roles` post-start hook: missing
//! roles and bindings are created; existing ones whose
//! `rbac.authorization.kubernetes.io/autoupdate` annotation is not `false`
//! get missing rules, subjects, labels and annotations added (nothing is
//! removed).

use std::sync::OnceLock;

use corten_apimachinery::{StatusError, meta};
use serde_json::{Map, Value, json};

use super::authz::rules::PolicyRule;
use crate::app::ApiServer;
use crate::registry::store::{self, UpdateTarget, WriteOptions};

const POLICY: &str = include_str!("policy.txt");
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

/// One bootstrap object.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyObject {
    /// `clusterroles`, `clusterrolebindings`, `roles` or `rolebindings`.
    pub resource: &'static str,
    /// Namespace for Roles and RoleBindings.
    pub namespace: Option<String>,
    /// The object.
    pub object: Value,
}

fn expand_verbs(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for v in s.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let expanded: &[&str] = match v {
            "@read" => &["get", "list", "watch"],
            "@write" => &["create", "delete", "deletecollection", "patch", "update"],
            "@all" => &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
            other => {
                out.push(other.to_string());
                continue;
            }
        };
        out.extend(expanded.iter().map(|s| s.to_string()));
    }
    out
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            if v == "-" {
                String::new()
            } else {
                v.to_string()
            }
        })
        .collect()
}

fn subject(s: &str) -> Result<Value, String> {
    let (kind, rest) = s.split_once(':').ok_or(format!("bad subject {s}"))?;
    Ok(match kind {
        "User" | "Group" => json!({"kind": kind, "apiGroup": RBAC_GROUP, "name": rest}),
        "SA" => {
            let (ns, name) = rest.split_once('/').ok_or(format!("bad subject {s}"))?;
            json!({"kind": "ServiceAccount", "name": name, "namespace": ns})
        }
        _ => return Err(format!("bad subject kind in {s}")),
    })
}

fn base_meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {AUTOUPDATE: "true"},
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// Parses the policy text (errors name the line).
pub fn parse(text: &str) -> Result<Vec<PolicyObject>, String> {
    let mut out: Vec<PolicyObject> = Vec::new();
    // Index into `out` of the role the indented lines belong to.
    let mut current: Option<usize> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |m: &str| format!("policy line {}: {m}", n + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        let indented = raw.starts_with(' ');
        if indented {
            let idx = current.ok_or_else(|| err("rule outside a role"))?;
            let obj = &mut out[idx].object;
            let rule = match words[0] {
                "label" | "aggregate" => {
                    let (k, v) = words
                        .get(1)
                        .and_then(|kv| kv.split_once('='))
                        .ok_or_else(|| err("expected K=V"))?;
                    if words[0] == "label" {
                        obj["metadata"]["labels"][k] = json!(v);
                    } else {
                        let sel = json!({"matchLabels": {k: v}});
                        match obj.pointer_mut("/aggregationRule/clusterRoleSelectors") {
                            Some(Value::Array(a)) => a.push(sel),
                            _ => obj["aggregationRule"] = json!({"clusterRoleSelectors": [sel]}),
                        }
                    }
                    continue;
                }
                "events" => PolicyRule {
                    verbs: expand_verbs("create,patch,update"),
                    api_groups: list("-,events.k8s.io"),
                    resources: list("events"),
                    ..Default::default()
                },
                "rule" => {
                    let rest = line["rule".len()..].trim();
                    let parts: Vec<&str> = rest.split('|').map(str::trim).collect();
                    if parts.len() < 3 {
                        return Err(err("rule needs GROUPS | RESOURCES | VERBS"));
                    }
                    PolicyRule {
                        api_groups: list(parts[0]),
                        resources: list(parts[1]),
                        verbs: expand_verbs(parts[2]),
                        resource_names: parts.get(3).map(|p| list(p)).unwrap_or_default(),
                        ..Default::default()
                    }
                }
                "url" => {
                    let rest = line["url".len()..].trim();
                    let (urls, verbs) = rest
                        .split_once('|')
                        .ok_or_else(|| err("url needs URLS | VERBS"))?;
                    PolicyRule {
                        non_resource_urls: list(urls),
                        verbs: expand_verbs(verbs),
                        ..Default::default()
                    }
                }
                other => return Err(err(&format!("unknown directive {other}"))),
            };
            match obj.get_mut("rules") {
                Some(Value::Array(a)) => a.push(rule.to_json()),
                _ => obj["rules"] = json!([rule.to_json()]),
            }
            continue;
        }
        current = None;
        match words.as_slice() {
            ["role", name] => {
                out.push(PolicyObject {
                    resource: "clusterroles",
                    namespace: None,
                    object: json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": base_meta(name, None)}),
                });
                current = Some(out.len() - 1);
            }
            ["controller", name] => {
                let role = format!("system:controller:{name}");
                out.push(PolicyObject {
                    resource: "clusterroles",
                    namespace: None,
                    object: json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": base_meta(&role, None)}),
                });
                current = Some(out.len() - 1);
                out.push(binding(
                    &role,
                    None,
                    "ClusterRole",
                    &role,
                    &[&format!("SA:kube-system/{name}")],
                )?);
            }
            ["nsrole", ns, name] => {
                out.push(PolicyObject {
                    resource: "roles",
                    namespace: Some(ns.to_string()),
                    object: json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": base_meta(name, Some(ns))}),
                });
                current = Some(out.len() - 1);
            }
            ["bind", role, subjects @ ..] => {
                out.push(binding(role, None, "ClusterRole", role, subjects).map_err(|e| err(&e))?)
            }
            ["nsbind", ns, name, kind, role, subjects @ ..] => {
                out.push(binding(name, Some(ns), kind, role, subjects).map_err(|e| err(&e))?)
            }
            _ => return Err(err(&format!("cannot parse {line:?}"))),
        }
    }
    Ok(out)
}

fn binding(
    name: &str,
    namespace: Option<&str>,
    role_kind: &str,
    role: &str,
    subjects: &[&str],
) -> Result<PolicyObject, String> {
    let subjects: Vec<Value> = subjects
        .iter()
        .map(|s| subject(s))
        .collect::<Result<_, _>>()?;
    let (resource, kind) = match namespace {
        Some(_) => ("rolebindings", "RoleBinding"),
        None => ("clusterrolebindings", "ClusterRoleBinding"),
    };
    let mut object = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": base_meta(name, namespace),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role},
    });
    if !subjects.is_empty() {
        object["subjects"] = json!(subjects);
    }
    Ok(PolicyObject {
        resource,
        namespace: namespace.map(str::to_string),
        object,
    })
}

/// The bootstrap policy (parsed once).
pub fn bootstrap_policy() -> &'static [PolicyObject] {
    static POLICY_OBJECTS: OnceLock<Vec<PolicyObject>> = OnceLock::new();
    POLICY_OBJECTS.get_or_init(|| match parse(POLICY) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "the built-in RBAC bootstrap policy does not parse");
            Vec::new()
        }
    })
}

/// The rules of the `system:node` ClusterRole (the Node authorizer's
/// static rules).
pub fn node_rules() -> &'static [PolicyRule] {
    static RULES: OnceLock<Vec<PolicyRule>> = OnceLock::new();
    RULES.get_or_init(|| {
        bootstrap_policy()
            .iter()
            .find(|p| p.resource == "clusterroles" && meta::name(&p.object) == Some("system:node"))
            .map(|p| PolicyRule::list_from(&p.object))
            .unwrap_or_default()
    })
}

/// Adds to `existing` what `wanted` has and it lacks; returns whether
/// anything changed.
fn merge_into(existing: &mut Value, wanted: &Value) -> bool {
    let mut changed = false;
    for field in ["labels", "annotations"] {
        if let Some(Value::Object(w)) = wanted.pointer(&format!("/metadata/{field}")) {
            let Some(md) = meta::metadata_mut(existing) else {
                continue;
            };
            let map = md.entry(field).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = map {
                for (k, v) in w {
                    if !m.contains_key(k) {
                        m.insert(k.clone(), v.clone());
                        changed = true;
                    }
                }
            }
        }
    }
    for list_field in ["rules", "subjects"] {
        // Aggregated roles get their rules from the aggregator.
        if list_field == "rules" && wanted.get("aggregationRule").is_some() {
            continue;
        }
        if let Some(Value::Array(w)) = wanted.get(list_field) {
            let entry = existing
                .as_object_mut()
                .map(|o| o.entry(list_field).or_insert_with(|| json!([])));
            if let Some(Value::Array(have)) = entry {
                for item in w {
                    if !have.contains(item) {
                        have.push(item.clone());
                        changed = true;
                    }
                }
            }
        }
    }
    if let Some(agg) = wanted.get("aggregationRule")
        && existing.get("aggregationRule") != Some(agg)
    {
        existing["aggregationRule"] = agg.clone();
        changed = true;
    }
    changed
}

/// Creates or reconciles every bootstrap object. Safe to run on every
/// start and by several apiservers at once.
pub async fn reconcile(server: &ApiServer) -> Result<(), StatusError> {
    let reg = &server.registry;
    for p in bootstrap_policy() {
        let res = reg
            .resource(RBAC_GROUP, "v1", p.resource)
            .ok_or_else(|| StatusError::internal(format!("{} is not served", p.resource)))?;
        let name = meta::name(&p.object).unwrap_or_default().to_string();
        let ns = p.namespace.as_deref();
        match store::get(reg, &res, ns, &name, None).await {
            Ok(bytes) => {
                let mut existing: Value =
                    serde_json::from_slice(&bytes).map_err(StatusError::internal)?;
                let auto = meta::annotations(&existing)
                    .get(AUTOUPDATE)
                    .map(|v| v != "false")
                    .unwrap_or(true);
                if !auto || !merge_into(&mut existing, &p.object) {
                    continue;
                }
                let opts = WriteOptions::default();
                if let Err(e) =
                    store::update(reg, &res, ns, &name, existing, UpdateTarget::Main, &opts).await
                    && e.code != 409
                {
                    return Err(e);
                }
            }
            Err(e) if e.code == 404 => {
                match store::create(reg, &res, ns, p.object.clone(), &WriteOptions::default()).await
                {
                    Ok(_) => {}
                    Err(e) if e.code == 409 => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_parses() {
        let p = parse(POLICY).unwrap();
        let names = |res: &str| -> Vec<String> {
            p.iter()
                .filter(|o| o.resource == res)
                .map(|o| meta::name(&o.object).unwrap_or_default().to_string())
                .collect()
        };
        let roles = names("clusterroles");
        for want in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:basic-user",
            "system:discovery",
            "system:public-info-viewer",
            "system:node",
            "system:node-proxier",
            "system:kube-scheduler",
            "system:volume-scheduler",
            "system:kube-controller-manager",
            "system:controller:replicaset-controller",
            "system:controller:namespace-controller",
        ] {
            assert!(roles.iter().any(|r| r == want), "{want} missing");
        }
        let crbs = names("clusterrolebindings");
        assert!(crbs.iter().any(|r| r == "system:controller:job-controller"));
        let admin = p
            .iter()
            .find(|o| {
                meta::name(&o.object) == Some("cluster-admin")
                    && o.resource == "clusterrolebindings"
            })
            .unwrap();
        assert_eq!(admin.object["subjects"][0]["name"], "system:masters");
        assert!(
            node_rules()
                .iter()
                .any(|r| r.resources.contains(&"nodes/status".to_string()))
        );
        assert_eq!(names("roles").len(), 7);
        assert_eq!(names("rolebindings").len(), 7);
    }

    #[test]
    fn merge_adds_only_missing_parts() {
        let mut have =
            json!({"metadata": {"name": "r", "labels": {"a": "1"}}, "rules": [{"verbs": ["get"]}]});
        let want = json!({"metadata": {"labels": {"a": "2", "b": "1"}}, "rules": [{"verbs": ["get"]}, {"verbs": ["list"]}]});
        assert!(merge_into(&mut have, &want));
        assert_eq!(have["metadata"]["labels"], json!({"a": "1", "b": "1"}));
        assert_eq!(have["rules"].as_array().unwrap().len(), 2);
        assert!(!merge_into(&mut have, &want));
        assert!(parse("bogus line").is_err());
        assert!(parse("  rule - | pods | get").is_err());
    }
}
