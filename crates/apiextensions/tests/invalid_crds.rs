#![recursion_limit = "512"]
//! CRDs upstream rejects, with upstream's paths and messages.

mod common;

use common::{crontab_crd, prepared, render};
use corten_apiextensions::{validate_crd, validate_crd_update};
use corten_apimachinery::names::is_dns1035_label;
use serde_json::{Value, json};

fn minimal(schema: Value) -> Value {
    prepared(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema}}]}
    }))
}

fn errors(crd: &Value) -> Vec<String> {
    render(&validate_crd(crd))
}

#[test]
fn non_structural_schemas() {
    let crd = minimal(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "foo": {}, "list": {"type": "array"}, "m": {"type": "object", "properties": {"a": {"type": "string"}},
        "additionalProperties": {"type": "string"}}}}}}),
    );
    assert_eq!(
        errors(&crd),
        vec![
            "spec.validation.openAPIV3Schema.properties[spec].properties[foo].type: Required value: must not be empty for specified object fields",
            "spec.validation.openAPIV3Schema.properties[spec].properties[list].items: Required value: must be specified",
            "spec.validation.openAPIV3Schema.properties[spec].properties[m].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
        ]
    );
}

#[test]
fn metadata_and_nested_type_restrictions() {
    let crd = minimal(json!({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
        "spec": {"type": "object", "anyOf": [{"type": "object"}], "properties": {"x": {"type": "null"}, "u": {"type": "array",
                 "items": {"type": "string"}, "uniqueItems": true}}}}}));
    assert_eq!(
        errors(&crd),
        vec![
            "spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
            "spec.validation.openAPIV3Schema.properties[spec].anyOf[0].type: Forbidden: must be empty to be structural",
            "spec.validation.openAPIV3Schema.properties[spec].properties[x].type: Unsupported value: \"null\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"",
            "spec.validation.openAPIV3Schema.properties[spec].properties[x].type: Forbidden: type cannot be set to null, use nullable as an alternative",
            "spec.validation.openAPIV3Schema.properties[spec].properties[u].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ]
    );
}

#[test]
fn bad_names_and_group() {
    let mut crd = prepared(crontab_crd());
    crd["spec"]["names"]["plural"] = json!("CronTabs");
    crd["spec"]["names"]["shortNames"] = json!(["c_t"]);
    crd["spec"]["group"] = json!("example");
    let dns1035 = is_dns1035_label("CronTabs").join(",");
    let short = is_dns1035_label("c_t").join(",");
    assert_eq!(
        errors(&crd),
        vec![
            "metadata.name: Invalid value: \"crontabs.stable.example.com\": must be spec.names.plural+\".\"+spec.group".to_string(),
            "spec.group: Invalid value: \"example\": should be a domain with at least one dot".to_string(),
            format!("spec.names.plural: Invalid value: \"CronTabs\": {dns1035}"),
            format!("spec.names.shortNames[0]: Invalid value: \"c_t\": {short}"),
        ]
    );
}

#[test]
fn two_storage_versions_and_bad_version_name() {
    let mut crd = prepared(crontab_crd());
    let mut v2 = crd["spec"]["versions"][0].clone();
    v2["name"] = json!("V2");
    crd["spec"]["versions"].as_array_mut().unwrap().push(v2);
    let errs = validate_crd(&crd);
    let shown = render(&errs);
    assert!(
        shown.iter().any(
            |e| e.starts_with("spec.versions[1].name: Invalid value: \"V2\": a DNS-1035 label")
        ),
        "{shown:?}"
    );
    let storage = errs
        .iter()
        .find(|e| e.detail == "must have exactly one version marked as storage version")
        .unwrap();
    assert_eq!(storage.field, "spec.versions");
}

