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
