//! Server-side apply of custom resources with the real kubectl: lists and
//! maps merge by the CRD's structural schema (`x-kubernetes-list-type`
//! `map`/`set`/`atomic`, `x-kubernetes-map-type`, fields under
//! `x-kubernetes-preserve-unknown-fields`), ownership is recorded per list
//! item (`k:{"name":"http"}`, `v:"x"`), and two managers conflict with
//! upstream's 409 messages.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{get_json, install_crd, kubectl_manifest, stderr};
use serde_json::{Value, json};

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gateways.ssa.example.com
spec:
  group: ssa.example.com
  scope: Namespaced
  names: {plural: gateways, singular: gateway, kind: Gateway}
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
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
              tags:
                type: array
                x-kubernetes-list-type: set
                items: {type: string}
              args:
                type: array
                items: {type: string}
              selector:
                type: object
                x-kubernetes-map-type: atomic
                properties:
                  app: {type: string}
                  tier: {type: string}
              config:
                type: object
                x-kubernetes-preserve-unknown-fields: true
"#;

async fn install(c: &TestCluster) {
    install_crd(c, CRD, "gateways.ssa.example.com").await;
}

fn gateway(spec: &str) -> String {
    format!("apiVersion: ssa.example.com/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n{spec}")
}

async fn apply(c: &TestCluster, manager: &str, yaml: &str, extra: &[&str]) -> std::process::Output {
    let flag = format!("--field-manager={manager}");
    let mut args = vec!["--server-side", flag.as_str()];
    args.extend_from_slice(extra);
    kubectl_manifest(c, "apply", yaml, &args).await
}

async fn apply_ok(c: &TestCluster, manager: &str, yaml: &str) {
    let out = apply(c, manager, yaml, &[]).await;
    assert!(out.status.success(), "apply by {manager}: {}", stderr(&out));
}

async fn get(c: &TestCluster) -> Value {
    get_json(c, &["gateway", "gw", "--show-managed-fields"]).await
}

fn fields<'a>(obj: &'a Value, manager: &str) -> &'a Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["manager"] == manager))
        .map(|e| &e["fieldsV1"])
        .unwrap_or_else(|| panic!("no managedFields entry of {manager}: {obj}"))
}

fn port(gw: &Value, name: &str) -> Value {
    gw["spec"]["ports"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn custom_resources_apply_by_list_types_with_per_item_ownership() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        install(&c).await;
        apply_ok(
            &c,
            "a",
            &gateway(
                "  ports: [{name: http, port: 80}]\n  tags: [alpha]\n  args: [a1]\n  selector: {app: web}\n  config: {mode: fast, limits: {cpu: 1}}\n",
            ),
        )
        .await;
        // Another manager adds a port, a tag and a config key: items of
        // map and set lists and keys of untyped maps merge.
        apply_ok(
            &c,
            "b",
            &gateway("  ports: [{name: https, port: 443}]\n  tags: [beta]\n  config: {limits: {memory: 1Gi}}\n"),
        )
        .await;
        let gw = get(&c).await;
        assert_eq!(
            gw["spec"]["ports"],
            json!([{"name": "http", "port": 80}, {"name": "https", "port": 443}])
        );
        assert_eq!(gw["spec"]["tags"], json!(["alpha", "beta"]));
        assert_eq!(gw["spec"]["args"], json!(["a1"]));
        assert_eq!(
            gw["spec"]["config"],
            json!({"mode": "fast", "limits": {"cpu": 1, "memory": "1Gi"}})
        );
        let a = fields(&gw, "a");
        let http = &a["f:spec"]["f:ports"]["k:{\"name\":\"http\"}"];
        assert_eq!(
            http,
            &json!({".": {}, "f:name": {}, "f:port": {}}),
            "a owns the http item: {a}"
        );
        assert!(
            a["f:spec"]["f:ports"]
                .get("k:{\"name\":\"https\"}")
                .is_none()
        );
        assert_eq!(a["f:spec"]["f:tags"], json!({"v:\"alpha\"": {}}));
        assert_eq!(
            a["f:spec"]["f:args"],
            json!({}),
            "atomic lists are owned whole"
        );
        assert_eq!(
            a["f:spec"]["f:selector"],
            json!({}),
            "atomic maps are owned whole"
        );
        // Keys of deduced maps are owned as members (upstream's
        // toFieldSet), declared fields only through their leaves.
        assert_eq!(
            a["f:spec"]["f:config"],
            json!({"f:limits": {".": {}, "f:cpu": {}}, "f:mode": {}})
        );
        let b = fields(&gw, "b");
        assert!(
            b["f:spec"]["f:ports"]["k:{\"name\":\"https\"}"].is_object(),
            "{b}"
        );
        assert_eq!(b["f:spec"]["f:tags"], json!({"v:\"beta\"": {}}));

        // A field of a's item: upstream's conflict message and cause.
        let out = apply(
            &c,
            "b",
            &gateway("  ports: [{name: http, port: 8080}]\n"),
            &[],
        )
        .await;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                r#"Apply failed with 1 conflict: conflict with "a": .spec.ports[name="http"].port"#
            ),
            "{err}"
        );
        // An atomic list and an atomic map conflict as a whole.
        let out = apply(
            &c,
            "b",
            &gateway("  args: [b1]\n  selector: {app: web, tier: front}\n"),
            &[],
        )
        .await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Apply failed with 2 conflicts"), "{err}");
        assert!(
            err.contains("conflicts with \"a\":\n- .spec.args\n- .spec.selector"),
            "{err}"
        );
        // The same status through the API: one FieldManagerConflict cause.
        let body = serde_json::to_string(
            &json!({"apiVersion": "ssa.example.com/v1", "kind": "Gateway",
            "metadata": {"name": "gw"}, "spec": {"ports": [{"name": "http", "port": 8080}]}}),
        )
        .unwrap();
        let client = c.client().await.unwrap();
        let req = http::Request::patch(
            "/apis/ssa.example.com/v1/namespaces/default/gateways/gw?fieldManager=b",
        )
        .header("Content-Type", "application/apply-patch+yaml")
        .body(body.into_bytes())
        .unwrap();
        let e = client.request::<Value>(req).await.unwrap_err();
        let kube::Error::Api(status) = e else {
            panic!("{e:?}")
        };
        assert_eq!(status.code, 409);
        assert_eq!(status.reason, "Conflict");
        let details = status.details.expect("conflict details");
        let causes = details.causes;
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].reason, "FieldManagerConflict");
        assert_eq!(causes[0].message, "conflict with \"a\"");
        assert_eq!(causes[0].field, ".spec.ports[name=\"http\"].port");
        // Nothing changed.
        assert_eq!(get(&c).await["spec"]["ports"][0]["port"], 80);

        // Forced: b takes the port over; a keeps the rest of its item.
        let out = apply(
            &c,
            "b",
            &gateway("  ports: [{name: https, port: 443}, {name: http, port: 8080}]\n  tags: [beta]\n  config: {limits: {memory: 1Gi}}\n"),
            &["--force-conflicts"],
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let gw = get(&c).await;
        assert_eq!(port(&gw, "http"), json!({"name": "http", "port": 8080}));
        let a = fields(&gw, "a");
        assert_eq!(
            a["f:spec"]["f:ports"]["k:{\"name\":\"http\"}"],
            json!({".": {}, "f:name": {}})
        );

        // a stops applying its tag and the http port: the tag goes, the
        // item stays (b owns its port), the atomic list is replaced.
        apply_ok(
            &c,
            "a",
            &gateway("  args: [a1, a2]\n  selector: {app: web}\n  config: {mode: fast, limits: {cpu: 1}}\n"),
        )
        .await;
        let gw = get(&c).await;
        assert_eq!(gw["spec"]["tags"], json!(["beta"]));
        assert_eq!(gw["spec"]["args"], json!(["a1", "a2"]));
        assert_eq!(port(&gw, "http"), json!({"name": "http", "port": 8080}));
        assert_eq!(port(&gw, "https"), json!({"name": "https", "port": 443}));
        assert_eq!(gw["spec"]["ports"].as_array().map(Vec::len), Some(2));
    });
}

