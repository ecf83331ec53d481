//! ResourceQuota admission through kubectl: quotas are enforced against
//! `status.hard` once the controller (simulated here by a status patch)
//! has synced them, creates and usage-adding updates are charged to
//! `status.used`, refusals carry upstream's messages, and concurrent
//! creates never push `used` past `hard`.

use std::time::Duration;

use corten_e2e::TestCluster;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::Api;
use kube::runtime::watcher::{self, watcher};
use serde_json::{Value, json};

fn pod(name: &str, ns: &str, resources: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  containers:\n  - name: c\n    image: busybox\n{resources}"
    )
}

async fn create(c: &TestCluster, yaml: &str) -> std::process::Output {
    c.kubectl_stdin(&["create", "-f", "-"], Some(yaml))
        .await
        .unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn namespace(c: &TestCluster, ns: &str) {
    c.kubectl_ok(&["create", "namespace", ns]).await.unwrap();
    c.kubectl_ok(&["create", "serviceaccount", "default", "-n", ns])
        .await
        .unwrap();
}

/// What the resourcequota controller would write: `status`.
async fn set_status(c: &TestCluster, ns: &str, quota: &str, status: Value) {
    let patch = json!({ "status": status }).to_string();
    c.kubectl_ok(&[
        "patch",
        "resourcequota",
        quota,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ])
    .await
    .unwrap();
}

async fn used(c: &TestCluster, ns: &str, quota: &str) -> Value {
    let out = c
        .kubectl_ok(&["get", "resourcequota", quota, "-n", ns, "-o", "json"])
        .await
        .unwrap();
    serde_json::from_str::<Value>(&out).unwrap()["status"]["used"].clone()
}

#[tokio::test]
async fn quota_admission_charges_and_refuses_like_upstream() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        namespace(&c, "rq").await;
        c.kubectl_ok(&[
            "create",
            "quota",
            "q",
            "--hard=pods=2,count/configmaps=1,services.nodeports=1",
            "-n",
            "rq",
        ])
        .await
        .unwrap();

        // Not synced by the controller yet (no status.hard): not enforced,
        // and nothing is charged, as upstream.
        let o = create(&c, &pod("early", "rq", "")).await;
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(used(&c, "rq", "q").await, Value::Null);

        // Synced, but status.used lacks a constrained resource.
        set_status(
            &c,
            "rq",
            "q",
            json!({"hard": {"pods": "2", "count/configmaps": "1", "services.nodeports": "1"},
                   "used": {"pods": "1", "services.nodeports": "0"}}),
        )
        .await;
        let o = c
            .kubectl(&["create", "configmap", "cm1", "-n", "rq"])
            .await
            .unwrap();
        assert!(
            stderr(&o).contains("configmaps \"cm1\" is forbidden: status unknown for quota: q, resources: count/configmaps"),
            "{}",
            stderr(&o)
        );

        // Pods: charged, then refused at the limit; a server-side dry run
        // is judged but not charged.
        let o = c
            .kubectl_stdin(
                &["create", "--dry-run=server", "-f", "-"],
                Some(&pod("dry", "rq", "")),
            )
            .await
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(used(&c, "rq", "q").await["pods"], "1");
        let o = create(&c, &pod("a", "rq", "")).await;
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(used(&c, "rq", "q").await["pods"], "2");
        let o = create(&c, &pod("b", "rq", "")).await;
        assert!(
            stderr(&o).contains("pods \"b\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"),
            "{}",
            stderr(&o)
        );

        // Generic object counts.
        set_status(
            &c,
            "rq",
            "q",
            json!({"used": {"pods": "2", "count/configmaps": "0", "services.nodeports": "0"}}),
        )
        .await;
        c.kubectl_ok(&["create", "configmap", "cm1", "-n", "rq"])
            .await
            .unwrap();
        let o = c
            .kubectl(&["create", "configmap", "cm2", "-n", "rq"])
            .await
            .unwrap();
        assert!(
            stderr(&o).contains("configmaps \"cm2\" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1"),
            "{}",
            stderr(&o)
        );

        // Services: a ClusterIP service uses no node port; turning it into
        // a NodePort service is an update that adds one.
        c.kubectl_ok(&[
            "create",
            "service",
            "clusterip",
            "s1",
            "--tcp=80:80",
            "-n",
            "rq",
        ])
        .await
        .unwrap();
        assert_eq!(used(&c, "rq", "q").await["services.nodeports"], "0");
        c.kubectl_ok(&[
            "patch",
            "service",
            "s1",
            "-n",
            "rq",
            "--type=merge",
            "-p",
            r#"{"spec":{"type":"NodePort"}}"#,
        ])
        .await
        .unwrap();
        assert_eq!(used(&c, "rq", "q").await["services.nodeports"], "1");
        let o = c
            .kubectl(&[
                "create",
                "service",
                "nodeport",
                "s2",
                "--tcp=80:80",
                "-n",
                "rq",
            ])
            .await
            .unwrap();
        assert!(
            stderr(&o).contains("services \"s2\" is forbidden: exceeded quota: q, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1"),
            "{}",
            stderr(&o)
        );

        // Scopes: a BestEffort quota counts only pods without cpu/memory
        // requests or limits; cpu quotas demand them.
        namespace(&c, "scoped").await;
        c.kubectl_ok(&[
            "create",
            "quota",
            "be",
            "--hard=pods=1",
            "--scopes=BestEffort",
            "-n",
            "scoped",
        ])
        .await
        .unwrap();
        c.kubectl_ok(&[
            "create",
            "quota",
            "cpu",
            "--hard=requests.cpu=1",
            "-n",
            "scoped",
        ])
        .await
        .unwrap();
        set_status(
            &c,
            "scoped",
            "be",
            json!({"hard": {"pods": "1"}, "used": {"pods": "0"}}),
        )
        .await;
        set_status(
            &c,
            "scoped",
            "cpu",
            json!({"hard": {"requests.cpu": "1"}, "used": {"requests.cpu": "0"}}),
        )
        .await;
        let sized = "    resources:\n      requests:\n        cpu: 600m\n";
        let o = create(&c, &pod("be1", "scoped", "")).await;
        assert!(
            stderr(&o).contains(
                "pods \"be1\" is forbidden: failed quota: cpu: must specify requests.cpu for: c"
            ),
            "{}",
            stderr(&o)
        );
        c.kubectl_ok(&["delete", "quota", "cpu", "-n", "scoped"])
            .await
            .unwrap();
        let o = create(&c, &pod("be1", "scoped", "")).await;
        assert!(o.status.success(), "{}", stderr(&o));
        let o = create(&c, &pod("be2", "scoped", "")).await;
        assert!(
            stderr(&o).contains("pods \"be2\" is forbidden: exceeded quota: be, requested: pods=1, used: pods=1, limited: pods=1"),
            "{}",
            stderr(&o)
        );
        let o = create(&c, &pod("sized", "scoped", sized)).await;
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(used(&c, "scoped", "be").await["pods"], "1");
    });
}

