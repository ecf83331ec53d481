//! The Node authorizer: a kubelet (`system:node:<name>` in `system:nodes`)
//! may read its own Node and the Pods bound to it, and only the Secrets,
//! ConfigMaps, PersistentVolumeClaims/Volumes and ServiceAccount tokens
//! those Pods use; everything else is judged by the static `system:node`
//! rules. Upstream keeps a graph of these relations; Corten derives them
//! from the pod watch cache on demand (pods are indexed by `spec.nodeName`,
//! so only the node's own pods are decoded).

use std::sync::Arc;

use corten_storage::{CachedObject, ListRequest};
use serde_json::Value;

use super::{Attributes, Decision};
use crate::auth::policy::node_rules;
use crate::registry::Registry;

fn no_relationship(node: &str) -> Decision {
    Decision::NoOpinion(format!(
        "no relationship found between node '{node}' and this object"
    ))
}

/// The value of `key=value` in a field selector (`metadata.name=x`).
pub fn field_selector_value<'a>(selector: &'a str, key: &str) -> Option<&'a str> {
    selector.split(',').find_map(|req| {
        let (k, v) = req.split_once('=')?;
        let k = k.trim_end_matches('=');
        let v = v.trim_start_matches('=');
        (k.trim() == key).then(|| v.trim())
    })
}

fn static_rules(a: &Attributes) -> Decision {
    if node_rules().iter().any(|r| r.allows(a)) {
        Decision::Allow("allowed by the node rules".into())
    } else {
        Decision::NoOpinion(String::new())
    }
}

/// The pods bound to `node` (in `namespace` if given), decoded.
fn pods_on(reg: &Registry, node: &str, namespace: Option<&str>) -> Vec<Value> {
    let Some(cache) = reg.cache("pods") else {
        return Vec::new();
    };
    let prefix = match namespace {
        Some(ns) => format!("pods/{ns}/"),
        None => "pods/".to_string(),
    };
    let listed = cache.list(&ListRequest {
        prefix,
        filter: Default::default(),
        start_after: None,
        limit: None,
    });
    listed
        .items
        .iter()
        .filter(|o: &&Arc<CachedObject>| o.field("spec.nodeName") == Some(node))
        .filter_map(|o| serde_json::from_slice(&o.json).ok())
        .collect()
}

/// What a pod references, by kind.
#[derive(Debug, Default)]
pub struct PodRefs {
    /// Secret names.
    pub secrets: Vec<String>,
    /// ConfigMap names.
    pub configmaps: Vec<String>,
    /// PersistentVolumeClaim names.
    pub claims: Vec<String>,
}

fn push(list: &mut Vec<String>, v: Option<&Value>) {
    if let Some(s) = v.and_then(Value::as_str)
        && !s.is_empty()
        && !list.iter().any(|x| x == s)
    {
        list.push(s.to_string());
    }
}

/// Collects the Secrets, ConfigMaps and claims a pod uses (volumes,
/// projected sources, env, envFrom, image pull secrets).
pub fn pod_refs(pod: &Value) -> PodRefs {
    let mut r = PodRefs::default();
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    let arr = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for s in arr(&spec, "imagePullSecrets") {
        push(&mut r.secrets, s.get("name"));
    }
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    for vol in arr(&spec, "volumes") {
        push(&mut r.secrets, vol.pointer("/secret/secretName"));
        push(&mut r.configmaps, vol.pointer("/configMap/name"));
        push(
            &mut r.claims,
            vol.pointer("/persistentVolumeClaim/claimName"),
        );
        if vol.get("ephemeral").is_some()
            && let Some(n) = vol.get("name").and_then(Value::as_str)
        {
            r.claims.push(format!("{pod_name}-{n}"));
        }
        for key in [
            "/csi/nodePublishSecretRef/name",
            "/rbd/secretRef/name",
            "/cephfs/secretRef/name",
            "/flexVolume/secretRef/name",
            "/iscsi/secretRef/name",
            "/scaleIO/secretRef/name",
            "/storageos/secretRef/name",
            "/azureFile/secretName",
        ] {
            push(&mut r.secrets, vol.pointer(key));
        }
        for src in vol
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(&mut r.secrets, src.pointer("/secret/name"));
            push(&mut r.configmaps, src.pointer("/configMap/name"));
        }
    }
    for kind in ["containers", "initContainers", "ephemeralContainers"] {
        for c in arr(&spec, kind) {
            for e in arr(&c, "env") {
                push(&mut r.secrets, e.pointer("/valueFrom/secretKeyRef/name"));
                push(
                    &mut r.configmaps,
                    e.pointer("/valueFrom/configMapKeyRef/name"),
                );
            }
            for e in arr(&c, "envFrom") {
                push(&mut r.secrets, e.pointer("/secretRef/name"));
                push(&mut r.configmaps, e.pointer("/configMapRef/name"));
            }
        }
    }
    r
}

