//! Admission on every write path, end to end: `/scale` updates and patches
//! (of a Deployment and of a custom resource) and server-side apply meet
//! validating webhooks and ValidatingAdmissionPolicies like creates and
//! updates do; deletecollection admits each DELETE; server-side apply to
//! `/scale` tracks who owns the replicas.

use corten_e2e::TestCluster;
use corten_e2e::webhook_server::TestWebhook;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn apply(c: &TestCluster, yaml: &str) {
    let o = c
        .kubectl_stdin(&["apply", "-f", "-"], Some(yaml))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
}

fn deployment(name: &str, replicas: Option<u32>) -> String {
    let replicas = replicas.map_or(String::new(), |r| format!("  replicas: {r}\n"));
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: wp\nspec:\n{replicas}  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: c\n        image: nginx:1.27\n"
    )
}

async fn ssa(c: &TestCluster, yaml: &str) -> std::process::Output {
    c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(yaml))
        .await
        .unwrap()
}

async fn replicas(c: &TestCluster, what: &[&str]) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-n", "wp", "-o", "jsonpath={.spec.replicas}"]);
    c.kubectl_ok(&args).await.unwrap()
}

/// The message of a kube-rs API error.
fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn scale_and_server_side_apply_meet_validating_webhooks() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let w = TestWebhook::start(&[]).await.unwrap();
        c.kubectl_ok(&["create", "namespace", "wp"]).await.unwrap();
        apply(&c, crate::crd::CRONTAB_CRD).await;
        c.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "crd/crontabs.stable.example.com",
            "--timeout=30s",
        ])
        .await
        .unwrap();
        apply(
            &c,
            &format!(
                "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: replicas-cfg\nwebhooks:\n- name: replicas.example.com\n  clientConfig:\n    url: {}/max-replicas-5\n    caBundle: {}\n  rules:\n  - operations: [CREATE, UPDATE]\n    apiGroups: [apps]\n    apiVersions: [v1]\n    resources: [deployments, deployments/scale]\n  - operations: [UPDATE]\n    apiGroups: [stable.example.com]\n    apiVersions: [v1]\n    resources: [crontabs/scale]\n  sideEffects: None\n  admissionReviewVersions: [v1]\n",
                w.url,
                w.ca_bundle()
            ),
        )
        .await;
        apply(&c, &deployment("web", Some(1))).await;

        // kubectl scale (PATCH of /scale) is refused with the webhook's message.
        let o = c
            .kubectl(&["scale", "deployment", "web", "-n", "wp", "--replicas=6"])
            .await
            .unwrap();
        assert!(!o.status.success());
        assert!(
            err(&o).contains(
                "admission webhook \"replicas.example.com\" denied the request: at most 5 replicas are allowed, not 6"
            ),
            "{}",
            err(&o)
        );
        assert_eq!(replicas(&c, &["deployment", "web"]).await, "1");
        // The webhook saw an autoscaling/v1 Scale of deployments/scale.
        let seen = w.received("/max-replicas-5");
        let r = &seen.last().unwrap()["request"];
        assert_eq!(
            r["kind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
        assert_eq!(
            r["resource"],
            json!({"group": "apps", "version": "v1", "resource": "deployments"})
        );
        assert_eq!(r["subResource"], "scale");
        assert_eq!(r["operation"], "UPDATE");
        assert_eq!(r["name"], "web");
        assert_eq!(r["object"]["kind"], "Scale");
        assert_eq!(r["object"]["spec"]["replicas"], 6);
        assert_eq!(r["oldObject"]["spec"]["replicas"], 1);

        // Within the limit it goes through.
        c.kubectl_ok(&["scale", "deployment", "web", "-n", "wp", "--replicas=3"])
            .await
            .unwrap();
        assert_eq!(replicas(&c, &["deployment", "web"]).await, "3");

        // PUT of /scale, through kube-rs.
        let client = c.client().await.unwrap();
        let deploys: Api<Deployment> = Api::namespaced(client.clone(), "wp");
        let mut scale = deploys.get_scale("web").await.unwrap();
        scale.spec.as_mut().unwrap().replicas = Some(7);
        let (code, msg) = api_error(
            deploys
                .replace_scale("web", &PostParams::default(), &scale)
                .await
                .unwrap_err(),
        );
        assert_eq!(code, 403);
        assert!(
            msg.contains("at most 5 replicas are allowed, not 7"),
            "{msg}"
        );

        // Server-side apply of the Deployment (update and create); kubectl
        // scale owns the replicas now, so the apply forces.
        let o = c
            .kubectl_stdin(
                &["apply", "--server-side", "--force-conflicts", "-f", "-"],
                Some(&deployment("web", Some(8))),
            )
            .await
            .unwrap();
        assert!(!o.status.success());
        assert!(
            err(&o).contains(
                "admission webhook \"replicas.example.com\" denied the request: at most 5 replicas are allowed, not 8"
            ),
            "{}",
            err(&o)
        );
        let o = ssa(&c, &deployment("fresh", Some(9))).await;
        assert!(
            err(&o).contains("at most 5 replicas are allowed, not 9"),
            "{}",
            err(&o)
        );
        let o = c
            .kubectl(&["get", "deployment", "fresh", "-n", "wp"])
            .await
            .unwrap();
        assert!(err(&o).contains("NotFound"), "{}", err(&o));

        // Server-side apply to /scale.
        let (code, msg) = api_error(
            deploys
                .patch_scale(
                    "web",
                    &PatchParams::apply("hpa").force(),
                    &Patch::Apply(json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 10}})),
                )
                .await
                .unwrap_err(),
        );
        assert_eq!(code, 403);
        assert!(msg.contains("not 10"), "{msg}");
        assert_eq!(replicas(&c, &["deployment", "web"]).await, "3");

        // A custom resource's /scale goes through the same webhook.
        apply(
            &c,
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: tab\n  namespace: wp\nspec:\n  cronSpec: \"* * * * */5\"\n  replicas: 2\n",
        )
        .await;
        let o = c
            .kubectl(&["scale", "crontab", "tab", "-n", "wp", "--replicas=6"])
            .await
            .unwrap();
        assert!(
            err(&o).contains(
                "admission webhook \"replicas.example.com\" denied the request: at most 5 replicas are allowed, not 6"
            ),
            "{}",
            err(&o)
        );
        let r = &w.received("/max-replicas-5").last().unwrap()["request"].clone();
        assert_eq!(r["resource"]["resource"], "crontabs");
        assert_eq!(r["kind"]["kind"], "Scale");
        c.kubectl_ok(&["scale", "crontab", "tab", "-n", "wp", "--replicas=4"])
            .await
            .unwrap();
        assert_eq!(replicas(&c, &["crontab", "tab"]).await, "4");
    });
}

