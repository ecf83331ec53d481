//! CustomResourceDefinitions end to end: a realistic CRD installed with
//! kubectl, its objects created, defaulted, pruned, validated (schema and
//! CEL), scaled, listed with printer columns and selectors, watched, and
//! removed with the CRD; invalid CRDs rejected with upstream's messages;
//! a kube-rs controller reconciling the custom resource.

use std::time::Duration;

use corten_e2e::TestCluster;

pub const CRONTAB_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.labelSelector
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    selectableFields:
    - jsonPath: .spec.color
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: The desired schedule.
            x-kubernetes-validations:
            - rule: "self.minReplicas <= self.replicas"
              message: "replicas should be greater than or equal to minReplicas"
            required: [cronSpec]
            properties:
              cronSpec:
                type: string
                description: A cron schedule.
                pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'
              image:
                type: string
              color:
                type: string
                default: blue
                enum: [blue, green, red]
              replicas:
                type: integer
                minimum: 1
                maximum: 10
                default: 1
              minReplicas:
                type: integer
                default: 1
          status:
            type: object
            properties:
              replicas:
                type: integer
              labelSelector:
                type: string
              observed:
                type: string
"#;

fn crontab(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: {name}\nspec:\n  cronSpec: \"* * * * */5\"\n  image: my-cron-image\n{extra_spec}"
    )
}

