//! Rows of the apps and batch kinds.

use serde_json::{Value, json};

use super::test_support::{ago, cells, column_names};

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(45)})
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"},
            {"name": "sidecar", "image": "busybox"}]}})
}

#[test]
fn deployments() {
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        cells("apps", "Deployment", &d),
        json!([
            "web",
            "2/3",
            3,
            2,
            "45s",
            "nginx,sidecar",
            "nginx:1.27,busybox",
            "app=web"
        ])
    );
    assert_eq!(
        column_names("apps", "Deployment"),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    // Fresh object: replicas default to 1, no status yet, empty selector
    // prints as "" for deployments.
    let fresh = json!({"metadata": meta("new"), "spec": {"selector": {}}});
    assert_eq!(
        cells("apps", "Deployment", &fresh),
        json!(["new", "0/1", 0, 0, "45s", "", "", ""])
    );
    let bad = json!({"metadata": meta("bad"),
        "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Nope"}]}}});
    assert_eq!(cells("apps", "Deployment", &bad)[7], "<invalid>");
    let scaled_to_zero = json!({"metadata": meta("z"), "spec": {"replicas": 0}});
    assert_eq!(cells("apps", "Deployment", &scaled_to_zero)[1], "0/0");
}

#[test]
fn replica_sets() {
    let rs = json!({"metadata": meta("web-5d4"),
        "spec": {"replicas": 2, "template": template(),
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4"}}},
        "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        cells("apps", "ReplicaSet", &rs),
        json!([
            "web-5d4",
            2,
            2,
            1,
            "45s",
            "nginx,sidecar",
            "nginx:1.27,busybox",
            "app=web,pod-template-hash=5d4"
        ])
    );
    let empty = json!({"metadata": meta("e")});
    assert_eq!(cells("apps", "ReplicaSet", &empty)[7], "<none>");
}

#[test]
fn stateful_sets_and_daemon_sets() {
    let sts = json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": template()},
        "status": {"readyReplicas": 3}});
    assert_eq!(
        cells("apps", "StatefulSet", &sts),
        json!(["db", "3/3", "45s", "nginx,sidecar", "nginx:1.27,busybox"])
    );
    assert_eq!(
        column_names("apps", "StatefulSet"),
        ["Name", "Ready", "Age", "Containers", "Images"]
    );

    let mut tpl = template();
    tpl["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let ds = json!({"metadata": meta("agent"),
        "spec": {"template": tpl, "selector": {"matchLabels": {"app": "agent"}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
            "updatedNumberScheduled": 3, "numberAvailable": 2}});
    assert_eq!(
        cells("apps", "DaemonSet", &ds),
        json!([
            "agent",
            3,
            3,
            2,
            3,
            2,
            "kubernetes.io/os=linux",
            "45s",
            "nginx,sidecar",
            "nginx:1.27,busybox",
            "app=agent"
        ])
    );
}

#[test]
fn controller_revisions() {
    let cr = json!({"metadata": {"name": "web-7c9", "creationTimestamp": ago(45),
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Other", "name": "x"},
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]},
        "revision": 4});
    assert_eq!(
        cells("apps", "ControllerRevision", &cr),
        json!(["web-7c9", "statefulset.apps/web", 4, "45s"])
    );
    let orphan = json!({"metadata": {"name": "o"}, "revision": 1});
    assert_eq!(cells("apps", "ControllerRevision", &orphan)[1], "<none>");
    let core_owner = json!({"metadata": {"name": "o", "ownerReferences": [
        {"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": true}]}});
    assert_eq!(cells("apps", "ControllerRevision", &core_owner)[1], "pod/p");
}

fn job(spec: Value, status: Value) -> Value {
    let mut spec = spec;
    spec["template"] = template();
    spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}});
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("pi"),
        "spec": spec, "status": status})
}

#[test]
fn job_columns() {
    assert_eq!(
        column_names("batch", "Job"),
        [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
}

#[test]
fn running_and_complete_jobs() {
    let running = job(
        json!({"completions": 3, "parallelism": 1}),
        json!({"startTime": ago(30), "active": 1, "succeeded": 1}),
    );
    assert_eq!(
        cells("batch", "Job", &running),
        json!([
            "pi",
            "Running",
            "1/3",
            "30s",
            "45s",
            "nginx,sidecar",
            "nginx:1.27,busybox",
            "batch.kubernetes.io/controller-uid=u1"
        ])
    );
    let complete = job(
        json!({"completions": 1}),
        json!({"startTime": "2024-06-01T11:00:00Z", "completionTime": "2024-06-01T11:02:05Z",
            "succeeded": 1,
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"}]}),
    );
    let c = cells("batch", "Job", &complete);
    assert_eq!(c[1], "Complete");
    assert_eq!(c[2], "1/1");
    assert_eq!(c[3], "2m5s");
}

#[test]
fn job_statuses() {
    let with = |conditions: Value| job(json!({}), json!({"conditions": conditions}));
    let status = |j: &Value| cells("batch", "Job", j)[1].clone();
    assert_eq!(
        status(&with(
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}])
        )),
        "Failed"
    );
    assert_eq!(
        status(&with(json!([{"type": "Suspended", "status": "True"}]))),
        "Suspended"
    );
    assert_eq!(
        status(&with(json!([{"type": "Suspended", "status": "False"}]))),
        "Running"
    );
    assert_eq!(
        status(&with(json!([{"type": "FailureTarget", "status": "True"}]))),
        "FailureTarget"
    );
    let mut deleting = with(json!([{"type": "Suspended", "status": "True"}]));
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(status(&deleting), "Terminating");
    let mut done_deleting = with(json!([{"type": "Complete", "status": "True"}]));
    done_deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(status(&done_deleting), "Complete");
}

#[test]
fn job_completions_and_duration() {
    let completions =
        |spec: Value| cells("batch", "Job", &job(spec, json!({"succeeded": 2})))[2].clone();
    assert_eq!(completions(json!({})), "2/1");
    assert_eq!(completions(json!({"parallelism": 4})), "2/1 of 4");
    assert_eq!(completions(json!({"parallelism": 1})), "2/1");
    assert_eq!(
        completions(json!({"completions": 5, "parallelism": 2})),
        "2/5"
    );
    // Not started: no duration.
    assert_eq!(cells("batch", "Job", &job(json!({}), json!({})))[3], "");
}

#[test]
fn cron_jobs() {
    let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("hello"),
        "spec": {"schedule": "*/1 * * * *", "suspend": false,
            "jobTemplate": {"spec": {"template": template()}}},
        "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(20)}});
    assert_eq!(
        cells("batch", "CronJob", &cj),
        json!([
            "hello",
            "*/1 * * * *",
            "<none>",
            "False",
            1,
            "20s",
            "45s",
            "nginx,sidecar",
            "nginx:1.27,busybox",
            "<none>"
        ])
    );
    let suspended = json!({"metadata": meta("s"),
        "spec": {"schedule": "0 0 * * *", "timeZone": "Etc/UTC", "suspend": true}});
    assert_eq!(
        cells("batch", "CronJob", &suspended),
        json!([
            "s",
            "0 0 * * *",
            "Etc/UTC",
            "True",
            0,
            "<none>",
            "45s",
            "",
            "",
            "<none>"
        ])
    );
    assert_eq!(
        column_names("batch", "CronJob"),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
}
