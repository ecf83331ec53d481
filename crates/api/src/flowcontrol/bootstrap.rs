//! The configuration objects every apiserver keeps in place (upstream
//! 1.33's `apis/flowcontrol/bootstrap`): the mandatory `exempt` and
//! `catch-all` objects, and the suggested ones for system components.
//!
//! Specs are written fully defaulted, as the store would keep them, so a
//! stored object can be compared with its bootstrap value as JSON.

use serde_json::{Value, json};

use super::{AUTO_UPDATE_ANNOTATION, GROUP};

const ALL_AUTHENTICATED: &str = "system:authenticated";
const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
const KCM: &str = "system:kube-controller-manager";
const SCHEDULER: &str = "system:kube-scheduler";

fn object(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": kind,
        "metadata": {"name": name, "annotations": {AUTO_UPDATE_ANNOTATION: "true"}},
        "spec": spec,
    })
}

fn group(name: &str) -> Value {
    json!({"kind": "Group", "group": {"name": name}})
}

fn user(name: &str) -> Value {
    json!({"kind": "User", "user": {"name": name}})
}

fn kube_system_sa(name: &str) -> Value {
    json!({"kind": "ServiceAccount", "serviceAccount": {"name": name, "namespace": "kube-system"}})
}

/// Every verb on every resource (cluster-scoped too) and every
/// non-resource URL.
fn everything(subjects: Vec<Value>) -> Value {
    json!({
        "subjects": subjects,
        "resourceRules": [{
            "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
            "namespaces": ["*"], "clusterScope": true,
        }],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    })
}

fn resource_rule(verbs: &[&str], group: &str, resources: &[&str], namespace: &str) -> Value {
    json!({"verbs": verbs, "apiGroups": [group], "resources": resources, "namespaces": [namespace]})
}

fn flow_schema(
    name: &str,
    level: &str,
    precedence: i32,
    distinguisher: Option<&str>,
    rule: Value,
) -> Value {
    let mut spec = json!({
        "priorityLevelConfiguration": {"name": level},
        "matchingPrecedence": precedence,
        "rules": [rule],
    });
    if let Some(d) = distinguisher {
        spec["distinguisherMethod"] = json!({"type": d});
    }
    object("FlowSchema", name, spec)
}

fn limited(name: &str, shares: i32, lendable: i32, queuing: Option<(i32, i32)>) -> Value {
    let limit_response = match queuing {
        None => json!({"type": "Reject"}),
        Some((queues, hand)) => json!({
            "type": "Queue",
            "queuing": {"queues": queues, "handSize": hand, "queueLengthLimit": 50},
        }),
    };
    object(
        "PriorityLevelConfiguration",
        name,
        json!({
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": shares,
                "lendablePercent": lendable,
                "limitResponse": limit_response,
            },
        }),
    )
}

