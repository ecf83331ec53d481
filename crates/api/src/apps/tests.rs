//! apps/v1 strategy tests.

use serde_json::{Value, json};

use super::{
    CONTROLLER_REVISION_STRATEGY, DAEMON_SET_STRATEGY, DEPLOYMENT_STRATEGY, REPLICA_SET_STRATEGY,
    STATEFUL_SET_STRATEGY,
};
use crate::pod::test_support::{
    assert_has, assert_has_prefix, create, create_ok, set, update, update_status,
};
use crate::strategy::Strategy;

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}})
}

fn workload(kind: &str, spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

fn deployment() -> Value {
    workload(
        "Deployment",
        json!({"selector": {"matchLabels": {"app": "web"}}, "template": template()}),
    )
}

#[test]
fn deployment_defaults() {
    let v = create_ok(&DEPLOYMENT_STRATEGY, deployment());
    let spec = &v["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
    assert_eq!(
        spec["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(v["metadata"]["generation"], 1);
    assert!(v.get("status").is_none());
}

#[test]
fn deployment_recreate_gets_no_rolling_update() {
    let mut d = deployment();
    set(&mut d, "/spec/strategy", json!({"type": "Recreate"}));
    let v = create_ok(&DEPLOYMENT_STRATEGY, d);
    assert_eq!(v["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn deployment_selector_rules() {
    let mut d = deployment();
    d["spec"].as_object_mut().unwrap().remove("selector");
    let errs = create(&DEPLOYMENT_STRATEGY, d).1;
    assert_has(&errs, "spec.selector: Required value");
    assert_has_prefix(&errs, "spec.template.metadata.labels: Invalid value:");

    let mut d = deployment();
    set(&mut d, "/spec/selector", json!({}));
    assert_has_prefix(
        &create(&DEPLOYMENT_STRATEGY, d).1,
        "spec.selector: Invalid value: {}: empty selector is invalid for deployment",
    );

    let mut d = deployment();
    set(
        &mut d,
        "/spec/selector",
        json!({"matchLabels": {"app": "other"}}),
    );
    assert_has(
        &create(&DEPLOYMENT_STRATEGY, d).1,
        "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`",
    );
}

#[test]
fn deployment_spec_rules() {
    let mut d = deployment();
    set(&mut d, "/spec/replicas", json!(-1));
    set(&mut d, "/spec/minReadySeconds", json!(700));
    set(
        &mut d,
        "/spec/strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}),
    );
    set(
        &mut d,
        "/spec/template/spec/restartPolicy",
        json!("OnFailure"),
    );
    let errs = create(&DEPLOYMENT_STRATEGY, d).1;
    assert_has(
        &errs,
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );
    assert_has(
        &errs,
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0",
    );
    assert_has(
        &errs,
        "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds",
    );
    assert_has(
        &errs,
        "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
    );

    let mut d = deployment();
    set(
        &mut d,
        "/spec/strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x"}}),
    );
    let errs = create(&DEPLOYMENT_STRATEGY, d).1;
    assert_has(
        &errs,
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%",
    );
    assert_has_prefix(
        &errs,
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x\": a valid percent string must be a numeric string followed by an ending '%'",
    );

    let mut d = deployment();
    set(
        &mut d,
        "/spec/strategy",
        json!({"type": "Recreate", "rollingUpdate": {}}),
    );
    assert_has(
        &create(&DEPLOYMENT_STRATEGY, d).1,
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
    );

    let mut d = deployment();
    set(
        &mut d,
        "/spec/template/spec/activeDeadlineSeconds",
        json!(5),
    );
    assert_has(
        &create(&DEPLOYMENT_STRATEGY, d).1,
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported",
    );
}

#[test]
fn deployment_updates() {
    let old = create_ok(&DEPLOYMENT_STRATEGY, deployment());
    let mut new = old.clone();
    set(&mut new, "/spec/replicas", json!(3));
    let (v, errs) = update(&DEPLOYMENT_STRATEGY, new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(v["metadata"]["generation"], 2);

    let mut new = old.clone();
    set(&mut new, "/metadata/annotations", json!({"note": "x"}));
    let (v, _) = update(&DEPLOYMENT_STRATEGY, new, &old);
    assert_eq!(
        v["metadata"]["generation"], 2,
        "annotation changes bump deployments"
    );

    let mut new = old.clone();
    set(&mut new, "/metadata/labels", json!({"team": "a"}));
    let (v, _) = update(&DEPLOYMENT_STRATEGY, new, &old);
    assert_eq!(v["metadata"]["generation"], 1);

    let mut new = old.clone();
    set(
        &mut new,
        "/spec/selector",
        json!({"matchLabels": {"app": "web", "tier": "fe"}}),
    );
    set(
        &mut new,
        "/spec/template/metadata/labels",
        json!({"app": "web", "tier": "fe"}),
    );
    assert_has(
        &update(&DEPLOYMENT_STRATEGY, new, &old).1,
        "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"tier\":\"fe\"}}: field is immutable",
    );

    let mut with_status = old.clone();
    with_status["status"] = json!({"replicas": 1, "readyReplicas": 2, "collisionCount": 1});
    let (stored, errs) = update_status(&DEPLOYMENT_STRATEGY, with_status, &old);
    assert_has(
        &errs,
        "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas",
    );
    let mut fewer = stored.clone();
    fewer["status"]["collisionCount"] = json!(0);
    assert_has(
        &update_status(&DEPLOYMENT_STRATEGY, fewer, &stored).1,
        "status.collisionCount: Invalid value: 0: cannot be decremented",
    );
}

#[test]
fn replica_set_defaults_validation_and_fields() {
    let rs = workload(
        "ReplicaSet",
        json!({"selector": {"matchLabels": {"app": "web"}}, "template": template()}),
    );
    let v = create_ok(&REPLICA_SET_STRATEGY, rs);
    assert_eq!(v["spec"]["replicas"], 1);
    let mut with_status = v.clone();
    with_status["status"] = json!({"replicas": 2});
    assert_eq!(
        REPLICA_SET_STRATEGY.field_attrs(&with_status),
        vec![("status.replicas".to_string(), "2".to_string())]
    );
    assert_eq!(REPLICA_SET_STRATEGY.field_labels(), &["status.replicas"]);
    let mut bad = v.clone();
    set(&mut bad, "/spec/minReadySeconds", json!(-5));
    assert_has(
        &update(&REPLICA_SET_STRATEGY, bad, &v).1,
        "spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0",
    );
}

fn stateful_set() -> Value {
    workload(
        "StatefulSet",
        json!({"selector": {"matchLabels": {"app": "web"}}, "serviceName": "web",
        "template": template(),
        "volumeClaimTemplates": [{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1024Mi"}}}}]}),
    )
}

#[test]
fn stateful_set_defaults() {
    let v = create_ok(&STATEFUL_SET_STRATEGY, stateful_set());
    let spec = &v["spec"];
    assert_eq!(spec["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        spec["updateStrategy"],
        json!({"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    let claim = &spec["volumeClaimTemplates"][0];
    assert_eq!(claim["spec"]["volumeMode"], "Filesystem");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(claim["status"]["phase"], "Pending");
}

#[test]
fn stateful_set_validation() {
    let mut s = stateful_set();
    set(&mut s, "/metadata/name", json!("web.example"));
    set(&mut s, "/spec/podManagementPolicy", json!("Random"));
    set(
        &mut s,
        "/spec/updateStrategy",
        json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}}),
    );
    set(
        &mut s,
        "/spec/persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Keep", "whenScaled": "Retain"}),
    );
    let errs = create(&STATEFUL_SET_STRATEGY, s).1;
    assert_has(
        &errs,
        "metadata.name: Invalid value: \"web.example\": must not contain dots",
    );
    assert_has(
        &errs,
        "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
    );
    assert_has(
        &errs,
        "spec.updateStrategy.rollingUpdate: Invalid value: {\"partition\":1}: only allowed for updateStrategy 'RollingUpdate'",
    );
    assert_has(
        &errs,
        "spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: \"Keep\": supported values: \"Retain\", \"Delete\"",
    );
    let mut s = stateful_set();
    set(&mut s, "/spec/selector", json!({}));
    assert_has(
        &create(&STATEFUL_SET_STRATEGY, s).1,
        "spec.selector: Invalid value: {}: empty selector is invalid for statefulset",
    );
}

#[test]
fn stateful_set_updates() {
    let old = create_ok(&STATEFUL_SET_STRATEGY, stateful_set());
    let mut new = old.clone();
    set(&mut new, "/spec/replicas", json!(5));
    set(
        &mut new,
        "/spec/template/spec/containers/0/image",
        json!("nginx:2"),
    );
    set(&mut new, "/spec/minReadySeconds", json!(3));
    let (v, errs) = update(&STATEFUL_SET_STRATEGY, new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(v["metadata"]["generation"], 2);
    let mut new = old.clone();
    set(&mut new, "/spec/serviceName", json!("other"));
    assert_has(
        &update(&STATEFUL_SET_STRATEGY, new, &old).1,
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
    );
}

fn daemon_set() -> Value {
    workload(
        "DaemonSet",
        json!({"selector": {"matchLabels": {"app": "web"}}, "template": template()}),
    )
}

#[test]
fn daemon_set_defaults_and_template_generation() {
    let v = create_ok(&DAEMON_SET_STRATEGY, daemon_set());
    assert_eq!(
        v["spec"]["updateStrategy"],
        json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}, "type": "RollingUpdate"})
    );
    assert_eq!(v["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        v["metadata"]["annotations"]["deprecated.daemonset.template.generation"],
        "1"
    );

    let mut new = v.clone();
    set(
        &mut new,
        "/spec/template/spec/containers/0/image",
        json!("nginx:2"),
    );
    let (updated, errs) = update(&DAEMON_SET_STRATEGY, new, &v);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        updated["metadata"]["annotations"]["deprecated.daemonset.template.generation"],
        "2"
    );
    assert_eq!(updated["metadata"]["generation"], 2);

    let mut new = updated.clone();
    set(&mut new, "/spec/minReadySeconds", json!(4));
    let (v3, _) = update(&DAEMON_SET_STRATEGY, new, &updated);
    assert_eq!(
        v3["metadata"]["annotations"]["deprecated.daemonset.template.generation"],
        "2"
    );
    assert_eq!(v3["metadata"]["generation"], 3);
}

#[test]
fn daemon_set_validation() {
    let mut d = daemon_set();
    set(
        &mut d,
        "/spec/updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
    );
    assert_has(
        &create(&DAEMON_SET_STRATEGY, d).1,
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0",
    );
    let mut d = daemon_set();
    set(
        &mut d,
        "/spec/updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "10%"}}),
    );
    assert_has(
        &create(&DAEMON_SET_STRATEGY, d).1,
        "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: \"10%\": may not be set when maxUnavailable is non-zero",
    );
    let mut d = daemon_set();
    set(&mut d, "/spec/updateStrategy", json!({"type": "Sometimes"}));
    assert_has_prefix(
        &create(&DAEMON_SET_STRATEGY, d).1,
        "spec.updateStrategy: Unsupported value: {\"type\":\"Sometimes\"}: supported values: \"RollingUpdate\", \"OnDelete\"",
    );
    let old = create_ok(&DAEMON_SET_STRATEGY, daemon_set());
    let mut new = old.clone();
    set(
        &mut new,
        "/spec/selector",
        json!({"matchLabels": {"app": "web", "x": "y"}}),
    );
    set(
        &mut new,
        "/spec/template/metadata/labels",
        json!({"app": "web", "x": "y"}),
    );
    assert_has_prefix(
        &update(&DAEMON_SET_STRATEGY, new, &old).1,
        "spec.selector: Invalid value:",
    );
}

#[test]
fn controller_revisions() {
    let rev = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": "web-1", "namespace": "default"}, "revision": 1, "data": {"spec": {}}});
    let v = create_ok(&CONTROLLER_REVISION_STRATEGY, rev.clone());
    assert!(!CONTROLLER_REVISION_STRATEGY.tracks_generation());
    assert!(v["metadata"].get("generation").is_none());
    let mut bad = rev;
    bad.as_object_mut().unwrap().remove("data");
    set(&mut bad, "/revision", json!(-1));
    let errs = create(&CONTROLLER_REVISION_STRATEGY, bad).1;
    assert_has(&errs, "data: Required value: data is mandatory");
    assert_has(
        &errs,
        "revision: Invalid value: -1: must be greater than or equal to 0",
    );
    let mut new = v.clone();
    set(&mut new, "/data", json!({"spec": {"x": 1}}));
    assert_has_prefix(
        &update(&CONTROLLER_REVISION_STRATEGY, new, &v).1,
        "data: Invalid value:",
    );
}

#[test]
fn workloads_track_generation() {
    for s in [
        &DEPLOYMENT_STRATEGY as &dyn Strategy,
        &REPLICA_SET_STRATEGY,
        &STATEFUL_SET_STRATEGY,
        &DAEMON_SET_STRATEGY,
    ] {
        assert!(s.tracks_generation());
    }
}