const VAP: &str = r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: max-replicas
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments", "deployments/scale"]
  validations:
  - expression: "object.spec.replicas <= 5"
    messageExpression: "'replicas must be at most 5, not ' + string(object.spec.replicas)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: max-replicas-binding
spec:
  policyName: max-replicas
  validationActions: [Deny]
"#;

#[tokio::test]
async fn validating_admission_policy_blocks_server_side_apply_and_scale() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_ok(&["create", "namespace", "wp"]).await.unwrap();
        apply(&c, VAP).await;
        let denied = "ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied request: replicas must be at most 5, not";
        // Policies take effect once the apiserver's caches saw them.
        let mut o = ssa(&c, &deployment("web", Some(6))).await;
        for _ in 0..50 {
            if err(&o).contains(denied) {
                break;
            }
            let _ = c
                .kubectl(&[
                    "delete",
                    "deployment",
                    "web",
                    "-n",
                    "wp",
                    "--ignore-not-found",
                ])
                .await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            o = ssa(&c, &deployment("web", Some(6))).await;
        }
        // Create through apply.
        assert!(err(&o).contains(&format!("{denied} 6")), "{}", err(&o));
        let o = ssa(&c, &deployment("web", Some(2))).await;
        assert!(o.status.success(), "{}", err(&o));
        // Update through apply: refused, nothing changes.
        let o = ssa(&c, &deployment("web", Some(7))).await;
        assert!(!o.status.success());
        assert!(
            err(&o).contains(&format!("The deployments \"web\" is invalid: : {denied} 7")),
            "{}",
            err(&o)
        );
        assert_eq!(replicas(&c, &["deployment", "web"]).await, "2");
        // The policy sees the Scale of /scale writes.
        let o = c
            .kubectl(&["scale", "deployment", "web", "-n", "wp", "--replicas=8"])
            .await
            .unwrap();
        assert!(err(&o).contains(&format!("{denied} 8")), "{}", err(&o));
        // Dry runs are admitted too.
        let o = c
            .kubectl(&[
                "patch",
                "deployment",
                "web",
                "-n",
                "wp",
                "--dry-run=server",
                "--type=merge",
                "-p",
                r#"{"spec":{"replicas":9}}"#,
            ])
            .await
            .unwrap();
        assert!(err(&o).contains(&format!("{denied} 9")), "{}", err(&o));
        assert_eq!(replicas(&c, &["deployment", "web"]).await, "2");
    });
}

