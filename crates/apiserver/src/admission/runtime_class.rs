//! RuntimeClass: a new pod naming `spec.runtimeClassName` gets that
//! class's `overhead.podFixed` as `spec.overhead` and its
//! `scheduling.nodeSelector` and `scheduling.tolerations` merged into its
//! own; a class that does not exist refuses the pod. The validating half
//! makes sure `spec.overhead` is exactly the class's (nobody else may set
//! it).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use corten_apimachinery::StatusError;
use corten_apimachinery::quantity::Quantity;
use serde_json::{Map, Value, json};

use super::{Operation, Request};
use crate::app::ApiServer;
use crate::auth::serviceaccount::lookup;

const OVERHEAD_MISMATCH: &str =
    "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead";
const OVERHEAD_WITHOUT_CLASS: &str =
    "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead";

fn applies(req: &Request<'_>) -> bool {
    req.operation == Operation::Create && req.is("", "pods")
}

/// The pod's RuntimeClass, None when it names none; a 403 when the named
/// class does not exist.
async fn class_of(
    server: &ApiServer,
    req: &Request<'_>,
    pod: &Value,
) -> Result<Option<Value>, StatusError> {
    let Some(name) = pod
        .pointer("/spec/runtimeClassName")
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    // `lookup` reads etcd when the cache has not seen the class yet, like
    // upstream's live lookup after a lister miss.
    match lookup(
        &server.registry,
        "runtimeclasses",
        &format!("runtimeclasses/{name}"),
    )
    .await
    {
        Some(rc) => Ok(Some(rc)),
        None => Err(req.forbidden(&format!("pod rejected: RuntimeClass {name:?} not found"))),
    }
}

/// `overhead.podFixed` of a class that defines an overhead.
fn pod_fixed(rc: &Value) -> Option<Value> {
    let overhead = rc.get("overhead").filter(|o| !o.is_null())?;
    Some(overhead.get("podFixed").cloned().unwrap_or(Value::Null))
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        _ => false,
    }
}

/// Upstream's semantic equality of two resource lists: the same names with
/// equal quantities; nil and empty are the same.
pub fn same_resources(a: Option<&Value>, b: Option<&Value>) -> bool {
    if is_empty(a) || is_empty(b) {
        return is_empty(a) && is_empty(b);
    }
    let (Some(a), Some(b)) = (a.and_then(Value::as_object), b.and_then(Value::as_object)) else {
        return false;
    };
    a.len() == b.len()
        && a.iter().all(|(k, va)| {
            let q = |v: &Value| v.as_str().and_then(|s| Quantity::parse(s).ok());
            match (q(va), b.get(k).and_then(q)) {
                (Some(x), Some(y)) => x.cmp_value(&y) == Ordering::Equal,
                _ => false,
            }
        })
}

/// Sets overhead and scheduling constraints of a new pod from its class.
pub async fn admit(
    server: &ApiServer,
    req: &Request<'_>,
    pod: &mut Value,
) -> Result<(), StatusError> {
    if !applies(req) {
        return Ok(());
    }
    let Some(rc) = class_of(server, req, pod).await? else {
        return Ok(());
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if let Some(fixed) = pod_fixed(&rc) {
        if spec.get("overhead").is_some_and(|o| !o.is_null())
            && !same_resources(Some(&fixed), spec.get("overhead"))
        {
            return Err(req.forbidden(OVERHEAD_MISMATCH));
        }
        if is_empty(Some(&fixed)) {
            spec.remove("overhead");
        } else {
            spec.insert("overhead".into(), fixed);
        }
    }
    if let Some(scheduling) = rc.get("scheduling").filter(|s| !s.is_null()) {
        merge_scheduling(req, spec, scheduling)?;
    }
    Ok(())
}

fn merge_scheduling(
    req: &Request<'_>,
    spec: &mut Map<String, Value>,
    scheduling: &Value,
) -> Result<(), StatusError> {
    let class_selector: BTreeMap<String, String> = scheduling
        .get("nodeSelector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let pod_selector = spec.get("nodeSelector").and_then(Value::as_object).cloned();
    match pod_selector {
        None => {
            if !class_selector.is_empty() {
                spec.insert("nodeSelector".into(), json!(class_selector));
            }
        }
        Some(mut selector) => {
            for (key, value) in &class_selector {
                if let Some(pod_value) = selector.get(key).and_then(Value::as_str)
                    && pod_value != value
                {
                    return Err(req.forbidden(&format!(
                        "conflict: runtimeClass.scheduling.nodeSelector[{key}] = {value}; pod.spec.nodeSelector[{key}] = {pod_value}"
                    )));
                }
                selector.insert(key.clone(), json!(value));
            }
            spec.insert("nodeSelector".into(), Value::Object(selector));
        }
    }
    let pod_tolerations: Vec<Value> = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let class_tolerations: Vec<Value> = scheduling
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let merged = merge_tolerations(&pod_tolerations, &class_tolerations);
    if merged.is_empty() {
        spec.remove("tolerations");
    } else {
        spec.insert("tolerations".into(), Value::Array(merged));
    }
    Ok(())
}

/// A toleration with unset fields read as upstream's zero values.
#[derive(Debug, PartialEq)]
struct Toleration<'a> {
    key: &'a str,
    operator: &'a str,
    value: &'a str,
    effect: &'a str,
    seconds: Option<i64>,
}

impl<'a> Toleration<'a> {
    fn of(v: &'a Value) -> Self {
        let s = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or("");
        Toleration {
            key: s("key"),
            operator: s("operator"),
            value: s("value"),
            effect: s("effect"),
            seconds: v.get("tolerationSeconds").and_then(Value::as_i64),
        }
    }

    /// Upstream `isSuperset`: whether `self` tolerates everything `t` does.
    fn covers(&self, t: &Toleration<'_>) -> bool {
        if self == t {
            return true;
        }
        // An empty key with Exists matches every key.
        if t.key != self.key && (!self.key.is_empty() || self.operator != "Exists") {
            return false;
        }
        // An empty effect matches every effect.
        if t.effect != self.effect && !self.effect.is_empty() {
            return false;
        }
        if self.effect == "NoExecute"
            && let Some(mine) = self.seconds
            && t.seconds.is_none_or(|theirs| theirs > mine)
        {
            return false;
        }
        match self.operator {
            "Equal" | "" => t.operator == "Equal" && t.value == self.value,
            "Exists" => true,
            _ => false,
        }
    }
}

/// Upstream `MergeTolerations`: both lists, without any toleration another
/// one already covers (of two equal ones the first stays).
pub fn merge_tolerations(first: &[Value], second: &[Value]) -> Vec<Value> {
    let all: Vec<&Value> = first.iter().chain(second).collect();
    let mut merged: Vec<&Value> = Vec::new();
    'next: for (i, v) in all.iter().copied().enumerate() {
        let t = Toleration::of(v);
        if merged.iter().any(|m| Toleration::of(m).covers(&t)) {
            continue;
        }
        for later in &all[i + 1..] {
            let l = Toleration::of(later);
            if l != t && l.covers(&t) {
                continue 'next;
            }
        }
        merged.push(v);
    }
    merged.into_iter().cloned().collect()
}

