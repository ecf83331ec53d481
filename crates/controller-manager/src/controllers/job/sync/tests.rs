use super::*;
use crate::controllers::job::tracking::clean_uncounted;
use serde_json::json;

fn job(spec: serde_json::Value) -> Job {
    let mut base = json!({
        "parallelism": 2,
        "completions": 3,
        "backoffLimit": 2,
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}},
        "template": {
            "metadata": {"labels": {"batch.kubernetes.io/controller-uid": "uid-1", "job-name": "pi"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
        }
    });
    for (k, v) in spec.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(json!({
        "metadata": {"name": "pi", "namespace": "ns", "uid": "uid-1"},
        "spec": base
    }))
    .unwrap()
}

fn pod(name: &str, phase: &str, index: Option<usize>, extra: serde_json::Value) -> Arc<Pod> {
    let mut p = json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
            "finalizers": [JOB_TRACKING_FINALIZER]},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": phase}
    });
    if let Some(ix) = index {
        p["metadata"]["annotations"] = json!({COMPLETION_INDEX_ANNOTATION: ix.to_string()});
    }
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    Arc::new(serde_json::from_value(p).unwrap())
}

#[test]
fn indexed_pods_carry_index_hostname_env_and_finalizer() {
    let j = job(json!({"completionMode": "Indexed", "backoffLimitPerIndex": 1}));
    let replaced = pod("pi-1-abc", "Failed", Some(1), json!({}));
    let p = build_pod(&j, Some(1), Some(&replaced));
    assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-1-"));
    let annotations = p.metadata.annotations.clone().unwrap();
    assert_eq!(annotations[COMPLETION_INDEX_ANNOTATION], "1");
    assert_eq!(annotations[INDEX_FAILURE_COUNT_ANNOTATION], "1");
    assert_eq!(
        p.metadata.labels.clone().unwrap()[COMPLETION_INDEX_ANNOTATION],
        "1"
    );
    assert_eq!(
        p.metadata.finalizers.clone().unwrap(),
        [JOB_TRACKING_FINALIZER]
    );
    let spec = p.spec.unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("pi-1"));
    let env = spec.containers[0].env.clone().unwrap();
    assert_eq!(env[0].name, COMPLETION_INDEX_ENV);
    assert_eq!(
        env[0]
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let owner = &p.metadata.owner_references.unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));

    let plain = build_pod(&job(json!({})), None, None);
    assert_eq!(plain.metadata.generate_name.as_deref(), Some("pi-"));
    assert!(plain.spec.unwrap().hostname.is_none());
}

#[test]
fn duplicate_and_out_of_range_indexes_are_removed_first() {
    let j = job(json!({"completionMode": "Indexed"}));
    let now = Timestamp::now();
    let pods = vec![
        pod("a", "Running", Some(0), json!({})),
        pod("b", "Pending", Some(0), json!({})),
        pod("c", "Running", Some(7), json!({})),
        pod("d", "Running", Some(1), json!({})),
    ];
    let rm: Vec<String> = active_pods_for_removal(&j, &pods, 0, now)
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(rm.len(), 2);
    assert!(
        rm.contains(&"c".to_string()) && rm.contains(&"b".to_string()),
        "{rm:?}"
    );
    let rm = active_pods_for_removal(&job(json!({})), &pods, 1, now);
    assert_eq!(rm[0].name_any(), "b", "pending pods go first");
}

#[test]
fn failure_classification() {
    let j = job(json!({}));
    let deleting = pod("x", "Running", None, json!({}));
    let mut deleting = (*deleting).clone();
    deleting.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now()),
    );
    assert!(is_pod_failed(&deleting, &j));
    let only_failed = job(json!({"podReplacementPolicy": "Failed"}));
    assert!(!is_pod_failed(&deleting, &only_failed));
    assert!(is_pod_failed(
        &pod("f", "Failed", None, json!({})),
        &only_failed
    ));

    let on_failure = job(json!({"template": {
        "metadata": {"labels": {"batch.kubernetes.io/controller-uid": "uid-1"}},
        "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "b"}]}}}));
    let restarting = pod(
        "r",
        "Running",
        None,
        json!({"status": {"phase": "Running", "containerStatuses": [
            {"name": "c", "image": "b", "imageID": "", "ready": false, "restartCount": 2}]}}),
    );
    assert!(past_backoff_limit_on_failure(
        &on_failure,
        std::slice::from_ref(&restarting)
    ));
    assert!(!past_backoff_limit_on_failure(&j, &[restarting]));
}

#[test]
fn uncounted_pods_move_once_their_finalizer_is_gone() {
    let mut status: k8s_openapi::api::batch::v1::JobStatus = serde_json::from_value(json!({
        "succeeded": 1,
        "failed": 0,
        "uncountedTerminatedPods": {"succeeded": ["a", "b"], "failed": ["c"]}
    }))
    .unwrap();
    let with: HashSet<String> = ["b".to_string()].into();
    assert!(clean_uncounted(&mut status, &with, false));
    assert_eq!(status.succeeded, Some(2));
    assert_eq!(status.failed, Some(1));
    let u = status.uncounted_terminated_pods.clone().unwrap();
    assert_eq!(u.succeeded.unwrap(), ["b"]);
    assert!(u.failed.is_none());
    assert!(!clean_uncounted(&mut status, &with, false));
}

#[test]
fn deadlines() {
    let now = Timestamp::now();
    let mut j = job(json!({"activeDeadlineSeconds": 5}));
    assert!(!past_active_deadline(&j, now));
    j.status = Some(
        serde_json::from_value(json!({
            "startTime": (now - SignedDuration::from_secs(6)).to_string()
        }))
        .unwrap(),
    );
    assert!(past_active_deadline(&j, now));
    j.spec.as_mut().unwrap().suspend = Some(true);
    assert!(!past_active_deadline(&j, now));
}
