//! sig-storage entries with their own steps: CSIStorageCapacity and pods
//! with inline CSI volumes.

use super::*;
use corten_e2e::TestCluster;
use k8s_openapi::api::storage::v1::CSIStorageCapacity;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};

/// "CSIStorageCapacity API": discovery, create (and 409 on a repeat),
/// watch in and across namespaces, get, list in and across namespaces,
/// merge patch, update, delete and deletecollection by label.
#[tokio::test]
async fn csi_storage_capacity_api() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        c.kubectl_ok(&["create", "namespace", "csc"]).await.unwrap();

        let groups = corten_e2e::fixtures::get_raw(&c, "/apis/storage.k8s.io").await;
        assert!(
            groups["versions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["version"] == "v1")
        );
        let res = corten_e2e::fixtures::get_raw(&c, "/apis/storage.k8s.io/v1").await;
        let row = res["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "csistoragecapacities")
            .expect("csistoragecapacities in discovery")
            .clone();
        assert_eq!(row["namespaced"], true);
        assert_eq!(row["kind"], "CSIStorageCapacity");

        // OpenAPI follows the table: kubectl can explain the kind.
        let explained = c
            .kubectl_ok(&["explain", "csistoragecapacities.storageClassName"])
            .await
            .unwrap();
        assert!(
            explained.contains("KIND:") && explained.contains("CSIStorageCapacity"),
            "{explained}"
        );

        let api: Api<CSIStorageCapacity> = Api::namespaced(client.clone(), "csc");
        let all: Api<CSIStorageCapacity> = Api::all(client.clone());
        let csc = |n: &str| -> CSIStorageCapacity {
            serde_json::from_value(json!({
                "metadata": {"name": n, "labels": {"test": "csc"}},
                "storageClassName": "e2e.example.com",
                "capacity": "1024Mi",
            }))
            .unwrap()
        };
        let pp = PostParams::default();
        let created = api.create(&pp, &csc("csc1")).await.unwrap();
        assert_eq!(created.capacity.as_ref().map(|q| q.0.as_str()), Some("1Gi"));
        let err = api.create(&pp, &csc("csc1")).await.unwrap_err();
        assert!(is_code(&err, 409), "{err:?}");
        api.create(&pp, &csc("csc2")).await.unwrap();
        let rv = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        api.create(&pp, &csc("csc3")).await.unwrap();

        let got = api.get("csc1").await.unwrap();
        assert_eq!(got.metadata.uid, created.metadata.uid);
        let lp = ListParams::default().labels("test=csc");
        assert_eq!(api.list(&lp).await.unwrap().items.len(), 3);
        assert_eq!(all.list(&lp).await.unwrap().items.len(), 3);

        let patched = api
            .patch(
                "csc1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"patched": "true"}}})),
            )
            .await
            .unwrap();
        assert_eq!(
            patched.metadata.annotations.as_ref().unwrap()["patched"],
            "true"
        );
        let mut to_update = patched.clone();
        to_update
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert("updated".into(), "true".into());
        let updated = api.replace("csc1", &pp, &to_update).await.unwrap();
        assert_eq!(
            updated.metadata.annotations.as_ref().unwrap()["updated"],
            "true"
        );

        // Both watches (from before csc3) see the added object and the
        // annotation changes.
        for w in [&api, &all] {
            let (mut added, mut patched, mut updated) = (false, false, false);
            watch_until(w, "test=csc", &rv, |ev| {
                match ev {
                    WatchEvent::Added(o) if o.metadata.name.as_deref() == Some("csc3") => {
                        added = true
                    }
                    WatchEvent::Modified(o) => {
                        let a = o.metadata.annotations.clone().unwrap_or_default();
                        patched |= a.get("patched").is_some_and(|v| v == "true");
                        updated |= a.get("updated").is_some_and(|v| v == "true");
                    }
                    _ => {}
                }
                added && patched && updated
            })
            .await;
        }

        // The storage class and topology are what the driver was asked
        // about: immutable.
        let err = api
            .patch(
                "csc1",
                &PatchParams::default(),
                &Patch::Merge(json!({"storageClassName": "other"})),
            )
            .await
            .unwrap_err();
        assert!(is_code(&err, 422), "{err:?}");

        // Server-side printing has upstream's columns.
        let table = c
            .kubectl_ok(&["get", "csistoragecapacities", "-n", "csc", "csc2"])
            .await
            .unwrap();
        let words: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            words,
            vec![
                vec!["NAME", "STORAGECLASSNAME", "CAPACITY"],
                vec!["csc2", "e2e.example.com", "1Gi"]
            ]
        );

        api.delete("csc1", &DeleteParams::default()).await.unwrap();
        let err = api.get("csc1").await.unwrap_err();
        assert!(is_code(&err, 404), "{err:?}");
        assert_eq!(
            names(&api.list(&lp).await.unwrap().items),
            vec!["csc2", "csc3"]
        );
        api.delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        assert!(api.list(&lp).await.unwrap().items.is_empty());
    });
}

/// "CSIInlineVolumes should support Pods with inline volumes": a CSIDriver
/// for ephemeral volumes and a pod with an inline `csi` volume go through
/// create, get, list, patch and delete.
#[tokio::test]
async fn csi_inline_volume_pods() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::Pod;
        use k8s_openapi::api::storage::v1::CSIDriver;
        let drivers: Api<CSIDriver> = Api::all(client.clone());
        let driver = drivers
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "e2e-inline.csi.example.com"},
                    "spec": {"volumeLifecycleModes": ["Ephemeral"]}}))
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            driver.spec.volume_lifecycle_modes,
            Some(vec!["Ephemeral".to_string()])
        );
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        let mut spec = container_spec();
        spec["volumes"] = json!([{"name": "vol", "csi": {"driver": "e2e-inline.csi.example.com",
            "volumeAttributes": {"foo": "bar"}}}]);
        spec["containers"][0]["volumeMounts"] = json!([{"name": "vol", "mountPath": "/mnt/test"}]);
        let created = pods
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "inline", "labels": {"e2e": "inline"}}, "spec": spec}))
                    .unwrap(),
            )
            .await
            .unwrap();
        let vol = &created.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
        assert_eq!(
            vol.csi.as_ref().unwrap().driver,
            "e2e-inline.csi.example.com"
        );
        assert_eq!(
            pods.get("inline").await.unwrap().metadata.uid,
            created.metadata.uid
        );
        let listed = pods
            .list(&ListParams::default().labels("e2e=inline"))
            .await
            .unwrap();
        assert_eq!(names(&listed.items), vec!["inline"]);
        let patched = pods
            .patch(
                "inline",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"patched": "true"}}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.metadata.labels.unwrap()["patched"], "true");
        pods.delete("inline", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
        drivers
            .delete("e2e-inline.csi.example.com", &DeleteParams::default())
            .await
            .unwrap();
    });
}
