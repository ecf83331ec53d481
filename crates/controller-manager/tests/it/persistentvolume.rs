//! persistentvolume-binder-controller against a real apiserver: static
//! binding (smallest fit, annotations, phases), FailedBinding, Retain and
//! Delete reclaim, the corten.io/hostpath provisioner with Immediate and
//! WaitForFirstConsumer classes.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::support::{events_for, object, start_manager, wait_for};

fn pv(name: &str, size: &str, class: &str, reclaim: &str) -> PersistentVolume {
    object(json!({
        "metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": class, "persistentVolumeReclaimPolicy": reclaim,
                 "hostPath": {"path": format!("/tmp/corten-pv-test/{name}")}}
    }))
}

fn pvc(name: &str, size: &str, class: Option<&str>) -> PersistentVolumeClaim {
    let mut spec =
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}});
    if let Some(class) = class {
        spec["storageClassName"] = json!(class);
    }
    object(json!({"metadata": {"name": name}, "spec": spec}))
}

async fn wait_claim_phase(
    api: &Api<PersistentVolumeClaim>,
    name: &str,
    phase: &str,
) -> PersistentVolumeClaim {
    wait_for(
        &format!("claim {name} {phase}"),
        Duration::from_secs(40),
        || async move {
            api.get_opt(name)
                .await
                .unwrap()
                .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase))
        },
    )
    .await
}

async fn wait_volume_phase(
    api: &Api<PersistentVolume>,
    name: &str,
    phase: &str,
) -> PersistentVolume {
    wait_for(
        &format!("volume {name} {phase}"),
        Duration::from_secs(40),
        || async move {
            api.get_opt(name)
                .await
                .unwrap()
                .filter(|v| v.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase))
        },
    )
    .await
}

async fn wait_event(client: &kube::Client, ns: &str, name: &str, reason: &str) -> String {
    wait_for(
        &format!("event {reason} for {name}"),
        Duration::from_secs(40),
        || async move {
            events_for(client, ns, name)
                .await
                .into_iter()
                .find(|(r, _, _)| r == reason)
                .map(|(_, message, source)| {
                    assert_eq!(source, "persistentvolume-controller");
                    message
                })
        },
    )
    .await
}

fn annotation<'a>(meta: &'a kube::core::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

