//! The rest of everyday kubectl: `diff` (client- and server-side),
//! `describe` with its Events section, `create secret tls`,
//! `set selector|serviceaccount`, and `delete --cascade=foreground`.

use corten_e2e::TestCluster;

fn deployment(replicas: u32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web}}
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
        image: nginx:1.27
"#
    )
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn kubectl_diff_client_and_server_side() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let out = c
            .kubectl_stdin(&["apply", "-f", "-"], Some(&deployment(2)))
            .await
            .unwrap();
        assert!(out.status.success(), "{}", text(&out).1);
        // No difference: exit 0, no output.
        let out = c
            .kubectl_stdin(&["diff", "-f", "-"], Some(&deployment(2)))
            .await
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        assert_eq!(stdout, "");
        // A change: exit 1 and a unified diff of the live and merged objects.
        for extra in [&[][..], &["--server-side"][..]] {
            let mut args = vec!["diff", "-f", "-"];
            args.extend_from_slice(extra);
            let out = c.kubectl_stdin(&args, Some(&deployment(5))).await.unwrap();
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
            assert!(stdout.contains("-  replicas: 2"), "{args:?}: {stdout}");
            assert!(stdout.contains("+  replicas: 5"), "{args:?}: {stdout}");
            assert!(stdout.contains("diff -u -N"), "{stdout}");
        }
        // diff is a dry run: nothing changed.
        let r = c
            .kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
            .await
            .unwrap();
        assert_eq!(r, "2");
    })
}

#[tokio::test]
async fn describe_shows_events() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        c.kubectl_ok(&["create", "configmap", "settings", "--from-literal=a=1"])
            .await
            .unwrap();
        let uid = c
            .kubectl_ok(&["get", "cm", "settings", "-o", "jsonpath={.metadata.uid}"])
            .await
            .unwrap();
        let now = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        let now = String::from_utf8_lossy(&now.stdout).trim().to_string();
        let event = |name: &str, obj: &str, uid: &str, reason: &str| {
            format!(
                r#"
apiVersion: v1
kind: Event
metadata: {{name: {name}}}
involvedObject: {{apiVersion: v1, kind: ConfigMap, name: {obj}, namespace: default, uid: "{uid}"}}
reason: {reason}
message: "{reason} happened"
type: Normal
source: {{component: e2e-test}}
firstTimestamp: "{now}"
lastTimestamp: "{now}"
count: 1
"#
            )
        };
        for (n, obj, u, reason) in [
            ("ev1", "settings", uid.as_str(), "Configured"),
            (
                "ev2",
                "other",
                "00000000-0000-0000-0000-000000000000",
                "Unrelated",
            ),
        ] {
            let out = c
                .kubectl_stdin(&["create", "-f", "-"], Some(&event(n, obj, u, reason)))
                .await
                .unwrap();
            assert!(out.status.success(), "{}", text(&out).1);
        }
        let out = c
            .kubectl_ok(&["describe", "configmap", "settings"])
            .await
            .unwrap();
        assert!(out.contains("Name:         settings"), "{out}");
        assert!(out.contains("Events:"), "{out}");
        let events = out.split("Events:").nth(1).unwrap_or_default();
        assert!(events.contains("Type    Reason      Age"), "{events}");
        assert!(events.contains("Normal  Configured"), "{events}");
        assert!(events.contains("e2e-test"), "{events}");
        assert!(events.contains("Configured happened"), "{events}");
        assert!(
            !events.contains("Unrelated"),
            "only this object's events: {events}"
        );
        // The field selector kubectl uses, directly.
        let out = c
            .kubectl_ok(&[
                "get",
                "events",
                "--field-selector=involvedObject.name=settings,involvedObject.kind=ConfigMap",
                "-o",
                "name",
            ])
            .await
            .unwrap();
        assert_eq!(out.trim(), "event/ev1");
    })
}

#[tokio::test]
async fn create_secret_tls_set_selector_serviceaccount_and_foreground_delete() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        // create secret tls from a fresh key pair.
        let key = c.dir().join("tls.key");
        let crt = c.dir().join("tls.crt");
        let status = tokio::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=web",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .output()
            .await
            .unwrap();
        assert!(status.status.success(), "{}", text(&status).1);
        let out = c
            .kubectl_ok(&[
                "create",
                "secret",
                "tls",
                "web-tls",
                &format!("--cert={}", crt.display()),
                &format!("--key={}", key.display()),
            ])
            .await
            .unwrap();
        assert_eq!(out.trim(), "secret/web-tls created");
        let s: serde_json::Value = serde_json::from_str(
            &c.kubectl_ok(&["get", "secret", "web-tls", "-o", "json"])
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(s["type"], "kubernetes.io/tls");
        assert!(s["data"]["tls.crt"].is_string() && s["data"]["tls.key"].is_string());
        let out = c.kubectl_ok(&["get", "secret", "web-tls"]).await.unwrap();
        assert!(out.contains("kubernetes.io/tls   2"), "{out}");

        // set selector on a service, set serviceaccount on a deployment.
        c.kubectl_ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"])
            .await
            .unwrap();
        let out = c
            .kubectl_ok(&["set", "selector", "service", "web", "app=web,tier=front"])
            .await
            .unwrap();
        assert_eq!(out.trim(), "service/web selector updated");
        let sel = c
            .kubectl_ok(&["get", "svc", "web", "-o", "jsonpath={.spec.selector}"])
            .await
            .unwrap();
        let sel: serde_json::Value = serde_json::from_str(&sel).unwrap();
        assert_eq!(sel, serde_json::json!({"app": "web", "tier": "front"}));
        c.kubectl_stdin(&["apply", "-f", "-"], Some(&deployment(1)))
            .await
            .unwrap();
        let out = c
            .kubectl_ok(&["set", "serviceaccount", "deployment", "web", "robot"])
            .await
            .unwrap();
        assert_eq!(out.trim(), "deployment.apps/web serviceaccount updated");
        let sa = c
            .kubectl_ok(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.template.spec.serviceAccountName}",
            ])
            .await
            .unwrap();
        assert_eq!(sa, "robot");

        // delete --cascade=foreground: the object waits for its dependents
        // (a garbage collector would remove them) with the finalizer set.
        let out = c
            .kubectl(&[
                "delete",
                "deploy",
                "web",
                "--cascade=foreground",
                "--wait=false",
            ])
            .await
            .unwrap();
        assert!(out.status.success(), "{}", text(&out).1);
        let d: serde_json::Value = serde_json::from_str(
            &c.kubectl_ok(&["get", "deploy", "web", "-o", "json"])
                .await
                .unwrap(),
        )
        .unwrap();
        assert!(
            d["metadata"]["deletionTimestamp"].is_string(),
            "{}",
            d["metadata"]
        );
        assert_eq!(
            d["metadata"]["finalizers"],
            serde_json::json!(["foregroundDeletion"])
        );
    })
}
