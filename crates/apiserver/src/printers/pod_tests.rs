//! Pod rows: READY / STATUS / RESTARTS and the wide cells.

use serde_json::{Value, json};

use super::test_support::{ago, cells, column_names, now};
use super::{IncludeObject, row};

/// A pod with one container `app`, created five minutes ago.
fn pod(spec_extra: Value, status: Value) -> Value {
    let mut spec = json!({"containers": [{"name": "app", "image": "nginx"}]});
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(300)},
        "spec": spec,
        "status": status,
    })
}

/// READY, STATUS, RESTARTS of a pod.
fn summary(p: &Value) -> (String, String, String) {
    let c = cells("", "Pod", p);
    (
        c[1].as_str().unwrap().to_string(),
        c[2].as_str().unwrap().to_string(),
        c[3].as_str().unwrap().to_string(),
    )
}

fn s(ready: &str, status: &str, restarts: &str) -> (String, String, String) {
    (ready.into(), status.into(), restarts.into())
}

fn running(name: &str) -> Value {
    json!({"name": name, "ready": true, "restartCount": 0, "started": true,
        "state": {"running": {"startedAt": ago(200)}}})
}

#[test]
fn columns() {
    assert_eq!(
        column_names("", "Pod"),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    let defs = super::column_definitions("", "Pod");
    assert_eq!(defs[3]["type"], "string");
    assert_eq!(defs[4]["priority"], 0);
    assert_eq!(defs[5]["priority"], 1);
    assert_eq!(defs[0]["format"], "name");
}

#[test]
fn pending_unscheduled() {
    let p = pod(
        json!({}),
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable"}]}),
    );
    assert_eq!(
        cells("", "Pod", &p),
        json!([
            "web", "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"
        ])
    );
}

#[test]
fn container_creating() {
    let p = pod(
        json!({"nodeName": "node-1"}),
        json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
    );
    let c = cells("", "Pod", &p);
    assert_eq!(c[1], "0/1");
    assert_eq!(c[2], "ContainerCreating");
    assert_eq!(c[6], "node-1");
}

#[test]
fn running_one_of_one() {
    let p = pod(
        json!({"nodeName": "node-1"}),
        json!({"phase": "Running", "podIP": "10.244.0.5",
            "podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [running("app")]}),
    );
    assert_eq!(
        cells("", "Pod", &p),
        json!([
            "web",
            "1/1",
            "Running",
            "0",
            "5m",
            "10.244.0.5",
            "node-1",
            "<none>",
            "<none>"
        ])
    );
    assert!(
        row("", "Pod", &p, IncludeObject::None, now())
            .get("conditions")
            .is_none()
    );
}

#[test]
fn crash_loop_back_off_with_restarts() {
    let p = pod(
        json!({}),
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false,
            "restartCount": 5,
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                "finishedAt": ago(180)}},
            "state": {"waiting": {"reason": "CrashLoopBackOff",
                "message": "back-off 2m40s restarting failed container"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "CrashLoopBackOff", "5 (3m ago)"));
}

#[test]
fn restarts_without_termination_time_have_no_suffix() {
    let p = pod(
        json!({}),
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
            "restartCount": 2, "state": {"running": {}}}]}),
    );
    assert_eq!(summary(&p), s("1/1", "Running", "2"));
}

#[test]
fn image_pull_errors() {
    for reason in ["ErrImagePull", "ImagePullBackOff"] {
        let p = pod(
            json!({}),
            json!({"phase": "Pending", "containerStatuses": [{"name": "app",
                "state": {"waiting": {"reason": reason}}}]}),
        );
        assert_eq!(summary(&p), s("0/1", reason, "0"));
    }
}

#[test]
fn completed_pod_has_row_condition() {
    let p = pod(
        json!({}),
        json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "ready": false,
            "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "Completed", "0"));
    let r = row("", "Pod", &p, IncludeObject::None, now());
    assert_eq!(
        r["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully."}])
    );
}

#[test]
fn error_and_failed_condition() {
    let p = pod(
        json!({}),
        json!({"phase": "Failed", "containerStatuses": [{"name": "app",
            "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
    );
    assert_eq!(summary(&p), s("0/1", "Error", "0"));
    let r = row("", "Pod", &p, IncludeObject::None, now());
    assert_eq!(r["conditions"][0]["reason"], "Failed");
    assert_eq!(r["conditions"][0]["message"], "The pod failed.");
}

#[test]
fn terminated_without_reason_shows_signal_or_exit_code() {
    let with = |terminated: Value| {
        pod(
            json!({}),
            json!({"phase": "Running", "containerStatuses": [{"name": "app",
                "state": {"terminated": terminated}}]}),
        )
    };
    assert_eq!(
        summary(&with(json!({"exitCode": 137, "signal": 9}))).1,
        "Signal:9"
    );
    assert_eq!(summary(&with(json!({"exitCode": 1}))).1, "ExitCode:1");
    assert_eq!(
        summary(&with(json!({"exitCode": 137, "reason": "OOMKilled"}))).1,
        "OOMKilled"
    );
}

#[test]
fn init_containers() {
    let init = json!({"initContainers": [{"name": "setup", "image": "busybox"}]});
    let with = |state: Value| {
        pod(
            init.clone(),
            json!({"phase": "Pending",
                "initContainerStatuses": [{"name": "setup", "restartCount": 0, "state": state}],
                "containerStatuses": [{"name": "app",
                    "state": {"waiting": {"reason": "PodInitializing"}}}]}),
        )
    };
    assert_eq!(
        summary(&with(json!({"waiting": {"reason": "PodInitializing"}}))),
        s("0/1", "Init:0/1", "0")
    );
    assert_eq!(
        summary(&with(json!({"running": {}}))),
        s("0/1", "Init:0/1", "0")
    );
    assert_eq!(
        summary(&with(json!({"waiting": {"reason": "CrashLoopBackOff"}}))).1,
        "Init:CrashLoopBackOff"
    );
    assert_eq!(
        summary(&with(json!({"terminated": {"exitCode": 1}}))).1,
        "Init:ExitCode:1"
    );
    assert_eq!(
        summary(&with(json!({"terminated": {"exitCode": 2, "signal": 9}}))).1,
        "Init:Signal:9"
    );
    assert_eq!(
        summary(&with(
            json!({"terminated": {"exitCode": 1, "reason": "Error"}})
        ))
        .1,
        "Init:Error"
    );
    // Init done: the app container's state shows.
    assert_eq!(
        summary(&with(
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}})
        ))
        .1,
        "PodInitializing"
    );
}

#[test]
fn second_of_two_init_containers() {
    let p = pod(
        json!({"initContainers": [{"name": "a"}, {"name": "b"}]}),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0}}},
            {"name": "b", "state": {"running": {}}}
        ]}),
    );
    assert_eq!(summary(&p).1, "Init:1/2");
}

