//! token-cleaner: expired bootstrap token Secrets in kube-system are
//! deleted (also when they expire later), others are kept; the controller
//! is off by default.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use crate::support::{object, start_manager, wait_for};

fn token(name: &str, expiration: Option<Timestamp>) -> Secret {
    let mut data = json!({"token-id": name, "token-secret": "0123456789abcdef"});
    if let Some(at) = expiration {
        data["expiration"] = json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    object(json!({
        "metadata": {"name": format!("bootstrap-token-{name}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": data
    }))
}

#[tokio::test]
async fn expired_bootstrap_tokens_are_deleted() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
        let pp = PostParams::default();
        let now = Timestamp::now();
        secrets
            .create(
                &pp,
                &token("aaaaaa", Some(now - SignedDuration::from_hours(1))),
            )
            .await
            .unwrap();
        secrets
            .create(
                &pp,
                &token("bbbbbb", Some(now + SignedDuration::from_secs(4))),
            )
            .await
            .unwrap();
        secrets.create(&pp, &token("cccccc", None)).await.unwrap();
        secrets
            .create(
                &pp,
                &token("dddddd", Some(now + SignedDuration::from_hours(1))),
            )
            .await
            .unwrap();

        // Off by default.
        let manager = start_manager(&cluster, &["--controllers=*"]).await;
        assert!(
            !manager
                .running_controllers()
                .contains(&"token-cleaner-controller")
        );
        manager.shutdown().await.unwrap();
        assert!(
            secrets
                .get_opt("bootstrap-token-aaaaaa")
                .await
                .unwrap()
                .is_some()
        );

        let manager = start_manager(&cluster, &["--controllers=tokencleaner"]).await;
        for name in ["bootstrap-token-aaaaaa", "bootstrap-token-bbbbbb"] {
            wait_for(
                &format!("{name} to be deleted"),
                Duration::from_secs(30),
                || {
                    let secrets = secrets.clone();
                    async move { secrets.get_opt(name).await.unwrap().is_none().then_some(()) }
                },
            )
            .await;
        }
        assert!(
            secrets
                .get_opt("bootstrap-token-cccccc")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            secrets
                .get_opt("bootstrap-token-dddddd")
                .await
                .unwrap()
                .is_some()
        );
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn bootstrap_signer_signs_cluster_info() {
    use corten_controller_manager::controllers::bootstrapsigner::detached_signature;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::DeleteParams;

    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let pp = PostParams::default();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-public");
        let kubeconfig = "apiVersion: v1\nkind: Config\nclusters: []\n";
        cms.create(
            &pp,
            &object(json!({
                "metadata": {"name": "cluster-info"}, "data": {"kubeconfig": kubeconfig}
            })),
        )
        .await
        .unwrap();
        let mut signing = token("abcdef", None);
        signing
            .string_data
            .as_mut()
            .unwrap()
            .insert("usage-bootstrap-signing".into(), "true".into());
        signing
            .string_data
            .as_mut()
            .unwrap()
            .insert("token-id".into(), "abcdef".into());
        secrets.create(&pp, &signing).await.unwrap();
        // Not for signing.
        secrets.create(&pp, &token("zzzzzz", None)).await.unwrap();

        let manager = start_manager(&cluster, &["--controllers=bootstrapsigner"]).await;
        let expected = detached_signature(kubeconfig, "abcdef", "0123456789abcdef");
        let signed = wait_for("cluster-info to be signed", Duration::from_secs(30), || {
            let cms = cms.clone();
            async move {
                cms.get("cluster-info").await.ok().filter(|cm| {
                    cm.data
                        .as_ref()
                        .is_some_and(|d| d.contains_key("jws-kubeconfig-abcdef"))
                })
            }
        })
        .await;
        let data = signed.data.unwrap();
        assert_eq!(data["jws-kubeconfig-abcdef"], expected);
        assert!(!data.contains_key("jws-kubeconfig-zzzzzz"));
        assert_eq!(data["kubeconfig"], kubeconfig);

        // The token goes: so does its signature.
        secrets
            .delete("bootstrap-token-abcdef", &DeleteParams::default())
            .await
            .unwrap();
        wait_for(
            "the signature to be removed",
            Duration::from_secs(30),
            || {
                let cms = cms.clone();
                async move {
                    cms.get("cluster-info").await.ok().filter(|cm| {
                        !cm.data
                            .as_ref()
                            .is_some_and(|d| d.contains_key("jws-kubeconfig-abcdef"))
                    })
                }
            },
        )
        .await;
        manager.shutdown().await.unwrap();
    });
}