#[test]
fn printer_columns_scale_and_conversion() {
    let mut crd = prepared(crontab_crd());
    let v = &mut crd["spec"]["versions"][0];
    v["additionalPrinterColumns"] =
        json!([{"name": "R", "type": "int", "jsonPath": "spec.replicas", "format": "big"}]);
    v["subresources"]["scale"]["specReplicasPath"] = json!(".status.replicas");
    crd["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {"clientConfig": {"url": "http://x.example.com/convert?q=1"}}});
    assert_eq!(
        errors(&crd),
        vec![
            "spec.subresources.scale.specReplicasPath: Invalid value: \".status.replicas\": should be a json path under .spec",
            "spec.additionalPrinterColumns[0].type: Invalid value: \"int\": must be one of boolean,date,integer,number,string",
            "spec.additionalPrinterColumns[0].format: Invalid value: \"big\": must be one of byte,date,date-time,double,float,int32,int64,password",
            "spec.additionalPrinterColumns[0].JSONPath: Invalid value: \"spec.replicas\": must be a simple json path starting with .",
            "spec.conversion.webhookClientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]",
            "spec.conversion.webhookClientConfig.url: Invalid value: \"q=1\": query parameters are not permitted in the URL",
            "spec.conversion.conversionReviewVersions: Required value",
        ]
    );
}

#[test]
fn cel_rules_are_compiled_against_the_schema() {
    let crd = minimal(
        json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"a": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}}},
        "x-kubernetes-validations": [
            {"rule": "self.nope > 1"},
            {"rule": "self.a >"},
            {"rule": "self.a > 0", "reason": "Bogus", "fieldPath": ".missing"},
            {"rule": "self.a > 0", "optionalOldSelf": true}]},
        "other": {"type": "array", "items": {"type": "object", "properties": {"v": {"type": "string",
            "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}}}}}),
    );
    let errs = errors(&crd);
    let base = "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations";
    assert_eq!(
        errs[0],
        format!(
            "{base}[2].reason: Unsupported value: \"Bogus\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
        )
    );
    assert_eq!(
        errs[1],
        format!("{base}[2].fieldPath: Invalid value: \".missing\": fieldPath must be a valid path")
    );
    assert_eq!(
        errs[2],
        "spec.validation.openAPIV3Schema.properties[other].items.properties[v].x-kubernetes-validations[0].rule: Invalid value: \"self == oldSelf\": oldSelf cannot be used on the uncorrelatable portion of the schema within spec.validation.openAPIV3Schema.properties[other]"
    );
    assert!(
        errs.len() == 3,
        "schema errors at a node suppress its CEL compilation: {errs:?}"
    );

    let crd = minimal(
        json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"a": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.nope > 1"}, {"rule": "self.a >"}, {"rule": "self.a > 0", "optionalOldSelf": true}]}}}),
    );
    let errs = errors(&crd);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs[0].starts_with(&format!("{base}[0].rule: Invalid value: {{\"rule\":\"self.nope > 1\"}}: compilation failed: ERROR: <input>: undefined field 'nope'")), "{}", errs[0]);
    assert!(
        errs[1].contains(
            "compilation failed: ERROR: <input>:1:9: Syntax error: mismatched input '<EOF>'"
        ),
        "{}",
        errs[1]
    );
    assert_eq!(
        errs[2],
        format!(
            "{base}[2].optionalOldSelf: Invalid value: true: may not be set if oldSelf is not used in rule"
        )
    );
}

#[test]
fn defaults_must_validate_and_be_pruned() {
    let crd = minimal(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "replicas": {"type": "integer", "default": "three", "maximum": 5},
        "tpl": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": "x", "b": 1}}}},
        "metadata": {"type": "object", "default": {"name": "x"}}}}),
    );
    assert_eq!(
        errors(&crd),
        vec![
            "spec.validation.openAPIV3Schema.properties[spec].properties[replicas].default: Invalid value: \"string\":  in body must be of type integer: \"string\"",
            "spec.validation.openAPIV3Schema.properties[spec].properties[tpl].default: Invalid value: {\"a\":\"x\",\"b\":1}: must not have unknown fields",
            "spec.validation.openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata",
        ]
    );
}

#[test]
fn status_subresource_restricts_the_root() {
    let mut crd = minimal(
        json!({"type": "object", "properties": {"spec": {"type": "object"}}, "anyOf": [{"required": ["spec"]}]}),
    );
    crd["spec"]["versions"][0]["subresources"] = json!({"status": {}});
    let errs = validate_crd(&crd);
    assert_eq!(errs.len(), 1, "{:?}", render(&errs));
    assert_eq!(errs[0].field, "spec.validation.openAPIV3Schema");
    assert!(
        errs[0]
            .detail
            .starts_with("only [Description Type Format Title"),
        "{}",
        errs[0].detail
    );
}

#[test]
fn per_version_schemas_keep_version_paths_and_updates_are_checked() {
    let mut crd = prepared(crontab_crd());
    let mut v2 = crd["spec"]["versions"][0].clone();
    v2["name"] = json!("v2");
    v2["storage"] = json!(false);
    v2["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["bad"] = json!({});
    crd["spec"]["versions"].as_array_mut().unwrap().push(v2);
    assert_eq!(
        errors(&crd),
        vec![
            "spec.versions[1].schema.openAPIV3Schema.properties[spec].properties[bad].type: Required value: must not be empty for specified object fields"
        ]
    );

    let mut old = prepared(crontab_crd());
    old["metadata"]["resourceVersion"] = json!("1");
    old["status"]["conditions"] = json!([{"type": "Established", "status": "True"}]);
    let mut new = old.clone();
    new["spec"]["group"] = json!("other.example.com");
    new["spec"]["names"]["kind"] = json!("CronJob");
    new["spec"]["scope"] = json!("Cluster");
    let errs = render(&validate_crd_update(&new, &old));
    assert!(
        errs.contains(&"spec.scope: Invalid value: \"Cluster\": field is immutable".to_string()),
        "{errs:?}"
    );
    assert!(
        errs.contains(
            &"spec.names.kind: Invalid value: \"CronJob\": field is immutable".to_string()
        ),
        "{errs:?}"
    );
    assert!(
        errs.contains(
            &"spec.group: Invalid value: \"other.example.com\": field is immutable".to_string()
        ),
        "{errs:?}"
    );
}

#[test]
fn protected_groups_need_api_approval() {
    let mut crd = minimal(json!({"type": "object"}));
    crd["metadata"]["name"] = json!("widgets.apps.k8s.io");
    crd["spec"]["group"] = json!("apps.k8s.io");
    assert_eq!(
        errors(&crd),
        vec![
            "metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111"
        ]
    );
    crd["metadata"]["annotations"] =
        json!({"api-approved.kubernetes.io": "unapproved, experimental"});
    assert!(errors(&crd).is_empty());
}
