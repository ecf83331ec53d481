//! PodSecurity configured by `--admission-control-config-file`: defaults for
//! namespaces without labels, exemptions by namespace, user and runtime
//! class (with the `pod-security.kubernetes.io/exempt` audit annotation),
//! and upstream's `pod_security_*` metrics.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::stderr;
use serde_json::Value;

const CONFIG: &str = r#"apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  path: pod-security.yaml
"#;

const POD_SECURITY: &str = r#"apiVersion: pod-security.admission.config.k8s.io/v1
kind: PodSecurityConfiguration
defaults:
  enforce: baseline
  warn: restricted
exemptions:
  namespaces: [exempt-ns]
  usernames: [alice]
  runtimeClasses: [kata]
"#;

fn host_network_pod(name: &str, ns: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  hostNetwork: true\n{extra}  containers:\n  - name: c\n    image: busybox\n"
    )
}

#[tokio::test]
async fn configured_defaults_and_exemptions_apply() {
    crate::with_timeout!(async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admission.yaml"), CONFIG).unwrap();
        std::fs::write(dir.path().join("pod-security.yaml"), POD_SECURITY).unwrap();
        let policy = dir.path().join("audit-policy.yaml");
        std::fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n  resources:\n  - group: \"\"\n    resources: [pods]\n",
        )
        .unwrap();
        let log = dir.path().join("audit.log");
        let c = TestCluster::start_with(&[
            &format!(
                "--admission-control-config-file={}",
                dir.path().join("admission.yaml").display()
            ),
            &format!("--audit-policy-file={}", policy.display()),
            &format!("--audit-log-path={}", log.display()),
        ])
        .await
        .unwrap();
        for ns in ["plain", "exempt-ns"] {
            c.kubectl_ok(&["create", "namespace", ns]).await.unwrap();
        }
        let create = |yaml: String, kubeconfig: Option<std::path::PathBuf>| {
            let c = &c;
            async move {
                let mut args = vec!["create".to_string(), "-f".into(), "-".into()];
                if let Some(k) = kubeconfig {
                    args.insert(0, format!("--kubeconfig={}", k.display()));
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                c.kubectl_stdin(&args, Some(&yaml)).await.unwrap()
            }
        };

        // No labels: the configured default enforces baseline.
        let o = create(host_network_pod("refused", "plain", ""), None).await;
        assert!(
            stderr(&o).contains(
                "pods \"refused\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true)"
            ),
            "{}",
            stderr(&o)
        );
        // A baseline pod passes with the configured restricted warning.
        let o = create(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: warned\n  namespace: plain\nspec:\n  containers:\n  - name: c\n    image: busybox\n".into(),
            None,
        )
        .await;
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("would violate PodSecurity \"restricted:latest\""),
            "{}",
            stderr(&o)
        );

        // Exempt namespace.
        let o = create(host_network_pod("ns-exempt", "exempt-ns", ""), None).await;
        assert!(o.status.success(), "{}", stderr(&o));
        // Exempt user (alice may create pods in "plain").
        c.kubectl_ok(&[
            "create",
            "rolebinding",
            "alice-edit",
            "--clusterrole=edit",
            "--user=alice",
            "-n",
            "plain",
        ])
        .await
        .unwrap();
        let alice = c.token_kubeconfig("alice-token").unwrap();
        let o = create(host_network_pod("user-exempt", "plain", ""), Some(alice)).await;
        assert!(o.status.success(), "{}", stderr(&o));
        // Exempt runtime class.
        c.kubectl_stdin(
            &["create", "-f", "-"],
            Some("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: kata\nhandler: kata\n"),
        )
        .await
        .unwrap();
        let mut o = create(
            host_network_pod("rc-exempt", "plain", "  runtimeClassName: kata\n"),
            None,
        )
        .await;
        for _ in 0..30 {
            // The RuntimeClass plugin reads the class from its cache.
            if o.status.success() || !stderr(&o).contains("RuntimeClass") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            o = create(
                host_network_pod("rc-exempt", "plain", "  runtimeClassName: kata\n"),
                None,
            )
            .await;
        }
        assert!(o.status.success(), "{}", stderr(&o));

        // A namespace label overrides the configured default.
        c.kubectl_ok(&[
            "label",
            "namespace",
            "plain",
            "pod-security.kubernetes.io/enforce=privileged",
            "pod-security.kubernetes.io/warn=privileged",
        ])
        .await
        .unwrap();
        let mut o = create(host_network_pod("labelled", "plain", ""), None).await;
        for _ in 0..30 {
            if o.status.success() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            o = create(host_network_pod("labelled", "plain", ""), None).await;
        }
        assert!(o.status.success(), "{}", stderr(&o));

        // Exemptions are in the audit log, by reason.
        let events = crate::audit::events_until(&log, |e| {
            e["objectRef"]["name"] == "rc-exempt" && e["responseStatus"]["code"] == 201
        })
        .await;
        let exempt = |name: &str| -> Value {
            events
                .iter()
                .find(|e| e["verb"] == "create" && e["objectRef"]["name"] == name)
                .map(|e| e["annotations"]["pod-security.kubernetes.io/exempt"].clone())
                .unwrap_or(Value::Null)
        };
        assert_eq!(exempt("ns-exempt"), "namespace");
        assert_eq!(exempt("user-exempt"), "user");
        assert_eq!(exempt("rc-exempt"), "runtimeClass");

        // Upstream's metrics.
        let metrics = c.kubectl_ok(&["get", "--raw", "/metrics"]).await.unwrap();
        let value = |series: &str| -> f64 {
            metrics
                .lines()
                .find(|l| l.starts_with(series))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        assert!(
            value(
                "pod_security_exemptions_total{request_operation=\"create\",resource=\"pod\",subresource=\"\"}"
            ) >= 3.0,
            "{metrics}"
        );
        assert!(
            value(
                "pod_security_evaluations_total{decision=\"deny\",mode=\"enforce\",policy_level=\"baseline\",policy_version=\"latest\",request_operation=\"create\",resource=\"pod\",subresource=\"\"}"
            ) >= 1.0,
            "{metrics}"
        );
        assert!(
            value(
                "pod_security_evaluations_total{decision=\"deny\",mode=\"warn\",policy_level=\"restricted\",policy_version=\"latest\",request_operation=\"create\",resource=\"pod\",subresource=\"\"}"
            ) >= 1.0,
            "{metrics}"
        );
    })
}

