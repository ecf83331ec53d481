//! Audit logging end to end: policy levels, stages, request and response
//! objects, authorization annotations, and the annotations admission adds
//! (webhooks' auditAnnotations and mutations, policies' auditAnnotations
//! and Audit-action failures).

use std::time::Duration;

use corten_e2e::TestCluster;
use serde_json::Value;

#[tokio::test]
async fn audit_log_records_requests_by_policy() {
    crate::with_timeout!(async {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.yaml");
        let log = dir.path().join("audit.log");
        std::fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: None\n  nonResourceURLs: [\"/healthz*\", \"/readyz*\", \"/livez*\"]\n- level: RequestResponse\n  resources:\n  - group: \"\"\n    resources: [configmaps]\n- level: Metadata\n",
        )
        .unwrap();
        let c = TestCluster::start_with(&[
            &format!("--audit-policy-file={}", policy.display()),
            &format!("--audit-log-path={}", log.display()),
        ])
        .await
        .unwrap();
        c.kubectl_ok(&[
            "create",
            "configmap",
            "audited",
            "--from-literal=a=b",
            "-n",
            "default",
        ])
        .await
        .unwrap();
        let alice = c.token_kubeconfig("alice-token").unwrap();
        let _ = c
            .kubectl_with(&alice, &["get", "secrets", "-n", "default"])
            .await
            .unwrap();
        let mut events: Vec<Value> = Vec::new();
        for _ in 0..50 {
            events = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if events.iter().any(|e| e["user"]["username"] == "alice") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!events.is_empty());
        for e in &events {
            assert_eq!(e["apiVersion"], "audit.k8s.io/v1");
            assert_eq!(e["kind"], "Event");
            assert_ne!(e["stage"], "RequestReceived");
            assert!(
                !e["requestURI"].as_str().unwrap().starts_with("/readyz"),
                "{e}"
            );
        }
        let create = events
            .iter()
            .find(|e| e["verb"] == "create" && e["objectRef"]["resource"] == "configmaps")
            .expect("no configmap create event");
        assert_eq!(create["level"], "RequestResponse");
        assert_eq!(create["stage"], "ResponseComplete");
        assert_eq!(create["user"]["username"], "kubernetes-admin");
        assert_eq!(create["objectRef"]["namespace"], "default");
        assert_eq!(create["requestObject"]["data"]["a"], "b");
        assert_eq!(create["responseObject"]["metadata"]["name"], "audited");
        assert_eq!(create["responseStatus"]["code"], 201);
        assert_eq!(
            create["annotations"]["authorization.k8s.io/decision"],
            "allow"
        );
        let denied = events
            .iter()
            .find(|e| e["user"]["username"] == "alice" && e["objectRef"]["resource"] == "secrets")
            .expect("no event for alice");
        assert_eq!(denied["level"], "Metadata");
        assert_eq!(denied["responseStatus"]["code"], 403);
        assert_eq!(denied["responseStatus"]["reason"], "Forbidden");
        assert_eq!(
            denied["annotations"]["authorization.k8s.io/decision"],
            "forbid"
        );
        assert!(denied.get("requestObject").is_none());
    });
}

