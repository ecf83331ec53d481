//! Encode/decode and patch throughput (objects/s) for a typical Deployment
//! and Pod, printed beside the serde_json baseline (parse + serialize of
//! the same bytes as an untyped value) with the ratio to it. Single
//! thread; each measure runs for about `--millis` (default 400) ms.
//!
//! Usage: codec-bench [--millis MS]

use std::hint::black_box;
use std::time::{Duration, Instant};

use corten_api::builtin_resources;
use corten_apimachinery::managedfields::{ManagerId, Managers, Operation, managers};
use serde_json::{Value, json};

fn millis() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--millis")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

/// Objects per second of `f`, run for about `budget`.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "5f0a3e0c-7d1b-4a8e-9c77-0d6f4b1e2a11",
            "resourceVersion": "12345", "generation": 3, "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {
            "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "frontend"}},
                "spec": {
                    "containers": [{
                        "name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
                        "env": [{"name": "MODE", "value": "production"}, {"name": "LOG_LEVEL", "value": "info"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"},
                            "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler", "securityContext": {}
                }
            }
        },
        "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
            "availableReplicas": 3,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
                "lastUpdateTime": "2025-01-01T00:00:10Z", "lastTransitionTime": "2025-01-01T00:00:10Z"}]}
    })
}

fn pod() -> Value {
    let d = deployment();
    let mut spec = d["spec"]["template"]["spec"].clone();
    spec["nodeName"] = json!("node-1");
    spec["serviceAccountName"] = json!("default");
    spec["tolerations"] = json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ]);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d9c6b5f4-abcde", "namespace": "default",
            "uid": "1b6e0f4a-2c3d-4e5f-8a9b-0c1d2e3f4a5b", "resourceVersion": "23456",
            "creationTimestamp": "2025-01-01T00:00:01Z", "generateName": "web-7d9c6b5f4-",
            "labels": {"app": "web", "pod-template-hash": "7d9c6b5f4"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9c6b5f4",
                "uid": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "controller": true, "blockOwnerDeletion": true}]},
        "spec": spec,
        "status": {"phase": "Running", "podIP": "10.244.1.7", "hostIP": "192.168.1.10", "qosClass": "Burstable",
            "startTime": "2025-01-01T00:00:02Z",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:05Z"}],
            "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0, "started": true,
                "image": "docker.io/library/nginx:1.27", "imageID": "sha256:abc", "containerID": "containerd://abc",
                "state": {"running": {"startedAt": "2025-01-01T00:00:04Z"}},
                "lastState": {}}]}
    })
}

fn main() {
    let budget = Duration::from_millis(millis());
    let mut table: Vec<(String, String, f64, f64)> = Vec::new();
    for (group, kind, obj) in [("apps", "Deployment", deployment()), ("", "Pod", pod())] {
        let def = builtin_resources()
            .iter()
            .find(|d| d.group == group && d.version == "v1" && d.kind == kind)
            .expect("built-in kind");
        let bytes = serde_json::to_vec(&obj).expect("encode");
        let baseline = rate(budget, || {
            let v: Value = serde_json::from_slice(black_box(&bytes)).expect("parse");
            black_box(serde_json::to_vec(&v).expect("serialize"));
        });
        let mut row =
            |name: &str, r: f64| table.push((kind.to_string(), name.to_string(), r, r / baseline));
        row("serde_json Value parse+serialize (baseline)", baseline);

        let typed = match kind {
            "Deployment" => rate(budget, || {
                let d: k8s_openapi::api::apps::v1::Deployment =
                    serde_json::from_slice(black_box(&bytes)).expect("decode");
                black_box(serde_json::to_vec(&d).expect("encode"));
            }),
            _ => rate(budget, || {
                let p: k8s_openapi::api::core::v1::Pod =
                    serde_json::from_slice(black_box(&bytes)).expect("decode");
                black_box(serde_json::to_vec(&p).expect("encode"));
            }),
        };
        row("typed decode+encode (k8s-openapi)", typed);

        let strategy = def.strategy;
        let canon = rate(budget, || {
            let v: Value = serde_json::from_slice(black_box(&bytes)).expect("parse");
            let c = strategy.canonicalize(v).expect("canonical");
            black_box(serde_json::to_vec(&c).expect("serialize"));
        });
        row("apiserver canonicalize (decode, check, encode)", canon);

        let merge_patch = br#"{"metadata":{"labels":{"release":"canary"}},"spec":{"template":{"spec":{"terminationGracePeriodSeconds":45}}}}"#;
        let mp = rate(budget, || {
            let v: Value = serde_json::from_slice(black_box(&bytes)).expect("parse");
            let out =
                corten_apimachinery::patch::apply_merge_patch(&v, merge_patch).expect("patch");
            black_box(serde_json::to_vec(&out).expect("serialize"));
        });
        row("JSON merge patch (parse, patch, serialize)", mp);

        let meta = corten_api::patch_meta::for_gvk(group, "v1", kind).expect("patch meta");
        let containers_path = if kind == "Pod" {
            "/spec"
        } else {
            "/spec/template/spec"
        };
        let mut inner = json!({"containers": [{"name": "web", "image": "nginx:1.28",
            "env": [{"name": "MODE", "value": "canary"}]}]});
        for seg in containers_path.trim_start_matches('/').split('/').rev() {
            inner = json!({ seg: inner });
        }
        let smp = inner;
        let sp = rate(budget, || {
            let v: Value = serde_json::from_slice(black_box(&bytes)).expect("parse");
            let out = corten_apimachinery::strategic::apply_strategic_merge_patch(&v, &smp, meta)
                .expect("smp");
            black_box(serde_json::to_vec(&out).expect("serialize"));
        });
        row("strategic merge patch (parse, patch, serialize)", sp);

        let schema = corten_apiserver::registry::managed::schema_for(def);
        let ignored = managers::reset_fields("", true);
        let id = |m: &str, op| ManagerId {
            manager: m.into(),
            operation: op,
            api_version: def.api_version(),
            subresource: String::new(),
        };
        let creator = id("kubectl-create", Operation::Update);
        let tracked = managers::update(
            &schema,
            None,
            &obj,
            Managers::default(),
            &creator,
            &ignored,
            "t",
        )
        .expect("track");
        let mut changed = obj.clone();
        changed["metadata"]["labels"]["release"] = json!("canary");
        let up = rate(budget, || {
            black_box(
                managers::update(
                    &schema,
                    Some(&obj),
                    &changed,
                    tracked.clone(),
                    &id("kubectl-edit", Operation::Update),
                    &ignored,
                    "t",
                )
                .expect("update"),
            );
        });
        row("managedFields update (compare + ownership)", up);

        let mut config = obj.clone();
        if let Some(m) = config.as_object_mut() {
            m.shift_remove("status");
        }
        let applier = id("kubectl", Operation::Apply);
        let ap = rate(budget, || {
            black_box(
                managers::apply(
                    &schema,
                    &obj,
                    &config,
                    tracked.clone(),
                    &applier,
                    true,
                    &ignored,
                    "t",
                )
                .expect("apply"),
            );
        });
        row("server-side apply (merge, ownership, conflicts)", ap);
    }
    println!(
        "{:<11} {:<50} {:>12} {:>8}",
        "KIND", "OPERATION", "OBJECTS/S", "RATIO"
    );
    for (kind, name, r, ratio) in table {
        println!("{kind:<11} {name:<50} {r:>12.0} {ratio:>8.2}");
    }
}
