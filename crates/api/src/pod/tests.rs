//! Pod, PodTemplate and ReplicationController strategy tests.

use serde_json::{Value, json};

use super::test_support::{
    assert_has, assert_has_prefix, create, create_ok, set, update, update_status,
};
use super::{POD_STRATEGY, POD_TEMPLATE_STRATEGY, REPLICATION_CONTROLLER_STRATEGY};
use crate::strategy::Strategy;

fn pod(spec: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": spec,
    })
}

fn simple_pod() -> Value {
    pod(json!({"containers": [{"name": "c", "image": "nginx"}]}))
}

fn pod_errors(spec: Value) -> Vec<String> {
    create(&POD_STRATEGY, pod(spec)).1
}

#[test]
fn pod_spec_and_container_defaults() {
    let v = create_ok(&POD_STRATEGY, simple_pod());
    let spec = &v["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["enableServiceLinks"], true);
    assert!(
        spec.get("preemptionPolicy").is_none(),
        "set by admission, not defaulting"
    );
    let c = &spec["containers"][0];
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(
        v["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"})
    );
    assert_eq!(v["metadata"]["generation"], 1);
}

#[test]
fn nested_defaults() {
    let v = create_ok(
        &POD_STRATEGY,
        pod(json!({
            "containers": [{
                "name": "c",
                "image": "nginx:1.25",
                "ports": [{"containerPort": 80}],
                "livenessProbe": {"httpGet": {"port": 80}},
                "readinessProbe": {"grpc": {"port": 9000}},
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
            }],
            "volumes": [
                {"name": "scratch"},
                {"name": "s", "secret": {"secretName": "s"}},
                {"name": "cm", "configMap": {"name": "cm"}},
                {"name": "h", "hostPath": {"path": "/var/log"}},
                {"name": "d", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            ],
        })),
    );
    let c = &v["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(
        c["livenessProbe"],
        json!({"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1,
               "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(c["readinessProbe"]["grpc"]["service"], "");
    assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "1", "memory": "1Gi"})
    );
    let vols = &v["spec"]["volumes"];
    assert_eq!(vols[0]["emptyDir"], json!({}));
    assert_eq!(vols[1]["secret"]["defaultMode"], 420);
    assert_eq!(vols[2]["configMap"]["defaultMode"], 420);
    assert_eq!(vols[3]["hostPath"]["type"], "");
    assert_eq!(vols[4]["downwardAPI"]["defaultMode"], 420);
    assert_eq!(
        vols[4]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"],
        "v1"
    );
    assert_eq!(v["status"]["qosClass"], "Guaranteed");
}

#[test]
fn host_network_defaults_host_ports() {
    let v = create_ok(
        &POD_STRATEGY,
        pod(
            json!({"hostNetwork": true, "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 8080}]}]}),
        ),
    );
    assert_eq!(v["spec"]["containers"][0]["ports"][0]["hostPort"], 8080);
}

#[test]
fn canonical_quantities_and_decode_errors() {
    let mut p = simple_pod();
    set(
        &mut p,
        "/spec/containers/0",
        json!({"name": "c", "image": "i",
        "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": "0.0001"}}}),
    );
    let v = POD_STRATEGY.canonicalize(p).unwrap();
    let r = &v["spec"]["containers"][0]["resources"];
    assert_eq!(r["requests"], json!({"cpu": "500m", "memory": "1Gi"}));
    assert_eq!(r["limits"]["cpu"], "1m", "rounded up to milli precision");

    let mut bad = simple_pod();
    set(
        &mut bad,
        "/spec/containers/0/resources",
        json!({"limits": {"cpu": "lots"}}),
    );
    let err = POD_STRATEGY.canonicalize(bad).unwrap_err();
    assert!(
        err.contains("spec.containers[0].resources.limits[cpu]"),
        "{err}"
    );

    assert!(
        POD_STRATEGY
            .canonicalize(json!({"spec": {"containers": "nope"}}))
            .is_err()
    );
    assert!(POD_STRATEGY.canonicalize(json!([1, 2])).is_err());
    assert!(
        POD_STRATEGY
            .canonicalize(json!({"spec": {"containers": [{"ports": [{"containerPort": "x"}]}]}}))
            .is_err()
    );
}

#[test]
fn container_validation() {
    assert_has(
        &pod_errors(json!({"containers": []})),
        "spec.containers: Required value",
    );
    let errs = pod_errors(
        json!({"containers": [{"name": "c", "image": "i"}, {"name": "c", "image": "i"}]}),
    );
    assert_has(&errs, "spec.containers[1].name: Duplicate value: \"c\"");
    let errs = pod_errors(json!({"containers": [{"name": "C_1", "image": "i"}]}));
    assert_has_prefix(
        &errs,
        "spec.containers[0].name: Invalid value: \"C_1\": a lowercase RFC 1123 label",
    );
    assert_has(
        &pod_errors(json!({"containers": [{"name": "c"}]})),
        "spec.containers[0].image: Required value",
    );
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": " i"}]}));
    assert_has(
        &errs,
        "spec.containers[0].image: Invalid value: \" i\": must not have leading or trailing whitespace",
    );
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": "i", "ports": [
        {"containerPort": 0}, {"containerPort": 70000}, {"containerPort": 80, "protocol": "HTTP"}]}]}));
    assert_has(
        &errs,
        "spec.containers[0].ports[0].containerPort: Required value",
    );
    assert_has(
        &errs,
        "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
    );
    assert_has(
        &errs,
        "spec.containers[0].ports[2].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
    );
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": "i",
        "volumeMounts": [{"name": "data", "mountPath": ""}]}]}));
    assert_has(
        &errs,
        "spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
    );
    assert_has(
        &errs,
        "spec.containers[0].volumeMounts[0].mountPath: Required value",
    );
    let errs = pod_errors(
        json!({"containers": [{"name": "c", "image": "i", "env": [{"name": ""},
        {"name": "A", "valueFrom": {}}]}]}),
    );
    assert_has(&errs, "spec.containers[0].env[0].name: Required value");
    assert_has(
        &errs,
        "spec.containers[0].env[1].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
    );
    let errs = pod_errors(
        json!({"containers": [{"name": "c", "image": "i", "env": [{"name": "A",
        "valueFrom": {"fieldRef": {"fieldPath": "spec.restartPolicy"}}}]}]}),
    );
    assert_has_prefix(
        &errs,
        "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.restartPolicy\": supported values: \"metadata.name\"",
    );
}

