//! `/openapi/v2`: JSON and the gnostic protobuf form client-go asks for
//! (`kubectl explain --output=plaintext-openapiv2` reads it), ETags and
//! 304, and 406 for media types the endpoint does not serve.

use corten_e2e::TestCluster;
use serde_json::Value;

const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
const PROTOBUF_CT: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

#[tokio::test]
async fn openapi_v2_json_protobuf_and_etags() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let raw = c
            .kubectl_ok(&["get", "--raw", "/openapi/v2"])
            .await
            .unwrap();
        let doc: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(doc["swagger"], "2.0");
        let d = &doc["definitions"]["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            d["x-kubernetes-group-version-kind"][0],
            serde_json::json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        let containers =
            &doc["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-list-type"], "map");
        assert_eq!(
            doc["definitions"]["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"]["x-kubernetes-list-map-keys"],
            serde_json::json!(["port", "protocol"])
        );
        assert_eq!(
            doc["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]["x-kubernetes-map-type"],
            "atomic"
        );
        assert!(
            doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
                ["x-kubernetes-group-version-kind"]
                .is_object()
        );
        assert!(
            !raw.contains("#/components/schemas/"),
            "refs point at definitions"
        );

        // kubectl reads the protobuf form for the v2 explain output.
        let out = c
            .kubectl_ok(&[
                "explain",
                "deployment.spec.replicas",
                "--output=plaintext-openapiv2",
            ])
            .await
            .unwrap();
        assert!(out.contains("KIND:") && out.contains("Deployment"), "{out}");
        assert!(out.contains("replicas"), "{out}");

        // ETag, 304, 406.
        let client = c.client().await.unwrap();
        let get = |accept: &str, inm: Option<&str>| {
            let mut b = http::Request::get("/openapi/v2").header("Accept", accept);
            if let Some(t) = inm {
                b = b.header("If-None-Match", t);
            }
            b.body(Vec::new()).unwrap()
        };
        let resp = client
            .send(get(PROTOBUF, None).map(kube::client::Body::from))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], PROTOBUF_CT);
        let etag = resp.headers()["etag"].to_str().unwrap().to_string();
        let resp = client
            .send(get("application/json", Some(&etag)).map(kube::client::Body::from))
            .await
            .unwrap();
        assert_eq!(resp.status(), 304);
        let resp = client
            .send(get("text/html", None).map(kube::client::Body::from))
            .await
            .unwrap();
        assert_eq!(resp.status(), 406);
    })
}

/// A CRD whose schema uses int-or-string, nullable, free-form and
/// embedded parts.
const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.tricky.example.com
spec:
  group: tricky.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
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
              port:
                description: Where to listen.
                x-kubernetes-int-or-string: true
                anyOf: [{type: integer}, {type: string}]
              note:
                type: string
                nullable: true
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
              labels:
                type: object
                additionalProperties: {type: string}
              items:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
              template:
                type: object
                x-kubernetes-embedded-resource: true
                x-kubernetes-preserve-unknown-fields: true
"#;

/// The ETag of `/openapi/v2` (JSON).
async fn v2_etag(client: &kube::Client, if_none_match: Option<&str>) -> (u16, String) {
    let mut b = http::Request::get("/openapi/v2").header("Accept", "application/json");
    if let Some(t) = if_none_match {
        b = b.header("If-None-Match", t);
    }
    let resp = client
        .send(b.body(Vec::new()).unwrap().map(kube::client::Body::from))
        .await
        .unwrap();
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    (resp.status().as_u16(), etag)
}

#[tokio::test]
async fn crd_schemas_join_openapi_v2() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let (_, before) = v2_etag(&client, None).await;
        c.kubectl_stdin(&["apply", "-f", "-"], Some(crate::crd::CRONTAB_CRD))
            .await
            .unwrap();
        c.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "crd/crontabs.stable.example.com",
        ])
        .await
        .unwrap();

        // A new document, with a new ETag: a cached copy is not reused.
        let (code, after) = v2_etag(&client, Some(&before)).await;
        assert_eq!(code, 200);
        assert_ne!(after, before);
        let raw = c
            .kubectl_ok(&["get", "--raw", "/openapi/v2"])
            .await
            .unwrap();
        let doc: Value = serde_json::from_str(&raw).unwrap();
        let ct = &doc["definitions"]["com.example.stable.v1.CronTab"];
        assert_eq!(
            ct["x-kubernetes-group-version-kind"][0],
            serde_json::json!({"group": "stable.example.com", "kind": "CronTab", "version": "v1"})
        );
        assert_eq!(
            ct["properties"]["spec"]["properties"]["cronSpec"]["description"],
            "A cron schedule."
        );
        assert_eq!(
            ct["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(doc["definitions"]["com.example.stable.v1.CronTabList"].is_object());
        assert!(
            doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]
                ["patch"]["x-kubernetes-group-version-kind"]
                .is_object()
        );
        // The CRD kind itself is described too.
        assert!(
            doc["definitions"]
                ["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"]
                .is_object(),
            "{:?}",
            doc["definitions"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| k.contains("apiextensions"))
                .collect::<Vec<_>>()
        );

        // kubectl's v2 explain (the protobuf form) sees the custom schema.
        let out = c
            .kubectl_ok(&["explain", "crontab.spec", "--output=plaintext-openapiv2"])
            .await
            .unwrap();
        assert!(out.contains("KIND:") && out.contains("CronTab"), "{out}");
        assert!(
            out.contains("cronSpec") && out.contains("A cron schedule."),
            "{out}"
        );

        // Schema constructs that Swagger 2.0 lacks (anyOf, nullable) do
        // not break the document kubectl loads.
        c.kubectl_stdin(&["apply", "-f", "-"], Some(WIDGET_CRD))
            .await
            .unwrap();
        c.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.tricky.example.com",
        ])
        .await
        .unwrap();
        let raw = c
            .kubectl_ok(&["get", "--raw", "/openapi/v2"])
            .await
            .unwrap();
        let doc: Value = serde_json::from_str(&raw).unwrap();
        let spec = &doc["definitions"]["com.example.tricky.v1.Widget"]["properties"]["spec"];
        assert!(spec["properties"]["port"].get("anyOf").is_none(), "{spec}");
        assert_eq!(
            spec["properties"]["port"]["x-kubernetes-int-or-string"],
            true
        );
        assert!(
            spec["properties"]["note"].get("nullable").is_none(),
            "{spec}"
        );
        let out = c
            .kubectl_ok(&["explain", "widget.spec", "--output=plaintext-openapiv2"])
            .await
            .unwrap();
        assert!(
            out.contains("port") && out.contains("Where to listen."),
            "{out}"
        );

        // Deleting the CRD takes it out again.
        c.kubectl_ok(&["delete", "crd", "crontabs.stable.example.com"])
            .await
            .unwrap();
        let mut gone = false;
        for _ in 0..50 {
            let raw = c
                .kubectl_ok(&["get", "--raw", "/openapi/v2"])
                .await
                .unwrap();
            if !raw.contains("com.example.stable.v1.CronTab") {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(gone, "the CronTab schema left /openapi/v2");
        let (_, last) = v2_etag(&client, None).await;
        assert_ne!(last, after);
    })
}