/// The audit events of `log` once one satisfies `done` (or after 5 s).
pub(crate) async fn events_until(
    log: &std::path::Path,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
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
async fn admission_annotations_reach_the_audit_log() {
    crate::with_timeout!(async {
        use corten_e2e::webhook_server::TestWebhook;
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.yaml");
        let log = dir.path().join("audit.log");
        std::fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Request\n  resources:\n  - group: \"\"\n    resources: [configmaps]\n- level: Metadata\n",
        )
        .unwrap();
        let c = TestCluster::start_with(&[
            &format!("--audit-policy-file={}", policy.display()),
            &format!("--audit-log-path={}", log.display()),
        ])
        .await
        .unwrap();
        let w = TestWebhook::start(&[]).await.unwrap();
        c.kubectl_ok(&["create", "namespace", "au"]).await.unwrap();
        let client = |path: &str| {
            format!(
                "  clientConfig:\n    url: {}{path}\n    caBundle: {}\n",
                w.url,
                w.ca_bundle()
            )
        };
        let config = format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata:\n  name: mutate-cfg\nwebhooks:\n- name: mutate.example.com\n{}  rules:\n  - operations: [CREATE]\n    apiGroups: [\"\"]\n    apiVersions: [v1]\n    resources: [configmaps, secrets]\n  sideEffects: None\n  admissionReviewVersions: [v1]\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: replicas-cfg\nwebhooks:\n- name: replicas.example.com\n{}  rules:\n  - operations: [UPDATE]\n    apiGroups: [apps]\n    apiVersions: [v1]\n    resources: [deployments/scale]\n  sideEffects: None\n  admissionReviewVersions: [v1]\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: audit-replicas\nspec:\n  matchConstraints:\n    resourceRules:\n    - apiGroups: [apps]\n      apiVersions: [v1]\n      operations: [CREATE]\n      resources: [deployments]\n  validations:\n  - expression: \"object.spec.replicas <= 1\"\n    message: too many replicas\n  auditAnnotations:\n  - key: replicas\n    valueExpression: \"string(object.spec.replicas)\"\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: audit-replicas-binding\nspec:\n  policyName: audit-replicas\n  validationActions: [Audit]\n",
            client("/mutate"),
            client("/max-replicas-5")
        );
        let o = c
            .kubectl_stdin(&["apply", "-f", "-"], Some(&config))
            .await
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // Listed from the watch caches admission reads.
        c.kubectl_ok(&[
            "get",
            "mutatingwebhookconfigurations,validatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings",
        ])
        .await
        .unwrap();

        c.kubectl_ok(&[
            "create",
            "configmap",
            "cm",
            "-n",
            "au",
            "--from-literal=a=b",
        ])
        .await
        .unwrap();
        c.kubectl_ok(&[
            "create",
            "secret",
            "generic",
            "s",
            "-n",
            "au",
            "--from-literal=a=b",
        ])
        .await
        .unwrap();
        c.kubectl_ok(&[
            "create",
            "deployment",
            "web",
            "-n",
            "au",
            "--image=nginx",
            "--replicas=3",
        ])
        .await
        .unwrap();
        c.kubectl_ok(&["scale", "deployment", "web", "-n", "au", "--replicas=2"])
            .await
            .unwrap();

        let of = |events: &[Value], verb: &str, resource: &str, sub: Option<&str>| -> Value {
            events
                .iter()
                .find(|e| {
                    e["verb"] == verb
                        && e["objectRef"]["resource"] == resource
                        && e["objectRef"]["subresource"].as_str() == sub
                        && e["objectRef"]["namespace"] == "au"
                })
                .cloned()
                .unwrap_or_else(|| panic!("no {verb} {resource} {sub:?} event"))
        };
        let events = events_until(&log, |e| e["objectRef"]["subresource"] == "scale").await;

        // A mutating webhook at level Request: its annotation, whether it
        // mutated, and the patch.
        let cm = &of(&events, "create", "configmaps", None)["annotations"];
        assert_eq!(cm["mutate.example.com/mutated-by"], "test-webhook", "{cm}");
        let mutation: Value = serde_json::from_str(
            cm["mutation.webhook.admission.k8s.io/round_0_index_0"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            mutation,
            serde_json::json!({"configuration": "mutate-cfg", "webhook": "mutate.example.com", "mutated": true})
        );
        let patch: Value = serde_json::from_str(
            cm["patch.webhook.admission.k8s.io/round_0_index_0"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(patch["patchType"], "JSONPatch");
        assert_eq!(patch["webhook"], "mutate.example.com");
        assert_eq!(patch["patch"][0]["op"], "add");
        // At level Metadata a create's objectRef still names the object
        // (from its body), and the patch is left out.
        let secret_event = of(&events, "create", "secrets", None);
        assert_eq!(secret_event["level"], "Metadata");
        assert_eq!(secret_event["objectRef"]["name"], "s", "{secret_event}");
        assert!(secret_event.get("requestObject").is_none());
        let secret = &secret_event["annotations"];
        assert!(
            secret
                .get("mutation.webhook.admission.k8s.io/round_0_index_0")
                .is_some()
        );
        assert!(
            secret
                .get("patch.webhook.admission.k8s.io/round_0_index_0")
                .is_none(),
            "{secret}"
        );

        // The policy's auditAnnotations and its Audit-action failure.
        let d = &of(&events, "create", "deployments", None)["annotations"];
        assert_eq!(d["audit-replicas/replicas"], "3", "{d}");
        let failures: Value = serde_json::from_str(
            d["validation.policy.admission.k8s.io/validation_failure"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            failures,
            serde_json::json!([{"message": "too many replicas", "policy": "audit-replicas", "binding": "audit-replicas-binding", "expressionIndex": 0, "validationActions": ["Audit"]}])
        );

        // A validating webhook's annotation on a /scale write.
        let scale = &of(&events, "patch", "deployments", Some("scale"))["annotations"];
        assert_eq!(scale["replicas.example.com/replicas"], "2", "{scale}");
    });
}
