use serde_json::{Value, json};

use super::*;
use crate::resources::Conversion;
use crate::strategy::Strategy;

fn created(obj: Value) -> Value {
    let s = &HORIZONTAL_POD_AUTOSCALER_STRATEGY;
    crate::pipeline::testing::assert_same_create(s, &obj);
    let mut o = s.canonicalize(obj).unwrap();
    s.prepare_for_create(&mut o);
    s.default(&mut o);
    o
}

fn hpa_v2(spec: Value) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"}, "spec": spec})
}

fn target() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
}

fn texts(errs: corten_apimachinery::ErrorList) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

#[test]
fn defaults_min_replicas_metric_and_behavior() {
    let o = created(hpa_v2(json!({"scaleTargetRef": target(), "maxReplicas": 5,
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}})));
    let spec = &o["spec"];
    assert_eq!(spec["minReplicas"], 1);
    assert_eq!(
        spec["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}])
    );
    assert_eq!(spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"], 0);
    assert_eq!(spec["behavior"]["scaleUp"]["selectPolicy"], "Max");
    assert_eq!(
        spec["behavior"]["scaleUp"]["policies"],
        json!([{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}])
    );
    assert_eq!(
        spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        60
    );
    assert_eq!(
        spec["behavior"]["scaleDown"]["policies"],
        json!([{"type": "Percent", "value": 100, "periodSeconds": 15}])
    );
    assert!(HORIZONTAL_POD_AUTOSCALER_STRATEGY.validate(&o).is_empty());
}

#[test]
fn validates_replicas_and_target() {
    let o = created(hpa_v2(
        json!({"scaleTargetRef": {"kind": "", "name": "a/b"}, "minReplicas": 0, "maxReplicas": 0}),
    ));
    let errs = texts(HORIZONTAL_POD_AUTOSCALER_STRATEGY.validate(&o));
    assert_eq!(
        errs,
        vec![
            "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
            "spec.maxReplicas: Invalid value: 0: must be greater than 0",
            "spec.scaleTargetRef.kind: Required value",
            "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'",
        ]
    );
    let o = created(hpa_v2(
        json!({"scaleTargetRef": target(), "minReplicas": 5, "maxReplicas": 2}),
    ));
    assert_eq!(
        texts(HORIZONTAL_POD_AUTOSCALER_STRATEGY.validate(&o)),
        vec!["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"]
    );
}

#[test]
fn validates_metrics_and_behavior() {
    let o = created(hpa_v2(
        json!({"scaleTargetRef": target(), "maxReplicas": 3, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}},
        {"type": "Pods", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "Bogus"}
    ], "behavior": {"scaleUp": {"policies": [], "selectPolicy": "Random", "stabilizationWindowSeconds": 4000}}}),
    ));
    let errs = texts(HORIZONTAL_POD_AUTOSCALER_STRATEGY.validate(&o));
    let want = [
        "spec.metrics[0].resource.target.averageUtilization: Required value: must set either a target raw value or a target utilization",
        "spec.metrics[1].pods: Required value: must populate information for the given metric source",
        "spec.metrics[1].resource: Forbidden: must populate the given metric source only",
        "spec.metrics[2].type: Unsupported value: \"Bogus\": supported values: \"ContainerResource\", \"External\", \"Object\", \"Pods\", \"Resource\"",
        "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 4000: must be less than or equal to 3600",
        "spec.behavior.scaleUp.selectPolicy: Unsupported value: \"Random\": supported values: \"Disabled\", \"Max\", \"Min\"",
        "spec.behavior.scaleUp.policies: Required value: must specify at least one Policy",
    ];
    for w in want {
        assert!(errs.contains(&w.to_string()), "missing {w}\n{errs:#?}");
    }
}