#[test]
fn resource_validation() {
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": "i",
        "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]}));
    assert_has(
        &errs,
        "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
    );
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": "i",
        "resources": {"requests": {"memory": "-1"}}}]}));
    assert_has(
        &errs,
        "spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0",
    );
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": "i",
        "resources": {"limits": {"gpu": "1"}}}]}));
    assert_has(
        &errs,
        "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
    );
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": "i",
        "resources": {"limits": {"example.com/gpu": "1"}, "requests": {"example.com/gpu": "2"}}}]}));
    assert_has(
        &errs,
        "spec.containers[0].resources.requests: Invalid value: \"2\": must be equal to example.com/gpu limit of 1",
    );
}

#[test]
fn spec_level_validation() {
    let errs = pod_errors(json!({"restartPolicy": "Sometimes", "dnsPolicy": "Google",
        "containers": [{"name": "c", "image": "i"}]}));
    assert_has(
        &errs,
        "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
    );
    assert_has(
        &errs,
        "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
    );
    let errs = pod_errors(json!({"activeDeadlineSeconds": 0, "hostname": "Bad_Host",
        "serviceAccountName": "Bad!", "nodeSelector": {"k": "bad value"},
        "containers": [{"name": "c", "image": "i"}]}));
    assert_has(
        &errs,
        "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
    );
    assert_has_prefix(&errs, "spec.hostname: Invalid value: \"Bad_Host\"");
    assert_has_prefix(&errs, "spec.serviceAccountName: Invalid value: \"Bad!\"");
    assert_has_prefix(&errs, "spec.nodeSelector: Invalid value: \"bad value\"");
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": "i"}],
        "volumes": [{"name": "w", "emptyDir": {}, "hostPath": {"path": "/tmp"}}, {"name": "v", "emptyDir": {}},
                    {"name": "v", "emptyDir": {}}]}));
    assert_has(
        &errs,
        "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
    );
    assert_has(&errs, "spec.volumes[2].name: Duplicate value: \"v\"");
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": "i"}],
        "tolerations": [{"key": "k", "operator": "Exists", "value": "v"}, {"operator": "Equal", "value": "x"},
                        {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]}));
    assert_has(
        &errs,
        "spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
    );
    assert_has(
        &errs,
        "spec.tolerations[1].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
    );
    assert_has(
        &errs,
        "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
    );
    let errs = pod_errors(
        json!({"containers": [{"name": "c", "image": "i"}], "affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "Near"}]}]}}}}),
    );
    assert_has(
        &errs,
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector operator",
    );
}

#[test]
fn init_containers_and_sidecars() {
    let ok = pod_errors(json!({"containers": [{"name": "c", "image": "i"}],
        "initContainers": [{"name": "sidecar", "image": "i", "restartPolicy": "Always",
            "readinessProbe": {"exec": {"command": ["true"]}}}]}));
    assert!(ok.is_empty(), "{ok:?}");
    let errs = pod_errors(
        json!({"containers": [{"name": "c", "image": "i", "restartPolicy": "Always"}],
        "initContainers": [
            {"name": "init", "image": "i", "restartPolicy": "OnFailure"},
            {"name": "probe", "image": "i", "livenessProbe": {"exec": {"command": ["true"]}}},
            {"name": "c", "image": "i"}]}),
    );
    assert_has(
        &errs,
        "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
    );
    assert_has(
        &errs,
        "spec.initContainers[0].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
    );
    assert_has(
        &errs,
        "spec.initContainers[1].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
    );
    assert_has(&errs, "spec.initContainers[2].name: Duplicate value: \"c\"");
}

#[test]
fn probe_validation() {
    let errs = pod_errors(json!({"containers": [{"name": "c", "image": "i",
        "livenessProbe": {"exec": {"command": ["x"]}, "tcpSocket": {"port": 80}, "successThreshold": 2},
        "startupProbe": {}}]}));
    assert_has(
        &errs,
        "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
    );
    assert_has(
        &errs,
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
    );
    assert_has(
        &errs,
        "spec.containers[0].startupProbe: Required value: must specify a handler type",
    );
}

#[test]
fn create_only_rules() {
    let errs = pod_errors(
        json!({"nodeName": "n1", "schedulingGates": [{"name": "example.com/gate"}],
        "containers": [{"name": "c", "image": "i"}],
        "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}),
    );
    assert_has(
        &errs,
        "spec.ephemeralContainers: Forbidden: cannot be set on create",
    );
    assert_has(
        &errs,
        "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared",
    );
    let v = create(
        &POD_STRATEGY,
        pod(json!({"schedulingGates": [{"name": "example.com/gate"}],
        "containers": [{"name": "c", "image": "i"}]})),
    )
    .0;
    assert_eq!(
        v["status"]["conditions"][0],
        json!({"message": "Scheduling is blocked due to non-empty scheduling gates",
               "reason": "SchedulingGated", "status": "False", "type": "PodScheduled"})
    );
}

#[test]
fn pod_affinity_match_label_keys_are_merged() {
    let v = create_ok(
        &POD_STRATEGY,
        pod(json!({"containers": [{"name": "c", "image": "i"}],
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"tier": "db"}}, "matchLabelKeys": ["app"], "topologyKey": "zone"}]}}})),
    );
    let term = &v["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        [0];
    assert_eq!(
        term["labelSelector"]["matchExpressions"],
        json!([{"key": "app", "operator": "In", "values": ["web"]}])
    );
}

