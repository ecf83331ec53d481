//! Audit logging end to end: policy levels, stages, request and response
//! objects, authorization annotations.

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
