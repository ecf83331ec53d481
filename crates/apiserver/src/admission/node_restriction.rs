//! NodeRestriction: a kubelet (`system:node:<name>`) may only modify its
//! own Node object, its own Lease and CSINode, the status of pods bound to
//! it, create mirror pods for itself, evict or delete its own pods, and
//! request ServiceAccount tokens bound to pods on its node.

use corten_apimachinery::StatusError;
use serde_json::Value;

use super::service_account::MIRROR_ANNOTATION;
use super::{Operation, Request};
use crate::app::ApiServer;
use crate::auth::serviceaccount::lookup;

/// Label prefixes a node may not set on itself (upstream's
/// `node-restriction.kubernetes.io/` and the kubelet-reserved ones it
/// must not grant itself).
const FORBIDDEN_LABEL_PREFIXES: &[&str] = &["node-restriction.kubernetes.io/"];

fn node_of(pod: Option<&Value>) -> &str {
    pod.and_then(|p| p.pointer("/spec/nodeName"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Checks a node's write.
pub async fn validate(
    server: &ApiServer,
    req: &Request<'_>,
    obj: Option<&Value>,
    old: Option<&Value>,
) -> Result<(), StatusError> {
    let Some(node) = req.user.node_name() else {
        return Ok(());
    };
    let deny = |msg: String| Err(req.forbidden(&msg));
    match (req.group, req.resource, req.subresource) {
        ("", "pods", "") => match req.operation {
            Operation::Create => {
                let Some(pod) = obj else { return Ok(()) };
                let mirror = pod
                    .pointer(&format!(
                        "/metadata/annotations/{}",
                        MIRROR_ANNOTATION.replace('/', "~1")
                    ))
                    .is_some();
                if !mirror {
                    return deny(format!(
                        "pod does not have \"{MIRROR_ANNOTATION}\" annotation, node \"{node}\" can only create mirror pods"
                    ));
                }
                if node_of(Some(pod)) != node {
                    return deny(format!(
                        "node \"{node}\" can only create pods with spec.nodeName set to itself"
                    ));
                }
                Ok(())
            }
            Operation::Update => deny(format!("node \"{node}\" can only update pod status")),
            Operation::Delete => {
                if node_of(old) != node {
                    return deny(format!(
                        "node \"{node}\" can only delete pods with spec.nodeName set to itself"
                    ));
                }
                Ok(())
            }
        },
        ("", "pods", "status") => {
            if node_of(old) != node {
                return deny(format!(
                    "node \"{node}\" can only update pod status for pods with spec.nodeName set to itself"
                ));
            }
            Ok(())
        }
        ("", "pods", "eviction") => {
            let pod = lookup(
                &server.registry,
                "pods",
                &format!("pods/{}/{}", req.namespace, req.name),
            )
            .await;
            if node_of(pod.as_ref()) != node {
                return deny(format!(
                    "node \"{node}\" can only evict pods with spec.nodeName set to itself"
                ));
            }
            Ok(())
        }
        ("", "nodes", _) => {
            let target = if req.name.is_empty() {
                obj.and_then(|o| o.pointer("/metadata/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            } else {
                req.name
            };
            if target != node {
                return deny(format!(
                    "node \"{node}\" is not allowed to modify node \"{target}\""
                ));
            }
            if let Some(labels) = obj
                .and_then(|o| o.pointer("/metadata/labels"))
                .and_then(Value::as_object)
            {
                let old_labels = old
                    .and_then(|o| o.pointer("/metadata/labels"))
                    .and_then(Value::as_object);
                for (k, v) in labels {
                    let unchanged = old_labels.and_then(|o| o.get(k)) == Some(v);
                    if !unchanged && FORBIDDEN_LABEL_PREFIXES.iter().any(|p| k.starts_with(p)) {
                        return deny(format!("is not allowed to modify labels: {k}"));
                    }
                }
            }
            Ok(())
        }
        ("", "serviceaccounts", "token") => {
            let r = obj.and_then(|o| o.pointer("/spec/boundObjectRef"));
            let kind = r
                .and_then(|r| r.get("kind"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if kind != "Pod" {
                return deny("node requested token not bound to a pod".into());
            }
            let pod_name = r
                .and_then(|r| r.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let pod = lookup(
                &server.registry,
                "pods",
                &format!("pods/{}/{pod_name}", req.namespace),
            )
            .await;
            if node_of(pod.as_ref()) != node {
                return deny(
                    "node requested token bound to a pod scheduled on a different node".into(),
                );
            }
            Ok(())
        }
        ("coordination.k8s.io", "leases", _) if req.namespace == "kube-node-lease" => {
            let target = if req.name.is_empty() {
                obj.and_then(|o| o.pointer("/metadata/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            } else {
                req.name
            };
            if target != node {
                return deny(
                    "can only access node lease with the same name as the requesting node".into(),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
