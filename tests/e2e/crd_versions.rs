//! Custom resources served in several versions with different schemas
//! (`conversion: None`): a write through a version is pruned, defaulted
//! and validated by that version's schema (not the storage version's),
//! then stored in the storage version; reads through a version are pruned
//! by its schema and carry the storage version's defaults, as upstream.

use corten_e2e::TestCluster;
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
    serde_json::from_str(&c.kubectl_ok(&["get", "--raw", &path]).await.unwrap()).unwrap()
}

#[tokio::test]
async fn writes_are_validated_in_the_version_they_come_in() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let out = c
            .kubectl_stdin(&["apply", "-f", "-"], Some(CRD))
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c.kubectl_ok(&[
            "wait",
            "--for=condition=established",
            "--timeout=20s",
            "crd/widgets.versions.example.com",
        ])
        .await
        .unwrap();

        // v1beta1's maximum, not v1's, and v1beta1's required field.
        let out = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&widget("v1beta1", "big", "{size: 7}")),
            )
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains(r#"The Widget "big" is invalid"#)
                && err.contains("spec.size: Invalid value: 7: spec.size in body should be less than or equal to 5")
                && err.contains(r#"spec.legacy: Required value"#),
            "{err}"
        );
        assert!(!err.contains("color"), "v1's schema is not used: {err}");
        // v1beta1's CEL rule.
        let out = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&widget("v1beta1", "cel", "{legacy: forbidden}")),
            )
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("spec: Invalid value: \"object\": legacy must not be forbidden"),
            "{err}"
        );
        // A v1 field is unknown in v1beta1 (kubectl asks for Strict).
        let out = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&widget("v1beta1", "strict", "{legacy: a, color: red}")),
            )
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(r#"unknown field "spec.color""#), "{err}");

        // Valid in v1beta1 although v1 requires color: accepted, with
        // v1beta1's default size.
        let out = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&widget("v1beta1", "ok", "{legacy: old}")),
            )
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
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
        let list = c
            .kubectl_ok(&[
                "get",
                "--raw",
                "/apis/versions.example.com/v1beta1/namespaces/default/widgets",
            ])
            .await
            .unwrap();
        let list: Value = serde_json::from_str(&list).unwrap();
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
