#![recursion_limit = "512"]
//! Nothing here may panic, whatever the input: arbitrary objects against
//! real schemas, arbitrary CRDs, arbitrary schemas and CEL rules.

mod common;

use common::{certificate_crd, crontab_crd, prepared};
use corten_apiextensions::{
    CustomResourceSchema, crd_status, default_crd, validate_crd, validate_crd_update,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z*/ .0-9-]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("spec"),
            Just("replicas"),
            Just("type"),
            Just("object"),
            Just("metadata"),
            Just("items")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("spec".to_string()),
                        Just("status".to_string()),
                        Just("replicas".to_string()),
                        Just("cronSpec".to_string()),
                        Just("env".to_string()),
                        Just("name".to_string()),
                        Just("type".to_string()),
                        Just("properties".to_string()),
                        Just("items".to_string()),
                        Just("x-kubernetes-validations".to_string()),
                        Just("default".to_string()),
                        "[a-zA-Z]{1,6}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kvs| Value::Object(kvs.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn exercise(s: &CustomResourceSchema, obj: &Value) {
    let mut o = obj.clone();
    s.default(&mut o);
    let _ = s.prune(&mut o);
    let _ = s.validate(obj);
    let _ = s.validate_full(&o, Some(obj));
    let _ = s.validate_cel(obj, Some(&o));
    let _ = s.selectable_field_values(obj);
    let _ = s.spec_replicas(obj);
    let _ = s.label_selector(obj);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn custom_resources_never_panic(spec in arb_json(), status in arb_json(), meta in arb_json()) {
        let crontab = CustomResourceSchema::new(&prepared(crontab_crd()), "v1").unwrap();
        let cert = CustomResourceSchema::new(&prepared(certificate_crd()), "v1").unwrap();
        let obj = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": meta,
                         "spec": spec, "status": status});
        exercise(&crontab, &obj);
        exercise(&cert, &obj);
        exercise(&crontab, &spec);
    }

    #[test]
    fn crds_never_panic(spec in arb_json(), status in arb_json()) {
        let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                             "metadata": {"name": "x.example.com"}, "spec": spec, "status": status});
        let _ = validate_crd(&crd);
        default_crd(&mut crd);
        let _ = validate_crd(&crd);
        let _ = validate_crd_update(&crd, &prepared(crontab_crd()));
        let _ = crd_status(&crd, &[prepared(crontab_crd())], "2025-01-01T00:00:00Z");
        if let Ok(s) = CustomResourceSchema::new(&crd, "v1") {
            exercise(&s, &crd);
        }
    }

    #[test]
    fn arbitrary_schemas_never_panic(schema in arb_json(), obj in arb_json()) {
        let mut crd = prepared(crontab_crd());
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema;
        let _ = validate_crd(&crd);
        if let Ok(s) = CustomResourceSchema::new(&crd, "v1") {
            exercise(&s, &obj);
            exercise(&s, &json!({"spec": obj}));
        }
    }

    #[test]
    fn arbitrary_cel_rules_never_panic(
        rule in prop_oneof![
            "[a-z().!<>=&|+*/%?:'\\[\\]{}, 0-9-]{0,40}",
            prop::collection::vec(prop_oneof![
                Just("self"), Just("oldSelf"), Just(".replicas"), Just(".cronSpec"), Just(".env"), Just(" + "),
                Just(" == "), Just(" && "), Just(".all(x, "), Just(".map(x, "), Just("x"), Just(")"), Just("("),
                Just("size("), Just("1"), Just("'a'"), Just(".exists(e, "), Just("[0]"), Just("has("),
                Just(" ? "), Just(" : "), Just("[?0]"), Just(".?name"), Just(".orValue(1)"), Just("dyn(")
            ], 0..14).prop_map(|p| p.concat()),
        ],
        obj in arb_json(),
    ) {
        let mut crd = prepared(crontab_crd());
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] =
            json!([{"rule": rule, "messageExpression": rule}]);
        let _ = validate_crd(&crd);
        let s = CustomResourceSchema::new(&crd, "v1").unwrap();
        let spec = json!({"cronSpec": "* * * * *", "replicas": 1, "env": [{"name": "a"}], "x": obj});
        let obj = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
                         "metadata": {"name": "a", "namespace": "b"}, "spec": spec});
        let _ = s.validate_cel(&obj, Some(&obj));
    }
}