/// Adding an ephemeral container (`kubectl debug`'s write to
/// `pods/ephemeralcontainers`) goes through admission like upstream: the
/// namespace's PodSecurity level refuses a privileged debugger with 403 and
/// lets a plain one in.
#[tokio::test]
async fn ephemeral_containers_are_judged_by_pod_security() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_ok(&["create", "namespace", "eph"]).await.unwrap();
        c.kubectl_ok(&[
            "label",
            "namespace",
            "eph",
            "pod-security.kubernetes.io/enforce=baseline",
        ])
        .await
        .unwrap();
        c.kubectl_ok(&["-n", "eph", "run", "target", "--image=busybox"])
            .await
            .unwrap();
        let client = c.client().await.unwrap();
        let path = "/api/v1/namespaces/eph/pods/target/ephemeralcontainers";
        let debugger = |name: &str, privileged: bool| {
            serde_json::json!({"spec": {"ephemeralContainers": [{
                "name": name,
                "image": "busybox",
                "securityContext": {"privileged": privileged},
            }]}})
            .to_string()
        };
        let denied = corten_e2e::fixtures::send_raw(
            &client,
            "PATCH",
            path,
            "application/strategic-merge-patch+json",
            debugger("root", true),
        )
        .await;
        assert_eq!(denied.code, 403, "{}", denied.body);
        let message = denied.body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("violates PodSecurity \"baseline:latest\"")
                && message.contains("privileged"),
            "{message}"
        );
        let allowed = corten_e2e::fixtures::send_raw(
            &client,
            "PATCH",
            path,
            "application/strategic-merge-patch+json",
            debugger("plain", false),
        )
        .await;
        assert_eq!(allowed.code, 200, "{}", allowed.body);
        let names: Vec<&str> = allowed.body["spec"]["ephemeralContainers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert_eq!(names, ["plain"]);
    })
}
