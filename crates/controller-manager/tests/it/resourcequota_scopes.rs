//! resourcequota-controller, the steps of upstream's conformance tests
//! (test/e2e/apimachinery/resource_quota.go): object counts of secrets,
//! ReplicationControllers, ReplicaSets, Services (with NodePorts) and the
//! quotas themselves, and the
//! BestEffort/NotBestEffort and Terminating/NotTerminating pod scopes.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController, ResourceQuota, Secret, Service};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::resourcequota::{NS, wait_for_quota_used};
use crate::support::{object, start_manager};

async fn quota(client: &Client, name: &str, spec: Value) {
    let api: Api<ResourceQuota> = Api::namespaced(client.clone(), NS);
    api.create(
        &PostParams::default(),
        &object(json!({"metadata": {"name": name}, "spec": spec})),
    )
    .await
    .unwrap();
}

fn pod(name: &str, resources: Value, deadline: Option<i64>) -> Pod {
    let mut p = json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "pause", "resources": resources}]},
    });
    if let Some(d) = deadline {
        p["spec"]["activeDeadlineSeconds"] = json!(d);
    }
    object(p)
}

#[tokio::test]
async fn object_counts_and_pod_scopes() {
    crate::with_timeout!(async {
        let cluster = corten_e2e::TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &["--controllers=resourcequota"]).await;
        let post = PostParams::default();
        let now = DeleteParams::default().grace_period(0);

        // Object counts; the quota counts itself.
        quota(
            &client,
            "test-quota",
            json!({"hard": {"secrets": "10", "replicationcontrollers": "10",
                            "count/replicasets.apps": "5", "resourcequotas": "1",
                            "services": "10", "services.nodeports": "1", "services.loadbalancers": "1"}}),
        )
        .await;
        let counts = [
            ("secrets", "0"),
            ("replicationcontrollers", "0"),
            ("count/replicasets.apps", "0"),
            ("resourcequotas", "1"),
        ];
        wait_for_quota_used(&client, "test-quota", &counts).await;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
        secrets
            .create(
                &post,
                &object(json!({"metadata": {"name": "s"}, "data": {"k": "dg=="}})),
            )
            .await
            .unwrap();
        wait_for_quota_used(&client, "test-quota", &[("secrets", "1")]).await;
        secrets.delete("s", &now).await.unwrap();
        wait_for_quota_used(&client, "test-quota", &[("secrets", "0")]).await;

        let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), NS);
        let template = json!({"metadata": {"labels": {"app": "q"}},
                              "spec": {"containers": [{"name": "c", "image": "pause"}]}});
        rcs.create(
            &post,
            &object(json!({"metadata": {"name": "rc"},
                           "spec": {"replicas": 0, "selector": {"app": "q"}, "template": template}})),
        )
        .await
        .unwrap();
        wait_for_quota_used(&client, "test-quota", &[("replicationcontrollers", "1")]).await;
        rcs.delete("rc", &now).await.unwrap();
        wait_for_quota_used(&client, "test-quota", &[("replicationcontrollers", "0")]).await;

        let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
        rss.create(
            &post,
            &object(json!({"metadata": {"name": "rs"},
                           "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "q"}}, "template": template}})),
        )
        .await
        .unwrap();
        wait_for_quota_used(&client, "test-quota", &[("count/replicasets.apps", "1")]).await;
        rss.delete("rs", &now).await.unwrap();
        wait_for_quota_used(&client, "test-quota", &[("count/replicasets.apps", "0")]).await;

        // Services: a ClusterIP and a NodePort one (besides `kubernetes`,
        // which the apiserver keeps in this namespace).
        wait_for_quota_used(&client, "test-quota", &[("services", "1")]).await;
        let services: Api<Service> = Api::namespaced(client.clone(), NS);
        let port = json!([{"port": 80, "targetPort": 80}]);
        services
            .create(
                &post,
                &object(json!({"metadata": {"name": "cip"}, "spec": {"ports": port}})),
            )
            .await
            .unwrap();
        services
            .create(
                &post,
                &object(json!({"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": port}})),
            )
            .await
            .unwrap();
        let svc_used = [
            ("services", "3"),
            ("services.nodeports", "1"),
            ("services.loadbalancers", "0"),
        ];
        wait_for_quota_used(&client, "test-quota", &svc_used).await;
        services.delete("cip", &now).await.unwrap();
        services.delete("np", &now).await.unwrap();
        let svc_free = [("services", "1"), ("services.nodeports", "0")];
        wait_for_quota_used(&client, "test-quota", &svc_free).await;

        let api: Api<ResourceQuota> = Api::namespaced(client.clone(), NS);
        api.delete("test-quota", &now).await.unwrap();

        // BestEffort / NotBestEffort.
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        quota(
            &client,
            "quota-besteffort",
            json!({"hard": {"pods": "5"}, "scopes": ["BestEffort"]}),
        )
        .await;
        quota(
            &client,
            "quota-not-besteffort",
            json!({"hard": {"pods": "5"}, "scopes": ["NotBestEffort"]}),
        )
        .await;
        wait_for_quota_used(&client, "quota-besteffort", &[("pods", "0")]).await;
        wait_for_quota_used(&client, "quota-not-besteffort", &[("pods", "0")]).await;
        pods.create(&post, &pod("best-effort", json!({}), None))
            .await
            .unwrap();
        wait_for_quota_used(&client, "quota-besteffort", &[("pods", "1")]).await;
        wait_for_quota_used(&client, "quota-not-besteffort", &[("pods", "0")]).await;
        pods.delete("best-effort", &now).await.unwrap();
        wait_for_quota_used(&client, "quota-besteffort", &[("pods", "0")]).await;
        let burstable = json!({"requests": {"cpu": "500m", "memory": "200Mi"},
                               "limits": {"cpu": "1", "memory": "400Mi"}});
        pods.create(&post, &pod("burstable", burstable.clone(), None))
            .await
            .unwrap();
        wait_for_quota_used(&client, "quota-not-besteffort", &[("pods", "1")]).await;
        wait_for_quota_used(&client, "quota-besteffort", &[("pods", "0")]).await;
        pods.delete("burstable", &now).await.unwrap();
        wait_for_quota_used(&client, "quota-not-besteffort", &[("pods", "0")]).await;

        // Terminating (activeDeadlineSeconds set) / NotTerminating.
        let compute = json!({"pods": "5", "requests.cpu": "1", "requests.memory": "500Mi",
                             "limits.cpu": "2", "limits.memory": "1Gi"});
        quota(
            &client,
            "quota-terminating",
            json!({"hard": compute, "scopes": ["Terminating"]}),
        )
        .await;
        quota(
            &client,
            "quota-not-terminating",
            json!({"hard": compute, "scopes": ["NotTerminating"]}),
        )
        .await;
        let charged = [
            ("pods", "1"),
            ("requests.cpu", "500m"),
            ("requests.memory", "200Mi"),
            ("limits.cpu", "1"),
            ("limits.memory", "400Mi"),
        ];
        let free = [
            ("pods", "0"),
            ("requests.cpu", "0"),
            ("requests.memory", "0"),
        ];
        pods.create(&post, &pod("long", burstable.clone(), None))
            .await
            .unwrap();
        wait_for_quota_used(&client, "quota-not-terminating", &charged).await;
        wait_for_quota_used(&client, "quota-terminating", &free).await;
        pods.delete("long", &now).await.unwrap();
        wait_for_quota_used(&client, "quota-not-terminating", &free).await;
        pods.create(&post, &pod("short", burstable, Some(3600)))
            .await
            .unwrap();
        wait_for_quota_used(&client, "quota-terminating", &charged).await;
        wait_for_quota_used(&client, "quota-not-terminating", &free).await;
        pods.delete("short", &now).await.unwrap();
        wait_for_quota_used(&client, "quota-terminating", &free).await;
        manager.shutdown().await.unwrap();
    })
}