/// Installs the CronTab CRD and waits until it is established.
pub async fn install_crontab(c: &TestCluster) {
    let out = c
        .kubectl_stdin(&["apply", "-f", "-"], Some(CRONTAB_CRD))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "apply CRD: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"
    );
    c.kubectl_ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=20s",
        "crd/crontabs.stable.example.com",
    ])
    .await
    .unwrap();
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn crontab_lifecycle_with_kubectl() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        install_crontab(&c).await;

        // Status conditions and accepted names.
        let conds = c
            .kubectl_ok(&[
                "get",
                "crd",
                "crontabs.stable.example.com",
                "-o",
                "jsonpath={range .status.conditions[*]}{.type}={.status};{end}{.status.acceptedNames.shortNames}",
            ])
            .await
            .unwrap();
        assert!(conds.contains("NamesAccepted=True"), "{conds}");
        assert!(conds.contains("Established=True"), "{conds}");
        assert!(conds.contains("ct"), "{conds}");

        // Discovery: api-resources lists it with its short name and category.
        let res = c
            .kubectl_ok(&["api-resources", "--api-group=stable.example.com"])
            .await
            .unwrap();
        assert!(res.contains("crontabs"), "{res}");
        assert!(res.contains("ct"), "{res}");
        assert!(res.contains("CronTab"), "{res}");

        // Create with defaults; unknown fields are rejected by kubectl's
        // strict field validation, pruned with --validate=false.
        let bad = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&crontab("pruned", "  bogus: 1\n")),
            )
            .await
            .unwrap();
        assert!(!bad.status.success());
        assert!(
            stderr(&bad).contains(r#"unknown field "spec.bogus""#),
            "{}",
            stderr(&bad)
        );
        c.kubectl_stdin(
            &["create", "--validate=false", "-f", "-"],
            Some(&crontab("pruned", "  bogus: 1\n")),
        )
        .await
        .unwrap();
        let spec = c
            .kubectl_ok(&["get", "crontab", "pruned", "-o", "jsonpath={.spec}"])
            .await
            .unwrap();
        let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
        assert_eq!(spec.get("bogus"), None, "{spec}");
        assert_eq!(spec["color"], "blue");
        assert_eq!(spec["replicas"], 1);
        let generation = c
            .kubectl_ok(&[
                "get",
                "ct",
                "pruned",
                "-o",
                "jsonpath={.metadata.generation}",
            ])
            .await
            .unwrap();
        assert_eq!(generation, "1");

        c.kubectl_stdin(
            &["apply", "-f", "-"],
            Some(&crontab("green", "  color: green\n  replicas: 2\n")),
        )
        .await
        .unwrap();

        // Printer columns in the server-side table.
        let table = c.kubectl_ok(&["get", "ct"]).await.unwrap();
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["NAME", "SPEC", "REPLICAS", "AGE"], "{table}");
        assert!(table.contains("* * * * */5"), "{table}");

        // Selectable fields and metadata.name field selectors.
        let blue = c
            .kubectl_ok(&[
                "get",
                "ct",
                "--field-selector=spec.color=green",
                "-o",
                "name",
            ])
            .await
            .unwrap();
        assert_eq!(blue.trim(), "crontab.stable.example.com/green");
        let by_name = c
            .kubectl_ok(&[
                "get",
                "ct",
                "--field-selector=metadata.name=pruned",
                "-o",
                "name",
            ])
            .await
            .unwrap();
        assert_eq!(by_name.trim(), "crontab.stable.example.com/pruned");
        let bad_field = c
            .kubectl(&["get", "ct", "--field-selector=spec.image=x"])
            .await
            .unwrap();
        assert!(
            stderr(&bad_field).contains("field label not supported: spec.image"),
            "{}",
            stderr(&bad_field)
        );

        // `kubectl get all` includes the category.
        let all = c.kubectl_ok(&["get", "all"]).await.unwrap();
        assert!(all.contains("crontab.stable.example.com/green"), "{all}");

        // Schema and CEL errors, every violated field listed.
        let invalid = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&crontab("bad", "  replicas: 20\n  color: pink\n")),
            )
            .await
            .unwrap();
        let e = stderr(&invalid);
        assert!(e.contains(r#"The CronTab "bad" is invalid"#), "{e}");
        assert!(
            e.contains("spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"),
            "{e}"
        );
        assert!(
            e.contains(
                r#"spec.color: Unsupported value: "pink": supported values: "blue", "green", "red""#
            ),
            "{e}"
        );
        let cel = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&crontab("cel", "  replicas: 2\n  minReplicas: 5\n")),
            )
            .await
            .unwrap();
        let e = stderr(&cel);
        assert!(
            e.contains(r#"spec: Invalid value: "object": replicas should be greater than or equal to minReplicas"#),
            "{e}"
        );

        // Status subresource: the main resource ignores status, /status
        // writes it without touching the generation.
        c.kubectl_ok(&[
            "patch",
            "ct",
            "green",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"replicas":2,"labelSelector":"app=green"}}"#,
        ])
        .await
        .unwrap();
        // Scale subresource.
        let scaled = c
            .kubectl_ok(&["scale", "ct", "green", "--replicas=4"])
            .await
            .unwrap();
        assert_eq!(scaled.trim(), "crontab.stable.example.com/green scaled");
        let got = c
            .kubectl_ok(&[
                "get",
                "ct",
                "green",
                "-o",
                "jsonpath={.spec.replicas} {.status.replicas} {.metadata.generation}",
            ])
            .await
            .unwrap();
        assert_eq!(got, "4 2 2");
        let scale = c
            .kubectl_ok(&[
                "get",
                "--raw",
                "/apis/stable.example.com/v1/namespaces/default/crontabs/green/scale",
            ])
            .await
            .unwrap();
        let scale: serde_json::Value = serde_json::from_str(&scale).unwrap();
        assert_eq!(scale["spec"]["replicas"], 4);
        assert_eq!(scale["status"]["selector"], "app=green");
        let too_many = c
            .kubectl(&["scale", "ct", "green", "--replicas=11"])
            .await
            .unwrap();
        assert!(
            stderr(&too_many).contains("spec.replicas in body should be less than or equal to 10"),
            "{}",
            stderr(&too_many)
        );

        // Strategic merge patch is not supported for custom resources.
        let smp = c
            .kubectl(&[
                "patch",
                "ct",
                "green",
                "--type=strategic",
                "-p",
                r#"{"spec":{"image":"x"}}"#,
            ])
            .await
            .unwrap();
        assert!(!smp.status.success());
        assert!(
            stderr(&smp).contains("415") || stderr(&smp).contains("not supported"),
            "{}",
            stderr(&smp)
        );
        c.kubectl_ok(&[
            "patch",
            "ct",
            "green",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/image","value":"v2"}]"#,
        ])
        .await
        .unwrap();

        // kubectl explain reads the OpenAPI v3 document built from the schema.
        let explain = c.kubectl_ok(&["explain", "crontab.spec"]).await.unwrap();
        assert!(explain.contains("cronSpec"), "{explain}");
        assert!(explain.contains("A cron schedule."), "{explain}");

        // Deleting the CRD deletes its objects and stops serving.
        c.kubectl_ok(&["delete", "crd", "crontabs.stable.example.com"])
            .await
            .unwrap();
        let gone = c
            .kubectl(&["get", "crd", "crontabs.stable.example.com"])
            .await
            .unwrap();
        assert!(!gone.status.success());
        let store = c.etcd.store("/registry").await.unwrap();
        let left = store
            .list(
                "stable.example.com/crontabs/",
                &corten_storage::ListOptions::default(),
            )
            .await
            .unwrap();
        assert!(
            left.items.is_empty(),
            "objects left in etcd: {:?}",
            left.items.len()
        );
        let mut served = true;
        for _ in 0..50 {
            let o = c
                .kubectl(&[
                    "get",
                    "--raw",
                    "/apis/stable.example.com/v1/namespaces/default/crontabs",
                ])
                .await
                .unwrap();
            if !o.status.success() {
                served = false;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!served, "crontabs still served after the CRD was deleted");
    });
}
