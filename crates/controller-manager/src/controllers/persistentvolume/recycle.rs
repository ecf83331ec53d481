//! The `Recycle` reclaim policy: upstream's recycler plugins of `hostPath`
//! and `nfs` volumes (`pkg/volume/hostpath`, `pkg/volume/nfs`,
//! `recyclerclient`).
//!
//! A released volume is scrubbed by a pod named `recycler-for-<volume>`
//! made from a template (`--pv-recycler-pod-template-filepath-hostpath` /
//! `-nfs`, or upstream's default: a shell that deletes everything below
//! `/scrub` and checks it is empty), whose first volume becomes the
//! released volume mounted at `/scrub`. Its `activeDeadlineSeconds` grows
//! with the volume's size: `--pv-recycler-timeout-increment-hostpath`
//! seconds per whole GiB, at least `--pv-recycler-minimum-timeout-hostpath`
//! (the `-nfs` flags for NFS). Only these two volume types can be recycled,
//! as upstream; any other gets `VolumeFailedRecycle` "No recycler plugin
//! found for the volume!".
//!
//! This module only builds the pod (no I/O but reading a template file);
//! the binder creates it, watches it and acts on its phase.

use std::path::Path;

use corten_apimachinery::quantity::Quantity;
use k8s_openapi::api::core::v1::{
    Container, HostPathVolumeSource, NFSVolumeSource, PersistentVolume, Pod, PodSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

/// The image of the default recycler pod. Upstream uses a Debian base
/// image from registry.k8s.io; a Corten node has no registry, and the
/// busybox image `corten images build` imports has the `sh`, `rm`, `test`
/// and `ls` the script needs.
pub const DEFAULT_RECYCLER_IMAGE: &str = "docker.io/library/busybox:latest";

/// The default scrub command. Upstream's current template uses `find
/// /scrub -mindepth 1 -delete`, which Debian's busybox does not have; this
/// is upstream's earlier script, which does the same with `rm -rf`.
pub const SCRUB_SCRIPT: &str = "test -e /scrub && rm -rf /scrub/..?* /scrub/.[!.]* /scrub/*  && test -z \"$(ls -A /scrub)\" || exit 1";

/// Prefix of recycler pod names (upstream's).
pub const POD_NAME_PREFIX: &str = "recycler-for-";

/// The recycler of one volume type.
#[derive(Debug, Clone, PartialEq)]
pub struct RecyclerPlugin {
    /// The pod template (its first volume is replaced).
    pub template: Pod,
    /// Shortest `activeDeadlineSeconds`.
    pub minimum_timeout: i64,
    /// Seconds added per whole GiB of capacity.
    pub timeout_increment: i64,
}

/// The recyclers of `hostPath` and `nfs` volumes.
#[derive(Debug, Clone, PartialEq)]
pub struct RecyclerConfig {
    /// `--pv-recycler-*-hostpath`.
    pub hostpath: RecyclerPlugin,
    /// `--pv-recycler-*-nfs`.
    pub nfs: RecyclerPlugin,
}

impl Default for RecyclerConfig {
    /// Upstream's defaults: 60 s minimum for hostPath, 300 s for NFS, 30 s
    /// per GiB for both, the default template.
    fn default() -> Self {
        Self {
            hostpath: RecyclerPlugin {
                template: default_template(),
                minimum_timeout: 60,
                timeout_increment: 30,
            },
            nfs: RecyclerPlugin {
                template: default_template(),
                minimum_timeout: 300,
                timeout_increment: 30,
            },
        }
    }
}

/// Upstream `NewPersistentVolumeRecyclerPodTemplate`, with a local image.
pub fn default_template() -> Pod {
    Pod {
        metadata: ObjectMeta {
            generate_name: Some("pv-recycler-".into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            active_deadline_seconds: Some(60),
            restart_policy: Some("Never".into()),
            volumes: Some(vec![Volume {
                name: "vol".into(),
                ..Volume::default()
            }]),
            containers: vec![Container {
                name: "pv-recycler".into(),
                image: Some(DEFAULT_RECYCLER_IMAGE.into()),
                command: Some(vec!["/bin/sh".into()]),
                args: Some(vec!["-c".into(), SCRUB_SCRIPT.into()]),
                volume_mounts: Some(vec![VolumeMount {
                    name: "vol".into(),
                    mount_path: "/scrub".into(),
                    ..VolumeMount::default()
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// Upstream `AttemptToLoadRecycler`: a pod with at least one volume.
/// Upstream also reads YAML; Corten reads JSON only so far.
pub fn load_template(path: &Path) -> Result<Pod, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading recycler pod template {}: {e}", path.display()))?;
    let pod: Pod = serde_json::from_str(&text)
        .map_err(|e| format!("pod specification ({}): {e}", path.display()))?;
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .is_none_or(|v| v.is_empty())
    {
        return Err(format!(
            "pod specification ({}): does not contain any volume(s)",
            path.display()
        ));
    }
    Ok(pod)
}

/// Upstream `CalculateTimeoutForVolume`: `increment` per whole GiB of
/// `spec.capacity.storage`, at least `minimum`.
pub fn timeout_for(volume: &PersistentVolume, plugin: &RecyclerPlugin) -> i64 {
    const GIB: i64 = 1 << 30;
    let bytes = volume
        .spec
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, |q| q.value());
    (bytes / GIB)
        .saturating_mul(plugin.timeout_increment)
        .max(plugin.minimum_timeout)
}

/// Whether a recycler plugin handles this volume (`hostPath` or `nfs`).
pub fn is_recyclable(volume: &PersistentVolume) -> bool {
    volume
        .spec
        .as_ref()
        .is_some_and(|s| s.host_path.is_some() || s.nfs.is_some())
}

/// The name of the recycler pod of `volume`.
pub fn pod_name(volume: &PersistentVolume) -> String {
    format!("{POD_NAME_PREFIX}{}", volume.name_any())
}

/// The recycler pod for `volume`, or `None` when no plugin recycles its
/// type. The template's first volume becomes the released volume (its
/// path only, as upstream: no hostPath `type` check).
pub fn recycler_pod(volume: &PersistentVolume, config: &RecyclerConfig) -> Option<Pod> {
    let spec = volume.spec.as_ref()?;
    let (plugin, source) = if let Some(host_path) = &spec.host_path {
        (
            &config.hostpath,
            Volume {
                host_path: Some(HostPathVolumeSource {
                    path: host_path.path.clone(),
                    type_: None,
                }),
                ..Volume::default()
            },
        )
    } else if let Some(nfs) = &spec.nfs {
        (
            &config.nfs,
            Volume {
                nfs: Some(NFSVolumeSource {
                    server: nfs.server.clone(),
                    path: nfs.path.clone(),
                    read_only: Some(false),
                }),
                ..Volume::default()
            },
        )
    } else {
        return None;
    };
    let mut pod = plugin.template.clone();
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    pod.metadata = ObjectMeta {
        name: Some(pod_name(volume)),
        namespace: Some(namespace),
        generate_name: None,
        resource_version: None,
        uid: None,
        ..pod.metadata
    };
    pod.status = None;
    let pod_spec = pod.spec.get_or_insert_with(PodSpec::default);
    pod_spec.active_deadline_seconds = Some(timeout_for(volume, plugin));
    let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
    if volumes.is_empty() {
        volumes.push(Volume {
            name: "vol".into(),
            ..Volume::default()
        });
    }
    let name = std::mem::take(&mut volumes[0].name);
    volumes[0] = Volume { name, ..source };
    Some(pod)
}

/// What a finished recycler pod says: `Ok` when it succeeded, the failure
/// message (upstream's wording) when it failed, `None` while it runs.
pub fn outcome(pod: &Pod) -> Option<Result<(), String>> {
    let status = pod.status.as_ref()?;
    match status.phase.as_deref()? {
        "Succeeded" => Some(Ok(())),
        "Failed" => Some(Err(status
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "pod failed, pod.Status.Message unknown".into()))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn volume(source: serde_json::Value, storage: &str) -> PersistentVolume {
        let mut spec = json!({"capacity": {"storage": storage},
                              "persistentVolumeReclaimPolicy": "Recycle"});
        spec.as_object_mut()
            .unwrap()
            .extend(source.as_object().unwrap().clone());
        serde_json::from_value(json!({"metadata": {"name": "pv1"}, "spec": spec})).unwrap()
    }

    #[test]
    fn hostpath_volume_gets_the_default_scrub_pod() {
        let pv = volume(
            json!({"hostPath": {"path": "/data/pv1", "type": "Directory"}}),
            "1Gi",
        );
        let pod = recycler_pod(&pv, &RecyclerConfig::default()).unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("recycler-for-pv1"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        assert!(pod.metadata.generate_name.is_none());
        let spec = pod.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.active_deadline_seconds, Some(60));
        let volumes = spec.volumes.unwrap();
        assert_eq!(volumes.len(), 1);
        assert_eq!(volumes[0].name, "vol");
        let host_path = volumes[0].host_path.as_ref().unwrap();
        assert_eq!(host_path.path, "/data/pv1");
        assert_eq!(host_path.type_, None);
        let c = &spec.containers[0];
        assert_eq!(c.image.as_deref(), Some(DEFAULT_RECYCLER_IMAGE));
        assert_eq!(
            c.args.as_deref().unwrap(),
            ["-c".to_string(), SCRUB_SCRIPT.to_string()]
        );
        assert_eq!(c.volume_mounts.as_ref().unwrap()[0].mount_path, "/scrub");
    }

    #[test]
    fn timeouts_grow_per_gib_and_nfs_has_its_own_minimum() {
        let config = RecyclerConfig::default();
        let big = volume(json!({"hostPath": {"path": "/d"}}), "10Gi");
        assert_eq!(timeout_for(&big, &config.hostpath), 300);
        let small = volume(json!({"hostPath": {"path": "/d"}}), "100Mi");
        assert_eq!(timeout_for(&small, &config.hostpath), 60);
        let nfs = volume(json!({"nfs": {"server": "10.0.0.1", "path": "/e"}}), "5Gi");
        let pod = recycler_pod(&nfs, &config).unwrap();
        let spec = pod.spec.unwrap();
        assert_eq!(spec.active_deadline_seconds, Some(300));
        let source = spec.volumes.unwrap()[0].nfs.clone().unwrap();
        assert_eq!(
            (source.server.as_str(), source.path.as_str()),
            ("10.0.0.1", "/e")
        );
        let local = volume(json!({"local": {"path": "/mnt"}}), "1Gi");
        assert!(!is_recyclable(&local));
        assert!(recycler_pod(&local, &config).is_none());
    }

    #[test]
    fn templates_load_from_json_and_need_a_volume() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        let template = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": "kube-system"},
            "spec": {"volumes": [{"name": "scrub"}],
                     "containers": [{"name": "c", "image": "custom",
                                     "volumeMounts": [{"name": "scrub", "mountPath": "/scrub"}]}]}});
        std::fs::write(&good, template.to_string()).unwrap();
        let mut config = RecyclerConfig::default();
        config.hostpath.template = load_template(&good).unwrap();
        let pv = volume(json!({"hostPath": {"path": "/d"}}), "1Gi");
        let pod = recycler_pod(&pv, &config).unwrap();
        assert_eq!(pod.metadata.namespace.as_deref(), Some("kube-system"));
        let volumes = pod.spec.as_ref().unwrap().volumes.clone().unwrap();
        assert_eq!(volumes[0].name, "scrub");
        assert_eq!(volumes[0].host_path.as_ref().unwrap().path, "/d");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"spec": {"containers": [{"name": "c"}]}}"#).unwrap();
        let err = load_template(&bad).unwrap_err();
        assert!(err.ends_with("does not contain any volume(s)"), "{err}");
    }

    #[test]
    fn outcomes_follow_the_pod_phase() {
        let pod = |phase: &str, message: Option<&str>| -> Pod {
            serde_json::from_value(json!({"status": {"phase": phase, "message": message}})).unwrap()
        };
        assert_eq!(outcome(&pod("Running", None)), None);
        assert_eq!(outcome(&pod("Succeeded", None)), Some(Ok(())));
        assert_eq!(
            outcome(&pod("Failed", Some("deadline exceeded"))),
            Some(Err("deadline exceeded".into()))
        );
        assert_eq!(
            outcome(&pod("Failed", None)),
            Some(Err("pod failed, pod.Status.Message unknown".into()))
        );
    }
}
