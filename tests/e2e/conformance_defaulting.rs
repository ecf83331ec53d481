//! Upstream's defaulting order around admission, through /usr/bin/kubectl
//! against the real apiserver: objects are defaulted when the request is
//! decoded, before mutating admission; each mutating webhook's output is
//! defaulted again (conformance "Admission webhook ... should mutate pod
//! and apply defaults after mutation", test/e2e/apimachinery/webhook.go);
//! validating webhooks and ValidatingAdmissionPolicies judge defaulted
//! objects on create, update and patch; LimitRanger and ResourceQuota see
//! the requests a container's limits default.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{apply_ok, get_json, stderr};
use corten_e2e::webhook_server::TestWebhook;
use serde_json::Value;

/// A namespace with the `default` ServiceAccount (no controller-manager
/// runs here) and `labels`.
async fn namespace(c: &TestCluster, ns: &str, labels: &[&str]) {
    c.kubectl_ok(&["create", "namespace", ns]).await.unwrap();
    c.kubectl_ok(&["create", "serviceaccount", "default", "-n", ns])
        .await
        .unwrap();
    for l in labels {
        c.kubectl_ok(&["label", "namespace", ns, l]).await.unwrap();
    }
}

/// A pod the client sends without any of the fields the server defaults.
fn bare_pod(name: &str, ns: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{extra_spec}  containers:\n  - name: c\n    image: busybox:1.36\n"
    )
}

