//! sig-node and sig-scheduling entries: ConfigMap/Secret keys and
//! immutability, pod admission (QOS, RuntimeClass, LimitRange), Lease,
//! PriorityClass, ReplicationController scale, fake Nodes.

use super::*;
use corten_e2e::TestCluster;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};

/// "ConfigMap, with empty-key", "Secrets, with empty-key", "ConfigMap
/// Volume, immutability", "Secrets Volume, immutability", "Secret
/// patching".
#[tokio::test]
async fn config_keys_and_immutability() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        for (path, kind, data) in [
            (
                "/api/v1/namespaces/default/configmaps",
                "ConfigMap",
                json!({"": "value-1"}),
            ),
            (
                "/api/v1/namespaces/default/secrets",
                "Secret",
                json!({"": "dmFsdWUtMQo="}),
            ),
        ] {
            let (code, status) = create_code(
                &client,
                path,
                json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "empty-key"}, "data": data}),
            )
            .await;
            assert_eq!(code, 422, "{kind}: {status}");
        }

        for (plural, kind, data, changed) in [
            (
                "configmaps",
                "ConfigMap",
                json!({"data-1": "value-1"}),
                json!({"data-1": "value-2"}),
            ),
            (
                "secrets",
                "Secret",
                json!({"data-1": "dmFsdWUtMQo="}),
                json!({"data-1": "dmFsdWUtMgo="}),
            ),
        ] {
            let gvk = GroupVersionKind::gvk("", "v1", kind);
            let api: Api<DynamicObject> = Api::default_namespaced_with(
                client.clone(),
                &ApiResource::from_gvk_with_plural(&gvk, plural),
            );
            let pp = PostParams::default();
            let obj: DynamicObject =
                serde_json::from_value(json!({"apiVersion": "v1", "kind": kind,
                "metadata": {"name": "immutable"}, "data": data}))
                .unwrap();
            let mut cur = api.create(&pp, &obj).await.unwrap();
            cur.data["data"] = changed.clone();
            let mut cur = api.replace("immutable", &pp, &cur).await.unwrap();
            assert_eq!(cur.data["data"], changed);
            cur.data["immutable"] = json!(true);
            let mut cur = api.replace("immutable", &pp, &cur).await.unwrap();
            let mut bad = cur.clone();
            bad.data["data"] = data.clone();
            let err = api.replace("immutable", &pp, &bad).await.unwrap_err();
            assert!(is_code(&err, 422), "{kind}: {err:?}");
            let mut bad = cur.clone();
            bad.data["immutable"] = json!(false);
            let err = api.replace("immutable", &pp, &bad).await.unwrap_err();
            assert!(is_code(&err, 422), "{kind}: {err:?}");
            cur.metadata
                .labels
                .get_or_insert_default()
                .insert("label1".into(), "value1".into());
            let cur = api.replace("immutable", &pp, &cur).await.unwrap();
            assert_eq!(label(&cur, "label1"), Some("value1"));
            api.delete("immutable", &DeleteParams::default())
                .await
                .unwrap();
        }

        // Secret patching: a patch of data with a label, found by label.
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::default_namespaced(client.clone());
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "patch-me", "labels": {"testsecret-constant": "true"}},
                    "data": {"key": "dmFsdWU="}, "type": "Opaque"}))
                .unwrap(),
            )
            .await
            .unwrap();
        let lp = ListParams::default().labels("testsecret-constant=true");
        assert_eq!(secrets.list(&lp).await.unwrap().items.len(), 1);
        let patched = secrets
            .patch(
                "patch-me",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"testsecret": "true"}}, "data": {"key": "cGF0Y2hlZA=="}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.data.as_ref().unwrap()["key"].0, b"patched".to_vec());
        secrets
            .delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        assert!(secrets.list(&lp).await.unwrap().items.is_empty());
    });
}

