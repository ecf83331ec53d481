//! Client-side apply, strategic merge patches and the kubectl commands
//! built on them (`apply`, `patch`, `set`, `edit`, `scale`, `rollout restart`).

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{apply_ok, get_json};

const V1: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        env:
        - {name: KEEP, value: "1"}
        - {name: DROP, value: "2"}
      - name: sidecar
        image: busybox:1.36
        args: ["sleep", "infinity"]
"#;

#[tokio::test]
async fn apply_patch_set_edit_scale() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        assert_eq!(apply_ok(&c, V1).await.trim(), "deployment.apps/web created");
        let d = get_json(&c, &["deployment", "web"]).await;
        assert!(
            d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .is_string()
        );

        // Re-applying the same manifest changes nothing.
        assert_eq!(
            apply_ok(&c, V1).await.trim(),
            "deployment.apps/web unchanged"
        );
        let rv = d["metadata"]["resourceVersion"].clone();
        assert_eq!(
            get_json(&c, &["deployment", "web"]).await["metadata"]["resourceVersion"],
            rv
        );

        // A label set imperatively survives applies (it is not in the manifest).
        c.kubectl_ok(&["label", "deployment", "web", "team=a"])
            .await
            .unwrap();

        // Changed manifest: new image, one env var removed, replicas changed.
        let v2 = V1
            .replace("image: nginx:1.27", "image: nginx:1.28")
            .replace("        - {name: DROP, value: \"2\"}\n", "")
            .replace("replicas: 2", "replicas: 3");
        assert_eq!(
            apply_ok(&c, &v2).await.trim(),
            "deployment.apps/web configured"
        );
        let d = get_json(&c, &["deployment", "web"]).await;
        let containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0]["image"], "nginx:1.28");
        assert_eq!(
            containers[0]["env"],
            serde_json::json!([{"name": "KEEP", "value": "1"}])
        );
        assert_eq!(containers[0]["ports"][0]["containerPort"], 80);
        assert_eq!(containers[1]["name"], "sidecar");
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["metadata"]["labels"]["team"], "a");

        // kubectl set image / env / resources (strategic merge patches).
        c.kubectl_ok(&["set", "image", "deployment/web", "sidecar=busybox:1.37"])
            .await
            .unwrap();
        c.kubectl_ok(&["set", "env", "deployment/web", "-c", "web", "EXTRA=yes"])
            .await
            .unwrap();
        c.kubectl_ok(&[
            "set",
            "resources",
            "deployment/web",
            "-c",
            "web",
            "--limits=cpu=500m,memory=128Mi",
        ])
        .await
        .unwrap();
        let d = get_json(&c, &["deployment", "web"]).await;
        let containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers[1]["image"], "busybox:1.37");
        let env = containers[0]["env"].as_array().unwrap();
        assert!(
            env.iter()
                .any(|e| e["name"] == "EXTRA" && e["value"] == "yes"),
            "{env:?}"
        );
        assert!(env.iter().any(|e| e["name"] == "KEEP"), "{env:?}");
        assert_eq!(containers[0]["resources"]["limits"]["cpu"], "500m");

        // kubectl patch defaults to a strategic merge patch: containers merge by name.
        c.kubectl_ok(&[
            "patch", "deployment", "web", "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","imagePullPolicy":"Always"}]}}}}"#,
        ])
        .await
        .unwrap();
        let d = get_json(&c, &["deployment", "web"]).await;
        let containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0]["imagePullPolicy"], "Always");
        assert_eq!(containers[0]["image"], "nginx:1.28");

        // $patch: delete removes a list item by key.
        c.kubectl_ok(&[
            "patch", "deployment", "web", "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}"#,
        ])
        .await
        .unwrap();
        let d = get_json(&c, &["deployment", "web"]).await;
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // Non-interactive edit through an EDITOR script.
        let editor = c.dir().join("editor.sh");
        std::fs::write(
            &editor,
            "#!/bin/sh\nsed -i 's/nginx:1.28/nginx:1.29/' \"$1\"\n",
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
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.29"
        );

        // scale and rollout restart.
        c.kubectl_ok(&["scale", "deployment", "web", "--replicas=5"])
            .await
            .unwrap();
        c.kubectl_ok(&["rollout", "restart", "deployment", "web"])
            .await
            .unwrap();
        let d = get_json(&c, &["deployment", "web"]).await;
        assert_eq!(d["spec"]["replicas"], 5);
        assert!(
            d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
                .is_string()
        );

        // A malformed strategic patch is a 400 and changes nothing.
        let before = get_json(&c, &["deployment", "web"]).await;
        let out = c
            .kubectl(&[
                "patch",
                "deployment",
                "web",
                "-p",
                r#"{"spec":{"template":{"spec":{"containers":[{"$patch":"bogus"}]}}}}"#,
            ])
            .await
            .unwrap();
        assert!(!out.status.success());
        let after = get_json(&c, &["deployment", "web"]).await;
        assert_eq!(
            before["metadata"]["resourceVersion"],
            after["metadata"]["resourceVersion"]
        );
    });
}
