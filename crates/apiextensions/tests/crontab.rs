#![recursion_limit = "512"]
//! The CronTab CRD end to end: CRD validation and status, then defaulting,
//! pruning, schema and CEL validation, scale, columns and selectors of its
//! custom resources.

mod common;

use common::{crontab_crd, prepared, render};
use corten_apiextensions::{CustomResourceSchema, convert_none, crd_status, validate_crd};
use serde_json::{Value, json};

fn schema() -> CustomResourceSchema {
    CustomResourceSchema::new(&prepared(crontab_crd()), "v1").expect("schema builds")
}

fn crontab(spec: Value) -> Value {
    json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
           "metadata": {"name": "my-cron", "namespace": "default"}, "spec": spec})
}

#[test]
fn crd_is_valid_and_defaulted() {
    let crd = prepared(crontab_crd());
    assert_eq!(render(&validate_crd(&crd)), Vec::<String>::new());
    assert_eq!(crd["spec"]["names"]["listKind"], "CronTabList");
    assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    assert_eq!(crd["metadata"]["generation"], 1);
}

#[test]
fn status_accepts_names_and_establishes() {
    let crd = prepared(crontab_crd());
    let status = crd_status(&crd, &[], "2025-01-01T00:00:00Z");
    assert_eq!(status["acceptedNames"]["plural"], "crontabs");
    assert_eq!(status["acceptedNames"]["shortNames"], json!(["ct"]));
    let conds = status["conditions"].as_array().unwrap();
    let by_type = |t: &str| conds.iter().find(|c| c["type"] == t).cloned().unwrap();
    assert_eq!(by_type("NamesAccepted")["reason"], "NoConflicts");
    assert_eq!(by_type("NamesAccepted")["message"], "no conflicts found");
    assert_eq!(by_type("Established")["status"], "True");
    assert_eq!(by_type("Established")["reason"], "InitialNamesAccepted");
    assert_eq!(status["storedVersions"], json!(["v1"]));

    // Another CRD of the group already owns the plural.
    let mut other = prepared(crontab_crd());
    other["metadata"]["name"] = json!("crontabs2.stable.example.com");
    other["status"]["acceptedNames"] = json!({"plural": "crontabs", "kind": "OtherCron"});
    let status = crd_status(&crd, &[other], "2025-01-01T00:00:00Z");
    let conds = status["conditions"].as_array().unwrap();
    let names = conds.iter().find(|c| c["type"] == "NamesAccepted").unwrap();
    assert_eq!(names["status"], "False");
    assert_eq!(names["reason"], "PluralConflict");
    assert_eq!(names["message"], "\"crontabs\" is already in use");
    let est = conds.iter().find(|c| c["type"] == "Established").unwrap();
    assert_eq!(est["status"], "False");
    assert_eq!(est["reason"], "NotAccepted");
}

