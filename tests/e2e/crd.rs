//! CustomResourceDefinitions end to end: a realistic CRD installed with
//! kubectl, its objects created, defaulted, pruned, validated (schema and
//! CEL), scaled, listed with printer columns and selectors, watched, and
//! removed with the CRD; invalid CRDs rejected with upstream's messages;
//! a kube-rs controller reconciling the custom resource.

use std::sync::Arc;
use std::time::Duration;

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{
    apply_ok, create_ok, install_crd, manifest_err, stderr, wait_established,
};

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
    let out = install_crd(c, CRONTAB_CRD, "crontabs.stable.example.com").await;
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"
    );
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
        let e = manifest_err(&c, "create", &crontab("pruned", "  bogus: 1\n")).await;
        assert!(e.contains(r#"unknown field "spec.bogus""#), "{e}");
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

        apply_ok(&c, &crontab("green", "  color: green\n  replicas: 2\n")).await;

        // Printer columns in the server-side table.
        let table = c.kubectl_ok(&["get", "ct"]).await.unwrap();
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["NAME", "SPEC", "REPLICAS", "AGE"], "{table}");
        assert!(table.contains("* * * * */5"), "{table}");

        // A table watch prints the printer columns too.
        let watched = c
            .kubectl(&["get", "ct", "-w", "--request-timeout=2s"])
            .await
            .unwrap();
        let watched = String::from_utf8_lossy(&watched.stdout).into_owned();
        let mut lines = watched.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
        assert_eq!(header, ["NAME", "SPEC", "REPLICAS", "AGE"], "{watched}");
        assert!(
            watched.lines().any(|l| l.starts_with("green ")),
            "{watched}"
        );

        // Selectable fields and metadata.name field selectors.
        for (selector, found) in [
            ("spec.color=green", "green"),
            ("metadata.name=pruned", "pruned"),
        ] {
            let flag = format!("--field-selector={selector}");
            let names = c
                .kubectl_ok(&["get", "ct", &flag, "-o", "name"])
                .await
                .unwrap();
            assert_eq!(names.trim(), format!("crontab.stable.example.com/{found}"));
        }
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
        let e = manifest_err(
            &c,
            "create",
            &crontab("bad", "  replicas: 20\n  color: pink\n"),
        )
        .await;
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
        let e = manifest_err(
            &c,
            "create",
            &crontab("cel", "  replicas: 2\n  minReplicas: 5\n"),
        )
        .await;
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

        // Updating the CRD re-serves the resource with the new columns.
        let updated = CRONTAB_CRD.replace(
            "    - name: Age\n",
            "    - name: Color\n      type: string\n      jsonPath: .spec.color\n    - name: Age\n",
        );
        assert_ne!(updated, CRONTAB_CRD);
        apply_ok(&c, &updated).await;
        let mut header = Vec::new();
        for _ in 0..50 {
            let table = c.kubectl_ok(&["get", "ct"]).await.unwrap();
            header = table
                .lines()
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect();
            if header.len() == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(header, ["NAME", "SPEC", "REPLICAS", "COLOR", "AGE"]);
        let generation = c
            .kubectl_ok(&[
                "get",
                "crd",
                "crontabs.stable.example.com",
                "-o",
                "jsonpath={.metadata.generation}",
            ])
            .await
            .unwrap();
        assert_eq!(generation, "2");

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

fn crd_yaml(
    name: &str,
    group: &str,
    plural: &str,
    kind: &str,
    extra_names: &str,
    schema: &str,
) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {name}
spec:
  group: {group}
  scope: Namespaced
  names:
    plural: {plural}
    kind: {kind}
{extra_names}  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
{schema}"#
    )
}

async fn crd_rv(c: &TestCluster, name: &str) -> String {
    c.kubectl_ok(&[
        "get",
        "crd",
        name,
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ])
    .await
    .unwrap()
}

const OPEN_SCHEMA: &str =
    "        type: object\n        x-kubernetes-preserve-unknown-fields: true\n";

