//! Custom resources served in several versions with different schemas
//! (`conversion: None`): a write through a version is pruned, defaulted
//! and validated by that version's schema (not the storage version's),
//! then stored in the storage version; reads through a version are pruned
//! by its schema and carry the storage version's defaults, as upstream.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{apply_ok, create_ok, get_json, get_raw, install_crd, manifest_err};
use serde_json::{Value, json};

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.versions.example.com
spec:
  group: versions.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
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
            required: [legacy]
            x-kubernetes-validations:
            - rule: "self.legacy != 'forbidden'"
              message: legacy must not be forbidden
            properties:
              size: {type: integer, maximum: 5, default: 1}
              legacy: {type: string}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [color]
            properties:
              size: {type: integer, maximum: 10, default: 3}
              color: {type: string, default: blue}
"#;

fn widget(version: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: versions.example.com/{version}\nkind: Widget\nmetadata:\n  name: {name}\nspec: {spec}\n"
    )
}

async fn get(c: &TestCluster, version: &str, name: &str) -> Value {
    let path = format!("/apis/versions.example.com/{version}/namespaces/default/widgets/{name}");
    get_raw(c, &path).await
}

#[tokio::test]
async fn writes_are_validated_in_the_version_they_come_in() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        install_crd(&c, CRD, "widgets.versions.example.com").await;

        // v1beta1's maximum, not v1's, and v1beta1's required field.
        let err = manifest_err(&c, "create", &widget("v1beta1", "big", "{size: 7}")).await;
        assert!(
            err.contains(r#"The Widget "big" is invalid"#)
                && err.contains("spec.size: Invalid value: 7: spec.size in body should be less than or equal to 5")
                && err.contains(r#"spec.legacy: Required value"#),
            "{err}"
        );
        assert!(!err.contains("color"), "v1's schema is not used: {err}");
        // v1beta1's CEL rule.
        let err = manifest_err(
            &c,
            "create",
            &widget("v1beta1", "cel", "{legacy: forbidden}"),
        )
        .await;
        assert!(
            err.contains("spec: Invalid value: \"object\": legacy must not be forbidden"),
            "{err}"
        );
        // A v1 field is unknown in v1beta1 (kubectl asks for Strict).
        let err = manifest_err(
            &c,
            "create",
            &widget("v1beta1", "strict", "{legacy: a, color: red}"),
        )
        .await;
        assert!(err.contains(r#"unknown field "spec.color""#), "{err}");

        // Valid in v1beta1 although v1 requires color: accepted, with
        // v1beta1's default size.
        create_ok(&c, &widget("v1beta1", "ok", "{legacy: old}")).await;
        // Stored in v1: v1beta1-only fields pruned by v1's schema, v1's
        // defaults as upstream shows them on read.
        let store = c.etcd.store("/registry").await.unwrap();
        let kv = store
            .get("versions.example.com/widgets/default/ok")
            .await
            .unwrap()
            .unwrap();
        let stored: Value = serde_json::from_slice(&kv.value).unwrap();
        assert_eq!(stored["apiVersion"], "versions.example.com/v1");
        assert_eq!(stored["spec"], json!({"size": 1, "color": "blue"}));
        let v1 = get(&c, "v1", "ok").await;
        assert_eq!(v1["spec"], json!({"size": 1, "color": "blue"}));
        // Read through v1beta1: pruned by v1beta1's schema.
        let beta = get(&c, "v1beta1", "ok").await;
        assert_eq!(beta["apiVersion"], "versions.example.com/v1beta1");
        assert_eq!(beta["spec"], json!({"size": 1}));
        let list = get_raw(
            &c,
            "/apis/versions.example.com/v1beta1/namespaces/default/widgets",
        )
        .await;
        assert_eq!(list["items"][0]["spec"], json!({"size": 1}));

        // An update through v1beta1 is validated in v1beta1 too.
        let out = c
            .kubectl(&[
                "patch",
                "widgets.v1beta1.versions.example.com",
                "ok",
                "--type=merge",
                "-p",
                r#"{"spec":{"size":6,"legacy":"new"}}"#,
            ])
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "spec.size: Invalid value: 6: spec.size in body should be less than or equal to 5"
            ),
            "{err}"
        );
        // Through v1 the same size is fine.
        c.kubectl_ok(&[
            "patch",
            "widgets.v1.versions.example.com",
            "ok",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":6}}"#,
        ])
        .await
        .unwrap();
        assert_eq!(get(&c, "v1", "ok").await["spec"]["size"], 6);
    });
}

