//! MutatingAdmissionWebhook and ValidatingAdmissionWebhook end to end: a
//! test HTTPS webhook (its own CA, `caBundle`), reached by URL and through
//! a Service; rules, selectors, matchConditions, JSONPatch mutations on
//! create and patch, denials and failures (hangs, garbage, refused
//! connections) with upstream's messages through /usr/bin/kubectl.

use corten_e2e::TestCluster;
use corten_e2e::webhook_server::TestWebhook;
use serde_json::Value;

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

/// A webhook entry; `client` is the clientConfig body (already indented).
#[allow(clippy::too_many_arguments)]
fn hook(
    name: &str,
    client: &str,
    ops: &str,
    resources: &str,
    failure: &str,
    side_effects: &str,
    timeout: u32,
    extra: &str,
) -> String {
    format!(
        "- name: {name}\n  clientConfig:\n{client}  rules:\n  - operations: [{ops}]\n    apiGroups: [\"\"]\n    apiVersions: [v1]\n    resources: [{resources}]\n  failurePolicy: {failure}\n  sideEffects: {side_effects}\n  timeoutSeconds: {timeout}\n  admissionReviewVersions: [v1]\n  namespaceSelector:\n    matchLabels:\n      webhooks: \"on\"\n{extra}"
    )
}

fn url_client(w: &TestWebhook, path: &str) -> String {
    format!(
        "    url: {}{path}\n    caBundle: {}\n",
        w.url,
        w.ca_bundle()
    )
}

fn config(kind: &str, name: &str, hooks: &[String]) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: {name}\nwebhooks:\n{}",
        hooks.concat()
    )
}

async fn get_json(c: &TestCluster, args: &[&str]) -> Value {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&c.kubectl_ok(&a).await.unwrap()).unwrap()
}

