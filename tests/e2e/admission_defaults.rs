//! The default-on admission plugins that fill in classes and guard
//! storage and nodes (DefaultStorageClass, StorageObjectInUseProtection,
//! PersistentVolumeClaimResize, LimitRanger on claims, DefaultIngressClass,
//! RuntimeClass, TaintNodesByCondition) and PodSecurity on updates, driven
//! by the real kubectl, with upstream's messages.

use std::time::Duration;

use corten_e2e::TestCluster;
use serde_json::Value;

/// Every default plugin on except ServiceAccount (no controller-manager
/// creates `default` accounts here).
async fn cluster() -> TestCluster {
    TestCluster::start_with(&["--disable-admission-plugins=ServiceAccount"])
        .await
        .unwrap()
}

async fn apply_yaml(c: &TestCluster, verb: &str, yaml: &str) -> std::process::Output {
    c.kubectl_stdin(&[verb, "-f", "-"], Some(yaml))
        .await
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn get_json(c: &TestCluster, args: &[&str]) -> Value {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&c.kubectl_ok(&a).await.unwrap()).unwrap()
}

/// Admission reads classes and ranges from the watch cache: wait until a
/// list (served from that cache) shows the object.
async fn wait_listed(c: &TestCluster, args: &[&str], name: &str) {
    for _ in 0..100 {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "name"]);
        if let Ok(out) = c.kubectl_ok(&a).await
            && out.lines().any(|l| l.ends_with(&format!("/{name}")))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} never listed");
}

