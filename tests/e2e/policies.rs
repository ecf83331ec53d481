//! ValidatingAdmissionPolicy end to end through /usr/bin/kubectl: a
//! replica limit read from a param ConfigMap, Deny/Warn actions, reasons,
//! missing params, namespace selectors.

use corten_e2e::TestCluster;

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

const POLICY: &str = r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: replica-limit.example.com
spec:
  failurePolicy: Fail
  paramKind:
    apiVersion: v1
    kind: ConfigMap
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
  matchConditions:
  - name: not-exempt
    expression: "!('exempt' in object.metadata.labels)"
  variables:
  - name: maxReplicas
    expression: "int(params.data.maxReplicas)"
  validations:
  - expression: "object.spec.replicas <= variables.maxReplicas"
    messageExpression: "'object.spec.replicas must be no greater than ' + string(variables.maxReplicas)"
    reason: Invalid
  - expression: "request.userInfo.username != 'alice' || authorizer.group('apps').resource('deployments').namespace(object.metadata.namespace).check('delete').allowed()"
    message: "only users who may delete deployments may write them"
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replica-limit-binding.example.com
spec:
  policyName: replica-limit.example.com
  validationActions: [Deny]
  paramRef:
    name: replica-limit
    parameterNotFoundAction: Deny
  matchResources:
    namespaceSelector:
      matchLabels:
        environment: test
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: name-length
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE"]
      resources: ["deployments"]
  validations:
  - expression: "object.metadata.name.size() < 10"
    message: "name too long"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: name-length-binding
spec:
  policyName: name-length
  validationActions: [Warn]
"#;

fn deployment(name: &str, replicas: u32, labels: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: vap\n  labels:\n    app: {name}\n{labels}spec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: c\n        image: busybox\n"
    )
}

#[tokio::test]
async fn validating_admission_policy_with_params() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_ok(&["create", "namespace", "vap"]).await.unwrap();
        c.kubectl_ok(&["label", "namespace", "vap", "environment=test"])
            .await
            .unwrap();
        c.kubectl_ok(&["create", "namespace", "free"])
            .await
            .unwrap();
        c.kubectl_ok(&[
            "create",
            "configmap",
            "replica-limit",
            "-n",
            "vap",
            "--from-literal=maxReplicas=5",
        ])
        .await
        .unwrap();
        apply(&c, POLICY).await;

        let o = c
            .kubectl_stdin(&["create", "-f", "-"], Some(&deployment("small", 3, "")))
            .await
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        let o = c
            .kubectl_stdin(&["create", "-f", "-"], Some(&deployment("big", 7, "")))
            .await
            .unwrap();
        assert!(!o.status.success());
        assert!(
            err(&o).contains("The deployments \"big\" is invalid: : ValidatingAdmissionPolicy 'replica-limit.example.com' with binding 'replica-limit-binding.example.com' denied request: object.spec.replicas must be no greater than 5"),
            "{}",
            err(&o)
        );
        // Updates are checked on the patched object.
        let o = c
            .kubectl(&[
                "patch",
                "deployment",
                "small",
                "-n",
                "vap",
                "-p",
                r#"{"spec":{"replicas":9}}"#,
            ])
            .await
            .unwrap();
        assert!(
            err(&o).contains("denied request: object.spec.replicas must be no greater than 5"),
            "{}",
            err(&o)
        );
        c.kubectl_ok(&[
            "patch",
            "deployment",
            "small",
            "-n",
            "vap",
            "-p",
            r#"{"spec":{"replicas":5}}"#,
        ])
        .await
        .unwrap();
        // The limit comes from the params.
        c.kubectl_ok(&[
            "patch",
            "configmap",
            "replica-limit",
            "-n",
            "vap",
            "-p",
            r#"{"data":{"maxReplicas":"10"}}"#,
        ])
        .await
        .unwrap();
        c.kubectl_ok(&[
            "patch",
            "deployment",
            "small",
            "-n",
            "vap",
            "-p",
            r#"{"spec":{"replicas":9}}"#,
        ])
        .await
        .unwrap();
        // Match conditions and namespace selectors exempt.
        let o = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&deployment("exempt", 70, "    exempt: \"yes\"\n")),
            )
            .await
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        let free = deployment("free", 70, "").replace("namespace: vap", "namespace: free");
        let o = c
            .kubectl_stdin(&["create", "-f", "-"], Some(&free))
            .await
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        // Warn: admitted with a warning.
        let o = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&deployment("averylongname", 1, "")),
            )
            .await
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        assert!(
            err(&o).contains("Warning: Validation failed for ValidatingAdmissionPolicy 'name-length' with binding 'name-length-binding': name too long"),
            "{}",
            err(&o)
        );
        // A Forbidden reason is a 403; the authorizer library asks RBAC.
        c.kubectl_ok(&[
            "create",
            "role",
            "writer",
            "-n",
            "vap",
            "--verb=create,get,patch",
            "--resource=deployments.apps",
        ])
        .await
        .unwrap();
        c.kubectl_ok(&[
            "create",
            "rolebinding",
            "alice-writer",
            "-n",
            "vap",
            "--role=writer",
            "--user=alice",
        ])
        .await
        .unwrap();
        let alice = c.token_kubeconfig("alice-token").unwrap();
        let path = c.dir().join("alice.yaml");
        std::fs::write(&path, deployment("byalice", 1, "")).unwrap();
        let o = c
            .kubectl_with(&alice, &["create", "-f", path.to_str().unwrap()])
            .await
            .unwrap();
        assert!(
            err(&o).contains("Error from server (Forbidden): error when creating")
                && err(&o).contains("deployments.apps \"byalice\" is forbidden: ValidatingAdmissionPolicy 'replica-limit.example.com' with binding 'replica-limit-binding.example.com' denied request: only users who may delete deployments may write them"),
            "{}",
            err(&o)
        );
        // Missing params with parameterNotFoundAction: Deny.
        c.kubectl_ok(&["delete", "configmap", "replica-limit", "-n", "vap"])
            .await
            .unwrap();
        let o = c
            .kubectl_stdin(&["create", "-f", "-"], Some(&deployment("noparams", 1, "")))
            .await
            .unwrap();
        assert!(
            err(&o).contains("denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"),
            "{}",
            err(&o)
        );
        c.kubectl_ok(&["get", "deployments", "-A"]).await.unwrap();
    });
}