#[tokio::test]
async fn validating_webhooks_deny_with_upstream_messages() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let w = TestWebhook::start(&["hook.wh.svc"]).await.unwrap();
        c.kubectl_ok(&["create", "namespace", "wh"]).await.unwrap();
        c.kubectl_ok(&["label", "namespace", "wh", "webhooks=on"])
            .await
            .unwrap();
        c.kubectl_ok(&["create", "namespace", "other"])
            .await
            .unwrap();
        let extra = "  objectSelector:\n    matchExpressions:\n    - key: skip\n      operator: DoesNotExist\n  matchConditions:\n  - name: not-exempt\n    expression: \"!object.metadata.name.startsWith('exempt-')\"\n";
        apply(
            &c,
            &config(
                "ValidatingWebhookConfiguration",
                "deny-cfg",
                &[hook(
                    "deny.example.com",
                    &url_client(&w, "/deny"),
                    "CREATE",
                    "configmaps",
                    "Fail",
                    "None",
                    5,
                    extra,
                )],
            ),
        )
        .await;

        let o = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: wh\ndata:\n  k: v\n"),
            )
            .await
            .unwrap();
        assert!(!o.status.success());
        assert!(
            err(&o).contains("Error from server (Forbidden): error when creating \"STDIN\": admission webhook \"deny.example.com\" denied the request: denied by the test webhook"),
            "{}",
            err(&o)
        );
        // The AdmissionReview carried the request.
        let got = w.received("/deny");
        assert_eq!(got.len(), 1, "{got:?}");
        let r = &got[0]["request"];
        assert_eq!(got[0]["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(got[0]["kind"], "AdmissionReview");
        assert!(!r["uid"].as_str().unwrap().is_empty());
        assert_eq!(
            r["kind"],
            serde_json::json!({"group": "", "version": "v1", "kind": "ConfigMap"})
        );
        assert_eq!(
            r["resource"],
            serde_json::json!({"group": "", "version": "v1", "resource": "configmaps"})
        );
        assert_eq!(r["requestKind"], r["kind"]);
        assert_eq!(r["operation"], "CREATE");
        assert_eq!(r["name"], "bad");
        assert_eq!(r["namespace"], "wh");
        assert_eq!(r["userInfo"]["username"], "kubernetes-admin");
        assert!(
            r["userInfo"]["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == "system:masters")
        );
        assert_eq!(r["object"]["data"]["k"], "v");
        assert!(r.get("oldObject").is_none_or(Value::is_null));
        assert_eq!(r["dryRun"], false);
        assert_eq!(r["options"]["kind"], "CreateOptions");
        assert_eq!(r["options"]["fieldManager"], "kubectl-create");
        // kubectl's typed create prints the same message its own way.
        let o = c
            .kubectl(&["create", "configmap", "bad", "-n", "wh"])
            .await
            .unwrap();
        assert!(
            err(&o).contains("error: failed to create configmap: admission webhook \"deny.example.com\" denied the request: denied by the test webhook"),
            "{}",
            err(&o)
        );

        // Not matched: another namespace, a label the object selector
        // excludes, a name the match condition exempts, another operation.
        c.kubectl_ok(&["create", "configmap", "fine", "-n", "other"])
            .await
            .unwrap();
        apply(&c, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: skipped\n  namespace: wh\n  labels:\n    skip: \"1\"\n").await;
        c.kubectl_ok(&["create", "configmap", "exempt-1", "-n", "wh"])
            .await
            .unwrap();
        c.kubectl_ok(&["label", "configmap", "skipped", "-n", "wh", "skip-"])
            .await
            .unwrap();
        assert_eq!(w.received("/deny").len(), 2);
        // Dry runs reach webhooks without side effects.
        let o = c
            .kubectl(&["create", "configmap", "dry", "-n", "wh", "--dry-run=server"])
            .await
            .unwrap();
        assert!(err(&o).contains("denied the request"), "{}", err(&o));
        assert_eq!(w.received("/deny")[2]["request"]["dryRun"], true);

        // Reached through a Service (ExternalName to the loopback host),
        // with the TLS name <service>.<namespace>.svc.
        apply(&c, "apiVersion: v1\nkind: Service\nmetadata:\n  name: hook\n  namespace: wh\nspec:\n  type: ExternalName\n  externalName: localhost\n").await;
        let svc_client = format!(
            "    service:\n      namespace: wh\n      name: hook\n      path: /deny\n      port: {}\n    caBundle: {}\n",
            w.port,
            w.ca_bundle()
        );
        apply(
            &c,
            &config(
                "ValidatingWebhookConfiguration",
                "deny-cfg",
                &[hook(
                    "deny.example.com",
                    &svc_client,
                    "DELETE",
                    "configmaps",
                    "Fail",
                    "None",
                    5,
                    "",
                )],
            ),
        )
        .await;
        let o = c
            .kubectl(&["delete", "configmap", "fine2", "-n", "wh"])
            .await
            .unwrap();
        assert!(
            err(&o).contains("NotFound") || err(&o).contains("not found"),
            "{}",
            err(&o)
        );
        let o = c
            .kubectl(&["delete", "configmap", "exempt-1", "-n", "wh"])
            .await
            .unwrap();
        assert!(
            err(&o).contains("admission webhook \"deny.example.com\" denied the request: denied by the test webhook"),
            "{}",
            err(&o)
        );
        let last = w.received("/deny").pop().unwrap();
        assert_eq!(last["request"]["operation"], "DELETE");
        assert_eq!(last["request"]["oldObject"]["metadata"]["name"], "exempt-1");
        assert!(last["request"].get("object").is_none_or(Value::is_null));
        assert_eq!(last["request"]["options"]["kind"], "DeleteOptions");
        c.kubectl_ok(&["delete", "validatingwebhookconfiguration", "deny-cfg"])
            .await
            .unwrap();
        c.kubectl_ok(&["delete", "configmap", "exempt-1", "-n", "wh"])
            .await
            .unwrap();
    });
}