/// Upstream 1.33: an apply configuration with fields the CRD's schema
/// does not declare cannot become a typed object; the field manager's
/// plain error is a 500 without a reason, whatever `fieldValidation`
/// says, and nothing is stored. Fields under
/// `x-kubernetes-preserve-unknown-fields` are declared.
#[tokio::test]
async fn apply_with_undeclared_fields_fails_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        install(&c).await;
        let undeclared = gateway("  foo: 1\n  config: {free: form}\n");
        for validation in ["Strict", "Warn", "Ignore"] {
            let flag = format!("--validate={}", validation.to_lowercase());
            let out = apply(&c, "a", &undeclared, &[&flag]).await;
            assert!(!out.status.success(), "{validation}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                err.trim(),
                "Error from server: failed to create typed patch object (default/gw; ssa.example.com/v1, Kind=Gateway): .spec.foo: field not declared in schema",
                "{validation}"
            );
        }
        let out = c.kubectl(&["get", "gateway", "gw"]).await.unwrap();
        assert!(!out.status.success(), "nothing was created");

        // The Status itself: code 500, no reason; several fields listed
        // (the first undeclared field of an object ends its check, as
        // upstream's walk does; upstream's order is Go map order).
        let body = "{\"apiVersion\":\"ssa.example.com/v1\",\"kind\":\"Gateway\",\"metadata\":{\"name\":\"gw\",\"namespace\":\"default\"},\"spec\":{\"foo\":1,\"bar\":{}},\"status\":{}}";
        let path = "/apis/ssa.example.com/v1/namespaces/default/gateways/gw?fieldManager=a";
        let client = c.client().await.unwrap();
        let req = http::Request::patch(path)
            .header("Content-Type", "application/apply-patch+yaml")
            .body(body.as_bytes().to_vec())
            .unwrap();
        let err = client.request::<Value>(req).await.unwrap_err();
        let kube::Error::Api(status) = err else {
            panic!("not a Status: {err:?}");
        };
        assert_eq!(status.code, 500);
        assert_eq!(status.reason, "");
        assert_eq!(
            status.message,
            "failed to create typed patch object (default/gw; ssa.example.com/v1, Kind=Gateway): errors:\n  .spec.foo: field not declared in schema\n  .status: field not declared in schema"
        );

        // Declared and preserved fields apply.
        apply_ok(&c, "a", &gateway("  tags: [x]\n  config: {free: form}\n")).await;
        assert_eq!(get(&c).await["spec"]["config"], json!({"free": "form"}));
    });
}
