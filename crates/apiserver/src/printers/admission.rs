//! admissionregistration.k8s.io: webhook configurations and admission
//! policies with their bindings.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::access::{age, at, list, name, string_map, text};
use super::{AGE, Column, NAME, Printer};

pub(super) fn printer(kind: &str) -> Option<&'static Printer> {
    Some(match kind {
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => &WEBHOOK_CONFIGURATION,
        "ValidatingAdmissionPolicy" => &VALIDATING_POLICY,
        "MutatingAdmissionPolicy" => &MUTATING_POLICY,
        "ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicyBinding" => &POLICY_BINDING,
        _ => return None,
    })
}

static WEBHOOK_CONFIGURATION: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Webhooks",
            "integer",
            "Webhooks indicates the number of webhooks registered in this configuration",
        ),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(list(obj, &["webhooks"]).len()),
            json!(age(obj, now)),
        ]
    },
);

const PARAM_KIND: Column = Column::new(
    "ParamKind",
    "string",
    "ParamKind specifies the kind of resources used to parameterize this policy",
);

/// `apiVersion/kind` of a policy's parameter kind, `<unset>` without one.
fn param_kind(policy: &Value) -> String {
    let pk = at(policy, &["spec", "paramKind"]);
    if pk.is_object() {
        format!("{}/{}", text(pk, &["apiVersion"]), text(pk, &["kind"]))
    } else {
        "<unset>".to_string()
    }
}

fn policy_cells(policy: &Value, rules: &str, now: Timestamp) -> Vec<Value> {
    vec![
        json!(name(policy)),
        json!(list(policy, &["spec", rules]).len()),
        json!(param_kind(policy)),
        json!(age(policy, now)),
    ]
}

static VALIDATING_POLICY: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Validations",
            "integer",
            "Validations indicates the number of validation rules defined in this configuration",
        ),
        PARAM_KIND,
        AGE,
    ],
    |obj, now| policy_cells(obj, "validations", now),
);

static MUTATING_POLICY: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Mutations",
            "integer",
            "Mutation indicates the number of mutations rules defined in this configuration",
        ),
        PARAM_KIND,
        AGE,
    ],
    |obj, now| policy_cells(obj, "mutations", now),
);

static POLICY_BINDING: Printer = Printer::new(
    &[
        NAME,
        Column::new("PolicyName", "string", "The policy the binding applies."),
        Column::new(
            "ParamRef",
            "string",
            "The parameter resource the binding configures the policy with.",
        ),
        AGE,
    ],
    |obj, now| {
        vec![
            json!(name(obj)),
            json!(text(obj, &["spec", "policyName"])),
            json!(param_ref(at(obj, &["spec", "paramRef"]))),
            json!(age(obj, now)),
        ]
    },
);

/// `namespace/name` (`*/name` without a namespace), the selector in Go's
/// struct print form, or `<unset>`.
fn param_ref(pr: &Value) -> String {
    if !pr.is_object() {
        return "<unset>".to_string();
    }
    let ref_name = text(pr, &["name"]);
    if !ref_name.is_empty() {
        let namespace = text(pr, &["namespace"]);
        if namespace.is_empty() {
            // The binding cannot tell whether the param is cluster-scoped.
            return format!("*/{ref_name}");
        }
        return format!("{namespace}/{ref_name}");
    }
    let selector = at(pr, &["selector"]);
    if selector.is_object() {
        return go_label_selector_string(selector);
    }
    "<unset>".to_string()
}

/// The generated `String()` of a metav1.LabelSelector, which is what
/// upstream prints for a selector ParamRef.
fn go_label_selector_string(sel: &Value) -> String {
    let labels: BTreeMap<String, String> = string_map(at(sel, &["matchLabels"]));
    let mut out = String::from("&LabelSelector{MatchLabels:map[string]string{");
    for (k, v) in &labels {
        out.push_str(&format!("{k}: {v},"));
    }
    out.push_str("},MatchExpressions:[]LabelSelectorRequirement{");
    for expr in list(sel, &["matchExpressions"]) {
        let values: Vec<&str> = list(expr, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        out.push_str(&format!(
            "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
            text(expr, &["key"]),
            text(expr, &["operator"]),
            values.join(" ")
        ));
    }
    out.push_str("},}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_refs() {
        assert_eq!(param_ref(&json!(null)), "<unset>");
        assert_eq!(param_ref(&json!({"name": "p"})), "*/p");
        assert_eq!(param_ref(&json!({"name": "p", "namespace": "ns"})), "ns/p");
        assert_eq!(
            param_ref(&json!({"selector": {"matchLabels": {"a": "b"},
                "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}})),
            "&LabelSelector{MatchLabels:map[string]string{a: b,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}"
        );
    }
}