/// "Pods, QOS", "Pod with the non-existing RuntimeClass is rejected.",
/// "Pod with the deleted RuntimeClass is rejected.", "Scheduler, Verify
/// PriorityClass endpoints" (immutable value), "Replication Controller,
/// get and update ReplicationController scale", "Find Kubernetes Service
/// in default Namespace".
#[tokio::test]
async fn pod_admission_scale_and_immutable_fields() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let pods = "/api/v1/namespaces/default/pods";
        let pod = |name: &str, extra: Value| {
            let mut spec = container_spec();
            for (k, v) in extra.as_object().unwrap() {
                spec[k] = v.clone();
            }
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
        };

        let mut qos = pod("qos", json!({}));
        qos["spec"]["containers"][0]["resources"] = json!({
            "requests": {"cpu": "100m", "memory": "100Mi"},
            "limits": {"cpu": "100m", "memory": "100Mi"}});
        let (code, created) = create_code(&client, pods, qos).await;
        assert_eq!(code, 201, "{created}");
        let got = corten_e2e::fixtures::get_raw(&c, &format!("{pods}/qos")).await;
        assert_eq!(got["status"]["qosClass"], "Guaranteed");

        let (code, status) = create_code(
            &client,
            pods,
            pod("no-class", json!({"runtimeClassName": "does-not-exist"})),
        )
        .await;
        assert_eq!(code, 403, "{status}");
        let (code, _) = create_code(
            &client,
            "/apis/node.k8s.io/v1/runtimeclasses",
            json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                "metadata": {"name": "gone"}, "handler": "runc"}),
        )
        .await;
        assert_eq!(code, 201);
        c.kubectl_ok(&["delete", "runtimeclass", "gone"])
            .await
            .unwrap();
        let (code, status) = create_code(
            &client,
            pods,
            pod("gone-class", json!({"runtimeClassName": "gone"})),
        )
        .await;
        assert_eq!(code, 403, "{status}");

        // PriorityClass: the description may change, the value may not.
        let pcs: Api<k8s_openapi::api::scheduling::v1::PriorityClass> = Api::all(client.clone());
        pcs.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "p1"}, "value": 1})).unwrap(),
        )
        .await
        .unwrap();
        let err = pcs
            .patch(
                "p1",
                &PatchParams::default(),
                &Patch::Merge(json!({"value": 2})),
            )
            .await
            .unwrap_err();
        assert!(is_code(&err, 422), "{err:?}");
        let p = pcs
            .patch(
                "p1",
                &PatchParams::default(),
                &Patch::Merge(json!({"description": "updated"})),
            )
            .await
            .unwrap();
        assert_eq!(p.description.as_deref(), Some("updated"));
        let mut p = pcs.get("p1").await.unwrap();
        p.value = 3;
        let err = pcs
            .replace("p1", &PostParams::default(), &p)
            .await
            .unwrap_err();
        assert!(is_code(&err, 422), "{err:?}");
        let listed = names(&pcs.list(&ListParams::default()).await.unwrap().items);
        assert!(
            listed.contains(&"system-node-critical".to_string()),
            "{listed:?}"
        );

        // ReplicationController /scale: read, then replace the replicas.
        let rcs: Api<k8s_openapi::api::core::v1::ReplicationController> =
            Api::default_namespaced(client.clone());
        rcs.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "rc"}, "spec": {"replicas": 1,
                "selector": {"app": "rc"}, "template": {"metadata": {"labels": {"app": "rc"}},
                "spec": rc_pod_spec()}}}))
            .unwrap(),
        )
        .await
        .unwrap();
        let scale = rcs.get_scale("rc").await.unwrap();
        assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(1));
        let mut scale = scale;
        scale.spec.as_mut().unwrap().replicas = Some(2);
        let updated = rcs
            .replace_scale("rc", &PostParams::default(), &scale)
            .await
            .unwrap();
        assert_eq!(updated.spec.as_ref().unwrap().replicas, Some(2));
        assert_eq!(rcs.get("rc").await.unwrap().spec.unwrap().replicas, Some(2));

        // The `kubernetes` Service in `default`, found by listing all.
        let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::all(client.clone());
        let all = svcs.list(&ListParams::default()).await.unwrap();
        assert!(
            all.items
                .iter()
                .any(|s| s.metadata.name.as_deref() == Some("kubernetes")
                    && s.metadata.namespace.as_deref() == Some("default"))
        );
    });
}

