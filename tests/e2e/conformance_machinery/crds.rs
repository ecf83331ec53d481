//! CustomResourceDefinitions (create, list, status, watch, defaulting,
//! discovery), Table conversion of a kind without metadata, the server
//! version.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{install_crd, send_raw};
use serde_json::Value;

use super::get_accept;

/// A CRD named `<plural>.crd.example.com` with an optional label and a
/// `spec` of strings `a` and `b`, whose defaults `defaults` names.
fn simple_crd(plural: &str, label: Option<&str>, defaults: (Option<&str>, Option<&str>)) -> String {
    let labels = label.map_or(String::new(), |l| {
        format!("\n  labels: {{e2e-list-test: {l}}}")
    });
    let default = |d: Option<&str>| d.map_or(String::new(), |d| format!(", default: {d}"));
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.crd.example.com{labels}
spec:
  group: crd.example.com
  scope: Namespaced
  names: {{plural: {plural}, singular: {plural}1, kind: {plural}kind, listKind: {plural}kindList}}
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
              a: {{type: string{}}}
              b: {{type: string{}}}
",
        default(defaults.0),
        default(defaults.1)
    )
}

/// Conformance "Custom Resource Definition" create/list/status/watch/
/// defaulting/discovery, "API metadata HTTP return" and "Confirm a server
/// version".
#[tokio::test]
async fn crds_tables_and_version_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

        // Server version: major and minor are integers.
        let (code, _, v) = get_accept(&client, "/version", "application/json").await;
        assert_eq!(code, 200);
        for k in ["major", "minor"] {
            let s = v[k].as_str().unwrap();
            assert!(s.parse::<u32>().is_ok(), "{k}: {s:?}");
        }

        // A kind without metadata cannot be shown as a Table: 406.
        let req = http::Request::builder()
            .method("POST")
            .uri("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .header("content-type", "application/json")
            .body(br#"{"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}}"#.to_vec())
            .unwrap();
        let resp = client
            .send(req.map(kube::client::Body::from))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 406);

        // Discovery names the CRD resource.
        let (_, _, apis) = get_accept(&client, "/apis", "application/json").await;
        let group = apis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "apiextensions.k8s.io")
            .expect("apiextensions.k8s.io in /apis")
            .clone();
        assert_eq!(
            group["preferredVersion"]["groupVersion"],
            "apiextensions.k8s.io/v1"
        );
        let (_, _, g) = get_accept(&client, "/apis/apiextensions.k8s.io", "application/json").await;
        assert_eq!(g["preferredVersion"]["version"], "v1");
        let (_, _, l) =
            get_accept(&client, "/apis/apiextensions.k8s.io/v1", "application/json").await;
        assert!(
            l["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "customresourcedefinitions"),
            "{l}"
        );

        // A watch on CRDs sees them added, modified and deleted.
        let watch_client = client.clone();
        let watcher = tokio::spawn(async move {
            use futures::{StreamExt, TryStreamExt};
            use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
            use kube::api::{Api, WatchEvent, WatchParams};
            let api: Api<CustomResourceDefinition> = Api::all(watch_client);
            let mut s = api
                .watch(
                    &WatchParams::default()
                        .fields("metadata.name=watched.crd.example.com")
                        .timeout(60),
                    "0",
                )
                .await
                .unwrap()
                .boxed();
            let mut seen = Vec::new();
            while let Some(e) = s.try_next().await.unwrap() {
                match e {
                    WatchEvent::Added(_) => seen.push("ADDED"),
                    // Several modifications (status, labels) count once.
                    WatchEvent::Modified(_) if seen.last() != Some(&"MODIFIED") => {
                        seen.push("MODIFIED")
                    }
                    WatchEvent::Deleted(_) => {
                        seen.push("DELETED");
                        break;
                    }
                    _ => {}
                }
            }
            seen
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        install_crd(
            &c,
            &simple_crd("watched", None, (None, None)),
            "watched.crd.example.com",
        )
        .await;
        c.kubectl_ok(&["label", "crd", "watched.crd.example.com", "touched=yes"])
            .await
            .unwrap();
        c.kubectl_ok(&["delete", "crd", "watched.crd.example.com"])
            .await
            .unwrap();
        let seen = tokio::time::timeout(std::time::Duration::from_secs(30), watcher)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen, ["ADDED", "MODIFIED", "DELETED"]);

        // List by label and delete the collection: only the labelled ones.
        for i in 0..3 {
            install_crd(
                &c,
                &simple_crd(&format!("listed{i}"), Some("listed"), (None, None)),
                &format!("listed{i}.crd.example.com"),
            )
            .await;
        }
        install_crd(
            &c,
            &simple_crd("other", None, (None, None)),
            "other.crd.example.com",
        )
        .await;
        let a = send_raw(
            &client,
            "GET",
            &format!("{CRDS}?labelSelector=e2e-list-test%3Dlisted"),
            "application/json",
            "",
        )
        .await;
        assert_eq!(a.body["items"].as_array().unwrap().len(), 3, "{}", a.body);
        let a = send_raw(
            &client,
            "DELETE",
            &format!("{CRDS}?labelSelector=e2e-list-test%3Dlisted"),
            "application/json",
            "",
        )
        .await;
        assert_eq!(a.code, 200, "{}", a.body);
        let mut left = 3;
        for _ in 0..50 {
            let a = send_raw(
                &client,
                "GET",
                &format!("{CRDS}?labelSelector=e2e-list-test%3Dlisted"),
                "application/json",
                "",
            )
            .await;
            left = a.body["items"].as_array().unwrap().len();
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert_eq!(left, 0);
        let a = send_raw(
            &client,
            "GET",
            &format!("{CRDS}/other.crd.example.com"),
            "application/json",
            "",
        )
        .await;
        assert_eq!(a.code, 200);

        // The CRD's status subresource: read, update, patch.
        let status = format!("{CRDS}/other.crd.example.com/status");
        let mut s = send_raw(&client, "GET", &status, "application/json", "")
            .await
            .body;
        assert_eq!(s["kind"], "CustomResourceDefinition");
        s["status"]["conditions"].as_array_mut().unwrap().push(serde_json::json!({
            "type": "StatusUpdated", "status": "True", "reason": "E2E", "message": "Set from an e2e test",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}));
        let a = send_raw(&client, "PUT", &status, "application/json", s.to_string()).await;
        assert_eq!(a.code, 200, "{}", a.body);
        let a = send_raw(
            &client,
            "PATCH",
            &status,
            "application/merge-patch+json",
            r#"{"metadata": {"annotations": {"patched": "true"}}}"#,
        )
        .await;
        assert_eq!(a.code, 200, "{}", a.body);
        let got = send_raw(
            &client,
            "GET",
            &format!("{CRDS}/other.crd.example.com"),
            "application/json",
            "",
        )
        .await
        .body;
        assert!(
            got["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == "StatusUpdated"),
            "{got}"
        );
        assert_eq!(got["metadata"]["annotations"]["patched"], "true");

        // Defaulting: from storage once the CRD gains a default, in
        // requests, and a new default joins while the stored one stays.
        install_crd(
            &c,
            &simple_crd("defaulted", None, (None, None)),
            "defaulted.crd.example.com",
        )
        .await;
        let crs = "/apis/crd.example.com/v1/namespaces/default/defaulted";
        let cr = |n: &str| {
            format!(
                r#"{{"apiVersion": "crd.example.com/v1", "kind": "defaultedkind", "metadata": {{"name": "{n}"}}, "spec": {{}}}}"#
            )
        };
        let a = send_raw(&client, "POST", crs, "application/json", cr("one")).await;
        assert_eq!(a.code, 201, "{}", a.body);
        assert!(a.body["spec"].get("a").is_none());
        c.kubectl_stdin(
            &["apply", "-f", "-"],
            Some(&simple_crd("defaulted", None, (Some("A"), None))),
        )
        .await
        .unwrap();
        let mut spec = Value::Null;
        for _ in 0..50 {
            spec = send_raw(
                &client,
                "GET",
                &format!("{crs}/one"),
                "application/json",
                "",
            )
            .await
            .body["spec"]
                .clone();
            if spec["a"] == "A" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert_eq!(spec["a"], "A", "defaulted when read from storage");
        let a = send_raw(&client, "POST", crs, "application/json", cr("two")).await;
        assert_eq!(a.body["spec"]["a"], "A", "defaulted in the request");
        c.kubectl_stdin(
            &["apply", "-f", "-"],
            Some(&simple_crd("defaulted", None, (None, Some("B")))),
        )
        .await
        .unwrap();
        for _ in 0..50 {
            spec = send_raw(
                &client,
                "GET",
                &format!("{crs}/two"),
                "application/json",
                "",
            )
            .await
            .body["spec"]
                .clone();
            if spec["b"] == "B" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert_eq!(spec["b"], "B");
        assert_eq!(spec["a"], "A", "the stored default stays");
    });
}