/// Creates `yaml` until admission refuses it (configurations reach
/// admission through the watch cache); the refusal's text.
async fn wait_refused(c: &TestCluster, yaml: &str, name: &str, ns: &str) -> String {
    for _ in 0..50 {
        let o = c
            .kubectl_stdin(&["create", "-f", "-"], Some(yaml))
            .await
            .unwrap();
        if !o.status.success() {
            return stderr(&o);
        }
        c.kubectl_ok(&["delete", "pod", name, "-n", ns, "--wait=false"])
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{name} was never refused");
}

#[tokio::test]
async fn mutating_webhook_output_is_defaulted_again() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let w = TestWebhook::start(&[]).await.unwrap();
        namespace(&c, "dflt-mut", &["webhooks=on"]).await;
        apply_ok(
            &c,
            &format!(
                "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata:\n  name: add-init\nwebhooks:\n- name: add-init.example.com\n  clientConfig:\n    url: {}/add-init-container\n    caBundle: {}\n  rules:\n  - operations: [CREATE]\n    apiGroups: [\"\"]\n    apiVersions: [v1]\n    resources: [pods]\n  failurePolicy: Fail\n  sideEffects: None\n  admissionReviewVersions: [v1]\n  namespaceSelector:\n    matchLabels:\n      webhooks: \"on\"\n",
                w.url,
                w.ca_bundle()
            ),
        )
        .await;
        let yaml = bare_pod("webhook-to-be-mutated", "dflt-mut", "");
        let mut created = Value::Null;
        for _ in 0..50 {
            let out = c
                .kubectl_stdin(&["create", "-f", "-", "-o", "json"], Some(&yaml))
                .await
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            created = serde_json::from_slice(&out.stdout).unwrap();
            if created["spec"]["initContainers"].is_array() {
                break;
            }
            c.kubectl_ok(&[
                "delete",
                "pod",
                "webhook-to-be-mutated",
                "-n",
                "dflt-mut",
                "--wait=false",
            ])
            .await
            .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // The answer and the stored pod: the added init container got the
        // defaults the webhook left out.
        let stored = get_json(&c, &["pod", "webhook-to-be-mutated", "-n", "dflt-mut"]).await;
        for pod in [&created, &stored] {
            let inits = pod["spec"]["initContainers"].as_array().unwrap();
            assert_eq!(inits.len(), 1, "{pod}");
            let init = &inits[0];
            assert_eq!(init["name"], "webhook-added-init-container");
            assert_eq!(init["terminationMessagePolicy"], "File", "{init}");
            assert_eq!(init["terminationMessagePath"], "/dev/termination-log");
            // No tag: `latest`, so always pulled.
            assert_eq!(init["imagePullPolicy"], "Always");
        }
        // The webhook itself was sent the decoded, defaulted pod.
        let reviews = w.received("/add-init-container");
        let sent = &reviews.last().unwrap()["request"]["object"];
        assert_eq!(sent["spec"]["restartPolicy"], "Always", "{sent}");
        assert_eq!(
            sent["spec"]["containers"][0]["terminationMessagePolicy"],
            "File"
        );
        assert_eq!(
            sent["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    });
}

/// Creates, replaces (PUT) and strategic-merge-patches a pod whose
/// client never sends `restartPolicy` or `terminationMessagePolicy`;
/// admission that demands them must see them defaulted every time.
/// `refusal` is what admission answers for a pod with `restartPolicy:
/// Never`.
async fn writes_without_defaults_are_admitted(c: &TestCluster, ns: &str, refusal: &str) {
    let never = bare_pod("never", ns, "  restartPolicy: Never\n");
    let refused = wait_refused(c, &never, "never", ns).await;
    assert!(refused.contains(refusal), "{refused}");

    // Create.
    let out = c
        .kubectl_stdin(&["create", "-f", "-"], Some(&bare_pod("p", ns, "")))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // Update (PUT) of a body without the two fields.
    let mut pod = get_json(c, &["pod", "p", "-n", ns]).await;
    pod["spec"].as_object_mut().unwrap().remove("restartPolicy");
    pod["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("terminationMessagePolicy");
    pod["metadata"]["labels"] = serde_json::json!({"updated": "yes"});
    let out = c
        .kubectl_stdin(&["replace", "-f", "-"], Some(&pod.to_string()))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = get_json(c, &["pod", "p", "-n", ns]).await;
    assert_eq!(stored["metadata"]["labels"]["updated"], "yes");
    assert_eq!(stored["spec"]["restartPolicy"], "Always");

    // A strategic-merge patch deleting both (null) and adding a label: the
    // patched object is defaulted again before admission.
    let patch = r#"{"metadata":{"labels":{"patched":"yes"}},"spec":{"restartPolicy":null,"containers":[{"name":"c","terminationMessagePolicy":null}]}}"#;
    let out = c
        .kubectl(&[
            "patch",
            "pod",
            "p",
            "-n",
            ns,
            "--type=strategic",
            "-p",
            patch,
        ])
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = get_json(c, &["pod", "p", "-n", ns]).await;
    assert_eq!(stored["metadata"]["labels"]["patched"], "yes");
    assert_eq!(stored["spec"]["restartPolicy"], "Always");
    assert_eq!(
        stored["spec"]["containers"][0]["terminationMessagePolicy"],
        "File"
    );

    // A JSON patch removing them and a server-side apply without them.
    let patch = r#"[{"op":"remove","path":"/spec/restartPolicy"},{"op":"remove","path":"/spec/containers/0/terminationMessagePolicy"},{"op":"add","path":"/metadata/labels/json","value":"yes"}]"#;
    let out = c
        .kubectl(&["patch", "pod", "p", "-n", ns, "--type=json", "-p", patch])
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c
        .kubectl_stdin(
            &["apply", "--server-side", "-f", "-"],
            Some(&bare_pod("applied", ns, "")),
        )
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn validating_webhook_judges_defaulted_objects() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let w = TestWebhook::start(&[]).await.unwrap();
        namespace(&c, "dflt-wh", &["webhooks=on"]).await;
        apply_ok(
            &c,
            &format!(
                "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: require-defaults\nwebhooks:\n- name: require-defaults.example.com\n  clientConfig:\n    url: {}/require-defaults\n    caBundle: {}\n  rules:\n  - operations: [CREATE, UPDATE]\n    apiGroups: [\"\"]\n    apiVersions: [v1]\n    resources: [pods]\n  failurePolicy: Fail\n  sideEffects: None\n  admissionReviewVersions: [v1]\n  namespaceSelector:\n    matchLabels:\n      webhooks: \"on\"\n",
                w.url,
                w.ca_bundle()
            ),
        )
        .await;
        writes_without_defaults_are_admitted(
            &c,
            "dflt-wh",
            "admission webhook \"require-defaults.example.com\" denied the request: defaults missing: terminationMessagePolicy=File, restartPolicy=Never",
        )
        .await;
        // Defaulting before the webhook keeps what `fieldValidation` judges:
        // an unknown field is still a strict decoding error.
        let bogus = bare_pod("strict", "dflt-wh", "").replace(
            "    image: busybox:1.36\n",
            "    image: busybox:1.36\n    bogus: 1\n",
        );
        let out = c
            .kubectl_stdin(&["create", "--validate=strict", "-f", "-"], Some(&bogus))
            .await
            .unwrap();
        assert!(!out.status.success());
        assert!(
            stderr(&out)
                .contains("strict decoding error: unknown field \"spec.containers[0].bogus\""),
            "{}",
            stderr(&out)
        );
    });
}

#[tokio::test]
async fn validating_admission_policy_judges_defaulted_objects() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        namespace(&c, "dflt-vap", &["defaulting=checked"]).await;
        apply_ok(
            &c,
            r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: require-defaults
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["pods"]
  validations:
  - expression: "object.spec.containers[0].terminationMessagePolicy == 'File' && object.spec.restartPolicy == 'Always'"
    message: "defaults missing"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: require-defaults-binding
spec:
  policyName: require-defaults
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        defaulting: checked
"#,
        )
        .await;
        writes_without_defaults_are_admitted(
            &c,
            "dflt-vap",
            "ValidatingAdmissionPolicy 'require-defaults' with binding 'require-defaults-binding' denied request: defaults missing",
        )
        .await;
    });
}

