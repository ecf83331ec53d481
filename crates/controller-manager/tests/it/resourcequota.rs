//! resourcequota-controller: `status.used` follows creations and
//! deletions of pods, services and configmaps, and of any kind a quota
//! names as `count/<resource>.<group>`.

use std::collections::BTreeMap;
use std::time::Duration;

use corten_apimachinery::quantity::canonicalize;
use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ResourceQuota};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::support::{object, start_manager, wait_for, wait_for_default_service_account};

pub(crate) const NS: &str = "default";

async fn wait_for_used(client: &Client, want: &[(&str, &str)]) -> ResourceQuota {
    wait_for_quota_used(client, "compute", want).await
}

pub(crate) async fn wait_for_quota_used(
    client: &Client,
    name: &str,
    want: &[(&str, &str)],
) -> ResourceQuota {
    let api: Api<ResourceQuota> = Api::namespaced(client.clone(), NS);
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| (k.to_string(), canonicalize(v).unwrap()))
        .collect();
    wait_for(
        &format!("quota used {want:?}"),
        Duration::from_secs(30),
        || {
            let api = api.clone();
            let want = want.clone();
            async move {
                let quota = api.get(name).await.unwrap();
                let used: BTreeMap<String, String> = quota
                    .status
                    .as_ref()?
                    .used
                    .as_ref()?
                    .iter()
                    .map(|(k, v)| (k.clone(), canonicalize(&v.0).unwrap_or_default()))
                    .collect();
                want.iter()
                    .all(|(k, v)| used.get(k) == Some(v))
                    .then_some(quota)
            }
        },
    )
    .await
}

#[tokio::test]
async fn used_follows_objects() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager =
            start_manager(&cluster, &["--controllers=resourcequota,serviceaccount"]).await;
        wait_for_default_service_account(&client, NS).await;
        let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), NS);
        quotas
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "compute"},
                               "spec": {"hard": {"pods": "5", "requests.cpu": "2", "requests.memory": "1Gi",
                                                 "configmaps": "10", "services": "3"}}})),
            )
            .await
            .unwrap();
        let quota = wait_for_used(
            &client,
            &[("pods", "0"), ("requests.cpu", "0"), ("configmaps", "0")],
        )
        .await;
        assert_eq!(quota.status.unwrap().hard.unwrap()["pods"].0, "5");

        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        for name in ["a", "b"] {
            pods.create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": name},
                               "spec": {"containers": [{"name": "c", "image": "busybox",
                                   "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}})),
            )
            .await
            .unwrap();
        }
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
        config_maps
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "cm"}})),
            )
            .await
            .unwrap();
        wait_for_used(
            &client,
            &[
                ("pods", "2"),
                ("requests.cpu", "200m"),
                ("requests.memory", "256Mi"),
                ("configmaps", "1"),
            ],
        )
        .await;

        // Deletions give usage back.
        pods.delete("a", &DeleteParams::default()).await.unwrap();
        config_maps
            .delete("cm", &DeleteParams::default())
            .await
            .unwrap();
        wait_for_used(
            &client,
            &[
                ("pods", "1"),
                ("requests.cpu", "100m"),
                ("requests.memory", "128Mi"),
                ("configmaps", "0"),
            ],
        )
        .await;
        let out = cluster
            .kubectl_ok(&["describe", "quota", "compute", "-n", NS])
            .await
            .unwrap();
        assert!(
            out.contains("requests.cpu") && out.contains("100m"),
            "{out}"
        );
    });
}

fn deployment(name: &str) -> Deployment {
    object(json!({"metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}))
}

#[tokio::test]
async fn object_counts_of_any_kind_are_kept() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(&cluster, &["--controllers=resourcequota"]).await;
        let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), NS);
        quotas
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "objects"},
                               "spec": {"hard": {"count/deployments.apps": "2", "count/jobs.batch": "3",
                                                 "count/widgets.example.com": "1"}}})),
            )
            .await
            .unwrap();
        let quota = wait_for_quota_used(
            &client,
            "objects",
            &[("count/deployments.apps", "0"), ("count/jobs.batch", "0")],
        )
        .await;
        // A kind the apiserver does not serve is not counted as 0.
        let used = quota.status.unwrap().used.unwrap();
        assert!(!used.contains_key("count/widgets.example.com"), "{used:?}");

        // Admission charges the creates; the controller's count agrees and
        // does not take the charge back.
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
        for name in ["d1", "d2"] {
            deployments
                .create(&PostParams::default(), &deployment(name))
                .await
                .unwrap();
        }
        wait_for_quota_used(&client, "objects", &[("count/deployments.apps", "2")]).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let err = deployments
            .create(&PostParams::default(), &deployment("d3"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(
                "exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=2, limited: count/deployments.apps=2"
            ),
            "{err}"
        );

        // Deletions are given back.
        deployments
            .delete("d1", &DeleteParams::default())
            .await
            .unwrap();
        wait_for_quota_used(&client, "objects", &[("count/deployments.apps", "1")]).await;
        deployments
            .create(&PostParams::default(), &deployment("d3"))
            .await
            .unwrap();
        wait_for_quota_used(&client, "objects", &[("count/deployments.apps", "2")]).await;
    });
}
