use k8s_openapi::api::core::v1::{ContainerResizePolicy, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::*;

fn reqs(cpu: &str, memory: &str) -> ResourceRequirements {
    let list = |pairs: &[(&str, &str)]| {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect(),
        )
    };
    ResourceRequirements {
        requests: list(&[("cpu", cpu), ("memory", memory)]),
        limits: list(&[("cpu", cpu), ("memory", memory)]),
        claims: None,
    }
}

fn pod() -> Pod {
    Pod {
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                resources: Some(reqs("100m", "64Mi")),
                resize_policy: Some(vec![ContainerResizePolicy {
                    resource_name: "memory".into(),
                    restart_policy: "RestartContainer".into(),
                }]),
                ..Default::default()
            }],
            init_containers: Some(vec![
                Container {
                    name: "sidecar".into(),
                    restart_policy: Some("Always".into()),
                    ..Default::default()
                },
                Container {
                    name: "init".into(),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn sidecars_resize_and_plain_init_containers_do_not() {
    let d = desired(&pod());
    assert_eq!(
        d.keys().map(String::as_str).collect::<Vec<_>>(),
        ["app", "sidecar"]
    );
    assert_eq!(d["app"], reqs("100m", "64Mi"));
}

#[test]
fn the_allocated_view_replaces_only_named_containers() {
    let mut alloc = ByName::new();
    alloc.insert("app".into(), reqs("200m", "64Mi"));
    let p = with_resources(&pod(), &alloc);
    let spec = p.spec.unwrap();
    assert_eq!(spec.containers[0].resources, Some(reqs("200m", "64Mi")));
    assert_eq!(spec.init_containers.unwrap()[0].resources, None);
}

#[test]
fn changed_resources_and_their_policies() {
    assert_eq!(
        changed(&reqs("100m", "64Mi"), &reqs("200m", "64Mi")),
        ["cpu"]
    );
    assert_eq!(
        changed(&reqs("100m", "64Mi"), &reqs("100m", "128Mi")),
        ["memory"]
    );
    assert!(changed(&reqs("1", "1Gi"), &reqs("1", "1Gi")).is_empty());
    let p = pod();
    let c = &p.spec.as_ref().unwrap().containers[0];
    assert_eq!(restart_policy(c, "memory"), "RestartContainer");
    assert_eq!(restart_policy(c, "cpu"), "NotRequired");
}

#[test]
fn resize_conditions_keep_times_while_nothing_changes() {
    let t0 = Time(jiff::Timestamp::from_second(1_000).unwrap());
    let t1 = Time(jiff::Timestamp::from_second(2_000).unwrap());
    let first = resize_condition(&[], PENDING, DEFERRED, "no room", &t0);
    assert_eq!(first.status, "True");
    assert_eq!(first.reason.as_deref(), Some("Deferred"));
    assert_eq!(first.last_transition_time, Some(t0.clone()));
    let again = resize_condition(
        std::slice::from_ref(&first),
        PENDING,
        DEFERRED,
        "no room",
        &t1,
    );
    assert_eq!(again, first);
    let other = resize_condition(&[first], PENDING, INFEASIBLE, "never", &t1);
    assert_eq!(other.last_transition_time, Some(t1));
    let progress = resize_condition(&[], IN_PROGRESS, "", "", &t0);
    assert_eq!(progress.reason, None);
    assert_eq!(progress.message, None);
}