#[tokio::test]
async fn invalid_crds_are_rejected_with_upstream_messages() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let create = |yaml: String| {
            let c = &c;
            async move { manifest_err(c, "create", &yaml).await }
        };
        let e = create(crd_yaml(
            "widgets.example.com",
            "example.com",
            "widgets",
            "Widget",
            "",
            "        type: object\n        properties:\n          spec:\n            properties:\n              size: {}\n",
        ))
        .await;
        assert!(
            e.contains(r#"The CustomResourceDefinition "widgets.example.com" is invalid"#),
            "{e}"
        );
        assert!(
            e.contains("spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"),
            "{e}"
        );
        let e = create(crd_yaml(
            "widgets.example",
            "example",
            "widgets",
            "Widget",
            "",
            OPEN_SCHEMA,
        ))
        .await;
        assert!(
            e.contains(
                r#"spec.group: Invalid value: "example": should be a domain with at least one dot"#
            ),
            "{e}"
        );
        let e = create(crd_yaml(
            "gadgets.example.com",
            "example.com",
            "widgets",
            "Widget",
            "",
            OPEN_SCHEMA,
        ))
        .await;
        assert!(
            e.contains(r#"metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group"#),
            "{e}"
        );
        let e = create(crd_yaml(
            "widgets.apps.k8s.io",
            "apps.k8s.io",
            "widgets",
            "Widget",
            "",
            OPEN_SCHEMA,
        ))
        .await;
        assert!(
            e.contains(r#"metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io""#),
            "{e}"
        );
        // Nothing was stored.
        let list = c.kubectl_ok(&["get", "crd", "-o", "name"]).await.unwrap();
        assert_eq!(list.trim(), "");

        // A short name another CRD of the group already holds is not
        // accepted; the CRD is still established under its other names.
        create_ok(
            &c,
            &crd_yaml(
                "widgets.example.com",
                "example.com",
                "widgets",
                "Widget",
                "    shortNames: [wd]\n",
                OPEN_SCHEMA,
            ),
        )
        .await;
        wait_established(&c, "widgets.example.com").await;
        create_ok(
            &c,
            &crd_yaml(
                "gizmos.example.com",
                "example.com",
                "gizmos",
                "Gizmo",
                "    shortNames: [wd]\n",
                OPEN_SCHEMA,
            ),
        )
        .await;
        let mut cond = String::new();
        for _ in 0..100 {
            cond = c
                .kubectl_ok(&[
                    "get",
                    "crd",
                    "gizmos.example.com",
                    "-o",
                    r#"jsonpath={.status.conditions[?(@.type=="NamesAccepted")].reason}: {.status.conditions[?(@.type=="NamesAccepted")].message}"#,
                ])
                .await
                .unwrap();
            if !cond.trim().starts_with(':') {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(cond, r#"ShortNamesConflict: "wd" is already in use"#);
        // The controller writes status only when it changes.
        let before = crd_rv(&c, "gizmos.example.com").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(crd_rv(&c, "gizmos.example.com").await, before);
        let wd = c.kubectl_ok(&["get", "wd", "-o", "name"]).await.unwrap();
        assert_eq!(wd.trim(), "");
        let res = c
            .kubectl_ok(&["api-resources", "--api-group=example.com"])
            .await
            .unwrap();
        assert!(
            !res.contains("gizmos"),
            "a CRD without accepted names is served: {res}"
        );
    });
}

const MULTI_VERSION: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusterthings.example.com
spec:
  group: example.com
  scope: Cluster
  names:
    plural: clusterthings
    singular: clusterthing
    kind: ClusterThing
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 3}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 3}
"#;

#[tokio::test]
async fn multiple_versions_and_cluster_scope() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        create_ok(&c, MULTI_VERSION).await;
        wait_established(&c, "clusterthings.example.com").await;
        // Preferred version: v1 (GA before beta).
        let group = c
            .kubectl_ok(&["get", "--raw", "/apis/example.com"])
            .await
            .unwrap();
        let group: serde_json::Value = serde_json::from_str(&group).unwrap();
        assert_eq!(group["preferredVersion"]["version"], "v1");
        assert_eq!(group["versions"][1]["version"], "v1beta1");
        create_ok(
            &c,
            "apiVersion: example.com/v1beta1\nkind: ClusterThing\nmetadata:\n  name: one\nspec: {}\n",
        )
        .await;
        let v1 = c
            .kubectl_ok(&["get", "--raw", "/apis/example.com/v1/clusterthings/one"])
            .await
            .unwrap();
        let v1: serde_json::Value = serde_json::from_str(&v1).unwrap();
        assert_eq!(v1["apiVersion"], "example.com/v1");
        assert_eq!(v1["spec"]["size"], 3);
        assert_eq!(v1["metadata"].get("namespace"), None);
        let beta = c
            .kubectl_ok(&["get", "--raw", "/apis/example.com/v1beta1/clusterthings"])
            .await
            .unwrap();
        let beta: serde_json::Value = serde_json::from_str(&beta).unwrap();
        assert_eq!(beta["kind"], "ClusterThingList");
        assert_eq!(beta["items"][0]["apiVersion"], "example.com/v1beta1");
        // Cluster-scoped: not under a namespace.
        let ns = c
            .kubectl(&[
                "get",
                "--raw",
                "/apis/example.com/v1/namespaces/default/clusterthings/one",
            ])
            .await
            .unwrap();
        assert!(!ns.status.success());
        // The storage version's key is upstream's.
        let store = c.etcd.store("/registry").await.unwrap();
        let kv = store
            .get("example.com/clusterthings/one")
            .await
            .unwrap()
            .unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
        assert_eq!(stored["apiVersion"], "example.com/v1");
    });
}

