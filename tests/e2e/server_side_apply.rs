//! Server-side apply and field ownership (`metadata.managedFields`) with
//! the real kubectl: `apply --server-side`, conflicts with other managers
//! (`scale`, `edit`), `--force-conflicts`, removal of fields an applier
//! stops applying, managedFields of plain creates, clearing them, and the
//! request checks (`fieldManager` required, `force` only for apply).

use corten_e2e::TestCluster;
use serde_json::Value;

fn manifest(replicas: u32, image: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web{extra}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {image}
        ports:
        - containerPort: 80
"#
    )
}

async fn get_json(c: &TestCluster, what: &[&str]) -> Value {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json", "--show-managed-fields"]);
    serde_json::from_str(&c.kubectl_ok(&args).await.unwrap()).unwrap()
}

fn entry<'a>(obj: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

async fn apply(c: &TestCluster, yaml: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--server-side", "-f", "-"];
    args.extend_from_slice(extra);
    c.kubectl_stdin(&args, Some(yaml)).await.unwrap()
}

#[tokio::test]
async fn server_side_apply_conflicts_and_force() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let out = apply(&c, &manifest(2, "nginx:1.27", ""), &[]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "deployment.apps/web serverside-applied"
        );
        let d = get_json(&c, &["deployment", "web"]).await;
        let e = entry(&d, "kubectl", "Apply").expect("Apply entry of kubectl");
        assert_eq!(e["apiVersion"], "apps/v1");
        assert_eq!(e["fieldsType"], "FieldsV1");
        assert!(e["time"].is_string());
        let f = &e["fieldsV1"];
        assert_eq!(f["f:spec"]["f:replicas"], serde_json::json!({}));
        assert_eq!(
            f["f:spec"]["f:selector"],
            serde_json::json!({}),
            "LabelSelector is atomic"
        );
        let web = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
        assert_eq!(web["."], serde_json::json!({}));
        assert!(
            web["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"].is_object(),
            "ports keyed by containerPort and protocol: {web}"
        );
        // Defaults are nobody's.
        assert!(web.get("f:imagePullPolicy").is_none());

        // Re-applying the same manifest is a no-op.
        let rv = d["metadata"]["resourceVersion"].clone();
        let out = apply(&c, &manifest(2, "nginx:1.27", ""), &[]).await;
        assert!(out.status.success());
        assert_eq!(
            get_json(&c, &["deployment", "web"]).await["metadata"]["resourceVersion"],
            rv
        );

        // Another manager changes the image with kubectl edit.
        let editor = c.dir().join("editor.sh");
        std::fs::write(
            &editor,
            "#!/bin/sh\nsed -i 's/nginx:1.27/nginx:1.28/' \"$1\"\n",
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let out = tokio::process::Command::new(corten_e2e::KUBECTL)
            .arg(format!("--kubeconfig={}", c.kubeconfig.display()))
            .args(["edit", "deployment", "web"])
            .env("KUBE_EDITOR", &editor)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d = get_json(&c, &["deployment", "web"]).await;
        let edit = entry(&d, "kubectl-edit", "Update").expect("kubectl-edit entry");
        assert!(
            edit["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]
                ["f:image"]
                .is_object()
        );
        let web = &entry(&d, "kubectl", "Apply").unwrap()["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
            ["f:containers"]["k:{\"name\":\"web\"}"];
        assert!(web.get("f:image").is_none(), "image moved to kubectl-edit");

        // Re-applying the old image conflicts, with upstream's message.
        let out = apply(&c, &manifest(2, "nginx:1.27", ""), &[]).await;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.template.spec.containers[name=\"web\"].image"
            ),
            "{err}"
        );
        assert!(err.contains("--force-conflicts"), "kubectl's advice: {err}");

        // kubectl scale: a third manager owns replicas.
        c.kubectl_ok(&["scale", "deployment", "web", "--replicas=5"])
            .await
            .unwrap();
        let d = get_json(&c, &["deployment", "web"]).await;
        let scaler = d["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["fieldsV1"]["f:spec"].get("f:replicas").is_some())
            .expect("someone owns replicas")
            .clone();
        assert_eq!(scaler["operation"], "Update");
        let mut who = format!("{:?}", scaler["manager"].as_str().unwrap());
        if let Some(s) = scaler["subresource"].as_str() {
            who = format!("{who} with subresource {s:?}");
        }
        let out = apply(&c, &manifest(2, "nginx:1.28", ""), &[]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "Apply failed with 1 conflict: conflict with {who} using apps/v1: .spec.replicas"
            )),
            "{err}"
        );

        // Two conflicts at once are listed per manager.
        let out = apply(&c, &manifest(3, "nginx:1.30", ""), &[]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Apply failed with 2 conflicts: conflicts with"),
            "{err}"
        );
        assert!(err.contains("- .spec.replicas"), "{err}");
        // Nothing changed.
        let d = get_json(&c, &["deployment", "web"]).await;
        assert_eq!(d["spec"]["replicas"], 5);

        // --force-conflicts takes the fields over.
        let out = apply(&c, &manifest(3, "nginx:1.30", ""), &["--force-conflicts"]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d = get_json(&c, &["deployment", "web"]).await;
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.30"
        );
        let f = &entry(&d, "kubectl", "Apply").unwrap()["fieldsV1"];
        assert!(f["f:spec"].get("f:replicas").is_some());
        for e in d["metadata"]["managedFields"].as_array().unwrap() {
            if e["operation"] == "Update" {
                assert!(e["fieldsV1"]["f:spec"].get("f:replicas").is_none(), "{e}");
            }
        }
    })
}

