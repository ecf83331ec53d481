//! batch/v1 strategy tests.

use serde_json::{Value, json};

use super::{CRON_JOB_STRATEGY, JOB_STRATEGY};
use crate::pod::test_support::{
    assert_has, assert_has_prefix, create, create_ok, set, update, update_status,
};
use crate::strategy::Strategy;

fn job(spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default"}, "spec": spec})
}

fn pod_template(restart: &str) -> Value {
    json!({"spec": {"restartPolicy": restart, "containers": [{"name": "pi", "image": "perl:5.34"}]}})
}

#[test]
fn job_defaults_and_generated_selector() {
    let v = create_ok(
        &JOB_STRATEGY,
        job(json!({"template": pod_template("Never")})),
    );
    let spec = &v["spec"];
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["manualSelector"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}})
    );
    let expected_labels = json!({
        "batch.kubernetes.io/controller-uid": "uid-1",
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": "uid-1",
        "job-name": "pi",
    });
    assert_eq!(spec["template"]["metadata"]["labels"], expected_labels);
    assert_eq!(
        v["metadata"]["labels"], expected_labels,
        "job labels default to the template's"
    );
    assert_eq!(spec["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(v["metadata"]["generation"], 1);
}

#[test]
fn job_default_variants() {
    let v = create_ok(
        &JOB_STRATEGY,
        job(json!({"parallelism": 3, "template": pod_template("Never"),
        "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}})),
    );
    assert!(
        v["spec"].get("completions").is_none(),
        "only defaulted when both are unset"
    );
    assert_eq!(v["spec"]["podReplacementPolicy"], "Failed");
    assert_eq!(
        v["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
        "True"
    );

    let v = create_ok(
        &JOB_STRATEGY,
        job(json!({"completions": 4, "completionMode": "Indexed",
        "backoffLimitPerIndex": 1, "template": pod_template("Never")})),
    );
    assert_eq!(v["spec"]["backoffLimit"], 2147483647);
}

#[test]
fn job_validation() {
    let errs = create(
        &JOB_STRATEGY,
        job(json!({"template": pod_template("Always")})),
    )
    .1;
    assert_has(
        &errs,
        "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
    );
    let errs = create(
        &JOB_STRATEGY,
        job(json!({"parallelism": -1, "backoffLimit": -2,
        "completionMode": "Sometimes", "template": pod_template("Never")})),
    )
    .1;
    assert_has(
        &errs,
        "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
    );
    assert_has(
        &errs,
        "spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0",
    );
    assert_has(
        &errs,
        "spec.completionMode: Unsupported value: \"Sometimes\": supported values: \"NonIndexed\", \"Indexed\"",
    );
    let errs = create(
        &JOB_STRATEGY,
        job(json!({"backoffLimitPerIndex": 1, "template": pod_template("Never")})),
    )
    .1;
    assert_has(
        &errs,
        "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode",
    );
    let errs = create(&JOB_STRATEGY, job(json!({"template": pod_template("OnFailure"),
        "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3, 0, 1]}}]}}))).1;
    assert_has(
        &errs,
        "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is supported when podFailurePolicy is specified",
    );
    assert_has(
        &errs,
        "spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Invalid value: 0: must not be 0 for the In operator",
    );
    assert_has(
        &errs,
        "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: [3,0,1]: must be ordered",
    );
}

#[test]
fn job_selector_rules() {
    let errs = create(
        &JOB_STRATEGY,
        job(
            json!({"selector": {"matchLabels": {"controller-uid": "other"}},
        "template": pod_template("Never")}),
        ),
    )
    .1;
    assert_has_prefix(&errs, "spec.selector: Invalid value:");
    assert!(
        errs.iter()
            .any(|e| e.ends_with("`selector` not auto-generated")),
        "{errs:?}"
    );

    let manual = job(
        json!({"manualSelector": true, "selector": {"matchLabels": {"app": "pi"}},
        "template": {"metadata": {"labels": {"app": "pi"}}, "spec": pod_template("Never")["spec"]}}),
    );
    let v = create_ok(&JOB_STRATEGY, manual);
    assert!(
        v["spec"]["template"]["metadata"]["labels"]
            .get("job-name")
            .is_none()
    );

    let errs = create(
        &JOB_STRATEGY,
        job(json!({"manualSelector": true, "template": pod_template("Never")})),
    )
    .1;
    assert_has(&errs, "spec.selector: Required value");
}

#[test]
fn indexed_job_names_must_fit_pod_hostnames() {
    let mut j = job(
        json!({"completions": 3, "completionMode": "Indexed", "template": pod_template("Never")}),
    );
    set(&mut j, "/metadata/name", json!("a".repeat(62)));
    let name = "a".repeat(62);
    assert_has(
        &create(&JOB_STRATEGY, j).1,
        &format!(
            "metadata.name: Invalid value: \"{name}\": will not able to create pod with invalid DNS label: {name}-2"
        ),
    );
}

#[test]
fn job_updates() {
    let old = create_ok(
        &JOB_STRATEGY,
        job(json!({"template": pod_template("Never")})),
    );
    let mut new = old.clone();
    set(&mut new, "/spec/activeDeadlineSeconds", json!(60));
    let (v, errs) = update(&JOB_STRATEGY, new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(v["metadata"]["generation"], 2);

    let mut new = old.clone();
    set(&mut new, "/spec/completions", json!(5));
    set(
        &mut new,
        "/spec/template/spec/containers/0/image",
        json!("perl:5.36"),
    );
    let errs = update(&JOB_STRATEGY, new, &old).1;
    assert_has(
        &errs,
        "spec.completions: Invalid value: 5: field is immutable",
    );
    assert_has_prefix(&errs, "spec.template: Invalid value:");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("spec.template: ") && e.ends_with("field is immutable"))
    );
}

#[test]
fn suspended_jobs_may_change_scheduling_directives() {
    let old = create_ok(
        &JOB_STRATEGY,
        job(json!({"suspend": true, "template": pod_template("Never")})),
    );
    let mut new = old.clone();
    set(
        &mut new,
        "/spec/template/spec/nodeSelector",
        json!({"zone": "a"}),
    );
    let errs = update(&JOB_STRATEGY, new, &old).1;
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn elastic_indexed_jobs_scale_completions_with_parallelism() {
    let old = create_ok(
        &JOB_STRATEGY,
        job(json!({"completions": 3, "parallelism": 3,
        "completionMode": "Indexed", "template": pod_template("Never")})),
    );
    let mut new = old.clone();
    set(&mut new, "/spec/completions", json!(5));
    set(&mut new, "/spec/parallelism", json!(5));
    assert!(update(&JOB_STRATEGY, new, &old).1.is_empty());
    let mut new = old.clone();
    set(&mut new, "/spec/completions", json!(5));
    assert_has(
        &update(&JOB_STRATEGY, new, &old).1,
        "spec.completions: Invalid value: 5: can only be modified in tandem with spec.parallelism",
    );
}

#[test]
fn job_status_and_fields() {
    let old = create_ok(
        &JOB_STRATEGY,
        job(json!({"template": pod_template("Never")})),
    );
    let mut new = old.clone();
    new["status"] = json!({"succeeded": 2, "failed": 1});
    let (stored, errs) = update_status(&JOB_STRATEGY, new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        JOB_STRATEGY.field_attrs(&stored),
        vec![("status.successful".to_string(), "2".to_string())]
    );
    let mut new = stored.clone();
    new["status"]["failed"] = json!(0);
    assert_has(
        &update_status(&JOB_STRATEGY, new, &stored).1,
        "status.failed: Invalid value: 0: cannot decrease the failed counter",
    );
}

fn cron_job(spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "hello", "namespace": "default"}, "spec": spec})
}

fn cron_spec(schedule: &str) -> Value {
    json!({"schedule": schedule, "jobTemplate": {"spec": {"template": pod_template("OnFailure")}}})
}

#[test]
fn cron_job_defaults() {
    let v = create_ok(&CRON_JOB_STRATEGY, cron_job(cron_spec("*/5 * * * *")));
    let spec = &v["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"], 1);
    let job_spec = &spec["jobTemplate"]["spec"];
    assert!(
        job_spec.get("backoffLimit").is_none(),
        "job defaults are not applied in templates"
    );
    assert_eq!(
        job_spec["template"]["spec"]["terminationGracePeriodSeconds"],
        30
    );
    assert_eq!(v["metadata"]["generation"], 1);
}

#[test]
fn cron_job_validation() {
    let errs = create(&CRON_JOB_STRATEGY, cron_job(cron_spec("61 * * * *"))).1;
    assert_has(
        &errs,
        "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61",
    );
    let errs = create(&CRON_JOB_STRATEGY, cron_job(cron_spec("TZ=UTC 0 * * * *"))).1;
    assert_has(
        &errs,
        "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
    );
    let mut c = cron_job(cron_spec("@daily"));
    set(&mut c, "/spec/timeZone", json!("Nowhere/Land Of Oz"));
    set(&mut c, "/spec/concurrencyPolicy", json!("Sometimes"));
    set(&mut c, "/spec/startingDeadlineSeconds", json!(-1));
    set(
        &mut c,
        "/spec/jobTemplate/spec/selector",
        json!({"matchLabels": {"a": "b"}}),
    );
    let errs = create(&CRON_JOB_STRATEGY, c).1;
    assert_has(
        &errs,
        "spec.timeZone: Invalid value: \"Nowhere/Land Of Oz\": unknown time zone Nowhere/Land Of Oz",
    );
    assert_has(
        &errs,
        "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
    );
    assert_has(
        &errs,
        "spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
    );
    assert_has(
        &errs,
        "spec.jobTemplate.spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"b\"}}: `selector` will be auto-generated",
    );
    let mut c = cron_job(cron_spec("@hourly"));
    set(&mut c, "/metadata/name", json!("c".repeat(53)));
    set(
        &mut c,
        "/spec/jobTemplate/spec/template/spec/restartPolicy",
        json!("Always"),
    );
    let errs = create(&CRON_JOB_STRATEGY, c).1;
    assert_has(
        &errs,
        &format!(
            "metadata.name: Invalid value: \"{}\": must be no more than 52 characters",
            "c".repeat(53)
        ),
    );
    assert_has(
        &errs,
        "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
    );
    let mut c = cron_job(cron_spec("0 0 * * *"));
    set(&mut c, "/spec/timeZone", json!("Europe/Berlin"));
    create_ok(&CRON_JOB_STRATEGY, c);
}

#[test]
fn cron_job_updates() {
    let old = create_ok(&CRON_JOB_STRATEGY, cron_job(cron_spec("0 * * * *")));
    let mut new = old.clone();
    set(&mut new, "/spec/schedule", json!("30 * * * *"));
    let (v, errs) = update(&CRON_JOB_STRATEGY, new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(v["metadata"]["generation"], 2);
    assert!(CRON_JOB_STRATEGY.field_labels().is_empty());
}