/// The object name of a request: the path name, or for list/watch the
/// `metadata.name` field selector.
fn target_name(a: &Attributes) -> Option<&str> {
    if !a.name.is_empty() {
        return Some(&a.name);
    }
    if matches!(a.verb.as_str(), "list" | "watch") {
        return field_selector_value(&a.field_selector, "metadata.name");
    }
    None
}

/// Node authorizer decision.
pub fn authorize(reg: &Registry, a: &Attributes) -> Decision {
    let Some(node) = a.user.node_name() else {
        if a.user.in_group(crate::auth::NODES_GROUP) {
            return Decision::NoOpinion(format!("unknown node for user {:?}", a.user.name));
        }
        return Decision::NoOpinion(String::new());
    };
    if !a.resource_request {
        return static_rules(a);
    }
    match (a.api_group.as_str(), a.resource.as_str()) {
        ("", "secrets") | ("", "configmaps") => {
            if !matches!(a.verb.as_str(), "get" | "list" | "watch") {
                return Decision::NoOpinion(format!("can only read {}", a.resource));
            }
            let Some(name) = target_name(a) else {
                return Decision::NoOpinion(
                    "can only get individual resources of this type".into(),
                );
            };
            let related = pods_on(reg, node, Some(&a.namespace)).iter().any(|p| {
                let r = pod_refs(p);
                let list = if a.resource == "secrets" {
                    r.secrets
                } else {
                    r.configmaps
                };
                list.iter().any(|n| n == name)
            });
            if related {
                Decision::Allow(String::new())
            } else {
                no_relationship(node)
            }
        }
        ("", "persistentvolumeclaims") => {
            let allowed_verbs: &[&str] = if a.subresource == "status" {
                &["get", "update", "patch"]
            } else {
                &["get"]
            };
            if !allowed_verbs.contains(&a.verb.as_str()) {
                return Decision::NoOpinion("can only get persistentvolumeclaims".into());
            }
            let related = pods_on(reg, node, Some(&a.namespace))
                .iter()
                .any(|p| pod_refs(p).claims.iter().any(|c| c == &a.name));
            if related {
                Decision::Allow(String::new())
            } else {
                no_relationship(node)
            }
        }
        ("", "persistentvolumes") => {
            if a.verb != "get" {
                return Decision::NoOpinion("can only get persistentvolumes".into());
            }
            let related = pods_on(reg, node, None).iter().any(|p| {
                let ns = p
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                pod_refs(p).claims.iter().any(|c| {
                    crate::registry::Registry::cache(reg, "persistentvolumeclaims")
                        .and_then(|cache| cache.get(&format!("persistentvolumeclaims/{ns}/{c}")))
                        .and_then(|o| serde_json::from_slice::<Value>(&o.json).ok())
                        .and_then(|pvc| {
                            pvc.pointer("/spec/volumeName")
                                .and_then(Value::as_str)
                                .map(|v| v == a.name)
                        })
                        .unwrap_or(false)
                })
            });
            if related {
                Decision::Allow(String::new())
            } else {
                no_relationship(node)
            }
        }
        ("", "serviceaccounts") if a.subresource == "token" => {
            if a.verb != "create" {
                return Decision::NoOpinion("can only create tokens".into());
            }
            let related = pods_on(reg, node, Some(&a.namespace)).iter().any(|p| {
                p.pointer("/spec/serviceAccountName")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    == a.name
            });
            if related {
                Decision::Allow(String::new())
            } else {
                no_relationship(node)
            }
        }
        ("", "pods") if a.subresource.is_empty() => match a.verb.as_str() {
            "get" => {
                let on_node = reg
                    .cache("pods")
                    .and_then(|c| c.get(&format!("pods/{}/{}", a.namespace, a.name)))
                    .is_some_and(|o| o.field("spec.nodeName") == Some(node));
                if on_node {
                    Decision::Allow(String::new())
                } else {
                    no_relationship(node)
                }
            }
            "list" | "watch" => {
                if field_selector_value(&a.field_selector, "spec.nodeName") == Some(node) {
                    Decision::Allow(String::new())
                } else {
                    Decision::NoOpinion(
                        "can only list/watch pods with spec.nodeName field selector".into(),
                    )
                }
            }
            _ => static_rules(a),
        },
        ("", "nodes") if a.subresource.is_empty() => match a.verb.as_str() {
            "get" if a.name == node => Decision::Allow(String::new()),
            "list" | "watch"
                if field_selector_value(&a.field_selector, "metadata.name") == Some(node) =>
            {
                Decision::Allow(String::new())
            }
            "get" | "list" | "watch" => Decision::NoOpinion(format!(
                "node '{node}' cannot read '{}', only its own Node object",
                if a.name.is_empty() {
                    "all nodes"
                } else {
                    &a.name
                }
            )),
            _ => static_rules(a),
        },
        ("coordination.k8s.io", "leases") => {
            let own = a.namespace == "kube-node-lease"
                && (a.name == node || (a.verb == "create" && a.name.is_empty()));
            if own
                && matches!(
                    a.verb.as_str(),
                    "get" | "create" | "update" | "patch" | "delete"
                )
            {
                Decision::Allow(String::new())
            } else {
                Decision::NoOpinion(
                    "can only access node lease with the same name as the requesting node".into(),
                )
            }
        }
        ("storage.k8s.io", "csinodes") => {
            let own = a.name == node || (a.verb == "create" && a.name.is_empty());
            if own
                && matches!(
                    a.verb.as_str(),
                    "get" | "create" | "update" | "patch" | "delete"
                )
            {
                Decision::Allow(String::new())
            } else {
                Decision::NoOpinion(
                    "can only access CSINode with the same name as the requesting node".into(),
                )
            }
        }
        _ => static_rules(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_references_are_found() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [
                {"name": "a", "secret": {"secretName": "s1"}},
                {"name": "b", "configMap": {"name": "c1"}},
                {"name": "c", "persistentVolumeClaim": {"claimName": "claim"}},
                {"name": "d", "projected": {"sources": [{"secret": {"name": "s2"}}, {"configMap": {"name": "kube-root-ca.crt"}}]}},
                {"name": "e", "ephemeral": {}},
            ],
            "containers": [{"name": "x", "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "k"}}}],
                            "envFrom": [{"configMapRef": {"name": "c2"}}]}],
        }});
        let r = pod_refs(&pod);
        assert_eq!(r.secrets, ["pull", "s1", "s2", "s3"]);
        assert_eq!(r.configmaps, ["c1", "kube-root-ca.crt", "c2"]);
        assert_eq!(r.claims, ["claim", "p-e"]);
    }

    #[test]
    fn field_selectors() {
        assert_eq!(
            field_selector_value("spec.nodeName=n1", "spec.nodeName"),
            Some("n1")
        );
        assert_eq!(
            field_selector_value("a=b,metadata.name==x", "metadata.name"),
            Some("x")
        );
        assert_eq!(field_selector_value("", "metadata.name"), None);
    }
}
