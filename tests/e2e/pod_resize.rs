//! `pods/resize` (in-place pod resize, upstream 1.33) through the real
//! kubectl and raw requests: only cpu/memory `resources` change through
//! it, the main resource still refuses them, upstream's validation
//! messages, and LimitRanger and ResourceQuota judging the resize. The
//! kubelet side (applying it to a running container) is in
//! `crates/kubelet/tests/it/pod_resize.rs`.

use corten_e2e::TestCluster;
use corten_e2e::fixtures::send_raw;
use serde_json::{Value, json};

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: c
    image: busybox
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 200m, memory: 128Mi}
";

async fn get_pod(c: &TestCluster, ns: &str, name: &str) -> Value {
    let out = c
        .kubectl_ok(&["get", "pod", name, "-n", ns, "-o", "json"])
        .await
        .unwrap();
    serde_json::from_str(&out).unwrap()
}

async fn patch_resize(c: &TestCluster, ns: &str, name: &str, patch: Value) -> std::process::Output {
    c.kubectl(&[
        "patch",
        "pod",
        name,
        "-n",
        ns,
        "--subresource",
        "resize",
        "--patch",
        &patch.to_string(),
    ])
    .await
    .unwrap()
}

fn resources(cpu_req: &str, cpu_lim: &str, mem_req: &str, mem_lim: &str) -> Value {
    json!({"spec": {"containers": [{"name": "c", "resources": {
        "requests": {"cpu": cpu_req, "memory": mem_req},
        "limits": {"cpu": cpu_lim, "memory": mem_lim},
    }}]}})
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn kubectl_resizes_through_the_subresource_only() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_stdin(&["create", "-f", "-"], Some(POD))
            .await
            .unwrap();
        // kubectl v1.32 `--subresource resize`: cpu changes, generation moves.
        let out = patch_resize(
            &c,
            "default",
            "web",
            resources("150m", "300m", "64Mi", "128Mi"),
        )
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let pod = get_pod(&c, "default", "web").await;
        let r = &pod["spec"]["containers"][0]["resources"];
        assert_eq!(r["requests"]["cpu"], "150m");
        assert_eq!(r["limits"]["cpu"], "300m");
        assert_eq!(pod["metadata"]["generation"], 2);

        // Anything else in a resize is put back, not refused.
        let out = patch_resize(
            &c,
            "default",
            "web",
            json!({"metadata": {"labels": {"x": "y"}},
                   "spec": {"containers": [{"name": "c", "image": "other"}]}}),
        )
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let pod = get_pod(&c, "default", "web").await;
        assert_eq!(pod["spec"]["containers"][0]["image"], "busybox");
        assert!(
            pod["metadata"].get("labels").is_none(),
            "{}",
            pod["metadata"]
        );

        // The main resource still refuses resource changes.
        let out = c
            .kubectl(&[
                "patch",
                "pod",
                "web",
                "--patch",
                &resources("200m", "300m", "64Mi", "128Mi").to_string(),
            ])
            .await
            .unwrap();
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("pod updates may not change fields other than"),
            "{}",
            stderr(&out)
        );

        // GET of the subresource is the pod.
        let client = c.client().await.unwrap();
        let got = send_raw(
            &client,
            "GET",
            "/api/v1/namespaces/default/pods/web/resize",
            "application/json",
            Vec::new(),
        )
        .await;
        assert_eq!(got.code, 200, "{}", got.body);
        assert_eq!(got.body["kind"], "Pod");
        assert_eq!(
            got.body["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "150m"
        );

        // PUT of the whole object.
        let mut put = got.body.clone();
        put["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("180m");
        let answer = send_raw(
            &client,
            "PUT",
            "/api/v1/namespaces/default/pods/web/resize",
            "application/json",
            put.to_string(),
        )
        .await;
        assert_eq!(answer.code, 200, "{}", answer.body);
        assert_eq!(
            answer.body["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "180m"
        );
        // A stale resourceVersion conflicts.
        let stale = send_raw(
            &client,
            "PUT",
            "/api/v1/namespaces/default/pods/web/resize",
            "application/json",
            put.to_string(),
        )
        .await;
        assert_eq!(stale.code, 409, "{}", stale.body);
    })
}