#[tokio::test]
async fn concurrent_creates_never_exceed_hard() {
    crate::with_timeout!(async {
        const HARD: usize = 4;
        const CREATES: usize = 12;
        let c = TestCluster::start().await.unwrap();
        namespace(&c, "race").await;
        c.kubectl_ok(&[
            "create",
            "quota",
            "q",
            &format!("--hard=pods={HARD}"),
            "-n",
            "race",
        ])
        .await
        .unwrap();
        set_status(
            &c,
            "race",
            "q",
            json!({"hard": {"pods": HARD.to_string()}, "used": {"pods": "0"}}),
        )
        .await;

        // Every state of the quota the apiserver ever stores.
        let client = c.client().await.unwrap();
        let quotas: Api<ResourceQuota> = Api::namespaced(client, "race");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
        let watch = {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut events = watcher(quotas, watcher::Config::default()).boxed();
                while let Some(Ok(e)) = events.next().await {
                    if let watcher::Event::Apply(q) | watcher::Event::InitApply(q) = e
                        && let Some(p) = q
                            .status
                            .and_then(|s| s.used)
                            .and_then(|u| u.get("pods").cloned())
                    {
                        seen.lock().unwrap().push(p.0.parse().unwrap());
                    }
                }
            })
        };

        let outputs = futures::future::join_all((0..CREATES).map(|i| {
            let c = &c;
            async move { create(c, &pod(&format!("p{i}"), "race", "")).await }
        }))
        .await;
        let admitted = outputs.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            admitted,
            HARD,
            "{:?}",
            outputs.iter().map(stderr).collect::<Vec<_>>()
        );
        for o in outputs.iter().filter(|o| !o.status.success()) {
            assert!(
                stderr(o).contains(&format!(
                    "exceeded quota: q, requested: pods=1, used: pods={HARD}, limited: pods={HARD}"
                )),
                "{}",
                stderr(o)
            );
        }
        assert_eq!(used(&c, "race", "q").await["pods"], HARD.to_string());
        let pods = c
            .kubectl_ok(&["get", "pods", "-n", "race", "-o", "name"])
            .await
            .unwrap();
        assert_eq!(pods.lines().count(), HARD);
        // The watch has seen the final state; none on the way was over.
        for _ in 0..50 {
            if seen.lock().unwrap().last() == Some(&(HARD as i64)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        watch.abort();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.last(), Some(&(HARD as i64)), "{seen:?}");
        assert!(seen.iter().all(|u| *u <= HARD as i64), "{seen:?}");
    });
}