/// The mandatory PriorityLevelConfigurations: `exempt` and `catch-all`.
pub fn mandatory_priority_levels() -> Vec<Value> {
    vec![
        object(
            "PriorityLevelConfiguration",
            "exempt",
            json!({"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}),
        ),
        limited("catch-all", 5, 0, None),
    ]
}

/// The mandatory FlowSchemas: `exempt` (system:masters) and `catch-all`.
pub fn mandatory_flow_schemas() -> Vec<Value> {
    vec![
        flow_schema(
            "exempt",
            "exempt",
            1,
            None,
            everything(vec![group("system:masters")]),
        ),
        flow_schema(
            "catch-all",
            "catch-all",
            10_000,
            Some("ByUser"),
            everything(vec![group(ALL_UNAUTHENTICATED), group(ALL_AUTHENTICATED)]),
        ),
    ]
}

/// The suggested PriorityLevelConfigurations.
pub fn suggested_priority_levels() -> Vec<Value> {
    vec![
        limited("system", 30, 33, Some((64, 6))),
        limited("node-high", 40, 25, Some((64, 6))),
        limited("leader-election", 10, 0, Some((16, 4))),
        limited("workload-high", 40, 50, Some((128, 6))),
        limited("workload-low", 100, 90, Some((128, 6))),
        limited("global-default", 20, 50, Some((128, 6))),
    ]
}

/// The suggested FlowSchemas.
pub fn suggested_flow_schemas() -> Vec<Value> {
    let leader_election_rules = |config_namespace: &str| {
        json!([
            resource_rule(
                &["get", "create", "update"],
                "",
                &["endpoints", "configmaps"],
                config_namespace
            ),
            resource_rule(
                &["get", "create", "update"],
                "coordination.k8s.io",
                &["leases"],
                "*"
            ),
        ])
    };
    vec![
        flow_schema(
            "system-nodes",
            "system",
            500,
            Some("ByUser"),
            everything(vec![group("system:nodes")]),
        ),
        flow_schema(
            "system-node-high",
            "node-high",
            400,
            Some("ByUser"),
            json!({
                "subjects": [group("system:nodes")],
                "resourceRules": [
                    {"verbs": ["*"], "apiGroups": [""], "resources": ["nodes", "nodes/status"],
                     "namespaces": ["*"], "clusterScope": true},
                    resource_rule(&["*"], "coordination.k8s.io", &["leases"], "*"),
                ],
            }),
        ),
        flow_schema(
            "probes",
            "exempt",
            2,
            None,
            json!({
                "subjects": [group(ALL_UNAUTHENTICATED), group(ALL_AUTHENTICATED)],
                "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}],
            }),
        ),
        flow_schema(
            "system-leader-election",
            "leader-election",
            100,
            Some("ByUser"),
            json!({
                "subjects": [user(KCM), user(SCHEDULER), kube_system_sa("*")],
                "resourceRules": leader_election_rules("kube-system"),
            }),
        ),
        flow_schema(
            "endpoint-controller",
            "workload-high",
            150,
            Some("ByUser"),
            json!({
                "subjects": [
                    user(KCM),
                    kube_system_sa("endpoint-controller"),
                    kube_system_sa("endpointslicemirroring-controller"),
                ],
                "resourceRules": [resource_rule(&["get", "create", "update"], "", &["endpoints"], "*")],
            }),
        ),
        flow_schema(
            "workload-leader-election",
            "leader-election",
            200,
            Some("ByUser"),
            json!({
                "subjects": [kube_system_sa("*")],
                "resourceRules": leader_election_rules("*"),
            }),
        ),
        flow_schema(
            "kube-controller-manager",
            "workload-high",
            800,
            Some("ByNamespace"),
            everything(vec![user(KCM)]),
        ),
        flow_schema(
            "kube-scheduler",
            "workload-high",
            800,
            Some("ByNamespace"),
            everything(vec![user(SCHEDULER)]),
        ),
        flow_schema(
            "kube-system-service-accounts",
            "workload-high",
            900,
            Some("ByNamespace"),
            everything(vec![kube_system_sa("*")]),
        ),
        flow_schema(
            "service-accounts",
            "workload-low",
            9000,
            Some("ByUser"),
            everything(vec![group("system:serviceaccounts")]),
        ),
        flow_schema(
            "global-default",
            "global-default",
            9900,
            Some("ByUser"),
            everything(vec![group(ALL_UNAUTHENTICATED), group(ALL_AUTHENTICATED)]),
        ),
    ]
}

/// The spec of a typed kind as the store keeps it (absent optional fields
/// dropped), for comparisons with stored objects.
fn normalized<T: serde::de::DeserializeOwned + serde::Serialize>(mut obj: Value) -> Value {
    if let Ok(spec) = serde_json::from_value::<T>(obj["spec"].clone())
        && let Ok(v) = serde_json::to_value(spec)
    {
        obj["spec"] = v;
    }
    obj
}

/// The mandatory FlowSchema of this name, if it is one.
pub fn mandatory_flow_schema(name: &str) -> Option<Value> {
    mandatory_flow_schemas()
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
        .map(normalized::<k8s_openapi::api::flowcontrol::v1::FlowSchemaSpec>)
}

/// The mandatory PriorityLevelConfiguration of this name, if it is one.
pub fn mandatory_priority_level(name: &str) -> Option<Value> {
    mandatory_priority_levels()
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
        .map(normalized::<k8s_openapi::api::flowcontrol::v1::PriorityLevelConfigurationSpec>)
}
