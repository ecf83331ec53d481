//! The `Recycle` reclaim policy against a real apiserver: the recycler pod
//! (name, volume, deadline, default image and script), success back to
//! `Available` (`VolumeRecycled`), failure to `Failed` (`VolumeFailedRecycle`
//! with the pod's message) and the retry upstream makes, and volumes no
//! plugin can recycle. No kubelet runs: the test sets the recycler pod's
//! phase through the status subresource, as a kubelet would.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::support::{events_for, object, start_manager, wait_for};

fn recycled_pv(name: &str, size: &str, source: serde_json::Value) -> PersistentVolume {
    let mut spec = json!({"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                          "storageClassName": "", "persistentVolumeReclaimPolicy": "Recycle"});
    spec.as_object_mut()
        .unwrap()
        .extend(source.as_object().unwrap().clone());
    object(json!({"metadata": {"name": name}, "spec": spec}))
}

fn claim_for(name: &str, volume: &str) -> PersistentVolumeClaim {
    object(json!({"metadata": {"name": name},
                  "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                           "volumeName": volume,
                           "resources": {"requests": {"storage": "1Gi"}}}}))
}

async fn volume_in(api: &Api<PersistentVolume>, name: &str, phase: &str) -> PersistentVolume {
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

async fn event(client: &kube::Client, name: &str, reason: &str, message: &str) {
    wait_for(
        &format!("event {reason} {message:?} for {name}"),
        Duration::from_secs(40),
        || async move {
            events_for(client, "default", name)
                .await
                .into_iter()
                .find(|(r, m, s)| r == reason && m == message && s == "persistentvolume-controller")
        },
    )
    .await;
}

async fn recycler_pod(pods: &Api<Pod>, name: &str) -> Pod {
    wait_for(
        &format!("pod {name}"),
        Duration::from_secs(40),
        || async move {
            pods.get_opt(name)
                .await
                .unwrap()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
        },
    )
    .await
}

async fn finish(pods: &Api<Pod>, name: &str, phase: &str, message: Option<&str>) {
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": phase, "message": message}})),
    )
    .await
    .unwrap();
}

/// Binds `claim` to `volume` and deletes the claim again, so the volume is
/// released.
async fn bind_and_release(
    claims: &Api<PersistentVolumeClaim>,
    volumes: &Api<PersistentVolume>,
    claim: &str,
    volume: &str,
) {
    claims
        .create(&PostParams::default(), &claim_for(claim, volume))
        .await
        .unwrap();
    volume_in(volumes, volume, "Bound").await;
    claims
        .delete(claim, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn recycle_reclaim_policy() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &["--controllers=persistentvolume-binder"]).await;
        let volumes: Api<PersistentVolume> = Api::all(client.clone());
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let pp = PostParams::default();
        volumes
            .create(
                &pp,
                &recycled_pv(
                    "scratch",
                    "4Gi",
                    json!({"hostPath": {"path": "/tmp/corten-pv-test/scratch"}}),
                ),
            )
            .await
            .unwrap();
        volumes
            .create(
                &pp,
                &recycled_pv(
                    "disk",
                    "1Gi",
                    json!({"local": {"path": "/mnt/disk"},
                           "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                               {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}}),
                ),
            )
            .await
            .unwrap();
        volume_in(&volumes, "scratch", "Available").await;
        volume_in(&volumes, "disk", "Available").await;

        // Released: the recycler pod runs upstream's scrub on the volume.
        bind_and_release(&claims, &volumes, "first", "scratch").await;
        let pod = recycler_pod(&pods, "recycler-for-scratch").await;
        volume_in(&volumes, "scratch", "Released").await;
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        // 30 s per GiB, at least 60 s.
        assert_eq!(spec.active_deadline_seconds, Some(120));
        let volume = &spec.volumes.as_ref().unwrap()[0];
        assert_eq!(
            volume.host_path.as_ref().unwrap().path,
            "/tmp/corten-pv-test/scratch"
        );
        let container = &spec.containers[0];
        assert_eq!(container.name, "pv-recycler");
        assert_eq!(
            container.image.as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        assert_eq!(
            container.command.as_deref(),
            Some(&["/bin/sh".to_string()][..])
        );
        let script = &container.args.as_ref().unwrap()[1];
        assert!(
            script.starts_with("test -e /scrub && rm -rf /scrub/"),
            "{script}"
        );
        let mount = &container.volume_mounts.as_ref().unwrap()[0];
        assert_eq!(
            (mount.name.as_str(), mount.mount_path.as_str()),
            (volume.name.as_str(), "/scrub")
        );

        // The pod succeeds: the volume is Available again, without its claim,
        // and the pod is gone.
        finish(&pods, "recycler-for-scratch", "Succeeded", None).await;
        let available = volume_in(&volumes, "scratch", "Available").await;
        assert!(available.spec.as_ref().unwrap().claim_ref.is_none());
        assert!(
            available
                .annotations()
                .get("pv.kubernetes.io/bound-by-controller")
                .is_none()
        );
        event(&client, "scratch", "VolumeRecycled", "Volume recycled").await;
        wait_for("recycler pod deleted", Duration::from_secs(20), || async {
            pods.get_opt("recycler-for-scratch")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;

        // A failing pod: Failed with its message, then recycled again (upstream
        // retries on every sync).
        bind_and_release(&claims, &volumes, "second", "scratch").await;
        recycler_pod(&pods, "recycler-for-scratch").await;
        finish(
            &pods,
            "recycler-for-scratch",
            "Failed",
            Some("scrub went wrong"),
        )
        .await;
        let failed = volume_in(&volumes, "scratch", "Failed").await;
        assert_eq!(
            failed.status.unwrap().message.as_deref(),
            Some("Recycle failed: scrub went wrong")
        );
        event(
            &client,
            "scratch",
            "VolumeFailedRecycle",
            "Recycle failed: scrub went wrong",
        )
        .await;
        let retry = recycler_pod(&pods, "recycler-for-scratch").await;
        assert!(retry.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Failed"));
        finish(&pods, "recycler-for-scratch", "Succeeded", None).await;
        volume_in(&volumes, "scratch", "Available").await;

        // Only hostPath and nfs volumes can be recycled.
        bind_and_release(&claims, &volumes, "third", "disk").await;
        let failed = volume_in(&volumes, "disk", "Failed").await;
        assert_eq!(
            failed.status.unwrap().message.as_deref(),
            Some("No recycler plugin found for the volume!")
        );
        event(
            &client,
            "disk",
            "VolumeFailedRecycle",
            "No recycler plugin found for the volume!",
        )
        .await;
        assert!(pods.get_opt("recycler-for-disk").await.unwrap().is_none());
        manager.shutdown().await.unwrap();
    });
}
