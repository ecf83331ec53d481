//! Tests of webhook configurations and admission policies.

use super::*;

use crate::strategy::Strategy;
use serde_json::json;

fn created(s: &dyn Strategy, obj: Value) -> Value {
    crate::pipeline::testing::assert_same_create(s, &obj);
    let mut o = s.canonicalize(obj).unwrap();
    s.prepare_for_create(&mut o);
    s.default(&mut o);
    o
}

fn texts(errs: ErrorList) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

fn webhook(name: &str) -> Value {
    json!({"name": name, "sideEffects": "None", "admissionReviewVersions": ["v1"],
           "clientConfig": {"service": {"name": "svc", "namespace": "ns"}},
           "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]})
}

#[test]
fn defaults_match_upstream() {
    let cfg = json!({"metadata": {"name": "m"}, "webhooks": [webhook("a.example.com")]});
    let o = created(&MUTATING_WEBHOOK_CONFIGURATION_STRATEGY, cfg);
    let h = &o["webhooks"][0];
    assert_eq!(h["failurePolicy"], "Fail");
    assert_eq!(h["matchPolicy"], "Equivalent");
    assert_eq!(h["namespaceSelector"], json!({}));
    assert_eq!(h["objectSelector"], json!({}));
    assert_eq!(h["timeoutSeconds"], 10);
    assert_eq!(h["reinvocationPolicy"], "Never");
    assert_eq!(h["rules"][0]["scope"], "*");
    assert_eq!(h["clientConfig"]["service"]["port"], 443);
    assert_eq!(o["metadata"]["generation"], 1);
    assert!(
        MUTATING_WEBHOOK_CONFIGURATION_STRATEGY
            .validate(&o)
            .iter()
            .all(|e| !e.field.starts_with("webhooks"))
    );
}

#[test]
fn webhook_rules() {
    let mut bad = webhook("short");
    bad["sideEffects"] = json!("Some");
    bad["admissionReviewVersions"] = json!([]);
    bad["clientConfig"] =
        json!({"url": "http://user@host/p?q=1", "service": {"name": "s", "namespace": "n"}});
    let cfg =
        json!({"metadata": {"name": "v"}, "webhooks": [bad, webhook("a.b.c"), webhook("a.b.c")]});
    let o = created(&VALIDATING_WEBHOOK_CONFIGURATION_STRATEGY, cfg);
    let errs = texts(ValidatingWebhookConfigurationRules::validate(
        &crate::typed::from_value(o).unwrap(),
    ));
    assert!(errs.contains(&"webhooks[0].name: Invalid value: \"short\": should be a domain with at least three segments separated by dots".to_string()));
    assert!(errs.contains(&"webhooks[0].sideEffects: Unsupported value: \"Some\": supported values: \"None\", \"NoneOnDryRun\"".to_string()));
    assert!(
        errs.contains(
            &"webhooks[0].clientConfig: Required value: exactly one of url or service is required"
                .to_string()
        )
    );
    assert!(
        errs.contains(
            &"webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1"
                .to_string()
        )
    );
    assert!(errs.contains(&"webhooks[2].name: Duplicate value: \"a.b.c\"".to_string()));
}

#[test]
fn webhook_urls() {
    let p = Path::new("u");
    assert!(validate_url("https://example.com/hook", &p).is_empty());
    let errs = texts(validate_url("http://u@/x#f", &p));
    assert!(errs.contains(&"u: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]".to_string()));
    assert!(
        errs.contains(
            &"u: Invalid value: \"\": host must be specified; desired format: https://host[/path]"
                .to_string()
        )
    );
    assert!(errs.contains(
        &"u: Invalid value: \"u\": user information is not permitted in the URL".to_string()
    ));
    assert!(
        errs.contains(
            &"u: Invalid value: \"f\": fragments are not permitted in the URL".to_string()
        )
    );
}

#[test]
fn policy_binding_actions() {
    let b = json!({"metadata": {"name": "b"}, "spec": {"policyName": "p", "validationActions": ["Deny", "Warn", "Deny"]}});
    let o = created(&VALIDATING_ADMISSION_POLICY_BINDING_STRATEGY, b);
    let errs = texts(ValidatingAdmissionPolicyBindingRules::validate(
        &crate::typed::from_value(o).unwrap(),
    ));
    assert!(errs.contains(&"spec.validationActions[2]: Duplicate value: \"Deny\"".to_string()));
    assert!(
        errs.iter()
            .any(|e| e.contains("must not contain both Deny and Warn"))
    );
}

#[test]
fn policy_needs_constraints_and_validations() {
    let p = json!({"metadata": {"name": "p"}, "spec": {}});
    let o = created(&VALIDATING_ADMISSION_POLICY_STRATEGY, p);
    assert_eq!(o["spec"]["failurePolicy"], "Fail");
    let errs = texts(ValidatingAdmissionPolicyRules::validate(
        &crate::typed::from_value(o).unwrap(),
    ));
    assert_eq!(
        errs,
        vec![
            "spec.matchConstraints: Required value",
            "spec.validations: Required value: validations or auditAnnotations must contain at least one item",
        ]
    );
}
