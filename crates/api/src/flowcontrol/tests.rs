use serde_json::{Value, json};

use super::bootstrap;
use super::*;
use crate::kind::KindRules;
use crate::strategy::Strategy;

fn created(strategy: &dyn Strategy, obj: Value) -> Value {
    let mut o = strategy.canonicalize(obj).unwrap();
    strategy.prepare_for_create(&mut o);
    strategy.default(&mut o);
    o
}

fn errors(strategy: &dyn Strategy, obj: Value) -> Vec<String> {
    let o = created(strategy, obj);
    strategy
        .validate(&o)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn fs(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
           "metadata": {"name": name}, "spec": spec})
}

fn pl(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
           "metadata": {"name": name}, "spec": spec})
}

#[test]
fn bootstrap_objects_are_valid_and_already_defaulted() {
    for o in bootstrap::mandatory_flow_schemas()
        .into_iter()
        .chain(bootstrap::suggested_flow_schemas())
    {
        let d = created(&FLOW_SCHEMA_STRATEGY, o.clone());
        assert_eq!(d["spec"], o["spec"], "{}", o["metadata"]["name"]);
        assert!(FLOW_SCHEMA_STRATEGY.validate(&d).is_empty(), "{o}");
    }
    for o in bootstrap::mandatory_priority_levels()
        .into_iter()
        .chain(bootstrap::suggested_priority_levels())
    {
        let d = created(&PRIORITY_LEVEL_STRATEGY, o.clone());
        assert_eq!(d["spec"], o["spec"], "{}", o["metadata"]["name"]);
        assert!(PRIORITY_LEVEL_STRATEGY.validate(&d).is_empty(), "{o}");
    }
}

#[test]
fn flow_schema_defaults_and_validation() {
    let o = created(
        &FLOW_SCHEMA_STRATEGY,
        fs(
            "a",
            json!({"priorityLevelConfiguration": {"name": "global-default"}}),
        ),
    );
    assert_eq!(o["spec"]["matchingPrecedence"], 1000);
    assert_eq!(o["metadata"]["generation"], 1);

    let errs = errors(
        &FLOW_SCHEMA_STRATEGY,
        fs(
            "a",
            json!({
                "matchingPrecedence": 10001,
                "priorityLevelConfiguration": {"name": ""},
                "distinguisherMethod": {"type": "ByGuess"},
                "rules": [{
                    "subjects": [
                        {"kind": "User", "user": {"name": "u"}, "group": {"name": "g"}},
                        {"kind": "ServiceAccount", "serviceAccount": {"name": "*", "namespace": ""}},
                        {"kind": "Robot"},
                    ],
                    "resourceRules": [{"verbs": ["get", "fly"], "apiGroups": ["*", "apps"],
                                       "resources": [], "namespaces": ["Bad_NS"]}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["/a/*/b", "x"]}],
                }],
            }),
        ),
    );
    assert_eq!(
        errs,
        vec![
            "spec.matchingPrecedence: Invalid value: 10001: must not be greater than 10000",
            "spec.distinguisherMethod.type: Unsupported value: {\"type\":\"ByGuess\"}: supported values: \"ByNamespace\", \"ByUser\"",
            "spec.priorityLevelConfiguration.name: Required value: must reference a priority level",
            "spec.rules[0].subjects[0].group: Forbidden: group is forbidden when subject kind is not 'Group'",
            "spec.rules[0].subjects[1].serviceAccount.namespace: Required value: must specify namespace for service account",
            "spec.rules[0].subjects[2].kind: Unsupported value: \"Robot\": supported values: \"Group\", \"ServiceAccount\", \"User\"",
            "spec.rules[0].resourceRules[0].verbs: Unsupported value: [\"get\",\"fly\"]: supported values: \"create\", \"delete\", \"deletecollection\", \"get\", \"list\", \"patch\", \"proxy\", \"update\", \"watch\"",
            "spec.rules[0].resourceRules[0].apiGroups: Invalid value: [\"*\",\"apps\"]: if '*' is present, must not specify other api groups",
            "spec.rules[0].resourceRules[0].resources: Required value: resource rules must supply at least one resource",
            "spec.rules[0].resourceRules[0].namespaces[0]: Invalid value: \"Bad_NS\": each member of this list must be '*' or a DNS-1123 label; a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "spec.rules[0].nonResourceRules[0].nonResourceURLs[0]: Invalid value: \"/a/*/b\": wildcard can only do suffix matching",
            "spec.rules[0].nonResourceRules[0].nonResourceURLs[1]: Invalid value: \"x\": must start with slash",
        ]
    );
    let errs = errors(
        &FLOW_SCHEMA_STRATEGY,
        fs(
            "not-exempt",
            json!({"matchingPrecedence": 1, "priorityLevelConfiguration": {"name": "p"}}),
        ),
    );
    assert_eq!(
        errs,
        vec![
            "spec.matchingPrecedence: Invalid value: 1: only the schema named 'exempt' may have matchingPrecedence 1"
        ]
    );
}

