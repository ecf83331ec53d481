//! Discovery and aggregated discovery.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::install_crd;
use serde_json::Value;

use super::get_accept;

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an APIGroupDiscoveryList serves `resource` in `group/version`.
fn discovered(list: &Value, group: &str, version: &str, resource: &str) -> bool {
    list["items"].as_array().into_iter().flatten().any(|g| {
        g["metadata"]["name"].as_str().unwrap_or("") == group
            && g["versions"].as_array().into_iter().flatten().any(|v| {
                v["version"] == version
                    && v["resources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r["resource"] == resource)
            })
    })
}

/// Conformance "Aggregated Discovery" (endpoint Accept headers, CRDs) and
/// "Discovery" (groupVersion and a resource from each group; the
/// PreferredVersion of each group).
#[tokio::test]
async fn discovery_serves_every_group_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();

        let (code, ct, apis) = get_accept(&client, "/apis", AGGREGATED).await;
        assert_eq!(code, 200, "{apis}");
        assert!(ct.starts_with(AGGREGATED), "{ct}");
        for (g, v, r) in [
            (
                "admissionregistration.k8s.io",
                "v1",
                "validatingwebhookconfigurations",
            ),
            ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            ("apiregistration.k8s.io", "v1", "apiservices"),
            ("apps", "v1", "deployments"),
            ("authentication.k8s.io", "v1", "tokenreviews"),
            ("authorization.k8s.io", "v1", "subjectaccessreviews"),
            ("autoscaling", "v1", "horizontalpodautoscalers"),
            ("autoscaling", "v2", "horizontalpodautoscalers"),
            ("batch", "v1", "jobs"),
            ("certificates.k8s.io", "v1", "certificatesigningrequests"),
            ("coordination.k8s.io", "v1", "leases"),
            ("discovery.k8s.io", "v1", "endpointslices"),
            ("events.k8s.io", "v1", "events"),
            ("networking.k8s.io", "v1", "ingresses"),
            ("node.k8s.io", "v1", "runtimeclasses"),
            ("policy", "v1", "poddisruptionbudgets"),
            ("scheduling.k8s.io", "v1", "priorityclasses"),
            ("storage.k8s.io", "v1", "csinodes"),
        ] {
            assert!(discovered(&apis, g, v, r), "{g}/{v} {r} missing");
        }
        let (code, ct, api) = get_accept(&client, "/api", AGGREGATED).await;
        assert_eq!(code, 200, "{api}");
        assert!(ct.starts_with(AGGREGATED), "{ct}");
        for r in [
            "pods",
            "services",
            "configmaps",
            "namespaces",
            "nodes",
            "secrets",
        ] {
            assert!(discovered(&api, "", "v1", r), "v1 {r} missing");
        }

        // Legacy discovery: every group's document names its preferred
        // version as /apis does, and each version lists its resources.
        let (code, _, groups) = get_accept(&client, "/apis", "application/json").await;
        assert_eq!(code, 200);
        assert_eq!(groups["kind"], "APIGroupList");
        for g in groups["groups"].as_array().unwrap() {
            let name = g["name"].as_str().unwrap();
            let (code, _, group) =
                get_accept(&client, &format!("/apis/{name}"), "application/json").await;
            assert_eq!(code, 200, "{name}");
            assert_eq!(group["kind"], "APIGroup");
            assert_eq!(group["preferredVersion"], g["preferredVersion"], "{name}");
            for v in g["versions"].as_array().unwrap() {
                let gv = v["groupVersion"].as_str().unwrap();
                let (code, _, list) =
                    get_accept(&client, &format!("/apis/{gv}"), "application/json").await;
                assert_eq!(code, 200, "{gv}");
                assert_eq!(list["kind"], "APIResourceList");
                assert_eq!(list["groupVersion"], gv);
                assert!(!list["resources"].as_array().unwrap().is_empty(), "{gv}");
            }
        }

        // A CRD appears in aggregated discovery.
        install_crd(
            &c,
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: testcrds.group1.example.com}
spec:
  group: group1.example.com
  scope: Namespaced
  names: {plural: testcrds, singular: testcrd, kind: testcrd, listKind: testcrdList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
",
            "testcrds.group1.example.com",
        )
        .await;
        let mut seen = false;
        for _ in 0..50 {
            let (_, _, apis) = get_accept(&client, "/apis", AGGREGATED).await;
            if discovered(&apis, "group1.example.com", "v1", "testcrds") {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(seen, "the CRD never appeared in aggregated discovery");
    });
}