fn claim(name: &str, class: Option<&str>, size: &str) -> String {
    let class = class
        .map(|c| format!("  storageClassName: \"{c}\"\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  namespace: st\nspec:\n{class}  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: {size}\n"
    )
}

async fn bind(c: &TestCluster, name: &str) {
    c.kubectl_ok(&[
        "patch",
        "pvc",
        name,
        "-n",
        "st",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Bound","capacity":{"storage":"1Gi"}}}"#,
    ])
    .await
    .unwrap();
}

async fn grow(c: &TestCluster, name: &str, size: &str) -> std::process::Output {
    let patch = format!(r#"{{"spec":{{"resources":{{"requests":{{"storage":"{size}"}}}}}}}}"#);
    c.kubectl(&["patch", "pvc", name, "-n", "st", "-p", &patch])
        .await
        .unwrap()
}

#[tokio::test]
async fn storage_plugins_default_protect_and_guard_claims() {
    crate::with_timeout!(async {
        let c = cluster().await;
        c.kubectl_ok(&["create", "namespace", "st"]).await.unwrap();
        let sc = |name: &str, default: bool, expand: bool| {
            format!(
                "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {name}\n  annotations:\n    storageclass.kubernetes.io/is-default-class: \"{default}\"\nprovisioner: example.com/none\nallowVolumeExpansion: {expand}\n"
            )
        };
        // No default class yet: the claim stays without one.
        let o = apply_yaml(&c, "create", &claim("none", None, "1Gi")).await;
        assert!(o.status.success(), "{}", text(&o));
        let pvc = get_json(&c, &["pvc", "none", "-n", "st"]).await;
        assert!(pvc["spec"].get("storageClassName").is_none(), "{pvc}");
        // StorageObjectInUseProtection.
        assert_eq!(
            pvc["metadata"]["finalizers"],
            serde_json::json!(["kubernetes.io/pvc-protection"])
        );

        // Two defaults: the newer one wins (creation times have seconds).
        assert!(
            apply_yaml(&c, "create", &sc("older", true, false))
                .await
                .status
                .success()
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(
            apply_yaml(&c, "create", &sc("fast", true, true))
                .await
                .status
                .success()
        );
        assert!(
            apply_yaml(&c, "create", &sc("fixed", false, false))
                .await
                .status
                .success()
        );
        wait_listed(&c, &["storageclass"], "fast").await;
        let o = apply_yaml(&c, "create", &claim("auto", None, "1Gi")).await;
        assert!(o.status.success(), "{}", text(&o));
        let pvc = get_json(&c, &["pvc", "auto", "-n", "st"]).await;
        assert_eq!(pvc["spec"]["storageClassName"], "fast", "{pvc}");
        // An explicit "" means no class, and stays.
        let o = apply_yaml(&c, "create", &claim("explicit", Some(""), "1Gi")).await;
        assert!(o.status.success(), "{}", text(&o));
        let pvc = get_json(&c, &["pvc", "explicit", "-n", "st"]).await;
        assert_eq!(pvc["spec"]["storageClassName"], "", "{pvc}");

        let pv = "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: vol\nspec:\n  capacity:\n    storage: 1Gi\n  accessModes: [ReadWriteOnce]\n  hostPath:\n    path: /tmp/vol\n";
        let o = apply_yaml(&c, "create", pv).await;
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            get_json(&c, &["pv", "vol"]).await["metadata"]["finalizers"],
            serde_json::json!(["kubernetes.io/pv-protection"])
        );

        // PersistentVolumeClaimResize, through PATCH and PUT.
        bind(&c, "auto").await;
        let o = grow(&c, "auto", "2Gi").await;
        assert!(o.status.success(), "{}", text(&o));
        let o = apply_yaml(&c, "create", &claim("stuck", Some("fixed"), "1Gi")).await;
        assert!(o.status.success(), "{}", text(&o));
        bind(&c, "stuck").await;
        let refusal = "persistentvolumeclaims \"stuck\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize";
        let o = grow(&c, "stuck", "2Gi").await;
        assert!(
            !o.status.success() && text(&o).contains(refusal),
            "{}",
            text(&o)
        );
        let mut stored = get_json(&c, &["pvc", "stuck", "-n", "st"]).await;
        stored["spec"]["resources"]["requests"]["storage"] = "3Gi".into();
        let o = apply_yaml(&c, "replace", &stored.to_string()).await;
        assert!(
            !o.status.success() && text(&o).contains(refusal),
            "{}",
            text(&o)
        );
        // Same size is no resize.
        let o = grow(&c, "stuck", "1Gi").await;
        assert!(o.status.success(), "{}", text(&o));

        // LimitRanger bounds claims on create and on update.
        let lr = "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: storage\n  namespace: st\nspec:\n  limits:\n  - type: PersistentVolumeClaim\n    max:\n      storage: 5Gi\n";
        assert!(apply_yaml(&c, "create", lr).await.status.success());
        wait_listed(&c, &["limitrange", "-n", "st"], "storage").await;
        let o = apply_yaml(&c, "create", &claim("huge", Some("fast"), "10Gi")).await;
        assert!(
            text(&o).contains("persistentvolumeclaims \"huge\" is forbidden: maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi"),
            "{}",
            text(&o)
        );
        let o = grow(&c, "auto", "8Gi").await;
        assert!(
            text(&o).contains("persistentvolumeclaims \"auto\" is forbidden: maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 8Gi"),
            "{}",
            text(&o)
        );
        let o = grow(&c, "auto", "4Gi").await;
        assert!(o.status.success(), "{}", text(&o));
    });
}

#[tokio::test]
async fn ingress_class_runtime_class_and_node_taints() {
    crate::with_timeout!(async {
        let c = cluster().await;
        c.kubectl_ok(&["create", "namespace", "web"]).await.unwrap();

        // TaintNodesByCondition.
        let node = "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nspec:\n  taints:\n  - key: dedicated\n    value: gpu\n    effect: NoSchedule\n";
        assert!(apply_yaml(&c, "create", node).await.status.success());
        let taints = get_json(&c, &["node", "n1"]).await["spec"]["taints"].clone();
        assert_eq!(
            taints,
            serde_json::json!([
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
            ])
        );

        // DefaultIngressClass: the newest default.
        let ic = |name: &str| {
            format!(
                "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: {name}\n  annotations:\n    ingressclass.kubernetes.io/is-default-class: \"true\"\nspec:\n  controller: example.com/ingress\n"
            )
        };
        assert!(
            apply_yaml(&c, "create", &ic("first"))
                .await
                .status
                .success()
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(
            apply_yaml(&c, "create", &ic("second"))
                .await
                .status
                .success()
        );
        wait_listed(&c, &["ingressclass"], "second").await;
        c.kubectl_ok(&[
            "create",
            "ingress",
            "site",
            "-n",
            "web",
            "--rule=example.com/=svc:80",
        ])
        .await
        .unwrap();
        let ing = get_json(&c, &["ingress", "site", "-n", "web"]).await;
        assert_eq!(ing["spec"]["ingressClassName"], "second", "{ing}");
        c.kubectl_ok(&[
            "create",
            "ingress",
            "chosen",
            "-n",
            "web",
            "--class=first",
            "--rule=example.com/=svc:80",
        ])
        .await
        .unwrap();
        let ing = get_json(&c, &["ingress", "chosen", "-n", "web"]).await;
        assert_eq!(ing["spec"]["ingressClassName"], "first", "{ing}");

        // RuntimeClass: overhead and scheduling from the class.
        let rc = "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: sandboxed\nhandler: runsc\noverhead:\n  podFixed:\n    cpu: 250m\n    memory: 120Mi\nscheduling:\n  nodeSelector:\n    sandbox: \"true\"\n  tolerations:\n  - key: sandbox\n    operator: Exists\n    effect: NoSchedule\n";
        assert!(apply_yaml(&c, "create", rc).await.status.success());
        let pod = |name: &str, extra: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: web\nspec:\n{extra}  containers:\n  - name: c\n    image: busybox\n"
            )
        };
        let o = apply_yaml(&c, "create", &pod("sb", "  runtimeClassName: sandboxed\n")).await;
        assert!(o.status.success(), "{}", text(&o));
        let p = get_json(&c, &["pod", "sb", "-n", "web"]).await;
        assert_eq!(
            p["spec"]["overhead"],
            serde_json::json!({"cpu": "250m", "memory": "120Mi"})
        );
        assert_eq!(
            p["spec"]["nodeSelector"],
            serde_json::json!({"sandbox": "true"})
        );
        let tolerations = p["spec"]["tolerations"].as_array().unwrap();
        assert!(
            tolerations
                .iter()
                .any(|t| t["key"] == "sandbox" && t["effect"] == "NoSchedule"),
            "{p}"
        );
        let refused = [
            (
                pod("missing", "  runtimeClassName: nope\n"),
                "pods \"missing\" is forbidden: pod rejected: RuntimeClass \"nope\" not found",
            ),
            (
                pod(
                    "conflict",
                    "  runtimeClassName: sandboxed\n  nodeSelector:\n    sandbox: \"false\"\n",
                ),
                "pods \"conflict\" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[sandbox] = true; pod.spec.nodeSelector[sandbox] = false",
            ),
            (
                pod(
                    "mismatch",
                    "  runtimeClassName: sandboxed\n  overhead:\n    cpu: 1\n",
                ),
                "pods \"mismatch\" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead",
            ),
            (
                pod("classless", "  overhead:\n    cpu: 1\n"),
                "pods \"classless\" is forbidden: pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
            ),
        ];
        for (yaml, message) in refused {
            let o = apply_yaml(&c, "create", &yaml).await;
            assert!(
                !o.status.success() && text(&o).contains(message),
                "{}",
                text(&o)
            );
        }
        // The same overhead, spelled otherwise, is the class's.
        let o = apply_yaml(
            &c,
            "create",
            &pod(
                "same",
                "  runtimeClassName: sandboxed\n  overhead:\n    cpu: \"0.25\"\n    memory: 120Mi\n",
            ),
        )
        .await;
        assert!(o.status.success(), "{}", text(&o));
    });
}

#[tokio::test]
async fn pod_security_judges_updates_and_label_changes() {
    crate::with_timeout!(async {
        let c = cluster().await;
        c.kubectl_ok(&["create", "namespace", "psa"]).await.unwrap();
        let host = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: host\n  namespace: psa\nspec:\n  hostNetwork: true\n  containers:\n  - name: c\n    image: busybox\n";
        assert!(apply_yaml(&c, "create", host).await.status.success());
        let plain = host
            .replace("name: host", "name: plain")
            .replace("  hostNetwork: true\n", "");
        assert!(apply_yaml(&c, "create", &plain).await.status.success());

        // Tightening enforce warns about the pods that would be refused.
        let o = c
            .kubectl(&[
                "label",
                "namespace",
                "psa",
                "pod-security.kubernetes.io/enforce=baseline",
            ])
            .await
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let out = text(&o);
        assert!(
            out.contains("Warning: existing pods in namespace \"psa\" violate the new PodSecurity enforce level \"baseline:latest\""),
            "{out}"
        );
        assert!(
            out.contains("Warning: host: host namespaces (hostNetwork=true)"),
            "{out}"
        );
        assert!(!out.contains("plain:"), "{out}");
        // Relaxing does not.
        let o = c
            .kubectl(&[
                "label",
                "namespace",
                "psa",
                "--overwrite",
                "pod-security.kubernetes.io/enforce=privileged",
            ])
            .await
            .unwrap();
        assert!(
            o.status.success() && !text(&o).contains("Warning"),
            "{}",
            text(&o)
        );
        c.kubectl_ok(&[
            "label",
            "namespace",
            "psa",
            "--overwrite",
            "pod-security.kubernetes.io/enforce=baseline",
        ])
        .await
        .unwrap();
        // A bad level is refused.
        let o = c
            .kubectl(&[
                "label",
                "namespace",
                "psa",
                "--overwrite",
                "pod-security.kubernetes.io/enforce=strict",
            ])
            .await
            .unwrap();
        assert!(
            !o.status.success()
                && text(&o).contains("Namespace \"psa\" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": must be one of privileged, baseline, restricted"),
            "{}",
            text(&o)
        );

        // Metadata changes of a violating pod are not judged ...
        c.kubectl_ok(&["label", "pod", "host", "-n", "psa", "tier=web"])
            .await
            .unwrap();
        // ... a new image is, through PATCH and PUT.
        let refusal = "pods \"host\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true)";
        let o = c
            .kubectl(&["set", "image", "pod/host", "-n", "psa", "c=busybox:2"])
            .await
            .unwrap();
        assert!(
            !o.status.success() && text(&o).contains(refusal),
            "{}",
            text(&o)
        );
        let mut stored = get_json(&c, &["pod", "host", "-n", "psa"]).await;
        stored["spec"]["containers"][0]["image"] = "busybox:3".into();
        let o = apply_yaml(&c, "replace", &stored.to_string()).await;
        assert!(
            !o.status.success() && text(&o).contains(refusal),
            "{}",
            text(&o)
        );
        // A compliant pod may change its image.
        c.kubectl_ok(&["set", "image", "pod/plain", "-n", "psa", "c=busybox:2"])
            .await
            .unwrap();

        // Workload templates are warned about at the enforce level, on
        // updates too.
        c.kubectl_ok(&["create", "deployment", "d", "-n", "psa", "--image=busybox"])
            .await
            .unwrap();
        let o = c
            .kubectl(&[
                "patch",
                "deployment",
                "d",
                "-n",
                "psa",
                "-p",
                r#"{"spec":{"template":{"spec":{"hostPID":true}}}}"#,
            ])
            .await
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("Warning: would violate PodSecurity \"baseline:latest\": host namespaces (hostPID=true)"),
            "{}",
            text(&o)
        );
    });
}

/// The audit events of `log` once one of them satisfies `done`.
async fn audit_events_until(log: &std::path::Path, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut events: Vec<Value> = Vec::new();
    for _ in 0..50 {
        events = std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if events.iter().any(&done) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    events
}

#[tokio::test]
async fn pod_security_annotates_audit_events() {
    crate::with_timeout!(async {
        let dir = tempfile::tempdir().unwrap();
        let (policy, log) = (dir.path().join("policy.yaml"), dir.path().join("audit.log"));
        std::fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n",
        )
        .unwrap();
        let c = TestCluster::start_with(&[
            "--disable-admission-plugins=ServiceAccount",
            &format!("--audit-policy-file={}", policy.display()),
            &format!("--audit-log-path={}", log.display()),
        ])
        .await
        .unwrap();
        let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: aud\n  labels:\n    pod-security.kubernetes.io/enforce: baseline\n    pod-security.kubernetes.io/audit: restricted\n";
        assert!(apply_yaml(&c, "create", ns).await.status.success());
        let pod = |name: &str, extra: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: aud\nspec:\n{extra}  containers:\n  - name: c\n    image: busybox\n"
            )
        };
        let o = apply_yaml(&c, "create", &pod("lax", "")).await;
        assert!(o.status.success(), "{}", text(&o));
        let o = apply_yaml(&c, "create", &pod("host", "  hostNetwork: true\n")).await;
        assert!(!o.status.success(), "{}", text(&o));
        // Creates carry no name in objectRef here: tell them by outcome.
        let created = |code: u16| {
            move |e: &Value| {
                e["verb"] == "create"
                    && e["objectRef"]["resource"] == "pods"
                    && e["stage"] == "ResponseComplete"
                    && e["responseStatus"]["code"] == code
            }
        };
        let events = audit_events_until(&log, created(403)).await;
        let of = |code: u16| {
            events
                .iter()
                .find(|e| created(code)(e))
                .unwrap_or_else(|| panic!("no pod create answered {code} in {events:#?}"))
                ["annotations"]
                .clone()
        };
        let lax = of(201);
        assert_eq!(
            lax["pod-security.kubernetes.io/enforce-policy"],
            "baseline:latest"
        );
        let violations = lax["pod-security.kubernetes.io/audit-violations"]
            .as_str()
            .unwrap_or_default();
        assert!(
            violations.starts_with(
                "would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"
            ),
            "{lax}"
        );
        let host = of(403);
        assert_eq!(
            host["pod-security.kubernetes.io/enforce-policy"],
            "baseline:latest"
        );
        assert!(
            host["pod-security.kubernetes.io/audit-violations"]
                .as_str()
                .unwrap_or_default()
                .contains("host namespaces (hostNetwork=true)"),
            "{host}"
        );
    });
}