#[tokio::test]
async fn static_binding_and_reclaim() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &["--controllers=persistentvolume-binder"]).await;
        let pvs: Api<PersistentVolume> = Api::all(client.clone());
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
        let pp = PostParams::default();
        for volume in [
            pv("big", "10Gi", "", "Retain"),
            pv("small", "2Gi", "", "Retain"),
            pv("tiny", "500Mi", "", "Retain"),
            pv("gold", "2Gi", "gold", "Delete"),
        ] {
            pvs.create(&pp, &volume).await.unwrap();
        }
        for name in ["big", "small", "tiny", "gold"] {
            wait_volume_phase(&pvs, name, "Available").await;
        }

        // The smallest class-less volume that is large enough.
        pvcs.create(&pp, &pvc("data", "1Gi", None)).await.unwrap();
        let claim = wait_claim_phase(&pvcs, "data", "Bound").await;
        let spec = claim.spec.as_ref().unwrap();
        assert_eq!(spec.volume_name.as_deref(), Some("small"));
        assert_eq!(
            annotation(&claim.metadata, "pv.kubernetes.io/bind-completed"),
            Some("yes")
        );
        assert_eq!(
            annotation(&claim.metadata, "pv.kubernetes.io/bound-by-controller"),
            Some("yes")
        );
        let status = claim.status.as_ref().unwrap();
        assert_eq!(status.capacity.as_ref().unwrap()["storage"].0, "2Gi");
        assert_eq!(
            status.access_modes.as_deref(),
            Some(&["ReadWriteOnce".to_string()][..])
        );
        let volume = wait_volume_phase(&pvs, "small", "Bound").await;
        let claim_ref = volume.spec.as_ref().unwrap().claim_ref.as_ref().unwrap();
        assert_eq!(claim_ref.name.as_deref(), Some("data"));
        assert_eq!(claim_ref.uid, claim.metadata.uid);
        assert_eq!(
            annotation(&volume.metadata, "pv.kubernetes.io/bound-by-controller"),
            Some("yes")
        );
        assert!(
            volume
                .status
                .as_ref()
                .unwrap()
                .last_phase_transition_time
                .is_some()
        );

        // kubectl shows the binding like upstream.
        let out = cluster
            .kubectl_ok(&["get", "pvc", "data", "-n", "default"])
            .await
            .unwrap();
        assert!(out.contains("Bound") && out.contains("small"), "{out}");

        // Nothing fits: FailedBinding, Pending.
        pvcs.create(&pp, &pvc("huge", "50Gi", None)).await.unwrap();
        let message = wait_event(&client, "default", "huge", "FailedBinding").await;
        assert_eq!(
            message,
            "no persistent volumes available for this claim and no storage class is set"
        );
        assert_eq!(
            pvcs.get("huge")
                .await
                .unwrap()
                .status
                .unwrap()
                .phase
                .as_deref(),
            Some("Pending")
        );

        // A claim naming a volume (volumeName) gets it, without bound-by-controller.
        let mut named = pvc("named", "1Gi", Some(""));
        named.spec.as_mut().unwrap().volume_name = Some("big".into());
        pvcs.create(&pp, &named).await.unwrap();
        let claim = wait_claim_phase(&pvcs, "named", "Bound").await;
        assert_eq!(
            annotation(&claim.metadata, "pv.kubernetes.io/bound-by-controller"),
            None
        );
        wait_volume_phase(&pvs, "big", "Bound").await;

        // A class selects volumes of that class only.
        pvcs.create(&pp, &pvc("golden", "1Gi", Some("gold")))
            .await
            .unwrap();
        let claim = wait_claim_phase(&pvcs, "golden", "Bound").await;
        assert_eq!(claim.spec.unwrap().volume_name.as_deref(), Some("gold"));

        // Retain: the volume is Released and kept.
        pvcs.delete("data", &DeleteParams::default()).await.unwrap();
        wait_volume_phase(&pvs, "small", "Released").await;
        // Delete of a volume no plugin can delete: Failed with upstream's event.
        pvcs.delete("golden", &DeleteParams::default())
            .await
            .unwrap();
        let failed = wait_volume_phase(&pvs, "gold", "Failed").await;
        assert!(
            failed
                .status
                .unwrap()
                .message
                .unwrap()
                .contains("no deletable volume plugin matched")
        );
        let message = wait_event(&client, "default", "gold", "VolumeFailedDelete").await;
        assert!(message.contains("gold"), "{message}");
        // A released volume is not bound again.
        pvcs.create(&pp, &pvc("again", "1Gi", None)).await.unwrap();
        wait_event(&client, "default", "again", "FailedBinding").await;
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn hostpath_provisioning() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dir_flag = format!("--hostpath-provisioner-dir={}", dir.path().display());
        let manager = start_manager(
            &cluster,
            &["--controllers=persistentvolume-binder", &dir_flag],
        )
        .await;
        let pp = PostParams::default();
        let classes: Api<StorageClass> = Api::all(client.clone());
        classes
            .create(&pp, &object(json!({
                "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": "corten.io/hostpath", "reclaimPolicy": "Delete"
            })))
            .await
            .unwrap();
        classes
            .create(
                &pp,
                &object(json!({
                    "metadata": {"name": "local"},
                    "provisioner": "corten.io/hostpath", "reclaimPolicy": "Retain",
                    "volumeBindingMode": "WaitForFirstConsumer"
                })),
            )
            .await
            .unwrap();
        let pvs: Api<PersistentVolume> = Api::all(client.clone());
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");

        // No class: the default class is filled in, then a volume provisioned.
        let created = pvcs.create(&pp, &pvc("web", "1Gi", None)).await.unwrap();
        let claim = wait_claim_phase(&pvcs, "web", "Bound").await;
        assert_eq!(
            claim.spec.as_ref().unwrap().storage_class_name.as_deref(),
            Some("standard")
        );
        let volume_name = format!("pvc-{}", created.uid().unwrap());
        assert_eq!(
            claim.spec.as_ref().unwrap().volume_name.as_deref(),
            Some(volume_name.as_str())
        );
        assert_eq!(
            annotation(&claim.metadata, "volume.kubernetes.io/storage-provisioner"),
            Some("corten.io/hostpath")
        );
        let volume = wait_volume_phase(&pvs, &volume_name, "Bound").await;
        assert_eq!(
            annotation(&volume.metadata, "pv.kubernetes.io/provisioned-by"),
            Some("corten.io/hostpath")
        );
        let spec = volume.spec.as_ref().unwrap();
        let path = dir.path().join(&volume_name);
        assert_eq!(
            spec.host_path.as_ref().unwrap().path,
            path.to_string_lossy()
        );
        assert_eq!(
            spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Delete")
        );
        assert_eq!(spec.capacity.as_ref().unwrap()["storage"].0, "1Gi");
        let message = wait_event(&client, "default", "web", "ProvisioningSucceeded").await;
        assert_eq!(
            message,
            format!("Successfully provisioned volume {volume_name} using corten.io/hostpath")
        );

        // Delete: the directory (as a kubelet would have made it) and the volume go.
        std::fs::create_dir_all(path.join("data")).unwrap();
        pvcs.delete("web", &DeleteParams::default()).await.unwrap();
        wait_for(
            "the provisioned volume to be deleted",
            Duration::from_secs(40),
            || {
                let pvs = pvs.clone();
                let name = volume_name.clone();
                async move { pvs.get_opt(&name).await.unwrap().is_none().then_some(()) }
            },
        )
        .await;
        assert!(!path.exists());

        // WaitForFirstConsumer: nothing until the scheduler picks a node.
        pvcs.create(&pp, &pvc("cache", "256Mi", Some("local")))
            .await
            .unwrap();
        let message = wait_event(&client, "default", "cache", "WaitForFirstConsumer").await;
        assert_eq!(
            message,
            "waiting for first consumer to be created before binding"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let claim = pvcs.get("cache").await.unwrap();
        assert_eq!(
            claim.status.as_ref().unwrap().phase.as_deref(),
            Some("Pending")
        );
        assert!(
            pvs.get_opt(&format!("pvc-{}", claim.uid().unwrap()))
                .await
                .unwrap()
                .is_none()
        );
        pvcs.patch(
            "cache",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"volume.kubernetes.io/selected-node": "node-a"}}})),
        )
        .await
        .unwrap();
        let claim = wait_claim_phase(&pvcs, "cache", "Bound").await;
        let volume = pvs
            .get(claim.spec.as_ref().unwrap().volume_name.as_deref().unwrap())
            .await
            .unwrap();
        let affinity = serde_json::to_value(&volume.spec.as_ref().unwrap().node_affinity).unwrap();
        assert_eq!(
            affinity["required"]["nodeSelectorTerms"][0]["matchExpressions"][0],
            json!({"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-a"]})
        );
        // Retain keeps the provisioned volume.
        pvcs.delete("cache", &DeleteParams::default())
            .await
            .unwrap();
        wait_volume_phase(&pvs, &volume.name_any(), "Released").await;

        // A class of another provisioner: waiting for it, like upstream.
        classes
            .create(
                &pp,
                &object(json!({"metadata": {"name": "ext"}, "provisioner": "example.com/nfs"})),
            )
            .await
            .unwrap();
        pvcs.create(&pp, &pvc("shared", "1Gi", Some("ext")))
            .await
            .unwrap();
        let message = wait_event(&client, "default", "shared", "ExternalProvisioning").await;
        assert!(message.contains("'example.com/nfs'"), "{message}");
        manager.shutdown().await.unwrap();
    });
}
