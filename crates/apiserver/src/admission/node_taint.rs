//! TaintNodesByCondition: a new Node starts with the
//! `node.kubernetes.io/not-ready:NoSchedule` taint, so nothing is scheduled
//! onto it before its kubelet reports Ready; the node lifecycle controller
//! removes the taint once the Ready condition is True.

use serde_json::{Value, json};

use super::{Operation, Request};

/// The taint key (upstream `v1.TaintNodeNotReady`).
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";

/// Adds the not-ready taint to a Node being created, unless a taint with
/// that key and effect is already there (upstream's `MatchTaint`).
pub fn admit(req: &Request<'_>, obj: &mut Value) {
    if req.operation != Operation::Create || !req.is("", "nodes") {
        return;
    }
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let spec = root.entry("spec").or_insert_with(|| json!({}));
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let taints = spec.entry("taints").or_insert_with(|| json!([]));
    if taints.is_null() {
        *taints = json!([]);
    }
    let Some(taints) = taints.as_array_mut() else {
        return;
    };
    let present = taints.iter().any(|t| {
        t.get("key").and_then(Value::as_str) == Some(NOT_READY)
            && t.get("effect").and_then(Value::as_str) == Some("NoSchedule")
    });
    if !present {
        taints.push(json!({"key": NOT_READY, "effect": "NoSchedule"}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;

    fn req<'a>(user: &'a UserInfo, operation: Operation, subresource: &'static str) -> Request<'a> {
        Request {
            user,
            operation,
            group: "",
            resource: "nodes",
            subresource,
            namespace: "",
            name: "n1",
            dry_run: false,
        }
    }

    #[test]
    fn new_nodes_get_the_not_ready_taint_once() {
        let user = UserInfo::default();
        let mut node = json!({"metadata": {"name": "n1"}});
        admit(&req(&user, Operation::Create, ""), &mut node);
        assert_eq!(
            node["spec"]["taints"],
            json!([{"key": NOT_READY, "effect": "NoSchedule"}])
        );
        // Already there (with a value and a time): left alone.
        let mut node = json!({"spec": {"taints": [
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            {"key": NOT_READY, "value": "x", "effect": "NoSchedule"},
        ]}});
        let before = node.clone();
        admit(&req(&user, Operation::Create, ""), &mut node);
        assert_eq!(node, before);
        // The NoExecute taint of the same key is another taint.
        let mut node = json!({"spec": {"taints": [{"key": NOT_READY, "effect": "NoExecute"}]}});
        admit(&req(&user, Operation::Create, ""), &mut node);
        assert_eq!(node["spec"]["taints"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn updates_and_status_writes_are_not_tainted() {
        let user = UserInfo::default();
        for (op, sub) in [(Operation::Update, ""), (Operation::Create, "status")] {
            let mut node = json!({"spec": {}});
            admit(&req(&user, op, sub), &mut node);
            assert_eq!(node, json!({"spec": {}}));
        }
    }
}
