//! Admission order, as upstream: mutating admission, then the resource's
//! own validation (the strategy, a CRD's schema and CEL rules), then
//! validating admission (webhooks, ValidatingAdmissionPolicy). A request
//! that both the validation and a validating webhook or policy refuse gets
//! the validation's 422, and the webhook never hears of it; for built-in
//! and custom resources, on create and update.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{apply_ok, create_ok, manifest_err};
use corten_e2e::webhook_server::TestWebhook;

/// A validating webhook denying creates and updates of Deployments and
/// CronTabs, and a policy denying every ConfigMap named `vap-*`.
fn deny_everything(hook: &TestWebhook) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {{name: deny}}
webhooks:
- name: deny.example.com
  clientConfig:
    url: {url}/deny
    caBundle: {ca}
  rules:
  - operations: [CREATE, UPDATE]
    apiGroups: [apps, stable.example.com]
    apiVersions: [v1]
    resources: [deployments, crontabs]
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: no-vap-configmaps}}
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [configmaps]
  validations:
  - expression: "!object.metadata.name.startsWith('vap-')"
    message: no vap configmaps
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: no-vap-configmaps}}
spec:
  policyName: no-vap-configmaps
  validationActions: [Deny]
"#,
        url = hook.url,
        ca = hook.ca_bundle()
    )
}

fn deployment(name: &str, replicas: i64) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: a}}}}\n  template:\n    metadata: {{labels: {{app: a}}}}\n    spec:\n      containers: [{{name: c, image: busybox}}]\n"
    )
}

fn crontab(name: &str, cron: &str, replicas: i64) -> String {
    format!(
        "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: {name}\nspec:\n  cronSpec: \"{cron}\"\n  replicas: {replicas}\n"
    )
}

/// Polls until the webhook answers for Deployments (configurations are
/// picked up from the watch cache).
async fn wait_denying(c: &TestCluster) {
    for _ in 0..100 {
        let out = c
            .kubectl_stdin(
                &["create", "--dry-run=server", "-f", "-"],
                Some(&deployment("probe", 1)),
            )
            .await
            .unwrap();
        if String::from_utf8_lossy(&out.stderr).contains("denied the request") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the webhook never denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_comes_before_validating_admission() {
    crate::with_timeout!(async {
        let hook = TestWebhook::start(&[]).await.unwrap();
        let c = TestCluster::start().await.unwrap();
        crate::crd::install_crontab(&c).await;
        // Objects to update later, written before anything denies.
        create_ok(&c, &deployment("web", 1)).await;
        create_ok(&c, &crontab("ct", "* * * * */5", 2)).await;
        apply_ok(&c, &deny_everything(&hook)).await;
        wait_denying(&c).await;
        let reviews = || hook.received("/deny").len();

        // Built-in, create: invalid and denied -> 422; valid -> 403.
        let before = reviews();
        let err = manifest_err(&c, "create", &deployment("bad", -1)).await;
        assert!(
            err.contains(r#"The Deployment "bad" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#),
            "{err}"
        );
        assert_eq!(reviews(), before, "the webhook is not asked");
        let err = manifest_err(&c, "create", &deployment("good", 1)).await;
        assert!(
            err.contains(r#"admission webhook "deny.example.com" denied the request"#),
            "{err}"
        );
        // Built-in, update.
        let out = c
            .kubectl(&[
                "patch",
                "deployment",
                "web",
                "--type=merge",
                "-p",
                r#"{"spec":{"replicas":-2}}"#,
            ])
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains(r#"The Deployment "web" is invalid: spec.replicas: Invalid value: -2"#),
            "{err}"
        );
        let out = c
            .kubectl(&["label", "deployment", "web", "x=y"])
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("denied the request"), "{err}");

        // Custom resource, create: the schema's pattern and the CEL rule.
        let before = reviews();
        let err = manifest_err(&c, "create", &crontab("bad", "not a cron", 2)).await;
        assert!(
            err.contains(
                r#"The CronTab "bad" is invalid: spec.cronSpec: Invalid value: "not a cron""#
            ),
            "{err}"
        );
        assert_eq!(reviews(), before, "the webhook is not asked");
        let err = manifest_err(&c, "create", &crontab("good", "* * * * */5", 2)).await;
        assert!(err.contains("denied the request"), "{err}");
        // Custom resource, update (a merge patch).
        let before = reviews();
        let out = c
            .kubectl(&[
                "patch",
                "crontab",
                "ct",
                "--type=merge",
                "-p",
                r#"{"spec":{"replicas":11}}"#,
            ])
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(r#"The CronTab "ct" is invalid: spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"#),
            "{err}"
        );
        assert_eq!(reviews(), before, "the webhook is not asked");

        // ValidatingAdmissionPolicy: an invalid ConfigMap gets the 422.
        let err = manifest_err(
            &c,
            "create",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vap-a\ndata:\n  \"bad key!\": x\n",
        )
        .await;
        assert!(
            err.contains(r#"The ConfigMap "vap-a" is invalid: data[bad key!]"#),
            "{err}"
        );
        let err = manifest_err(
            &c,
            "create",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vap-b\ndata:\n  ok: x\n",
        )
        .await;
        assert!(err.contains("no vap configmaps"), "{err}");
    });
}