#[test]
fn pod_update_rules() {
    let old = create_ok(&POD_STRATEGY, simple_pod());
    let mut new = old.clone();
    set(&mut new, "/spec/containers/0/image", json!("nginx:2"));
    let (v, errs) = update(&POD_STRATEGY, new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(v["metadata"]["generation"], 2);

    let mut new = old.clone();
    set(&mut new, "/metadata/labels", json!({"app": "other"}));
    let (v, errs) = update(&POD_STRATEGY, new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        v["metadata"]["generation"], 1,
        "metadata changes keep the generation"
    );

    let mut new = old.clone();
    set(&mut new, "/spec/restartPolicy", json!("Never"));
    let errs = update(&POD_STRATEGY, new, &old).1;
    assert_has_prefix(
        &errs,
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n",
    );

    let mut new = old.clone();
    set(
        &mut new,
        "/spec/containers",
        json!([{"name": "c", "image": "i"}, {"name": "d", "image": "i"}]),
    );
    assert_has(
        &update(&POD_STRATEGY, new, &old).1,
        "spec.containers: Forbidden: pod updates may not add or remove containers",
    );

    let mut new = old.clone();
    set(
        &mut new,
        "/spec/tolerations",
        json!([{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]),
    );
    let (with_toleration, errs) = update(&POD_STRATEGY, new, &old);
    assert!(errs.is_empty(), "additions are allowed: {errs:?}");
    let mut new = with_toleration.clone();
    set(&mut new, "/spec/tolerations", json!([]));
    assert_has(
        &update(&POD_STRATEGY, new, &with_toleration).1,
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds",
    );

    let mut new = old.clone();
    set(&mut new, "/spec/activeDeadlineSeconds", json!(100));
    let (with_deadline, errs) = update(&POD_STRATEGY, new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    let mut new = with_deadline.clone();
    set(&mut new, "/spec/activeDeadlineSeconds", json!(200));
    assert_has(
        &update(&POD_STRATEGY, new, &with_deadline).1,
        "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value",
    );
}

#[test]
fn scheduling_gates_may_only_be_removed() {
    let old = create_ok(
        &POD_STRATEGY,
        pod(json!({"schedulingGates": [{"name": "a.io/x"}],
        "containers": [{"name": "c", "image": "i"}]})),
    );
    let mut new = old.clone();
    set(&mut new, "/spec/schedulingGates", json!([]));
    assert!(update(&POD_STRATEGY, new, &old).1.is_empty());
    let mut new = old.clone();
    set(
        &mut new,
        "/spec/schedulingGates",
        json!([{"name": "a.io/x"}, {"name": "b.io/y"}]),
    );
    assert_has(
        &update(&POD_STRATEGY, new, &old).1,
        "spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new scheduling gate 'b.io/y'",
    );
}

#[test]
fn status_updates_keep_spec_and_validate_status() {
    let old = create_ok(&POD_STRATEGY, simple_pod());
    let mut new = old.clone();
    set(&mut new, "/spec/containers/0/image", json!("changed"));
    set(
        &mut new,
        "/status",
        json!({"phase": "Running", "qosClass": "BestEffort",
        "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]}),
    );
    let (v, errs) = update_status(&POD_STRATEGY, new, &old);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(v["spec"]["containers"][0]["image"], "nginx");
    assert_eq!(v["status"]["phase"], "Running");

    let mut new = old.clone();
    set(
        &mut new,
        "/status",
        json!({"phase": "Running", "qosClass": "Guaranteed",
        "podIPs": [{"ip": "not-an-ip"}]}),
    );
    let errs = update_status(&POD_STRATEGY, new, &old).1;
    assert_has(
        &errs,
        "status.qosClass: Invalid value: \"Guaranteed\": field is immutable",
    );
    assert_has_prefix(&errs, "status.podIPs[0]: Invalid value: \"not-an-ip\"");

    let mut new = old.clone();
    set(&mut new, "/status", json!({"phase": "Running"}));
    let (v, _) = update_status(&POD_STRATEGY, new, &old);
    assert_eq!(
        v["status"]["qosClass"], "BestEffort",
        "backfilled from the old status"
    );
}

#[test]
fn field_attrs_and_labels() {
    let mut v = create_ok(&POD_STRATEGY, simple_pod());
    set(&mut v, "/spec/nodeName", json!("node-1"));
    v["status"]["podIPs"] = json!([{"ip": "10.1.2.3"}]);
    let attrs = POD_STRATEGY.field_attrs(&v);
    let get = |k: &str| attrs.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
    assert_eq!(get("spec.nodeName"), Some("node-1"));
    assert_eq!(get("spec.restartPolicy"), Some("Always"));
    assert_eq!(get("spec.schedulerName"), Some("default-scheduler"));
    assert_eq!(get("spec.hostNetwork"), Some("false"));
    assert_eq!(get("status.phase"), Some("Pending"));
    assert_eq!(get("status.podIP"), Some("10.1.2.3"));
    assert_eq!(get("status.nominatedNodeName"), Some(""));
    assert_eq!(get("spec.serviceAccountName"), Some(""));
    for (k, _) in &attrs {
        assert!(POD_STRATEGY.field_labels().contains(&k.as_str()), "{k}");
    }
    assert!(!POD_STRATEGY.field_labels().contains(&"status.podIPs"));
}

#[test]
fn graceful_deletion() {
    let mut v = create_ok(&POD_STRATEGY, simple_pod());
    assert_eq!(
        POD_STRATEGY.graceful_delete_seconds(&v, None),
        Some(0),
        "unscheduled pods go at once"
    );
    set(&mut v, "/spec/nodeName", json!("node-1"));
    assert_eq!(POD_STRATEGY.graceful_delete_seconds(&v, None), Some(30));
    assert_eq!(POD_STRATEGY.graceful_delete_seconds(&v, Some(5)), Some(5));
    assert_eq!(POD_STRATEGY.graceful_delete_seconds(&v, Some(-3)), Some(1));
    set(&mut v, "/status/phase", json!("Succeeded"));
    assert_eq!(POD_STRATEGY.graceful_delete_seconds(&v, Some(5)), Some(0));
}

#[test]
fn pod_template_strategy() {
    let obj = json!({"apiVersion": "v1", "kind": "PodTemplate",
        "metadata": {"name": "t", "namespace": "default"},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}});
    let v = create_ok(&POD_TEMPLATE_STRATEGY, obj.clone());
    assert_eq!(v["template"]["spec"]["restartPolicy"], "Always");
    assert!(
        v["template"]["spec"].get("enableServiceLinks").is_none(),
        "pod-only default"
    );
    assert_eq!(v["metadata"]["generation"], 1);
    let mut bad = obj;
    set(&mut bad, "/template/spec/containers", json!([]));
    assert_has(
        &create(&POD_TEMPLATE_STRATEGY, bad).1,
        "template.spec.containers: Required value",
    );
}

fn rc(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "rc", "namespace": "default"}, "spec": spec})
}

#[test]
fn replication_controller_defaults_and_validation() {
    let v = create_ok(
        &REPLICATION_CONTROLLER_STRATEGY,
        rc(json!({"template": {
        "metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}})),
    );
    assert_eq!(v["spec"]["replicas"], 1);
    assert_eq!(v["spec"]["selector"], json!({"app": "x"}));
    assert_eq!(v["metadata"]["labels"], json!({"app": "x"}));

    let errs = create(
        &REPLICATION_CONTROLLER_STRATEGY,
        rc(json!({"replicas": -1, "selector": {"app": "y"},
        "template": {"metadata": {"labels": {"app": "x"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}})),
    )
    .1;
    assert_has(
        &errs,
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );
    assert_has(
        &errs,
        "spec.template.metadata.labels: Invalid value: {\"app\":\"x\"}: `selector` does not match template `labels`",
    );
    assert_has(
        &errs,
        "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
    );
    let errs = create(&REPLICATION_CONTROLLER_STRATEGY, rc(json!({}))).1;
    assert_has(&errs, "spec.selector: Required value");
    assert_has(&errs, "spec.template: Required value");

    let mut with_status = v.clone();
    with_status["status"] = json!({"replicas": 3, "readyReplicas": 4});
    assert_eq!(
        REPLICATION_CONTROLLER_STRATEGY.field_attrs(&with_status),
        vec![("status.replicas".to_string(), "3".to_string())]
    );
    let errs = update_status(&REPLICATION_CONTROLLER_STRATEGY, with_status, &v).1;
    assert_has(
        &errs,
        "status.readyReplicas: Invalid value: 4: cannot be greater than status.replicas",
    );
}

/// Every hook must cope with any JSON shape: errors, never panics.
#[test]
fn hooks_never_panic_on_odd_shapes() {
    use crate::apps::{
        CONTROLLER_REVISION_STRATEGY, DAEMON_SET_STRATEGY, DEPLOYMENT_STRATEGY,
        REPLICA_SET_STRATEGY, STATEFUL_SET_STRATEGY,
    };
    use crate::batch::{CRON_JOB_STRATEGY, JOB_STRATEGY};
    let strategies: [&dyn Strategy; 10] = [
        &POD_STRATEGY,
        &POD_TEMPLATE_STRATEGY,
        &REPLICATION_CONTROLLER_STRATEGY,
        &DEPLOYMENT_STRATEGY,
        &REPLICA_SET_STRATEGY,
        &STATEFUL_SET_STRATEGY,
        &DAEMON_SET_STRATEGY,
        &CONTROLLER_REVISION_STRATEGY,
        &JOB_STRATEGY,
        &CRON_JOB_STRATEGY,
    ];
    let shapes = [
        json!(null),
        json!(5),
        json!([1, 2]),
        json!("pod"),
        json!({}),
        json!({"metadata": 5}),
        json!({"metadata": {"name": 3}}),
        json!({"spec": null}),
        json!({"spec": []}),
        json!({"spec": {"template": null, "selector": null}}),
        json!({"spec": {"template": {"spec": {"containers": [{}]}}}}),
        json!({"spec": {"containers": [{"resources": {"limits": {"cpu": "1e999999"}}}]}}),
        json!({"spec": {"jobTemplate": {"spec": {"template": {}}}, "schedule": "TZ="}}),
        json!({"metadata": {"annotations": {"deprecated.daemonset.template.generation": "9223372036854775807"}},
               "spec": {"template": {}}}),
        json!({"status": {"phase": 7}}),
    ];
    for s in strategies {
        for shape in &shapes {
            // Raw hooks on non-canonical input.
            let mut raw = shape.clone();
            s.prepare_for_create(&mut raw);
            s.default(&mut raw);
            let _ = s.validate(&raw);
            let _ = s.validate_update(&raw, shape);
            let _ = s.validate_status_update(&raw, shape);
            let mut raw_update = shape.clone();
            s.prepare_for_update(&mut raw_update, shape);
            s.prepare_for_status_update(&mut raw_update, shape);
            let _ = s.field_attrs(shape);
            let _ = s.graceful_delete_seconds(shape, Some(-5));
            // The canonical path, when the shape decodes.
            if let Ok(mut v) = s.canonicalize(shape.clone()) {
                s.prepare_for_create(&mut v);
                s.default(&mut v);
                let _ = s.validate(&v);
                let mut next = v.clone();
                s.prepare_for_update(&mut next, &v);
                s.default(&mut next);
                let _ = s.validate_update(&next, &v);
                s.prepare_for_update(&mut next, &v);
                let _ = s.validate_update(&next, &v);
            }
        }
    }
}