#[tokio::test]
async fn server_side_apply_removes_dropped_fields_and_creates() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let out = apply(
            &c,
            &manifest(1, "nginx:1.27", ", tier: front, team: a"),
            &[],
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Someone else also sets team (same value: shared ownership).
        c.kubectl_ok(&["label", "deployment", "web", "owner=ops"])
            .await
            .unwrap();
        let d = get_json(&c, &["deployment", "web"]).await;
        let label = entry(&d, "kubectl-label", "Update")
            .or_else(|| entry(&d, "kubectl", "Update"))
            .expect("label manager");
        assert!(label["fieldsV1"]["f:metadata"]["f:labels"]["f:owner"].is_object());

        // Apply again without tier and team: they go; owner stays.
        let out = apply(&c, &manifest(1, "nginx:1.27", ""), &[]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d = get_json(&c, &["deployment", "web"]).await;
        let labels = &d["metadata"]["labels"];
        assert!(labels.get("tier").is_none(), "{labels}");
        assert!(labels.get("team").is_none(), "{labels}");
        assert_eq!(labels["owner"], "ops");

        // Clearing managedFields with [{}].
        c.kubectl_ok(&[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"managedFields":[{}]}}"#,
        ])
        .await
        .unwrap();
        let d = get_json(&c, &["deployment", "web"]).await;
        assert!(
            d["metadata"].get("managedFields").is_none(),
            "{}",
            d["metadata"]
        );

        // Plain creates record an Update entry like upstream.
        c.kubectl_ok(&["create", "deployment", "plain", "--image=nginx"])
            .await
            .unwrap();
        let d = get_json(&c, &["deployment", "plain"]).await;
        let e = entry(&d, "kubectl-create", "Update").expect("kubectl-create entry");
        let f = &e["fieldsV1"];
        assert_eq!(f["f:metadata"]["f:labels"]["."], serde_json::json!({}));
        assert!(f["f:spec"].get(".").is_none(), "{f}");
        assert!(f["f:spec"]["f:template"].get(".").is_none(), "{f}");
        assert!(
            f["f:spec"]["f:strategy"]["f:rollingUpdate"]["."].is_object(),
            "{f}"
        );
        let nginx = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
        assert!(
            nginx["f:imagePullPolicy"].is_object(),
            "defaults belong to the creator: {f}"
        );
        assert_eq!(nginx["f:resources"], serde_json::json!({}));

        // A ConfigMap created by apply, dry-run first.
        let cm =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n";
        let out = apply(&c, cm, &["--dry-run=server"]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !c.kubectl(&["get", "configmap", "settings"])
                .await
                .unwrap()
                .status
                .success()
        );
        let out = apply(&c, cm, &[]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d = get_json(&c, &["configmap", "settings"]).await;
        assert_eq!(d["data"]["a"], "1");
        let f = &entry(&d, "kubectl", "Apply").unwrap()["fieldsV1"];
        assert!(f["f:data"]["f:a"].is_object(), "{f}");
    })
}

