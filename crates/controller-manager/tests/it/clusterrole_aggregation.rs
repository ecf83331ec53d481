//! clusterrole-aggregation: `--controllers=clusterrole-aggregation` is
//! accepted (the apiserver keeps aggregated roles), and aggregation works
//! for custom roles and the bootstrap admin/edit/view roles.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use crate::support::{object, start_manager, wait_for};

fn allows(role: &ClusterRole, resource: &str, verb: &str) -> bool {
    role.rules.iter().flatten().any(|r| {
        r.resources.iter().flatten().any(|x| x == resource) && r.verbs.iter().any(|v| v == verb)
    })
}

#[tokio::test]
async fn aggregated_roles_follow_their_sources() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &["--controllers=clusterrole-aggregation"]).await;
        // Nothing runs in the manager for it: the apiserver does the work.
        assert!(manager.running_controllers().is_empty());
        let roles: Api<ClusterRole> = Api::all(client.clone());
        let pp = PostParams::default();

        // The bootstrap roles are aggregated.
        for (name, verb) in [("view", "list"), ("edit", "create"), ("admin", "create")] {
            wait_for(
                &format!("{name} aggregated"),
                Duration::from_secs(30),
                || {
                    let roles = roles.clone();
                    async move {
                        roles
                            .get(name)
                            .await
                            .ok()
                            .filter(|r| allows(r, "deployments", verb))
                    }
                },
            )
            .await;
        }
        let view = roles.get("view").await.unwrap();
        assert!(
            !allows(&view, "secrets", "get"),
            "view must not read secrets"
        );
        assert!(!allows(&view, "nodes", "list"));

        // A custom aggregated role and a source matched by its selector.
        roles
            .create(&pp, &object(json!({
                "metadata": {"name": "monitoring"},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate-to-monitoring": "true"}}]}
            })))
            .await
            .unwrap();
        roles
            .create(
                &pp,
                &object(json!({
                    "metadata": {"name": "metrics-reader", "labels": {
                        "example.com/aggregate-to-monitoring": "true",
                        "rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                    "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]
                })),
            )
            .await
            .unwrap();
        for name in ["monitoring", "view"] {
            wait_for(
                &format!("{name} to include nodes"),
                Duration::from_secs(30),
                || {
                    let roles = roles.clone();
                    async move {
                        roles
                            .get(name)
                            .await
                            .ok()
                            .filter(|r| allows(r, "nodes", "list"))
                    }
                },
            )
            .await;
        }
        // kubectl auth can-i through a binding to the aggregated role.
        cluster
            .kubectl_ok(&[
                "create",
                "clusterrolebinding",
                "mon",
                "--clusterrole=monitoring",
                "--user=mona",
            ])
            .await
            .unwrap();
        let can_i = |user: &'static str| {
            let cluster = &cluster;
            async move {
                let out = cluster
                    .kubectl(&["auth", "can-i", "list", "nodes", &format!("--as={user}")])
                    .await
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
        };
        assert_eq!(can_i("mona").await, "yes");
        assert_eq!(can_i("nobody").await, "no");
        manager.shutdown().await.unwrap();
    });
}