#[tokio::test]
async fn mutating_webhooks_patch_objects() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let w = TestWebhook::start(&[]).await.unwrap();
        c.kubectl_ok(&["create", "namespace", "wh"]).await.unwrap();
        c.kubectl_ok(&["label", "namespace", "wh", "webhooks=on"])
            .await
            .unwrap();
        apply(
            &c,
            &config(
                "MutatingWebhookConfiguration",
                "mutate-cfg",
                &[hook(
                    "mutate.example.com",
                    &url_client(&w, "/mutate"),
                    "CREATE, UPDATE",
                    "configmaps",
                    "Fail",
                    "None",
                    5,
                    "",
                )],
            ),
        )
        .await;
        let o = c
            .kubectl(&[
                "create",
                "configmap",
                "m1",
                "-n",
                "wh",
                "--from-literal=a=b",
            ])
            .await
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        assert!(
            err(&o).contains("Warning: mutated by the test webhook"),
            "{}",
            err(&o)
        );
        let cm = get_json(&c, &["configmap", "m1", "-n", "wh"]).await;
        assert_eq!(cm["metadata"]["labels"]["mutated"], "1");
        assert_eq!(cm["data"]["a"], "b");

        // A patch: the webhook sees the patched object and the old one,
        // and its own patch lands too.
        c.kubectl_ok(&["label", "configmap", "m1", "-n", "wh", "x=y"])
            .await
            .unwrap();
        let cm = get_json(&c, &["configmap", "m1", "-n", "wh"]).await;
        assert_eq!(cm["metadata"]["labels"]["x"], "y");
        assert_eq!(cm["metadata"]["labels"]["mutated"], "2");
        let got = w.received("/mutate");
        let r = &got[1]["request"];
        assert_eq!(r["operation"], "UPDATE");
        assert_eq!(r["object"]["metadata"]["labels"]["x"], "y");
        assert_eq!(r["oldObject"]["metadata"]["labels"]["mutated"], "1");
        assert!(r["oldObject"]["metadata"]["labels"].get("x").is_none());
        assert_eq!(r["options"]["kind"], "UpdateOptions");
        // A PUT (kubectl replace).
        let mut body = cm.clone();
        body["data"]["a"] = "c".into();
        let o = c
            .kubectl_stdin(&["replace", "-f", "-"], Some(&body.to_string()))
            .await
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        let cm = get_json(&c, &["configmap", "m1", "-n", "wh"]).await;
        assert_eq!(cm["data"]["a"], "c");
        assert_eq!(cm["metadata"]["labels"]["mutated"], "3");
    });
}

#[tokio::test]
async fn webhook_failures_follow_failure_policy() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let w = TestWebhook::start(&[]).await.unwrap();
        c.kubectl_ok(&["create", "namespace", "wh"]).await.unwrap();
        c.kubectl_ok(&["label", "namespace", "wh", "webhooks=on"])
            .await
            .unwrap();
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let cases = [
            (
                "hang.example.com",
                url_client(&w, "/hang"),
                format!(
                    "failed to call webhook: Post \"{}/hang?timeout=2s\": context deadline exceeded",
                    w.url
                ),
            ),
            (
                "garbage.example.com",
                url_client(&w, "/garbage"),
                "failed to call webhook: couldn't get version/kind; json parse error".to_string(),
            ),
            (
                "uid.example.com",
                url_client(&w, "/wrong-uid"),
                "received invalid webhook response: expected response.uid=".to_string(),
            ),
            (
                "refused.example.com",
                format!(
                    "    url: https://127.0.0.1:{closed_port}/x\n    caBundle: {}\n",
                    w.ca_bundle()
                ),
                format!("dial tcp 127.0.0.1:{closed_port}: connect: connection refused"),
            ),
        ];
        for (i, (name, client, message)) in cases.iter().enumerate() {
            for policy in ["Fail", "Ignore"] {
                apply(
                    &c,
                    &config(
                        "ValidatingWebhookConfiguration",
                        "fail-cfg",
                        &[hook(
                            name, client, "CREATE", "secrets", policy, "None", 2, "",
                        )],
                    ),
                )
                .await;
                let secret = format!("s-{i}-{}", policy.to_lowercase());
                let yaml = format!(
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {secret}\n  namespace: wh\nstringData:\n  a: b\n"
                );
                let o = c
                    .kubectl_stdin(&["create", "-f", "-"], Some(&yaml))
                    .await
                    .unwrap();
                if policy == "Fail" {
                    assert!(!o.status.success());
                    let e = err(&o);
                    assert!(
                        e.contains(&format!("Error from server (InternalError): error when creating \"STDIN\": Internal error occurred: failed calling webhook \"{name}\": ")),
                        "{e}"
                    );
                    assert!(e.contains(message.as_str()), "{e}");
                } else {
                    assert!(o.status.success(), "{name}: {}", err(&o));
                }
            }
        }
        // The server keeps serving.
        c.kubectl_ok(&["get", "secrets", "-n", "wh"]).await.unwrap();
        let metrics = c.kubectl_ok(&["get", "--raw", "/metrics"]).await.unwrap();
        assert!(
            metrics.contains("apiserver_admission_webhook_request_total{"),
            "no webhook metrics"
        );
        assert!(metrics.contains("apiserver_admission_webhook_rejection_count{"));
    });
}