#[tokio::test]
async fn limit_ranger_and_quota_see_requests_defaulted_from_limits() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        // LimitRanger: a container with only a limit requests that limit
        // (decode-time defaulting), not the LimitRange's defaultRequest.
        namespace(&c, "dflt-lr", &[]).await;
        apply_ok(
            &c,
            "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: lr\n  namespace: dflt-lr\nspec:\n  limits:\n  - type: Container\n    defaultRequest:\n      cpu: 100m\n      memory: 64Mi\n    default:\n      cpu: \"1\"\n",
        )
        .await;
        let limited = "  containers:\n  - name: c\n    image: busybox:1.36\n    resources:\n      limits:\n        cpu: 500m\n";
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: limited\n  namespace: dflt-lr\nspec:\n{limited}"
        );
        let mut pod = Value::Null;
        for _ in 0..50 {
            let out = c
                .kubectl_stdin(&["create", "-f", "-", "-o", "json"], Some(&yaml))
                .await
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            pod = serde_json::from_slice(&out.stdout).unwrap();
            if pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"].is_string() {
                break;
            }
            c.kubectl_ok(&["delete", "pod", "limited", "-n", "dflt-lr", "--wait=false"])
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let resources = &pod["spec"]["containers"][0]["resources"];
        assert_eq!(resources["requests"]["cpu"], "500m", "{resources}");
        assert_eq!(resources["limits"]["cpu"], "500m", "{resources}");
        // Memory had neither: the LimitRange's defaultRequest applies.
        assert_eq!(resources["requests"]["memory"], "64Mi", "{resources}");
        assert_eq!(
            pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
            "LimitRanger plugin set: memory request for container c"
        );

        // ResourceQuota charges the defaulted request.
        namespace(&c, "dflt-q", &[]).await;
        c.kubectl_ok(&[
            "create",
            "quota",
            "q",
            "--hard=requests.cpu=1",
            "-n",
            "dflt-q",
        ])
        .await
        .unwrap();
        c.kubectl_ok(&[
            "patch",
            "resourcequota",
            "q",
            "-n",
            "dflt-q",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"hard":{"requests.cpu":"1"},"used":{"requests.cpu":"0"}}}"#,
        ])
        .await
        .unwrap();
        let big = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  namespace: dflt-q\nspec:\n{}",
            limited.replace("cpu: 500m", "cpu: \"2\"")
        );
        let refused = wait_refused(&c, &big, "big", "dflt-q").await;
        assert!(
            refused.contains("pods \"big\" is forbidden: exceeded quota: q, requested: requests.cpu=2, used: requests.cpu=0, limited: requests.cpu=1"),
            "{refused}"
        );
    });
}