#[test]
fn status_updates() {
    let s = &HORIZONTAL_POD_AUTOSCALER_STRATEGY;
    let old = created(hpa_v2(
        json!({"scaleTargetRef": target(), "maxReplicas": 3}),
    ));
    let mut new = old.clone();
    new["status"] = json!({"currentReplicas": -1, "desiredReplicas": 2});
    new["spec"]["maxReplicas"] = json!(9);
    s.prepare_for_status_update(&mut new, &old);
    assert_eq!(new["spec"]["maxReplicas"], 3);
    assert_eq!(
        texts(s.validate_status_update(&new, &old)),
        vec!["status.currentReplicas: Invalid value: -1: must be greater than or equal to 0"]
    );
}

fn hpa_v1(spec: Value) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

#[test]
fn v1_target_cpu_becomes_a_metric() {
    let v2 = HPA_V1_CONVERSION
        .to_storage(hpa_v1(json!({"scaleTargetRef": target(), "maxReplicas": 4, "targetCPUUtilizationPercentage": 70})))
        .unwrap();
    assert_eq!(v2["apiVersion"], "autoscaling/v2");
    assert_eq!(
        v2["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}])
    );
    assert!(v2["spec"].get("targetCPUUtilizationPercentage").is_none());
}

#[test]
fn v1_without_target_reads_back_the_default() {
    let v2 = HPA_V1_CONVERSION
        .to_storage(hpa_v1(
            json!({"scaleTargetRef": target(), "maxReplicas": 4}),
        ))
        .unwrap();
    let stored = created(v2);
    let v1 = HPA_V1_CONVERSION.from_storage(stored).unwrap();
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 80);
    assert_eq!(v1["spec"]["minReplicas"], 1);
    assert!(v1["metadata"].get("annotations").is_none());
}

#[test]
fn status_cpu_round_trips() {
    let mut stored = created(hpa_v2(
        json!({"scaleTargetRef": target(), "maxReplicas": 3}),
    ));
    stored["status"] = json!({"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 55, "averageValue": "120m"}}}
    ]});
    let v1 = HPA_V1_CONVERSION.from_storage(stored).unwrap();
    assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 55);
    assert_eq!(v1["status"]["currentReplicas"], 2);
    assert_eq!(v1["status"]["desiredReplicas"], 3);
    let back = HPA_V1_CONVERSION.to_storage(v1).unwrap();
    assert_eq!(
        back["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
        55
    );
}

#[test]
fn v2_only_fields_survive_a_v1_round_trip() {
    let mut stored = created(hpa_v2(
        json!({"scaleTargetRef": target(), "maxReplicas": 10, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}
    ], "behavior": {"scaleDown": {"selectPolicy": "Disabled"}}}),
    ));
    stored["status"] = json!({"desiredReplicas": 1, "conditions": [
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}]});
    let v1 = HPA_V1_CONVERSION.from_storage(stored.clone()).unwrap();
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
    let ann = &v1["metadata"]["annotations"];
    assert!(ann[annotations::METRICS].is_string());
    assert!(ann[annotations::BEHAVIOR].is_string());
    assert!(ann[annotations::CONDITIONS].is_string());
    let back = HPA_V1_CONVERSION.to_storage(v1).unwrap();
    assert_eq!(back["spec"], stored["spec"]);
    assert_eq!(back["status"]["conditions"], stored["status"]["conditions"]);
    assert!(back["metadata"].get("annotations").is_none());
}

#[test]
fn malformed_v1_bodies_are_rejected() {
    let bad = hpa_v1(json!({"scaleTargetRef": target(), "maxReplicas": "many"}));
    assert!(HPA_V1_CONVERSION.to_storage(bad).is_err());
    let mut bad_ann = hpa_v1(json!({"scaleTargetRef": target(), "maxReplicas": 1}));
    bad_ann["metadata"]["annotations"] = json!({annotations::METRICS: "{not json"});
    assert!(HPA_V1_CONVERSION.to_storage(bad_ann).is_err());
    assert!(
        HPA_V1_CONVERSION
            .from_storage(json!({"apiVersion": "autoscaling/v1"}))
            .is_err()
    );
}
