use serde_json::{Value, json};

use super::RESIZE;
use crate::pod::POD_STRATEGY;
use crate::pod::test_support::{assert_has, create_ok, rendered, update};
use crate::strategy::Strategy;

fn pod(resources: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{
            "name": "app", "image": "busybox",
            "resources": resources,
        }]},
    })
}

fn burstable() -> Value {
    create_ok(
        &POD_STRATEGY,
        pod(json!({"requests": {"cpu": "100m", "memory": "64Mi"},
                   "limits": {"cpu": "200m", "memory": "128Mi"}})),
    )
}

/// The subresource path: canonicalize -> prepare -> validate.
fn resize(new: Value, old: &Value) -> (Value, Vec<String>) {
    let mut v = POD_STRATEGY.canonicalize(new).expect("canonicalize");
    POD_STRATEGY.prepare_for_subresource_update(RESIZE, &mut v, old);
    let errs = rendered(&POD_STRATEGY.validate_subresource_update(RESIZE, &v, old));
    (v, errs)
}

fn with_resources(old: &Value, resources: Value) -> Value {
    let mut new = old.clone();
    new["spec"]["containers"][0]["resources"] = resources;
    new
}

#[test]
fn cpu_and_memory_change_and_everything_else_is_kept() {
    let old = burstable();
    let mut new = with_resources(
        &old,
        json!({"requests": {"cpu": "300m", "memory": "64Mi"},
               "limits": {"cpu": "400m", "memory": "256Mi"}}),
    );
    new["spec"]["containers"][0]["image"] = json!("other");
    new["spec"]["activeDeadlineSeconds"] = json!(5);
    new["metadata"]["labels"] = json!({"a": "b"});
    let (v, errs) = resize(new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    let c = &v["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["cpu"], "400m");
    assert_eq!(c["image"], "busybox");
    assert!(v["spec"].get("activeDeadlineSeconds").is_none());
    assert!(v["metadata"].get("labels").is_none());
    // A spec change is a new generation.
    assert_eq!(v["metadata"]["generation"], 2);
}

#[test]
fn the_qos_class_may_not_change() {
    let old = burstable();
    let new = with_resources(
        &old,
        json!({"requests": {"cpu": "200m", "memory": "128Mi"},
               "limits": {"cpu": "200m", "memory": "128Mi"}}),
    );
    let (_, errs) = resize(new, &old);
    assert_has(
        &errs,
        "spec: Invalid value: \"Burstable\": Pod QOS Class may not change as a result of resizing",
    );
}

#[test]
fn removals_memory_decreases_and_other_resources_are_refused() {
    let old = burstable();
    let (_, errs) = resize(
        with_resources(
            &old,
            json!({"requests": {"cpu": "100m", "memory": "64Mi"},
                                     "limits": {"memory": "128Mi"}}),
        ),
        &old,
    );
    assert_has(
        &errs,
        "spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed",
    );
    let (_, errs) = resize(
        with_resources(
            &old,
            json!({"requests": {"cpu": "100m", "memory": "64Mi"},
                                     "limits": {"cpu": "200m", "memory": "100Mi"}}),
        ),
        &old,
    );
    assert_has(
        &errs,
        "spec.containers[0].resources.limits[memory]: Forbidden: memory limits cannot be decreased unless resizePolicy is RestartContainer",
    );
    let (_, errs) = resize(
        with_resources(
            &old,
            json!({"requests": {"cpu": "100m", "memory": "64Mi",
                                                  "ephemeral-storage": "1Gi"},
                                     "limits": {"cpu": "200m", "memory": "128Mi"}}),
        ),
        &old,
    );
    assert_has(
        &errs,
        "spec: Forbidden: only cpu and memory resources are mutable",
    );
}

#[test]
fn a_restart_policy_allows_memory_decreases() {
    let mut created = pod(json!({"requests": {"cpu": "100m", "memory": "64Mi"},
                                  "limits": {"cpu": "200m", "memory": "128Mi"}}));
    created["spec"]["containers"][0]["resizePolicy"] = json!([
        {"resourceName": "memory", "restartPolicy": "RestartContainer"}
    ]);
    let old = create_ok(&POD_STRATEGY, created);
    let (_, errs) = resize(
        with_resources(
            &old,
            json!({"requests": {"cpu": "100m", "memory": "64Mi"},
                                     "limits": {"cpu": "200m", "memory": "100Mi"}}),
        ),
        &old,
    );
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn resize_policy_is_validated_and_not_defaulted() {
    let old = burstable();
    assert!(
        old["spec"]["containers"][0].get("resizePolicy").is_none(),
        "upstream 1.33 does not default resizePolicy"
    );
    let mut bad = pod(json!({}));
    bad["spec"]["containers"][0]["resizePolicy"] = json!([
        {"resourceName": "cpu", "restartPolicy": "Sometimes"}
    ]);
    let (_, errs) = crate::pod::test_support::create(&POD_STRATEGY, bad);
    assert_has(
        &errs,
        "spec.containers[0].resizePolicy: Unsupported value: \"Sometimes\": supported values: \"NotRequired\", \"RestartContainer\"",
    );
}

#[test]
fn added_containers_and_static_pods_are_refused() {
    let old = burstable();
    let mut new = old.clone();
    new["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "two", "image": "busybox"}));
    let (_, errs) = resize(new, &old);
    assert_has(
        &errs,
        "spec: Forbidden: only cpu and memory resources are mutable",
    );
    let mut mirror = old.clone();
    mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"});
    let (_, errs) = resize(with_resources(&mirror, json!({})), &mirror);
    assert_eq!(errs, vec!["Forbidden: static pods cannot be resized"]);
}

#[test]
fn a_node_without_resize_support_is_refused() {
    let mut old = burstable();
    old["status"]["containerStatuses"] = json!([{
        "name": "app", "image": "busybox", "imageID": "", "ready": true,
        "restartCount": 0, "state": {"running": {}},
    }]);
    let (_, errs) = resize(
        with_resources(
            &old,
            json!({"requests": {"cpu": "150m", "memory": "64Mi"},
                                     "limits": {"cpu": "200m", "memory": "128Mi"}}),
        ),
        &old,
    );
    assert_has(
        &errs,
        "spec: Forbidden: Pod running on node without support for resize",
    );
}

#[test]
fn the_main_resource_still_refuses_resource_changes() {
    let old = burstable();
    let new = with_resources(
        &old,
        json!({"requests": {"cpu": "150m", "memory": "64Mi"},
               "limits": {"cpu": "200m", "memory": "128Mi"}}),
    );
    let (_, errs) = update(&POD_STRATEGY, new, &old);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("spec: Forbidden: pod updates may not change fields other than")),
        "{errs:?}"
    );
}