/// The gadget CRD; `later` adds a default and drops a field, as an
/// operator's upgrade might.
fn gadget_crd(later: bool) -> String {
    let props = if later {
        "size: {type: integer}\n              color: {type: string, default: blue}"
    } else {
        "size: {type: integer}\n              legacy: {type: string}"
    };
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.defaults.example.com
spec:
  group: defaults.example.com
  scope: Namespaced
  names: {{plural: gadgets, singular: gadget, kind: Gadget}}
  versions:
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
              {props}
"#
    )
}

#[tokio::test]
async fn defaults_added_later_show_on_reads_of_stored_objects() {
    use futures::StreamExt;
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, WatchEvent, WatchParams};
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        install_crd(&c, &gadget_crd(false), "gadgets.defaults.example.com").await;
        apply_ok(
            &c,
            "apiVersion: defaults.example.com/v1\nkind: Gadget\nmetadata:\n  name: old\nspec: {size: 2, legacy: x}\n",
        )
        .await;
        let stored_before = c
            .etcd
            .store("/registry")
            .await
            .unwrap()
            .get("defaults.example.com/gadgets/default/old")
            .await
            .unwrap()
            .unwrap();

        apply_ok(&c, &gadget_crd(true)).await;
        let want = json!({"size": 2, "color": "blue"});
        // GET (kubectl reads etcd): once the new schema is served.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let got = get_json(&c, &["gadgets", "old"]).await;
            if got["spec"] == want {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no default on GET: {got}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // LIST, from the watch cache and with resourceVersion=0 too.
        for args in [
            &["get", "gadgets", "-o", "json"][..],
            &[
                "get",
                "--raw",
                "/apis/defaults.example.com/v1/namespaces/default/gadgets?resourceVersion=0",
            ],
            &[
                "get",
                "--raw",
                "/apis/defaults.example.com/v1/namespaces/default/gadgets/old?resourceVersion=0",
            ],
        ] {
            let got: Value = serde_json::from_str(&c.kubectl_ok(args).await.unwrap()).unwrap();
            let spec = got.pointer("/items/0/spec").unwrap_or(&got["spec"]);
            assert_eq!(spec, &want, "{args:?}: {got}");
        }
        // WATCH: the initial ADDED event and the DELETED event show it.
        let client = c.client().await.unwrap();
        let gvk = GroupVersionKind::gvk("defaults.example.com", "v1", "Gadget");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "gadgets");
        let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
        let mut events = Box::pin(
            api.watch(&WatchParams::default().timeout(10), "0")
                .await
                .unwrap(),
        );
        match events.next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => assert_eq!(o.data["spec"], want),
            other => panic!("unexpected {other:?}"),
        }
        // Reading did not rewrite the object.
        let stored_after = c
            .etcd
            .store("/registry")
            .await
            .unwrap()
            .get("defaults.example.com/gadgets/default/old")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored_after.mod_revision, stored_before.mod_revision);
        // A metadata-only change is no spec change although the stored
        // spec lacked the default (the generation stays).
        c.kubectl_ok(&["label", "gadget", "old", "tier=a"])
            .await
            .unwrap();
        match events.next().await.unwrap().unwrap() {
            WatchEvent::Modified(o) => {
                assert_eq!(o.data["spec"], want);
                assert_eq!(o.metadata.generation, Some(1));
            }
            other => panic!("unexpected {other:?}"),
        }
        c.kubectl_ok(&["delete", "gadget", "old", "--wait=false"])
            .await
            .unwrap();
        match events.next().await.unwrap().unwrap() {
            WatchEvent::Deleted(o) => assert_eq!(o.data["spec"], want),
            other => panic!("unexpected {other:?}"),
        }
    });
}
