//! serviceaccount-controller: a `default` ServiceAccount in every active
//! namespace, recreated when deleted; `--controllers=*,-serviceaccount`
//! turns it off.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};

use crate::support::{namespace, start_manager, wait_for, write_cluster_ca};

async fn wait_for_default_sa(client: &kube::Client, ns: &str) -> ServiceAccount {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    wait_for(
        &format!("serviceaccount {ns}/default"),
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move { api.get_opt("default").await.unwrap() }
        },
    )
    .await
}

#[tokio::test]
async fn default_service_account_is_created_and_restored() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;

        // The namespaces that existed before the manager started...
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            wait_for_default_sa(&client, ns).await;
        }
        // ...and new ones.
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(&PostParams::default(), &namespace("team-a"))
            .await
            .unwrap();
        let first = wait_for_default_sa(&client, "team-a").await;

        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), "team-a");
        api.delete("default", &DeleteParams::default())
            .await
            .unwrap();
        let second = wait_for(
            "a new default serviceaccount",
            Duration::from_secs(30),
            || {
                let api = api.clone();
                let old_uid = first.uid();
                async move {
                    api.get_opt("default")
                        .await
                        .unwrap()
                        .filter(|sa| sa.uid() != old_uid)
                }
            },
        )
        .await;
        assert_ne!(second.uid(), first.uid());
        // Other service accounts are left alone.
        let other: ServiceAccount =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "builder"}})).unwrap();
        api.create(&PostParams::default(), &other).await.unwrap();
        api.delete("builder", &DeleteParams::default())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(api.get_opt("builder").await.unwrap().is_none());
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn controllers_flag_disables_it() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let ca = write_cluster_ca(&cluster);
        let manager = start_manager(
            &cluster,
            &[
                "--controllers=*,-serviceaccount,-garbagecollector,-deployment,-replicaset,-replicationcontroller",
                &format!("--root-ca-file={}", ca.display()),
            ],
        )
        .await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(&PostParams::default(), &namespace("quiet"))
            .await
            .unwrap();
        // The root CA publisher runs, so the manager is up and reconciling...
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "quiet");
        wait_for("kube-root-ca.crt in quiet", Duration::from_secs(30), || {
            let cms = cms.clone();
            async move { cms.get_opt("kube-root-ca.crt").await.unwrap() }
        })
        .await;
        let running = manager.running_controllers();
        for on in [
            "namespace-controller",
            "root-ca-certificate-publisher-controller",
        ] {
            assert!(running.contains(&on), "{on} not in {running:?}");
        }
        for off in [
            "serviceaccount-controller",
            "garbage-collector-controller",
            "deployment-controller",
            "replicaset-controller",
            "replicationcontroller-controller",
        ] {
            assert!(!running.contains(&off), "{off} in {running:?}");
        }
        // ...but no service account appears.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "quiet");
        assert!(sas.get_opt("default").await.unwrap().is_none());
        manager.shutdown().await.unwrap();
    });
}