/// "lease API should be available": a Lease's spec (with microsecond
/// times) reads back exactly as written through create, update and a
/// strategic merge patch; deletecollection by label removes only the
/// labelled lease.
#[tokio::test]
async fn lease_api() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::coordination::v1::Lease;
        let leases: Api<Lease> = Api::default_namespaced(client.clone());
        let spec = json!({"holderIdentity": "holder", "leaseDurationSeconds": 30,
            "acquireTime": "2024-01-02T03:04:05.123456Z", "renewTime": "2024-01-02T03:04:05.654321Z",
            "leaseTransitions": 0});
        let created = leases
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "lease"}, "spec": spec}))
                    .unwrap(),
            )
            .await
            .unwrap();
        let got = leases.get("lease").await.unwrap();
        assert_eq!(serde_json::to_value(&got.spec).unwrap(), spec);
        assert_eq!(got.spec, created.spec);

        let mut cur = got.clone();
        let new_spec = json!({"holderIdentity": "holder2", "leaseDurationSeconds": 30,
            "acquireTime": "2024-01-02T03:05:05.000001Z", "renewTime": "2024-01-02T03:05:06.000002Z",
            "leaseTransitions": 1});
        cur.spec = serde_json::from_value(new_spec.clone()).unwrap();
        leases
            .replace("lease", &PostParams::default(), &cur)
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(leases.get("lease").await.unwrap().spec).unwrap(),
            new_spec
        );

        let patch = json!({"spec": {"holderIdentity": "holder3", "leaseTransitions": 2,
            "acquireTime": "2024-01-02T03:06:05.000003Z"}});
        leases
            .patch("lease", &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .unwrap();
        let patched = serde_json::to_value(leases.get("lease").await.unwrap().spec).unwrap();
        assert_eq!(patched["holderIdentity"], "holder3");
        assert_eq!(patched["acquireTime"], "2024-01-02T03:06:05.000003Z");
        assert_eq!(patched["renewTime"], "2024-01-02T03:05:06.000002Z");

        leases
            .create(
                &PostParams::default(),
                &serde_json::from_value(
                    json!({"metadata": {"name": "lease2", "labels": {"deletecollection": "true"}},
                    "spec": spec}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            leases
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
            2
        );
        leases
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels("deletecollection=true"),
            )
            .await
            .unwrap();
        assert_eq!(
            names(&leases.list(&ListParams::default()).await.unwrap().items),
            vec!["lease"]
        );
        leases
            .delete("lease", &DeleteParams::default())
            .await
            .unwrap();
        let err = leases.get("lease").await.unwrap_err();
        assert!(is_code(&err, 404), "{err:?}");
    });
}