#[tokio::test]
async fn resize_validation_answers_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_stdin(&["create", "-f", "-"], Some(POD))
            .await
            .unwrap();
        let client = c.client().await.unwrap();
        let path = "/api/v1/namespaces/default/pods/web/resize";
        let patch = |body: Value| {
            let client = client.clone();
            async move {
                send_raw(
                    &client,
                    "PATCH",
                    path,
                    "application/strategic-merge-patch+json",
                    body.to_string(),
                )
                .await
            }
        };
        // Burstable -> Guaranteed.
        let a = patch(resources("200m", "200m", "128Mi", "128Mi")).await;
        assert_eq!(
            (a.code, a.body["reason"].as_str()),
            (422, Some("Invalid")),
            "{}",
            a.body
        );
        assert_eq!(
            a.body["message"],
            "Pod \"web\" is invalid: spec: Invalid value: \"Burstable\": Pod QOS Class may not change as a result of resizing"
        );
        // Memory limit decrease with the default (NotRequired) policy.
        let a = patch(resources("100m", "200m", "64Mi", "100Mi")).await;
        assert_eq!(a.code, 422, "{}", a.body);
        assert_eq!(
            a.body["details"]["causes"][0]["field"],
            "spec.containers[0].resources.limits[memory]"
        );
        assert!(
            a.body["message"].as_str().unwrap().contains(
                "memory limits cannot be decreased unless resizePolicy is RestartContainer"
            ),
            "{}",
            a.body
        );
        // Other resources are not mutable.
        let a = patch(json!({"spec": {"containers": [{"name": "c", "resources": {
            "requests": {"ephemeral-storage": "1Gi"}}}]}}))
        .await;
        assert_eq!(a.code, 422, "{}", a.body);
        assert_eq!(
            a.body["message"],
            "Pod \"web\" is invalid: spec: Forbidden: only cpu and memory resources are mutable"
        );
        // Nothing changed by the refusals.
        let pod = get_pod(&c, "default", "web").await;
        assert_eq!(pod["metadata"]["generation"], 1);

        // resizePolicy is validated on create, and not defaulted.
        let bad = POD.replace(
            "    resources:",
            "    resizePolicy:\n    - {resourceName: cpu, restartPolicy: Sometimes}\n    resources:",
        );
        let out = c
            .kubectl_stdin(
                &["create", "-f", "-"],
                Some(&bad.replace("name: web", "name: bad")),
            )
            .await
            .unwrap();
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains(
                "spec.containers[0].resizePolicy: Unsupported value: \"Sometimes\": supported values: \"NotRequired\", \"RestartContainer\""
            ),
            "{}",
            stderr(&out)
        );
        assert!(pod["spec"]["containers"][0].get("resizePolicy").is_none());
    })
}

#[tokio::test]
async fn limit_ranger_and_quota_judge_resizes() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_ok(&["create", "namespace", "rs"]).await.unwrap();
        c.kubectl_ok(&["create", "serviceaccount", "default", "-n", "rs"])
            .await
            .unwrap();
        let lr = "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: lr\n  namespace: rs\nspec:\n  limits:\n  - type: Container\n    max:\n      cpu: 500m\n";
        c.kubectl_stdin(&["create", "-f", "-"], Some(lr))
            .await
            .unwrap();
        let q = "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q\n  namespace: rs\nspec:\n  hard:\n    limits.memory: 256Mi\n";
        c.kubectl_stdin(&["create", "-f", "-"], Some(q))
            .await
            .unwrap();
        // What the resourcequota controller would write.
        c.kubectl_ok(&[
            "patch",
            "resourcequota",
            "q",
            "-n",
            "rs",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"hard":{"limits.memory":"256Mi"},"used":{"limits.memory":"0"}}}"#,
        ])
        .await
        .unwrap();
        let out = c
            .kubectl_stdin(&["create", "-n", "rs", "-f", "-"], Some(POD))
            .await
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));

        // LimitRanger: above the container maximum.
        let out = patch_resize(&c, "rs", "web", resources("100m", "600m", "64Mi", "128Mi")).await;
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("maximum cpu usage per Container is 500m"),
            "{}",
            stderr(&out)
        );

        // ResourceQuota: the growth is charged, past `hard` it is refused.
        let out = patch_resize(&c, "rs", "web", resources("100m", "200m", "64Mi", "200Mi")).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let quota: Value = serde_json::from_str(
            &c.kubectl_ok(&["get", "resourcequota", "q", "-n", "rs", "-o", "json"])
                .await
                .unwrap(),
        )
        .unwrap();
        // 128Mi at create, 72Mi more for the resize (the sum keeps the
        // format of the "0" the status started from).
        assert_eq!(quota["status"]["used"]["limits.memory"], "209715200");
        let out = patch_resize(&c, "rs", "web", resources("100m", "200m", "64Mi", "300Mi")).await;
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("exceeded quota: q, requested: limits.memory=100Mi, used: limits.memory=209715200, limited: limits.memory=256Mi"),
            "{}",
            stderr(&out)
        );
    })
}