#[test]
fn mandatory_flow_schemas_are_fixed() {
    let mut o = bootstrap::mandatory_flow_schema("catch-all").unwrap();
    o["spec"]["matchingPrecedence"] = json!(9999);
    let errs = errors(&FLOW_SCHEMA_STRATEGY, o);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("spec: Invalid value: "), "{errs:?}");
    assert!(errs[0].ends_with("spec of 'catch-all' must equal the fixed value"));
}

#[test]
fn priority_level_defaults_and_validation() {
    let o = created(
        &PRIORITY_LEVEL_STRATEGY,
        pl(
            "p",
            json!({"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {}}}}),
        ),
    );
    assert_eq!(
        o["spec"]["limited"],
        json!({"nominalConcurrencyShares": 30, "lendablePercent": 0,
               "limitResponse": {"type": "Queue", "queuing": {"handSize": 8, "queues": 64, "queueLengthLimit": 50}}})
    );
    // v1 keeps an explicit zero.
    let o = created(
        &PRIORITY_LEVEL_STRATEGY,
        pl(
            "p",
            json!({"type": "Limited", "limited": {"nominalConcurrencyShares": 0, "limitResponse": {"type": "Reject"}}}),
        ),
    );
    assert_eq!(o["spec"]["limited"]["nominalConcurrencyShares"], 0);

    let errs = errors(
        &PRIORITY_LEVEL_STRATEGY,
        pl(
            "p",
            json!({"type": "Limited", "exempt": {}, "limited": {
                "nominalConcurrencyShares": -1, "lendablePercent": 101, "borrowingLimitPercent": -2,
                "limitResponse": {"type": "Queue", "queuing": {"queues": 4, "handSize": 5, "queueLengthLimit": -1}}}}),
        ),
    );
    assert_eq!(
        errs,
        vec![
            "spec.exempt: Forbidden: must be nil if the type is Limited",
            "spec.limited.nominalConcurrencyShares: Invalid value: -1: must be a non-negative integer",
            "spec.limited.limitResponse.queuing.queueLengthLimit: Invalid value: -1: must be positive",
            "spec.limited.limitResponse.queuing.handSize: Invalid value: 5: should not be greater than queues (4)",
            "spec.limited.lendablePercent: Invalid value: 101: must be between 0 and 100, inclusive",
            "spec.limited.borrowingLimitPercent: Invalid value: -2: if specified, must be a non-negative integer",
        ]
    );
    let errs = errors(&PRIORITY_LEVEL_STRATEGY, pl("p", json!({"type": "Exempt"})));
    assert_eq!(
        errs,
        vec![
            "spec.type: Invalid value: \"Exempt\": type must be 'Exempt' if and only if name is 'exempt'"
        ]
    );
    let errs = errors(
        &PRIORITY_LEVEL_STRATEGY,
        pl(
            "p",
            json!({"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {"queues": 10000000, "handSize": 5}}}}),
        ),
    );
    assert_eq!(
        errs,
        vec![
            "spec.limited.limitResponse.queuing.handSize: Invalid value: 5: required entropy bits of deckSize 10000000 and handSize 5 should not be greater than 60"
        ]
    );
}

#[test]
fn exempt_level_may_only_change_its_exempt_field() {
    let ok = pl(
        "exempt",
        json!({"type": "Exempt", "exempt": {"nominalConcurrencyShares": 7, "lendablePercent": 10}}),
    );
    assert!(errors(&PRIORITY_LEVEL_STRATEGY, ok).is_empty());
    let bad = pl(
        "catch-all",
        json!({"type": "Limited", "limited": {"nominalConcurrencyShares": 6, "limitResponse": {"type": "Reject"}}}),
    );
    let errs = errors(&PRIORITY_LEVEL_STRATEGY, bad);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].ends_with("spec of 'catch-all' must equal the fixed value"));
}

#[test]
fn status_conditions_need_unique_types() {
    let mut o = created(
        &FLOW_SCHEMA_STRATEGY,
        fs("a", json!({"priorityLevelConfiguration": {"name": "p"}})),
    );
    o["status"] = json!({"conditions": [{"type": "A"}, {"type": "A"}, {"status": "True"}]});
    let typed: k8s_openapi::api::flowcontrol::v1::FlowSchema =
        crate::typed::from_value(o.clone()).unwrap();
    let errs: Vec<String> = FlowSchemaRules::validate_status_update(&typed, &typed)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        errs,
        vec![
            "status.conditions[1].type: Duplicate value: \"A\"",
            "status.conditions[2].type: Required value: must not be empty",
        ]
    );
}

#[test]
fn non_resource_urls() {
    use super::flow_schema::url_problem;
    assert_eq!(url_problem("/"), None);
    assert_eq!(url_problem("/healthz/*"), None);
    assert_eq!(url_problem("/a//b"), Some("must not contain double slash"));
    assert_eq!(url_problem("/a b"), Some("must not contain white-space"));
    assert_eq!(
        url_problem("/a*"),
        Some("wildcard can only do suffix matching")
    );
}