/// "LimitRange, resources": a Container LimitRange fills in missing
/// requests and limits (from defaultRequest/default, a lone limit also
/// becoming the request) and rejects pods outside min/max with 403.
/// "PodDisruptionBudget: update and patch status": `disruptedPods` set by
/// an update of `/status` and emptied by a merge patch.
#[tokio::test]
async fn limit_range_resources_and_pdb_status() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let (code, lr) = create_code(
            &client,
            "/api/v1/namespaces/default/limitranges",
            json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limit-range"},
                "spec": {"limits": [{"type": "Container",
                    "min": {"cpu": "100m", "memory": "10Mi"}, "max": {"cpu": "500m", "memory": "500Mi"},
                    "defaultRequest": {"cpu": "200m", "memory": "200Mi"},
                    "default": {"cpu": "300m", "memory": "300Mi"}}]}}),
        )
        .await;
        assert_eq!(code, 201, "{lr}");
        let pods = "/api/v1/namespaces/default/pods";
        let pod = |name: &str, resources: Value| {
            let mut spec = container_spec();
            spec["containers"][0]["resources"] = resources;
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
        };
        let resources = |v: &Value| v["spec"]["containers"][0]["resources"].clone();

        let (code, p) = create_code(&client, pods, pod("no-resources", json!({}))).await;
        assert_eq!(code, 201, "{p}");
        assert_eq!(
            resources(&p),
            json!({"requests": {"cpu": "200m", "memory": "200Mi"}, "limits": {"cpu": "300m", "memory": "300Mi"}})
        );
        let (code, p) = create_code(
            &client,
            pods,
            pod(
                "partial-requests",
                json!({"requests": {"cpu": "300m", "memory": "150Mi"}}),
            ),
        )
        .await;
        assert_eq!(code, 201, "{p}");
        assert_eq!(
            resources(&p),
            json!({"requests": {"cpu": "300m", "memory": "150Mi"}, "limits": {"cpu": "300m", "memory": "300Mi"}})
        );
        let (code, p) = create_code(
            &client,
            pods,
            pod(
                "partial-limits",
                json!({"limits": {"cpu": "300m", "memory": "150Mi"}}),
            ),
        )
        .await;
        assert_eq!(code, 201, "{p}");
        assert_eq!(
            resources(&p),
            json!({"requests": {"cpu": "300m", "memory": "150Mi"}, "limits": {"cpu": "300m", "memory": "150Mi"}})
        );
        for (name, r) in [
            ("over-max", json!({"limits": {"cpu": "600m"}})),
            ("under-min", json!({"requests": {"cpu": "50m"}})),
        ] {
            let (code, status) = create_code(&client, pods, pod(name, r)).await;
            assert_eq!(code, 403, "{name}: {status}");
        }

        use k8s_openapi::api::policy::v1::PodDisruptionBudget;
        let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(client.clone());
        pdbs.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "foo", "labels": {"foo": "bar"}},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"foo": "bar"}}}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        let mut cur = pdbs.get("foo").await.unwrap();
        let status = cur.status.get_or_insert_default();
        status.disrupted_pods =
            Some(serde_json::from_value(json!({"pod-0": "2024-01-01T00:00:00Z"})).unwrap());
        pdbs.replace_status("foo", &PostParams::default(), &cur)
            .await
            .unwrap();
        let got = pdbs.get_status("foo").await.unwrap();
        assert!(
            got.status
                .unwrap()
                .disrupted_pods
                .unwrap()
                .contains_key("pod-0")
        );
        let patched = pdbs
            .patch_status(
                "foo",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"disruptedPods": null}})),
            )
            .await
            .unwrap();
        assert!(
            patched
                .status
                .unwrap()
                .disrupted_pods
                .unwrap_or_default()
                .is_empty()
        );
    });
}

/// "Node, resource lifecycle": an unschedulable fake node created with a
/// Ready condition whose times are `null` (what a Go client sends for
/// unset times), strategic-merge patched, listed by the new label,
/// updated and deleted.
#[tokio::test]
async fn fake_node_lifecycle() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let (code, node) = create_code(
            &client,
            "/api/v1/nodes",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "e2e-fake-node-abcde"},
                "spec": {"unschedulable": true},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
                    "reason": "E2E", "message": "Set from e2e test",
                    "lastHeartbeatTime": null, "lastTransitionTime": null}]}}),
        )
        .await;
        assert_eq!(code, 201, "{node}");
        use k8s_openapi::api::core::v1::Node;
        let nodes: Api<Node> = Api::all(client.clone());
        let got = nodes.get("e2e-fake-node-abcde").await.unwrap();
        assert_eq!(got.status.unwrap().conditions.unwrap()[0].type_, "Ready");
        let patched = nodes
            .patch(
                "e2e-fake-node-abcde",
                &PatchParams::default(),
                &Patch::Strategic(
                    json!({"metadata": {"labels": {"e2e-fake-node-abcde": "patched"}}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            patched.metadata.labels.as_ref().unwrap()["e2e-fake-node-abcde"],
            "patched"
        );
        let listed = nodes
            .list(&ListParams::default().labels("e2e-fake-node-abcde=patched"))
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        let mut cur = nodes.get("e2e-fake-node-abcde").await.unwrap();
        cur.metadata
            .labels
            .get_or_insert_default()
            .insert("e2e-fake-node-abcde".into(), "updated".into());
        let updated = nodes
            .replace("e2e-fake-node-abcde", &PostParams::default(), &cur)
            .await
            .unwrap();
        assert_eq!(
            updated.metadata.labels.as_ref().unwrap()["e2e-fake-node-abcde"],
            "updated"
        );
        nodes
            .delete("e2e-fake-node-abcde", &DeleteParams::default())
            .await
            .unwrap();
        assert!(is_code(
            &nodes.get("e2e-fake-node-abcde").await.unwrap_err(),
            404
        ));
    });
}
