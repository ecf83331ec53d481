//! The admission chain end to end: ServiceAccount, DefaultTolerationSeconds,
//! Priority, LimitRanger, ResourceQuota, PodSecurity and NodeRestriction,
//! with upstream's messages.

use corten_e2e::TestCluster;
use serde_json::Value;

fn pod(name: &str, ns: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{extra_spec}  containers:\n  - name: c\n    image: busybox\n"
    )
}

async fn create(c: &TestCluster, yaml: &str) -> std::process::Output {
    c.kubectl_stdin(&["create", "-f", "-"], Some(yaml))
        .await
        .unwrap()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn get_json(c: &TestCluster, args: &[&str]) -> Value {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&c.kubectl_ok(&a).await.unwrap()).unwrap()
}

#[tokio::test]
async fn admission_plugins_follow_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start_with(&[
            "--disable-admission-plugins=",
            "--enable-admission-plugins=NodeRestriction",
        ])
        .await
        .unwrap();
        c.kubectl_ok(&["create", "namespace", "adm"]).await.unwrap();

        // ServiceAccount: the default account must exist ...
        let o = create(&c, &pod("p0", "adm", "")).await;
        assert!(
            err(&o).contains("pods \"p0\" is forbidden: error looking up service account adm/default: serviceaccount \"default\" not found"),
            "{}",
            err(&o)
        );
        c.kubectl_ok(&["create", "serviceaccount", "default", "-n", "adm"])
            .await
            .unwrap();
        let o = create(&c, &pod("p1", "adm", "")).await;
        assert!(o.status.success(), "{}", err(&o));
        let p = get_json(&c, &["pod", "p1", "-n", "adm"]).await;
        assert_eq!(p["spec"]["serviceAccountName"], "default");
        let vol = &p["spec"]["volumes"][0];
        assert!(
            vol["name"]
                .as_str()
                .unwrap()
                .starts_with("kube-api-access-"),
            "{vol}"
        );
        assert_eq!(
            vol["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        assert_eq!(
            vol["projected"]["sources"][1]["configMap"]["name"],
            "kube-root-ca.crt"
        );
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            "/var/run/secrets/kubernetes.io/serviceaccount"
        );
        // ... DefaultTolerationSeconds and Priority.
        let tolerations = p["spec"]["tolerations"].as_array().unwrap();
        assert!(
            tolerations.iter().any(
                |t| t["key"] == "node.kubernetes.io/not-ready" && t["tolerationSeconds"] == 300
            )
        );
        assert_eq!(p["spec"]["priority"], 0);
        c.kubectl_ok(&["create", "priorityclass", "high", "--value=1000"])
            .await
            .unwrap();
        let o = create(&c, &pod("p2", "adm", "  priorityClassName: high\n")).await;
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(
            get_json(&c, &["pod", "p2", "-n", "adm"]).await["spec"]["priority"],
            1000
        );
        let o = create(&c, &pod("p3", "adm", "  priorityClassName: nope\n")).await;
        assert!(
            err(&o).contains("no PriorityClass with name nope was found"),
            "{}",
            err(&o)
        );
        let critical = get_json(&c, &["priorityclass", "system-node-critical"]).await;
        assert_eq!(critical["value"], 2000001000);

        // LimitRanger: defaults and bounds.
        let lr = "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: lr\n  namespace: adm\nspec:\n  limits:\n  - type: Container\n    default:\n      cpu: 500m\n    max:\n      memory: 1Gi\n";
        assert!(create(&c, lr).await.status.success());
        let big = "  containers:\n  - name: c\n    image: busybox\n    resources:\n      limits:\n        memory: 2Gi\n";
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  namespace: adm\nspec:\n{big}"
        );
        let mut refused = String::new();
        for _ in 0..30 {
            let o = create(&c, &yaml).await;
            refused = err(&o);
            if !o.status.success() {
                break;
            }
            c.kubectl(&["delete", "pod", "big", "-n", "adm", "--wait=false"])
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(
            refused.contains("pods \"big\" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi"),
            "{refused}"
        );
        let o = create(
            &c,
            &pod("small", "adm", "").replace("image: busybox\n", "image: busybox\n    resources:\n      requests:\n        memory: 50Mi\n      limits:\n        memory: 100Mi\n"),
        )
        .await;
        assert!(o.status.success(), "{}", err(&o));
        let p = get_json(&c, &["pod", "small", "-n", "adm"]).await;
        assert_eq!(
            p["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "500m"
        );

        // ResourceQuota: enforced once synced (the controller's status
        // write, done by hand here), with status.used charged.
        c.kubectl_ok(&["create", "namespace", "quota"])
            .await
            .unwrap();
        c.kubectl_ok(&["create", "serviceaccount", "default", "-n", "quota"])
            .await
            .unwrap();
        c.kubectl_ok(&["create", "quota", "q", "--hard=pods=1", "-n", "quota"])
            .await
            .unwrap();
        c.kubectl_ok(&[
            "patch",
            "quota",
            "q",
            "-n",
            "quota",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"hard":{"pods":"1"},"used":{"pods":"0"}}}"#,
        ])
        .await
        .unwrap();
        let o = create(&c, &pod("a", "quota", "")).await;
        assert!(o.status.success(), "{}", err(&o));
        let o = create(&c, &pod("b", "quota", "")).await;
        assert!(
            err(&o).contains("pods \"b\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"),
            "{}",
            err(&o)
        );
        let q = get_json(&c, &["resourcequota", "q", "-n", "quota"]).await;
        assert_eq!(q["status"]["used"]["pods"], "1");

        // PodSecurity: enforce restricted, warn baseline.
        c.kubectl_ok(&["create", "namespace", "locked"])
            .await
            .unwrap();
        c.kubectl_ok(&["create", "serviceaccount", "default", "-n", "locked"])
            .await
            .unwrap();
        c.kubectl_ok(&[
            "label",
            "namespace",
            "locked",
            "pod-security.kubernetes.io/enforce=restricted",
        ])
        .await
        .unwrap();
        let mut msg = String::new();
        for _ in 0..30 {
            let o = create(&c, &pod("r", "locked", "")).await;
            msg = err(&o);
            if !o.status.success() {
                break;
            }
            c.kubectl(&["delete", "pod", "r", "-n", "locked", "--wait=false"])
                .await
                .unwrap();
        }
        assert!(
            msg.contains("pods \"r\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false)"),
            "{msg}"
        );
        c.kubectl_ok(&[
            "label",
            "namespace",
            "adm",
            "pod-security.kubernetes.io/warn=baseline",
        ])
        .await
        .unwrap();
        let mut warned = String::new();
        for _ in 0..30 {
            let o = create(
                &c,
                &pod(
                    &format!("h{}", warned.len()),
                    "adm",
                    "  hostNetwork: true\n",
                ),
            )
            .await;
            warned = err(&o);
            if warned.contains("would violate") {
                break;
            }
        }
        assert!(
            warned.contains(
                "would violate PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true)"
            ),
            "{warned}"
        );

        // NodeRestriction: a kubelet may only modify its own Node.
        for n in ["n1", "n2"] {
            let node = format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {n}\n");
            assert!(create(&c, &node).await.status.success());
        }
        let n1 = c
            .user_kubeconfig("system:node:n1", &["system:nodes"])
            .unwrap();
        let client = c.client_for(&n1).await.unwrap();
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
        let patch =
            kube::api::Patch::Merge(serde_json::json!({"metadata": {"labels": {"x": "y"}}}));
        let e = nodes
            .patch("n2", &kube::api::PatchParams::default(), &patch)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains(
                "nodes \"n2\" is forbidden: node \"n1\" is not allowed to modify node \"n2\""
            ),
            "{e}"
        );
        nodes
            .patch("n1", &kube::api::PatchParams::default(), &patch)
            .await
            .unwrap();
    });
}
