//! Custom Resource OpenAPI Publish.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{install_crd, stderr};
use serde_json::Value;

use super::get_accept;

/// The schema of upstream's "Foo" CRD (descriptions, a required field,
/// an enum, a pattern), indented for a version's `openAPIV3Schema`.
const FOO_SCHEMA: &str = r#"{"description": "Foo CRD for Testing", "type": "object",
  "properties": {
    "spec": {"type": "object", "description": "Specification of Foo", "properties": {
      "bars": {"description": "List of Bars and their specs.", "type": "array", "items": {
        "type": "object", "required": ["name"], "properties": {
          "name": {"description": "Name of Bar.", "type": "string"},
          "age": {"description": "Age of Bar.", "type": "string"},
          "feeling": {"description": "Whether Bar is feeling great.", "type": "string", "enum": ["Great", "Down"]},
          "bazs": {"description": "List of Bazs.", "items": {"type": "string"}, "type": "array"}}}}}},
    "status": {"description": "Status of Foo", "type": "object", "properties": {
      "bars": {"description": "List of Bars and their statuses.", "type": "array", "items": {
        "type": "object", "properties": {
          "name": {"description": "Name of Bar.", "type": "string"},
          "available": {"description": "Whether the Bar is installed.", "type": "boolean"},
          "quxType": {"description": "Indicates to external qux type.", "pattern": "in-tree|out-of-tree", "type": "string"}}}}}}}}"#;

fn foo_crd(versions: &[(&str, bool)]) -> String {
    let versions: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, (name, served))| {
            serde_json::json!({"name": name, "served": served, "storage": i == 0,
                "schema": {"openAPIV3Schema": serde_json::from_str::<Value>(FOO_SCHEMA).unwrap()}})
        })
        .collect();
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "e2e-test-foos.crd-publish-openapi-test.example.com"},
        "spec": {"group": "crd-publish-openapi-test.example.com", "scope": "Namespaced",
            "names": {"plural": "e2e-test-foos", "singular": "e2e-test-foo", "kind": "E2eTestFoo",
                "listKind": "E2eTestFooList"},
            "versions": versions}
    })
    .to_string()
}

/// The /openapi/v2 definition of E2eTestFoo in `version`, without what
/// the server adds (metadata, apiVersion, kind, the GVK extension), as
/// upstream's test compares it.
async fn foo_definition(client: &kube::Client, version: &str) -> Option<Value> {
    let (code, _, doc) = get_accept(client, "/openapi/v2", "application/json").await;
    assert_eq!(code, 200);
    let name = format!("com.example.crd-publish-openapi-test.{version}.E2eTestFoo");
    let mut d = doc["definitions"].get(&name)?.clone();
    let o = d.as_object_mut().unwrap();
    o.remove("x-kubernetes-group-version-kind");
    if let Some(p) = o.get_mut("properties").and_then(Value::as_object_mut) {
        for k in ["metadata", "apiVersion", "kind"] {
            p.remove(k);
        }
    }
    Some(d)
}

/// Waits until `version`'s definition is `want` (`None`: gone).
async fn wait_definition(client: &kube::Client, version: &str, want: Option<&Value>) {
    let mut last = None;
    for _ in 0..50 {
        last = foo_definition(client, version).await;
        if last.as_ref() == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("definition of {version}: want {want:?}, got {last:?}");
}

/// Conformance "Custom Resource OpenAPI Publish": the CRD's schema is
/// published per served version (renames and unserved versions follow),
/// `kubectl create/apply` accept valid objects and `kubectl explain`
/// describes them.
#[tokio::test]
async fn crd_schemas_are_published_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        install_crd(
            &c,
            &foo_crd(&[("v2", true), ("v3", true)]),
            "e2e-test-foos.crd-publish-openapi-test.example.com",
        )
        .await;
        let schema: Value = serde_json::from_str(FOO_SCHEMA).unwrap();
        wait_definition(&client, "v2", Some(&schema)).await;
        wait_definition(&client, "v3", Some(&schema)).await;

        let cr = r#"{"apiVersion": "crd-publish-openapi-test.example.com/v2", "kind": "E2eTestFoo",
            "metadata": {"name": "test-foo"}, "spec": {"bars": [{"name": "test-bar"}]}}"#;
        for verb in ["create", "apply"] {
            let o = c
                .kubectl_stdin(&[verb, "--validate=true", "-f", "-"], Some(cr))
                .await
                .unwrap();
            assert!(o.status.success(), "{verb}: {}", stderr(&o));
            c.kubectl_ok(&["delete", "e2e-test-foos", "test-foo"])
                .await
                .unwrap();
        }

        let explain = |what: &'static str| {
            let c = &c;
            async move { c.kubectl_ok(&["explain", what]).await.unwrap() }
        };
        let in_order = |out: &str, parts: &[&str]| {
            let mut rest = out;
            for p in parts {
                let Some(i) = rest.find(p) else {
                    panic!("{p:?} missing (in order) from:\n{out}");
                };
                rest = &rest[i + p.len()..];
            }
        };
        let out = explain("e2e-test-foos").await;
        in_order(
            &out,
            &[
                "DESCRIPTION:",
                "Foo CRD for Testing",
                "FIELDS:",
                "apiVersion",
                "<string>",
                "APIVersion defines",
                "spec",
                "<Object>",
                "Specification of Foo",
            ],
        );
        let out = explain("e2e-test-foos.metadata").await;
        in_order(
            &out,
            &[
                "DESCRIPTION:",
                "Standard object's metadata",
                "FIELDS:",
                "creationTimestamp",
                "<string>",
                "CreationTimestamp is a timestamp",
            ],
        );
        let out = explain("e2e-test-foos.spec").await;
        in_order(
            &out,
            &[
                "DESCRIPTION:",
                "Specification of Foo",
                "FIELDS:",
                "bars",
                "<[]Object>",
                "List of Bars and their specs",
            ],
        );
        let out = explain("e2e-test-foos.spec.bars").await;
        in_order(
            &out,
            &[
                "bars",
                "<[]Object>",
                "DESCRIPTION:",
                "List of Bars and their specs",
                "FIELDS:",
                "bazs",
                "<[]string>",
                "List of Bazs",
                "name",
                "<string>",
                "Name of Bar",
            ],
        );
        let out = c
            .kubectl(&["explain", "e2e-test-foos.spec.bars2"])
            .await
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("field \"bars2\" does not exist"), "{err}");

        // A renamed version moves in the document; an unserved one leaves.
        c.kubectl_ok(&[
            "patch",
            "crd",
            "e2e-test-foos.crd-publish-openapi-test.example.com",
            "--type=json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/versions/1/name", "value": "v4"}]"#,
        ])
        .await
        .unwrap();
        wait_definition(&client, "v4", Some(&schema)).await;
        wait_definition(&client, "v3", None).await;
        wait_definition(&client, "v2", Some(&schema)).await;
        c.kubectl_ok(&[
            "patch",
            "crd",
            "e2e-test-foos.crd-publish-openapi-test.example.com",
            "--type=json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/versions/1/served", "value": false}]"#,
        ])
        .await
        .unwrap();
        wait_definition(&client, "v4", None).await;
        wait_definition(&client, "v2", Some(&schema)).await;
    });
}
