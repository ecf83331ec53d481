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
