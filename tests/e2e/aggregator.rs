//! API aggregation: local APIServices for built-in and CRD group-versions,
//! APIService validation, and a remote APIService served by an in-process
//! HTTPS extension apiserver on loopback (reached through an ExternalName
//! Service for `localhost`: EndpointSlices may not hold loopback IPs), and
//! the unavailable reasons of a ClusterIP Service without (ready)
//! endpoints — driven by kubectl.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use corten_e2e::TestCluster;
use corten_e2e::extension_server::{
    FLUNDER_DESCRIPTION, FrontProxy, GROUP, TestExtensionServer, VERSION,
};
use corten_e2e::fixtures::{apply_ok, manifest_err};
use serde_json::Value;

use crate::with_timeout;

/// The `--requestheader-*` flags that trust `fp`'s CA for the front
/// proxy's client certificate and upstream's `X-Remote-*` headers.
fn requestheader_flags(fp: &FrontProxy) -> Vec<String> {
    vec![
        format!("--requestheader-client-ca-file={}", fp.ca_file.display()),
        "--requestheader-allowed-names=front-proxy-client".to_string(),
        "--requestheader-username-headers=X-Remote-User".to_string(),
        "--requestheader-group-headers=X-Remote-Group".to_string(),
        "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_string(),
    ]
}