/// Refuses a new pod whose `spec.overhead` is not its class's.
pub async fn validate(
    server: &ApiServer,
    req: &Request<'_>,
    pod: &Value,
) -> Result<(), StatusError> {
    if !applies(req) {
        return Ok(());
    }
    let rc = class_of(server, req, pod).await?;
    let overhead = pod.pointer("/spec/overhead").filter(|o| !o.is_null());
    match rc.as_ref().and_then(pod_fixed) {
        Some(fixed) => {
            if !same_resources(Some(&fixed), overhead) {
                return Err(req.forbidden(OVERHEAD_MISMATCH));
            }
        }
        None => {
            if overhead.is_some() {
                return Err(req.forbidden(OVERHEAD_WITHOUT_CLASS));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;

    fn req(user: &UserInfo) -> Request<'_> {
        Request {
            user,
            operation: Operation::Create,
            group: "",
            resource: "pods",
            subresource: "",
            namespace: "d",
            name: "p",
            dry_run: false,
        }
    }

    #[test]
    fn resource_lists_compare_by_quantity() {
        let a = json!({"cpu": "250m", "memory": "1Gi"});
        let b = json!({"memory": "1024Mi", "cpu": "0.25"});
        assert!(same_resources(Some(&a), Some(&b)));
        assert!(!same_resources(Some(&a), Some(&json!({"cpu": "250m"}))));
        assert!(same_resources(None, Some(&json!({}))));
        assert!(!same_resources(None, Some(&a)));
    }

    #[test]
    fn tolerations_merge_like_upstream() {
        let pod = [
            json!({"key": "a", "operator": "Equal", "value": "1", "effect": "NoSchedule"}),
            json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
        ];
        let class = [
            // Covers the pod's `a=1:NoSchedule`: only this one stays.
            json!({"key": "a", "operator": "Exists"}),
            // Equal to the pod's second one: the pod's (first) stays.
            json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
            json!({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}),
        ];
        let merged = merge_tolerations(&pod, &class);
        assert_eq!(
            merged,
            vec![pod[1].clone(), class[0].clone(), class[2].clone()]
        );
        // A shorter NoExecute toleration does not cover a longer one.
        let short = json!({"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10});
        let long = json!({"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60});
        assert_eq!(
            merge_tolerations(std::slice::from_ref(&long), std::slice::from_ref(&short)),
            vec![long.clone()]
        );
        // Match-everything covers all.
        let all = json!({"operator": "Exists"});
        assert_eq!(
            merge_tolerations(&pod, std::slice::from_ref(&all)),
            vec![all.clone()]
        );
    }

    #[test]
    fn node_selectors_merge_and_conflicts_are_refused() {
        let user = UserInfo::default();
        let scheduling = json!({"nodeSelector": {"sandbox": "true", "zone": "a"}, "tolerations": [{"key": "sandbox", "operator": "Exists"}]});
        let mut spec = json!({"nodeSelector": {"zone": "a", "disk": "ssd"}})
            .as_object()
            .unwrap()
            .clone();
        merge_scheduling(&req(&user), &mut spec, &scheduling).unwrap();
        assert_eq!(
            spec["nodeSelector"],
            json!({"disk": "ssd", "sandbox": "true", "zone": "a"})
        );
        assert_eq!(
            spec["tolerations"],
            json!([{"key": "sandbox", "operator": "Exists"}])
        );
        let mut spec = json!({"nodeSelector": {"zone": "b"}})
            .as_object()
            .unwrap()
            .clone();
        let e = merge_scheduling(&req(&user), &mut spec, &scheduling).unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[zone] = a; pod.spec.nodeSelector[zone] = b"
        );
    }
}
