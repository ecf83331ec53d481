//! pvc-protection and pv-protection against a real apiserver: the
//! finalizers are added, hold a claim used by a scheduled pod and a bound
//! volume, and are removed once the pod and then the claim are gone.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::support::{object, start_manager, wait_for, wait_for_default_service_account};

#[tokio::test]
async fn claims_and_volumes_in_use_are_protected() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(
            &cluster,
            &["--controllers=pvc-protection,pv-protection,persistentvolume-binder,serviceaccount"],
        )
        .await;
        let pp = PostParams::default();
        let pvs: Api<PersistentVolume> = Api::all(client.clone());
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        pvs.create(
            &pp,
            &object(json!({
                "metadata": {"name": "disk"},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                         "hostPath": {"path": "/tmp/corten-protection-test"}}
            })),
        )
        .await
        .unwrap();
        pvcs.create(
            &pp,
            &object(json!({
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                         "resources": {"requests": {"storage": "1Gi"}}}
            })),
        )
        .await
        .unwrap();
        let claim = wait_for(
            "the claim bound with its finalizer",
            Duration::from_secs(40),
            || {
                let pvcs = pvcs.clone();
                async move {
                    pvcs.get("data").await.ok().filter(|c| {
                        c.finalizers()
                            .contains(&"kubernetes.io/pvc-protection".to_string())
                            && c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
                    })
                }
            },
        )
        .await;
        assert_eq!(claim.spec.unwrap().volume_name.as_deref(), Some("disk"));
        wait_for("the volume's finalizer", Duration::from_secs(40), || {
            let pvs = pvs.clone();
            async move {
                pvs.get("disk").await.ok().filter(|v| {
                    v.finalizers()
                        .contains(&"kubernetes.io/pv-protection".to_string())
                })
            }
        })
        .await;

        // A scheduled pod uses the claim.
        wait_for_default_service_account(&client, "default").await;
        pods.create(
            &pp,
            &object(json!({
                "metadata": {"name": "user"},
                "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}],
                         "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}
            })),
        )
        .await
        .unwrap();
        pvcs.delete("data", &DeleteParams::default()).await.unwrap();
        pvs.delete("disk", &DeleteParams::default()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let claim = pvcs.get("data").await.unwrap();
        assert!(claim.metadata.deletion_timestamp.is_some());
        assert!(
            claim
                .finalizers()
                .contains(&"kubernetes.io/pvc-protection".to_string())
        );
        let volume = pvs.get("disk").await.unwrap();
        assert!(volume.metadata.deletion_timestamp.is_some());

        // The pod goes: the claim goes, the volume is released and goes too.
        pods.delete("user", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
        wait_for("the claim to be deleted", Duration::from_secs(40), || {
            let pvcs = pvcs.clone();
            async move { pvcs.get_opt("data").await.unwrap().is_none().then_some(()) }
        })
        .await;
        wait_for("the volume to be deleted", Duration::from_secs(40), || {
            let pvs = pvs.clone();
            async move { pvs.get_opt("disk").await.unwrap().is_none().then_some(()) }
        })
        .await;
        manager.shutdown().await.unwrap();
    });
}