/// Polls `kubectl get apiservice <name> -o json` until `pred` holds.
async fn wait_apiservice(
    c: &TestCluster,
    name: &str,
    pred: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut last = Value::Null;
    loop {
        if let Ok(out) = c
            .kubectl_ok(&["get", "apiservice", name, "-o", "json"])
            .await
        {
            last = serde_json::from_str(&out)?;
            if pred(&last) {
                return Ok(last);
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("apiservice {name} never matched; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn available(obj: &Value) -> (String, String) {
    let c = obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Available")
        .cloned()
        .unwrap_or(Value::Null);
    (
        c["status"].as_str().unwrap_or("").to_string(),
        c["reason"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn local_apiservices_follow_builtin_and_crd_group_versions() {
    with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let apps = wait_apiservice(&c, "v1.apps", |o| available(o).0 == "True")
            .await
            .unwrap();
        assert_eq!(available(&apps), ("True".into(), "Local".into()));
        assert_eq!(apps["spec"]["groupPriorityMinimum"], 17800);
        assert_eq!(apps["spec"]["versionPriority"], 15);
        assert_eq!(
            apps["metadata"]["labels"]["kube-aggregator.kubernetes.io/automanaged"],
            "onstart"
        );
        assert!(apps["spec"].get("service").is_none());
        let table = c
            .kubectl_ok(&["get", "apiservices", "v1.", "v2.autoscaling"])
            .await
            .unwrap();
        assert!(table.starts_with("NAME"), "{table}");
        assert!(
            table.lines().any(|l| l.starts_with("v2.autoscaling")
                && l.contains("Local")
                && l.contains("True")),
            "{table}"
        );
        // apiregistration.k8s.io leads /apis, as upstream's aggregator
        // lists its own group first.
        let groups: Value =
            serde_json::from_str(&c.kubectl_ok(&["get", "--raw", "/apis"]).await.unwrap()).unwrap();
        assert_eq!(groups["groups"][0]["name"], "apiregistration.k8s.io");

        // Served like a built-in: discovery, OpenAPI, label selectors,
        // and /status keeps conditions other than Available.
        let res = c
            .kubectl_ok(&["api-resources", "--api-group=apiregistration.k8s.io"])
            .await
            .unwrap();
        assert!(
            res.lines().any(|l| l.starts_with("apiservices")
                && l.contains("APIService")
                && l.contains("false")),
            "{res}"
        );
        let explain = c
            .kubectl_ok(&["explain", "apiservice.spec.groupPriorityMinimum"])
            .await
            .unwrap();
        assert!(explain.contains("GroupPriorityMinimum"), "{explain}");
        let onstart = c
            .kubectl_ok(&[
                "get",
                "apiservices",
                "-l",
                "kube-aggregator.kubernetes.io/automanaged=onstart",
                "-o",
                "name",
            ])
            .await
            .unwrap();
        assert!(
            onstart
                .lines()
                .any(|l| l == "apiservice.apiregistration.k8s.io/v1.apps"),
            "{onstart}"
        );
        c.kubectl_ok(&[
            "patch",
            "apiservice",
            "v1.apps",
            "--subresource=status",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/status/conditions/-","value":{"type":"StatusUpdated","status":"True","reason":"E2E","message":"Set from an e2e test"}}]"#,
        ])
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let apps = wait_apiservice(&c, "v1.apps", |o| available(o).0 == "True")
            .await
            .unwrap();
        assert!(
            apps["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == "StatusUpdated" && c["reason"] == "E2E"),
            "{apps}"
        );

        // A CRD's group-version gets an APIService, gone with the CRD.
        apply_ok(
            &c,
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.agg.example.com\nspec:\n  group: agg.example.com\n  scope: Namespaced\n  names: {plural: widgets, kind: Widget}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
        )
        .await;
        let crd = wait_apiservice(&c, "v1.agg.example.com", |o| available(o).0 == "True")
            .await
            .unwrap();
        assert_eq!(crd["spec"]["groupPriorityMinimum"], 1000);
        assert_eq!(crd["spec"]["versionPriority"], 100);
        assert_eq!(
            crd["metadata"]["labels"]["kube-aggregator.kubernetes.io/automanaged"],
            "true"
        );
        c.kubectl_ok(&["delete", "crd", "widgets.agg.example.com"])
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let out = c
                .kubectl(&["get", "apiservice", "v1.agg.example.com"])
                .await
                .unwrap();
            if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound") {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the CRD APIService stayed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Upstream's validation messages.
        let err = manifest_err(
            &c,
            "create",
            "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: wrong\nspec:\n  group: x.example.com\n  version: v1\n  groupPriorityMinimum: 30000\n  versionPriority: 15\n  insecureSkipTLSVerify: true\n  caBundle: YWJj\n  service: {namespace: default, name: x}\n",
        )
        .await;
        assert!(err.contains("metadata.name: Invalid value: \"wrong\": must be `spec.version+\".\"+spec.group`: \"v1.x.example.com\""), "{err}");
        assert!(err.contains("spec.groupPriorityMinimum: Invalid value: 30000: must be positive and less than 20000"), "{err}");
        assert!(err.contains("spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present"), "{err}");
    });
}

#[tokio::test]
async fn remote_apiservice_is_proxied_discovered_and_checked() {
    with_timeout!(async {
        let pki_dir = tempfile::tempdir().unwrap();
        let fp = FrontProxy::create(pki_dir.path()).unwrap();
        let mut flags = requestheader_flags(&fp);
        flags.extend([
            format!("--proxy-client-cert-file={}", fp.cert_file.display()),
            format!("--proxy-client-key-file={}", fp.key_file.display()),
            "--enable-aggregator-routing=true".to_string(),
        ]);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let c = TestCluster::start_with(&flags).await.unwrap();
        let backend = TestExtensionServer::start(&["api.wardle.svc"], &fp.ca_pem)
            .await
            .unwrap();

        // The ConfigMap extension apiservers read.
        let cm: Value = serde_json::from_str(
            &c.kubectl_ok(&[
                "get",
                "configmap",
                "-n",
                "kube-system",
                "extension-apiserver-authentication",
                "-o",
                "json",
            ])
            .await
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            cm["data"]["requestheader-allowed-names"],
            "[\"front-proxy-client\"]"
        );
        assert_eq!(
            cm["data"]["requestheader-username-headers"],
            "[\"X-Remote-User\"]"
        );
        assert_eq!(
            cm["data"]["requestheader-client-ca-file"],
            fp.ca_pem.as_str()
        );
        assert_eq!(cm["data"]["client-ca-file"], c.ca_pem());

        // Endpoint IPs may not be loopback addresses (EndpointSlice
        // validation), so the Service is an ExternalName for `localhost`;
        // the APIService names the backend's port.
        let manifests = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: wardle}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: api, namespace: wardle}}\nspec: {{type: ExternalName, externalName: localhost}}\n---\n\
             apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {{name: {VERSION}.{GROUP}}}\nspec:\n  group: {GROUP}\n  version: {VERSION}\n  groupPriorityMinimum: 1000\n  versionPriority: 15\n  caBundle: {ca}\n  service: {{namespace: wardle, name: api, port: {port}}}\n",
            port = backend.port,
            ca = backend.ca_bundle(),
        );
        apply_ok(&c, &manifests).await;
        let name = format!("{VERSION}.{GROUP}");
        let obj = wait_apiservice(&c, &name, |o| available(o).0 == "True")
            .await
            .unwrap();
        assert_eq!(available(&obj), ("True".into(), "Passed".into()));
        assert_eq!(obj["spec"]["service"]["port"], backend.port);
        let row = c.kubectl_ok(&["get", "apiservice", &name]).await.unwrap();
        assert!(row.contains("wardle/api") && row.contains("True"), "{row}");

        // Requests are proxied with the user in X-Remote-* headers.
        let out = c
            .kubectl_ok(&["get", "flunders", "-n", "wardle"])
            .await
            .unwrap();
        assert!(
            out.contains("my-flunder") && out.contains("wardle"),
            "{out}"
        );
        let one: Value = serde_json::from_str(
            &c.kubectl_ok(&["get", "flunder", "my-flunder", "-n", "wardle", "-o", "json"])
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(one["kind"], "Flunder");
        let seen = backend.seen();
        assert!(
            seen.iter()
                .any(|(p, u, g)| p.ends_with("/namespaces/wardle/flunders")
                    && u == "kubernetes-admin"
                    && g.contains(&"system:masters".to_string())
                    && g.contains(&"system:authenticated".to_string())),
            "{seen:?}"
        );
        // The availability check identifies as the aggregator.
        assert!(
            seen.iter()
                .any(|(p, u, _)| p == &format!("/apis/{GROUP}/{VERSION}")
                    && u == "system:kube-aggregator")
        );

        // Discovery lists the remote group and its resources.
        let resources = c
            .kubectl_ok(&["api-resources", "--api-group", GROUP])
            .await
            .unwrap();
        assert!(
            resources.lines().any(|l| l.starts_with("flunders")
                && l.contains(" flu ")
                && l.contains("wardle.example.com/v1alpha1")
                && l.contains("Flunder")),
            "{resources}"
        );
        let groups: Value =
            serde_json::from_str(&c.kubectl_ok(&["get", "--raw", "/apis"]).await.unwrap()).unwrap();
        assert!(
            groups["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == GROUP)
        );
        let group: Value = serde_json::from_str(
            &c.kubectl_ok(&["get", "--raw", &format!("/apis/{GROUP}")])
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(group["preferredVersion"]["version"], VERSION);

        // The backend's OpenAPI is served and merged: kubectl explain
        // (OpenAPI v3) and /openapi/v2 know the remote kind.
        let key = format!("apis/{GROUP}/{VERSION}");
        let mut index = Value::Null;
        for _ in 0..100 {
            index = serde_json::from_str(
                &c.kubectl_ok(&["get", "--raw", "/openapi/v3"])
                    .await
                    .unwrap(),
            )
            .unwrap();
            if index["paths"].get(&key).is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let url = index["paths"][&key]["serverRelativeURL"]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing from {index}"))
            .to_string();
        assert!(
            url.starts_with(&format!("/openapi/v3/{key}?hash=")),
            "{url}"
        );
        let doc = c.kubectl_ok(&["get", "--raw", &url]).await.unwrap();
        assert!(doc.contains(FLUNDER_DESCRIPTION), "{doc}");
        let explain = c.kubectl_ok(&["explain", "flunders.spec"]).await.unwrap();
        assert!(
            explain.contains("What the flunder refers to.") && explain.contains("reference"),
            "{explain}"
        );
        let v2 = c
            .kubectl_ok(&["get", "--raw", "/openapi/v2"])
            .await
            .unwrap();
        assert!(
            v2.contains(FLUNDER_DESCRIPTION),
            "Flunder missing from /openapi/v2"
        );

        // A ClusterIP Service without endpoints: unavailable, and requests
        // get upstream's 503.
        let broken = "apiVersion: v1\nkind: Service\nmetadata: {name: empty, namespace: wardle}\nspec:\n  ports: [{name: https, port: 443, targetPort: 8443}]\n---\n\
             apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1.broken.example.com}\nspec:\n  group: broken.example.com\n  version: v1\n  groupPriorityMinimum: 1000\n  versionPriority: 15\n  insecureSkipTLSVerify: true\n  service: {namespace: wardle, name: empty}\n";
        apply_ok(&c, broken).await;
        let obj = wait_apiservice(&c, "v1.broken.example.com", |o| available(o).0 == "False")
            .await
            .unwrap();
        assert_eq!(available(&obj).1, "EndpointsNotFound");
        let out = c
            .kubectl(&["get", "--raw", "/apis/broken.example.com/v1/things"])
            .await
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("ServiceUnavailable") || err.contains("unable to handle the request"),
            "{err}"
        );
        // Listed in legacy discovery like upstream, though unavailable.
        let groups = c.kubectl_ok(&["get", "--raw", "/apis"]).await.unwrap();
        assert!(groups.contains("broken.example.com/v1"), "{groups}");
        // A not-ready endpoint is no endpoint (no traffic is sent to it).
        let slice = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: empty-1\n  namespace: wardle\n  labels: {kubernetes.io/service-name: empty}\naddressType: IPv4\nendpoints: [{addresses: [10.255.255.1], conditions: {ready: false}}]\nports: [{name: https, port: 8443, protocol: TCP}]\n";
        apply_ok(&c, slice).await;
        let obj = wait_apiservice(&c, "v1.broken.example.com", |o| {
            available(o).1 == "MissingEndpoints"
        })
        .await
        .unwrap();
        assert_eq!(
            obj["status"]["conditions"][0]["message"],
            "endpoints for service/empty in \"wardle\" have no addresses with port name \"https\""
        );
        c.kubectl_ok(&["delete", "apiservice", "v1.broken.example.com"])
            .await
            .unwrap();

        // The backend goes away: the discovery check fails.
        backend.stop();
        let obj = wait_apiservice(&c, &name, |o| available(o).0 == "False")
            .await
            .unwrap();
        assert_eq!(available(&obj).1, "FailedDiscoveryCheck");
        let msg = obj["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap_or("");
        assert!(
            msg.starts_with(&format!(
                "failing or missing response from https://localhost:{}/apis/{GROUP}/{VERSION}",
                backend.port
            )),
            "{msg}"
        );
        let table = c.kubectl_ok(&["get", "apiservice", &name]).await.unwrap();
        assert!(table.contains("False (FailedDiscoveryCheck)"), "{table}");

        let metrics = c.kubectl_ok(&["get", "--raw", "/metrics"]).await.unwrap();
        assert!(
            metrics
                .lines()
                .any(|l| l == format!("aggregator_unavailable_apiservice{{name=\"{name}\"}} 1")),
            "gauge missing"
        );
        assert!(metrics.contains(&format!("aggregator_unavailable_apiservice_total{{name=\"{name}\",reason=\"FailedDiscoveryCheck\"}}")));
    });
}

#[tokio::test]
async fn request_header_authentication_trusts_only_the_front_proxy() {
    with_timeout!(async {
        let pki_dir = tempfile::tempdir().unwrap();
        let fp = FrontProxy::create(pki_dir.path()).unwrap();
        let flags = requestheader_flags(&fp);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let c = TestCluster::start_with(&flags).await.unwrap();
        use base64::Engine;
        let b64 = |p: &PathBuf| {
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap())
        };
        let kubeconfig = c.dir().join("front-proxy.kubeconfig");
        let ca = base64::engine::general_purpose::STANDARD.encode(c.ca_pem().as_bytes());
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster: {{server: \"{}\", certificate-authority-data: {ca}}}\nusers:\n- name: t\n  user: {{client-certificate-data: {}, client-key-data: {}}}\ncontexts:\n- name: t\n  context: {{cluster: t, user: t}}\ncurrent-context: t\n",
                c.url,
                b64(&fp.cert_file),
                b64(&fp.key_file)
            ),
        )
        .unwrap();
        let proxy = c.client_for(&kubeconfig).await.unwrap();
        let review = |headers: Vec<(&'static str, &'static str)>| {
            let mut req = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
                .header("content-type", "application/json");
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.body(
                br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.to_vec(),
            )
            .unwrap()
        };
        let text = proxy
            .request_text(review(vec![
                ("X-Remote-User", "dave"),
                ("X-Remote-Group", "dev"),
                ("X-Remote-Group", "ops"),
                ("X-Remote-Extra-Example.org%2fteam", "blue"),
            ]))
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let info = &v["status"]["userInfo"];
        assert_eq!(info["username"], "dave");
        assert_eq!(
            info["groups"],
            serde_json::json!(["dev", "ops", "system:authenticated"])
        );
        assert_eq!(
            info["extra"]["example.org/team"],
            serde_json::json!(["blue"])
        );
        // The front proxy's certificate alone is not an identity here.
        let denied = proxy.request_text(review(vec![])).await;
        assert!(format!("{denied:?}").contains("401"), "{denied:?}");
        // Headers from an ordinary client are ignored.
        let admin = c.client().await.unwrap();
        let text = admin
            .request_text(review(vec![("X-Remote-User", "dave")]))
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"]["userInfo"]["username"], "kubernetes-admin");
    });
}