#[test]
fn defaults_then_prune_then_validate_a_good_object() {
    let s = schema();
    let mut obj = crontab(
        json!({"cronSpec": "*/5 * * * *", "unknownField": 1, "env": [{"name": "A", "extra": true}]}),
    );
    obj["status"] = json!({"replicas": 1, "bogus": "x"});
    s.default(&mut obj);
    let pruned = s.prune(&mut obj);
    assert_eq!(
        pruned,
        vec!["spec.env[0].extra", "spec.unknownField", "status.bogus"]
    );
    assert_eq!(obj["spec"]["replicas"], 1);
    assert_eq!(obj["spec"]["image"], "registry.example.com/cron:latest");
    assert_eq!(obj["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(render(&s.validate_full(&obj, None)), Vec::<String>::new());
}

#[test]
fn schema_violations_are_all_listed_with_upstream_messages() {
    let s = schema();
    let mut obj = crontab(
        json!({"cronSpec": "every minute", "replicas": 20, "concurrencyPolicy": "Sometimes",
                                 "timeout": "soon", "image": "x".repeat(70)}),
    );
    obj["metadata"]["name"] = json!("Bad_Name");
    let errs = render(&s.validate(&obj));
    assert_eq!(
        errs,
        vec![
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            "spec.cronSpec: Invalid value: \"every minute\": spec.cronSpec in body should match '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'",
            "spec.image: Too long: may not be more than 64 bytes",
            "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10",
            "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            "spec.timeout: Invalid value: \"soon\": spec.timeout in body must be of type duration: \"soon\"",
        ]
    );
}

#[test]
fn type_errors_block_cel_rules() {
    let s = schema();
    let obj = crontab(
        json!({"cronSpec": "* * * * *", "replicas": "abc", "image": "registry.example.com/x"}),
    );
    assert_eq!(
        render(&s.validate_full(&obj, None)),
        vec![
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
            ".spec.replicas: Invalid value: 0: .spec.replicas accessor error: abc is of the type string, expected int64",
            "<nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ]
    );
}

#[test]
fn missing_required_fields_and_wrong_type_meta() {
    let s = schema();
    let mut obj = crontab(json!({}));
    obj["kind"] = json!("CronJob");
    obj["metadata"].as_object_mut().unwrap().remove("namespace");
    assert_eq!(
        render(&s.validate(&obj)),
        vec![
            "kind: Invalid value: \"CronJob\": must be CronTab",
            "metadata.namespace: Required value",
            "spec.cronSpec: Required value",
        ]
    );
}

#[test]
fn cel_rules_report_message_message_expression_field_path_and_reason() {
    let s = schema();
    let mut obj = crontab(
        json!({"cronSpec": "* * * * *", "replicas": 7, "minReplicas": 8, "maxReplicas": 6,
                                 "suspend": true, "image": "docker.io/cron"}),
    );
    s.default(&mut obj);
    assert_eq!(
        render(&s.validate_cel(&obj, None)),
        vec![
            "spec: Invalid value: \"object\": replicas must be greater than or equal to minReplicas",
            "spec: Invalid value: \"object\": replicas 7 exceeds maxReplicas 6",
            "spec.replicas: Forbidden: must be 0 while suspended",
            "spec: Invalid value: \"object\": failed rule: self.image.startsWith('registry.example.com/')",
        ]
    );
}

#[test]
fn transition_rules_see_old_self() {
    let s = schema();
    let mut old = crontab(json!({"cronSpec": "* * * * *", "image": "registry.example.com/a"}));
    s.default(&mut old);
    let mut new = old.clone();
    new["spec"]["cronSpec"] = json!("*/2 * * * *");
    // Without an old object the transition rule does not run.
    assert!(s.validate_cel(&new, None).is_empty());
    assert_eq!(
        render(&s.validate_cel(&new, Some(&old))),
        vec!["spec.cronSpec: Invalid value: \"string\": cronSpec is immutable"]
    );
    assert!(s.validate_cel(&old, Some(&old)).is_empty());
}

#[test]
fn list_map_keys_must_be_unique() {
    let s = schema();
    let obj = crontab(
        json!({"cronSpec": "* * * * *", "env": [{"name": "A"}, {"name": "B"}, {"name": "A"}]}),
    );
    assert_eq!(
        render(&s.validate(&obj)),
        vec!["spec.env[2]: Duplicate value: {\"name\":\"A\"}"]
    );
}

#[test]
fn scale_columns_selectors_and_conversion() {
    let s = schema();
    let mut obj = crontab(
        json!({"cronSpec": "* * * * *", "replicas": 3, "concurrencyPolicy": "Forbid", "suspend": false}),
    );
    obj["status"] = json!({"replicas": 2, "labelSelector": "app=cron"});
    assert_eq!(s.spec_replicas(&obj), Some(3));
    assert_eq!(s.status_replicas(&obj), Some(2));
    assert_eq!(s.label_selector(&obj).as_deref(), Some("app=cron"));
    assert!(s.set_spec_replicas(&mut obj, 5));
    assert_eq!(obj["spec"]["replicas"], 5);
    obj["spec"]["replicas"] = json!(-1);
    assert_eq!(
        render(&s.validate(&obj)),
        vec![
            "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
            ".spec.replicas: Invalid value: -1: should be a non-negative integer",
        ]
    );
    assert_eq!(s.printer_columns().len(), 3);
    assert_eq!(s.printer_columns()[0]["jsonPath"], ".spec.cronSpec");
    assert_eq!(
        s.selectable_field_values(&obj),
        vec![
            ("metadata.name".to_string(), "my-cron".to_string()),
            ("metadata.namespace".to_string(), "default".to_string()),
            ("spec.concurrencyPolicy".to_string(), "Forbid".to_string()),
            ("spec.suspend".to_string(), "false".to_string()),
        ]
    );
    assert!(s.has_status_subresource());
    assert_eq!(s.list_kind(), "CronTabList");
    assert!(convert_none(&mut obj, "stable.example.com", "v2"));
    assert_eq!(obj["apiVersion"], "stable.example.com/v2");
}

#[test]
fn runaway_rules_hit_the_cost_limit() {
    let mut crd = prepared(crontab_crd());
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = json!([
        {"rule": "self.env.all(a, self.env.all(b, self.env.all(c, size(a.name) + size(b.name) + size(c.name) > 0)))"},
        {"rule": "false", "message": "never evaluated once the limit is hit"}
    ]);
    let s = CustomResourceSchema::new(&crd, "v1").unwrap();
    let env: Vec<Value> = (0..300).map(|i| json!({"name": format!("v{i}")})).collect();
    let obj = crontab(json!({"cronSpec": "* * * * *", "env": env}));
    assert_eq!(
        render(&s.validate_cel(&obj, None)),
        vec![
            "spec: Invalid value: \"object\": 'operation cancelled: actual cost limit exceeded': no further validation rules will be run due to call cost exceeds limit for rule: self.env.all(a, self.env.all(b, self.env.all(c, size(a.name) + size(b.name) + size(c.name) > 0)))"
        ]
    );
}

#[test]
fn content_and_metadata_validate_apart() {
    let s = schema();
    let mut cr = crontab(json!({"cronSpec": "* * * * *", "image": "elsewhere/cron",
        "replicas": 1, "minReplicas": 0, "maxReplicas": 5}));
    cr["metadata"]["name"] = json!("Bad_Name");
    // The content: schema and CEL, never metadata.
    let content = render(&s.validate_content(&cr, None));
    assert_eq!(content.len(), 1, "{content:?}");
    assert!(content[0].starts_with("spec: Invalid value"), "{content:?}");
    // Metadata alone.
    let meta = render(&s.validate_metadata(&cr, None));
    assert_eq!(meta.len(), 1, "{meta:?}");
    assert!(
        meta[0].starts_with("metadata.name: Invalid value: \"Bad_Name\""),
        "{meta:?}"
    );
    // Transition rules see the old object.
    let mut old = crontab(
        json!({"cronSpec": "1 * * * *", "image": "registry.example.com/c",
        "replicas": 1, "minReplicas": 0, "maxReplicas": 5}),
    );
    old["metadata"]["resourceVersion"] = json!("7");
    let mut new = old.clone();
    new["spec"]["cronSpec"] = json!("2 * * * *");
    let content = render(&s.validate_content(&new, Some(&old)));
    assert_eq!(
        content,
        vec!["spec.cronSpec: Invalid value: \"string\": cronSpec is immutable"]
    );
    assert_eq!(
        render(&s.validate_metadata(&new, Some(&old))),
        Vec::<String>::new()
    );
}
