//! DefaultTolerationSeconds: pods tolerate `node.kubernetes.io/not-ready`
//! and `node.kubernetes.io/unreachable` (NoExecute) for 300 seconds unless
//! they say otherwise.

use serde_json::{Value, json};

use super::{Operation, Request};

/// The default `tolerationSeconds` (upstream's
/// `--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`).
pub const DEFAULT_SECONDS: i64 = 300;

const KEYS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// Adds the missing default tolerations to a new pod.
pub fn admit(req: &Request<'_>, obj: &mut Value) {
    if req.operation != Operation::Create || !req.is("", "pods") {
        return;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let list = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    for key in KEYS {
        let present = list.iter().any(|t| {
            t.get("key").and_then(Value::as_str) == Some(key)
                && matches!(
                    t.get("effect").and_then(Value::as_str),
                    None | Some("") | Some("NoExecute")
                )
        });
        if !present {
            list.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_SECONDS,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;

    #[test]
    fn adds_missing_tolerations_once() {
        let user = UserInfo::default();
        let req = Request {
            user: &user,
            operation: Operation::Create,
            group: "",
            resource: "pods",
            subresource: "",
            namespace: "d",
            name: "p",
            dry_run: false,
        };
        let mut pod = json!({"spec": {"tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]}});
        admit(&req, &mut pod);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1]["key"], "node.kubernetes.io/not-ready");
        assert_eq!(t[1]["tolerationSeconds"], 300);
    }
}