#[tokio::test]
async fn apply_request_checks() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";
        let send = |query: &str, ct: &str, body: &str| {
            http::Request::patch(format!("/api/v1/namespaces/default/configmaps/x{query}"))
                .header("Content-Type", ct)
                .body(body.as_bytes().to_vec())
                .unwrap()
        };
        let status = |r: Result<String, kube::Error>| match r {
            Err(kube::Error::Api(e)) => (e.code, e.message),
            other => panic!("want an API error, got {other:?}"),
        };
        // fieldManager is required for apply.
        let (code, msg) = status(
            client
                .request_text(send("", "application/apply-patch+yaml", cm))
                .await,
        );
        assert_eq!(code, 422);
        assert!(
            msg.contains("fieldManager: Required value: is required for apply patch"),
            "{msg}"
        );
        // force is only for apply.
        let (code, msg) = status(
            client
                .request_text(send("?force=true", "application/merge-patch+json", "{}"))
                .await,
        );
        assert_eq!(code, 422);
        assert!(
            msg.contains("force: Forbidden: may not be specified for non-apply patch"),
            "{msg}"
        );
        // The patch's version and kind must be the endpoint's.
        let (code, msg) = status(
            client
                .request_text(send(
                    "?fieldManager=t",
                    "application/apply-patch+yaml",
                    "apiVersion: v2\nkind: ConfigMap\nmetadata:\n  name: x\n",
                ))
                .await,
        );
        assert_eq!(code, 400);
        assert!(
            msg.contains("invalid object type: /v2, Kind=ConfigMap"),
            "{msg}"
        );
        // managedFields may not be applied.
        let (code, msg) = status(
            client
                .request_text(send(
                    "?fieldManager=t",
                    "application/apply-patch+yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  managedFields: []\n",
                ))
                .await,
        );
        assert_eq!(code, 400);
        assert_eq!(msg, "metadata.managedFields must be nil");
        // A good one creates (201) and the conflict is a 409 with causes.
        let created = client
            .request_text(send(
                "?fieldManager=a",
                "application/apply-patch+yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: one\n",
            ))
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&created).unwrap();
        assert_eq!(v["data"]["k"], "one");
        let (code, msg) = status(
            client
                .request_text(send(
                    "?fieldManager=b",
                    "application/apply-patch+yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: two\n",
                ))
                .await,
        );
        assert_eq!(code, 409);
        assert_eq!(
            msg,
            "Apply failed with 1 conflict: conflict with \"a\": .data.k"
        );
        let forced = client
            .request_text(send(
                "?fieldManager=b&force=true",
                "application/apply-patch+yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: two\n",
            ))
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&forced).unwrap();
        assert_eq!(v["data"]["k"], "two");
        let managers: Vec<&str> = v["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["b"], "a lost its only field");

        // The apiserver's own objects are managed by "kube-apiserver".
        let svc = get_json(&c, &["service", "kubernetes"]).await;
        assert!(
            entry(&svc, "kube-apiserver", "Update").is_some(),
            "{}",
            svc["metadata"]
        );
    })
}

/// An autoscaling/v1 HorizontalPodAutoscaler aiming at `cpu` percent.
fn hpa_v1(cpu: u32) -> String {
    format!(
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n  minReplicas: 1\n  maxReplicas: 5\n  targetCPUUtilizationPercentage: {cpu}\n"
    )
}

#[tokio::test]
async fn managed_fields_of_another_version_are_compared_in_their_version() {
    crate::with_timeout!(async {
        use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
        use kube::api::{Api, Patch, PatchParams};
        let c = TestCluster::start().await.unwrap();
        let o = apply(&c, &hpa_v1(50), &[]).await;
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

        // kubectl owns spec.targetCPUUtilizationPercentage, recorded in
        // autoscaling/v1; in v2 the same setting is a spec.metrics item.
        let hpas: Api<HorizontalPodAutoscaler> = Api::default_namespaced(c.client().await.unwrap());
        let config = serde_json::json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}],
            },
        });
        let e = hpas
            .patch(
                "web",
                &PatchParams::apply("v2-applier"),
                &Patch::Apply(&config),
            )
            .await
            .unwrap_err();
        let kube::Error::Api(status) = e else {
            panic!("{e}")
        };
        assert_eq!(status.code, 409);
        assert_eq!(
            status.message,
            "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.targetCPUUtilizationPercentage"
        );

        // Forced, the v2 applier takes it over; kubectl keeps the rest.
        let got = hpas
            .patch(
                "web",
                &PatchParams::apply("v2-applier").force(),
                &Patch::Apply(&config),
            )
            .await
            .unwrap();
        let metric = &got.spec.unwrap().metrics.unwrap()[0];
        assert_eq!(
            metric.resource.as_ref().unwrap().target.average_utilization,
            Some(60)
        );
        let v1: Value = serde_json::from_str(
            &c.kubectl_ok(&[
                "get",
                "--raw",
                "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web",
            ])
            .await
            .unwrap(),
        )
        .unwrap();
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60, "{v1}");
        let hpa = get_json(&c, &["hpa", "web"]).await;
        let kubectl = entry(&hpa, "kubectl", "Apply").unwrap();
        assert_eq!(kubectl["apiVersion"], "autoscaling/v1");
        assert!(
            kubectl["fieldsV1"]["f:spec"]
                .get("f:targetCPUUtilizationPercentage")
                .is_none(),
            "{kubectl}"
        );
        assert!(kubectl["fieldsV1"]["f:spec"].get("f:maxReplicas").is_some());
        let v2 = entry(&hpa, "v2-applier", "Apply").unwrap();
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert!(v2["fieldsV1"]["f:spec"].get("f:metrics").is_some(), "{v2}");

        // And kubectl's v1 apply of another target now conflicts with the
        // v2 applier's metrics.
        let o = apply(&c, &hpa_v1(50), &[]).await;
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(
                "Apply failed with 1 conflict: conflict with \"v2-applier\": .spec.metrics"
            ),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    });
}
