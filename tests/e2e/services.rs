//! Service ClusterIP and NodePort allocation across create, update and
//! delete: nothing is handed out twice and everything released is reusable.

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn svc(name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

fn node_port(s: &Service) -> Option<i32> {
    s.spec.as_ref()?.ports.as_ref()?.first()?.node_port
}

#[tokio::test]
async fn allocations_follow_type_changes_and_deletes() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let api: Api<Service> = Api::namespaced(client, "default");
        let pp = PostParams::default();
        let ports = json!([{"port": 80, "targetPort": 8080}]);

        let a = api
            .create(&pp, &svc("a", json!({"ports": ports})))
            .await
            .unwrap();
        let ip_a = a.spec.as_ref().unwrap().cluster_ip.clone().unwrap();
        assert!(ip_a.starts_with("10.96."), "{ip_a}");
        assert_eq!(
            a.spec.as_ref().unwrap().ip_families.as_deref(),
            Some(&["IPv4".to_string()][..])
        );
        assert_eq!(node_port(&a), None);

        // Another service asking for a's address is refused.
        let err = api
            .create(&pp, &svc("b", json!({"ports": ports, "clusterIP": ip_a})))
            .await
            .unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("already allocated")),
            "{err:?}"
        );

        // ClusterIP -> NodePort allocates a node port.
        let np = api
            .patch(
                "a",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"type": "NodePort"}})),
            )
            .await
            .unwrap();
        let port = node_port(&np).expect("node port allocated");
        assert!((30000..=32767).contains(&port));
        assert_eq!(
            np.spec.as_ref().unwrap().cluster_ip.as_deref(),
            Some(ip_a.as_str())
        );

        // That port is taken for others.
        let err = api
            .create(
                &pp,
                &svc(
                    "c",
                    json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}),
                ),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 422),
            "{err:?}"
        );

        // Deleting the service releases both.
        api.delete("a", &DeleteParams::default()).await.unwrap();
        let d = api
            .create(
                &pp,
                &svc("d", json!({"type": "NodePort", "clusterIP": ip_a, "ports": [{"port": 80, "nodePort": port}]})),
            )
            .await
            .unwrap();
        assert_eq!(node_port(&d), Some(port));
        assert_eq!(
            d.spec.as_ref().unwrap().cluster_ip.as_deref(),
            Some(ip_a.as_str())
        );

        // Headless services get no address; ExternalName gets none either.
        let h = api
            .create(
                &pp,
                &svc(
                    "h",
                    json!({"clusterIP": "None", "selector": {"app": "x"}, "ports": ports}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(h.spec.as_ref().unwrap().cluster_ip.as_deref(), Some("None"));
        let e = api
            .create(
                &pp,
                &svc(
                    "e",
                    json!({"type": "ExternalName", "externalName": "example.com"}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(e.spec.as_ref().unwrap().cluster_ip, None);
    });
}

#[tokio::test]
async fn local_load_balancers_get_a_health_check_node_port() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let api: Api<Service> = Api::namespaced(client, "default");
        let pp = PostParams::default();
        let ports = json!([{"port": 80, "targetPort": 8080}]);
        let hc = |s: &Service| s.spec.as_ref().and_then(|s| s.health_check_node_port);

        let lb = api
            .create(
                &pp,
                &svc(
                    "lb",
                    json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": ports}),
                ),
            )
            .await
            .unwrap();
        let port = hc(&lb).expect("a health check node port");
        assert!((30000..=32767).contains(&port), "{port}");
        assert_ne!(Some(port), node_port(&lb));
        // The port is taken: nobody else may ask for it.
        let err = api
            .create(
                &pp,
                &svc(
                    "other",
                    json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}),
                ),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("already allocated")),
            "{err:?}"
        );
        // An update that leaves the field out keeps it.
        let kept = api
            .patch(
                "lb",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
            )
            .await
            .unwrap();
        assert_eq!(hc(&kept), Some(port));
        // Cluster traffic policy: no health check port, and it is free again.
        let cluster = api
            .patch(
                "lb",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"externalTrafficPolicy": "Cluster"}})),
            )
            .await
            .unwrap();
        assert_eq!(hc(&cluster), None);
        let other = api
            .create(
                &pp,
                &svc(
                    "other",
                    json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(node_port(&other), Some(port));
        // Back to Local: a new one is allocated on update.
        let local = api
            .patch(
                "lb",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"externalTrafficPolicy": "Local"}})),
            )
            .await
            .unwrap();
        let again = hc(&local).expect("allocated on update");
        assert_ne!(again, port);
        // Deleting the service releases it.
        api.delete("lb", &DeleteParams::default()).await.unwrap();
        let reuse = api
            .create(
                &pp,
                &svc(
                    "reuse",
                    json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                           "healthCheckNodePort": again, "ports": [{"port": 81}]}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(hc(&reuse), Some(again));
    });
}