/// A small operator: copies `spec.image` to `status.observed`.
mod operator {
    use std::sync::Arc;

    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    use kube::runtime::controller::Action;
    use serde_json::json;

    #[derive(Debug)]
    pub struct Error(pub String);

    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Error {}

    pub struct Ctx {
        pub api: Api<DynamicObject>,
    }

    pub async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
        let image = obj.data["spec"]["image"].as_str().unwrap_or("").to_string();
        if obj.data["status"]["observed"].as_str() != Some(image.as_str()) {
            let name = obj.metadata.name.clone().unwrap_or_default();
            ctx.api
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"observed": image}})),
                )
                .await
                .map_err(|e| Error(e.to_string()))?;
        }
        Ok(Action::await_change())
    }

    pub fn error_policy(_: Arc<DynamicObject>, _: &Error, _: Arc<Ctx>) -> Action {
        Action::requeue(std::time::Duration::from_millis(200))
    }
}

#[tokio::test]
async fn kube_rs_controller_reconciles_custom_resources() {
    use futures::StreamExt;
    use kube::api::{
        Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
    };
    use kube::runtime::{Controller, watcher};

    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        install_crontab(&c).await;
        let client = c.client().await.unwrap();
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("stable.example.com", "v1", "CronTab"),
            "crontabs",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);

        // A plain watcher sees the object arrive.
        let mut events = watcher(api.clone(), watcher::Config::default()).boxed();

        let ctx = Arc::new(operator::Ctx { api: api.clone() });
        let controller = tokio::spawn(
            Controller::new_with(api.clone(), watcher::Config::default(), ar.clone())
                .run(operator::reconcile, operator::error_policy, ctx)
                .for_each(|_| async {}),
        );

        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "stable.example.com/v1",
            "kind": "CronTab",
            "metadata": {"name": "op"},
            "spec": {"cronSpec": "* * * * *", "image": "img-1"},
        }))
        .unwrap();
        api.create(&PostParams::default(), &obj).await.unwrap();

        let mut seen = false;
        while let Some(ev) = events.next().await {
            if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = ev
                && o.metadata.name.as_deref() == Some("op")
            {
                seen = true;
                break;
            }
        }
        assert!(seen);

        let wait_for = |want: &'static str| {
            let api = api.clone();
            async move {
                for _ in 0..200 {
                    let o = api.get("op").await.unwrap();
                    if o.data["status"]["observed"] == want {
                        return o;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                panic!("status.observed never became {want}");
            }
        };
        let o = wait_for("img-1").await;
        assert_eq!(o.metadata.generation, Some(1));
        api.patch(
            "op",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"image": "img-2"}})),
        )
        .await
        .unwrap();
        let o = wait_for("img-2").await;
        assert_eq!(o.metadata.generation, Some(2));
        controller.abort();
    });
}
