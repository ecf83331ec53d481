//! serviceaccount-token: a legacy token Secret gets a token the apiserver
//! accepts as its ServiceAccount, ca.crt and namespace; it is deleted with
//! its ServiceAccount.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::support::{object, start_manager, wait_for, write_cluster_ca};

#[tokio::test]
async fn legacy_token_secrets_are_filled_and_cleaned_up() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let ca = write_cluster_ca(&cluster);
        let manager = start_manager(
            &cluster,
            &[
                "--controllers=serviceaccount-token",
                &format!("--root-ca-file={}", ca.display()),
                &format!(
                    "--service-account-private-key-file={}",
                    cluster.dir().join("sa.key").display()
                ),
            ],
        )
        .await;
        let pp = PostParams::default();
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
        let sa = sas
            .create(&pp, &object(json!({"metadata": {"name": "build"}})))
            .await
            .unwrap();
        secrets
            .create(
                &pp,
                &object(json!({
                    "metadata": {"name": "build-token",
                                 "annotations": {"kubernetes.io/service-account.name": "build"}},
                    "type": "kubernetes.io/service-account-token"
                })),
            )
            .await
            .unwrap();
        let filled = wait_for("the token to be filled", Duration::from_secs(30), || {
            let secrets = secrets.clone();
            async move {
                secrets
                    .get("build-token")
                    .await
                    .ok()
                    .filter(|s| s.data.as_ref().is_some_and(|d| d.contains_key("token")))
            }
        })
        .await;
        let data = filled.data.clone().unwrap();
        assert_eq!(data["namespace"].0, b"default");
        assert_eq!(data["ca.crt"].0, std::fs::read(&ca).unwrap());
        assert_eq!(
            filled.metadata.annotations.as_ref().unwrap()["kubernetes.io/service-account.uid"],
            sa.metadata.uid.clone().unwrap()
        );

        // The apiserver takes the token as the ServiceAccount.
        let token = String::from_utf8(data["token"].0.clone()).unwrap();
        let as_sa = cluster
            .client_for(&cluster.token_kubeconfig(&token).unwrap())
            .await
            .unwrap();
        let pods: Api<Pod> = Api::namespaced(as_sa, "default");
        let err = pods.list(&ListParams::default()).await.unwrap_err();
        let message = format!("{err}");
        assert!(
            message.contains("system:serviceaccount:default:build")
                && message.contains("forbidden"),
            "{message}"
        );

        // The ServiceAccount goes: so does its token.
        sas.delete("build", &DeleteParams::default()).await.unwrap();
        wait_for(
            "the token secret to be deleted",
            Duration::from_secs(30),
            || {
                let secrets = secrets.clone();
                async move {
                    secrets
                        .get_opt("build-token")
                        .await
                        .unwrap()
                        .is_none()
                        .then_some(())
                }
            },
        )
        .await;
        manager.shutdown().await.unwrap();
    });
}