#[tokio::test]
async fn deletecollection_admits_each_delete() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let w = TestWebhook::start(&[]).await.unwrap();
        c.kubectl_ok(&["create", "namespace", "wp"]).await.unwrap();
        apply(
            &c,
            &format!(
                "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: protect-cfg\nwebhooks:\n- name: protect.example.com\n  clientConfig:\n    url: {}/deny\n    caBundle: {}\n  rules:\n  - operations: [DELETE]\n    apiGroups: [\"\"]\n    apiVersions: [v1]\n    resources: [pods]\n  objectSelector:\n    matchLabels:\n      protected: \"true\"\n  sideEffects: None\n  admissionReviewVersions: [v1]\n",
                w.url,
                w.ca_bundle()
            ),
        )
        .await;
        for (name, protected) in [("a", false), ("b", false), ("keep", true)] {
            c.kubectl_ok(&[
                "run",
                name,
                "-n",
                "wp",
                "--image=busybox",
                &format!("--labels=protected={protected}"),
            ])
            .await
            .unwrap();
        }
        let client = c.client().await.unwrap();
        let pods: Api<Pod> = Api::namespaced(client, "wp");
        let (code, msg) = api_error(
            pods.delete_collection(
                &DeleteParams::default().grace_period(0),
                &ListParams::default(),
            )
            .await
            .unwrap_err(),
        );
        assert_eq!(code, 403);
        assert_eq!(
            msg,
            "admission webhook \"protect.example.com\" denied the request: denied by the test webhook"
        );
        // The others went; the protected one stayed.
        let left: Vec<String> = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name)
            .collect();
        assert_eq!(left, ["keep"]);
        // The webhook heard of the protected pod's DELETE with the object.
        let seen = w.received("/deny");
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0]["request"]["operation"], "DELETE");
        assert_eq!(seen[0]["request"]["name"], "keep");
        assert_eq!(seen[0]["request"]["oldObject"]["metadata"]["name"], "keep");
    });
}

#[tokio::test]
async fn server_side_apply_to_scale_tracks_replicas_ownership() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_ok(&["create", "namespace", "wp"]).await.unwrap();
        let o = ssa(&c, &deployment("web", Some(2))).await;
        assert!(o.status.success(), "{}", err(&o));
        let client = c.client().await.unwrap();
        let deploys: Api<Deployment> = Api::namespaced(client.clone(), "wp");
        let scale_config = |r: u32| {
            Patch::Apply(
                json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": r}}),
            )
        };

        // The replicas belong to kubectl's apply: a conflict, as upstream.
        let e = deploys
            .patch_scale("web", &PatchParams::apply("hpa"), &scale_config(5))
            .await
            .unwrap_err();
        let kube::Error::Api(status) = e else {
            panic!("{e}")
        };
        assert_eq!(status.code, 409);
        assert_eq!(status.reason, "Conflict");
        assert_eq!(
            status.message,
            "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
        );
        assert_eq!(replicas(&c, &["deployment", "web"]).await, "2");

        // Forced, hpa takes the replicas over.
        let scale = deploys
            .patch_scale("web", &PatchParams::apply("hpa").force(), &scale_config(5))
            .await
            .unwrap();
        assert_eq!(scale.spec.unwrap().replicas, Some(5));
        assert_eq!(replicas(&c, &["deployment", "web"]).await, "5");
        let d: Value = serde_json::from_str(
            &c.kubectl_ok(&[
                "get",
                "deployment",
                "web",
                "-n",
                "wp",
                "-o",
                "json",
                "--show-managed-fields",
            ])
            .await
            .unwrap(),
        )
        .unwrap();
        let entries = d["metadata"]["managedFields"].as_array().unwrap();
        let hpa = entries.iter().find(|e| e["manager"] == "hpa").unwrap();
        assert_eq!(hpa["operation"], "Apply");
        assert_eq!(hpa["apiVersion"], "apps/v1");
        assert_eq!(hpa["subresource"], "scale");
        assert_eq!(hpa["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
        let kubectl = entries
            .iter()
            .find(|e| e["manager"] == "kubectl" && e["operation"] == "Apply")
            .unwrap();
        assert!(kubectl["fieldsV1"]["f:spec"].get("f:replicas").is_none());
        assert!(kubectl["fieldsV1"]["f:spec"].get("f:template").is_some());

        // Now kubectl's apply of other replicas conflicts with hpa's.
        let o = ssa(&c, &deployment("web", Some(2))).await;
        assert!(!o.status.success());
        assert!(
            err(&o).contains(
                "Apply failed with 1 conflict: conflict with \"hpa\" with subresource \"scale\": .spec.replicas"
            ),
            "{}",
            err(&o)
        );
        // Without replicas it applies and leaves hpa's value alone.
        let o = ssa(&c, &deployment("web", None)).await;
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(replicas(&c, &["deployment", "web"]).await, "5");
        // Re-applying the same Scale is a no-op; a wrong kind is a 400.
        deploys
            .patch_scale("web", &PatchParams::apply("hpa"), &scale_config(5))
            .await
            .unwrap();
        let (code, msg) = api_error(
            deploys
                .patch_scale(
                    "web",
                    &PatchParams::apply("hpa"),
                    &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 3}})),
                )
                .await
                .unwrap_err(),
        );
        assert_eq!(code, 400);
        assert_eq!(msg, "invalid object type: apps/v1, Kind=Deployment");
    });
}