#[test]
fn init_restarts_count_only_while_initializing() {
    let init_status = json!({"name": "setup", "restartCount": 3,
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(60)}}});
    let mut initializing = init_status.clone();
    initializing["state"] = json!({"running": {}});
    let p = pod(
        json!({"initContainers": [{"name": "setup"}]}),
        json!({"phase": "Pending", "initContainerStatuses": [initializing]}),
    );
    assert_eq!(summary(&p), s("0/1", "Init:0/1", "3 (60s ago)"));

    let mut done = init_status;
    done["state"] = json!({"terminated": {"exitCode": 0}});
    let p = pod(
        json!({"initContainers": [{"name": "setup"}]}),
        json!({"phase": "Running", "initContainerStatuses": [done],
            "containerStatuses": [running("app")]}),
    );
    assert_eq!(summary(&p), s("1/1", "Running", "0"));
}

#[test]
fn sidecar_containers_count_in_ready_and_restarts() {
    let p = pod(
        json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}]}),
        json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true,
                "restartCount": 2,
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(600)}},
                "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 1,
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(120)}},
                "state": {"running": {}}}]}),
    );
    assert_eq!(summary(&p), s("2/2", "Running", "3 (2m ago)"));

    // A sidecar that has not started yet blocks initialization.
    let p = pod(
        json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}]}),
        json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "proxy", "started": false,
                "state": {"running": {}}}]}),
    );
    assert_eq!(summary(&p), s("0/2", "Init:0/1", "0"));
}

#[test]
fn completed_container_next_to_running_one() {
    let statuses = json!([
        running("app"),
        {"name": "job", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    ]);
    let p = pod(
        json!({"containers": [{"name": "app"}, {"name": "job"}]}),
        json!({"phase": "Running", "containerStatuses": statuses,
            "conditions": [{"type": "Ready", "status": "False"}]}),
    );
    assert_eq!(summary(&p), s("1/2", "NotReady", "0"));
    let p = pod(
        json!({"containers": [{"name": "app"}, {"name": "job"}]}),
        json!({"phase": "Running", "containerStatuses": statuses,
            "conditions": [{"type": "Ready", "status": "True"}]}),
    );
    assert_eq!(summary(&p), s("1/2", "Running", "0"));
}

#[test]
fn terminating_and_node_lost() {
    let mut p = pod(
        json!({}),
        json!({"phase": "Running", "containerStatuses": [running("app")]}),
    );
    p["metadata"]["deletionTimestamp"] = json!(ago(10));
    assert_eq!(summary(&p), s("1/1", "Terminating", "0"));

    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(summary(&p).1, "Unknown");

    // A finished pod being deleted keeps its final status.
    let mut done = pod(
        json!({}),
        json!({"phase": "Succeeded", "containerStatuses": [{"name": "app",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    done["metadata"]["deletionTimestamp"] = json!(ago(10));
    assert_eq!(summary(&done).1, "Completed");
}

#[test]
fn status_reason_and_scheduling_gates() {
    let p = pod(json!({}), json!({"phase": "Failed", "reason": "Evicted"}));
    assert_eq!(summary(&p), s("0/1", "Evicted", "0"));

    let p = pod(
        json!({"schedulingGates": [{"name": "example.com/gate"}]}),
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "SchedulingGated"}]}),
    );
    assert_eq!(summary(&p).1, "SchedulingGated");
}

#[test]
fn wide_cells() {
    let p = pod(
        json!({"readinessGates": [{"conditionType": "example.com/a"},
            {"conditionType": "example.com/b"}]}),
        json!({"phase": "Pending", "nominatedNodeName": "node-2",
            "conditions": [{"type": "example.com/a", "status": "True"},
                {"type": "example.com/b", "status": "False"}]}),
    );
    let c = cells("", "Pod", &p);
    assert_eq!(c[5], "<none>");
    assert_eq!(c[7], "node-2");
    assert_eq!(c[8], "1/2");
}

#[test]
fn malformed_pods_do_not_panic() {
    assert_eq!(
        cells("", "Pod", &json!({})),
        json!([
            "",
            "0/0",
            "",
            "0",
            "<unknown>",
            "<none>",
            "<none>",
            "<none>",
            "<none>"
        ])
    );
    let garbage = json!({"metadata": "x", "spec": {"containers": "nope", "initContainers": [1]},
        "status": {"phase": 3, "containerStatuses": [null, "x", {"state": 7}],
            "initContainerStatuses": [{"restartCount": "lots"}]}});
    let c = cells("", "Pod", &garbage);
    assert_eq!(c.as_array().unwrap().len(), 9);
}
