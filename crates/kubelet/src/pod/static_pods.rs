//! Static pods from `staticPodPath` (`--pod-manifest-path`): manifests are
//! re-read every `fileCheckFrequency`; each becomes a pod named
//! `<name>-<node>` with a UID derived from its content, run like any other,
//! and mirrored to the apiserver as a mirror pod (annotation
//! `kubernetes.io/config.mirror`) so it shows up in `kubectl get pods`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, PostParams};
use sha2::{Digest, Sha256};

use super::source::MIRROR_ANNOTATION;
use crate::kubelet::Kubelet;

/// `kubernetes.io/config.source`.
pub const SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";
/// `kubernetes.io/config.hash`.
pub const HASH_ANNOTATION: &str = "kubernetes.io/config.hash";

/// Whether a pod comes from a manifest file.
pub fn is_static(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SOURCE_ANNOTATION))
        .is_some_and(|s| s == "file")
}

/// Turns a manifest into the pod the kubelet runs (upstream `applyDefaults`).
pub fn from_manifest(text: &str, node_name: &str) -> Result<Pod, String> {
    let mut pod: Pod = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let name = pod
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or("missing metadata.name")?;
    let digest = Sha256::digest(format!("{text}\nhost:{node_name}").as_bytes());
    let hash: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    pod.metadata.name = Some(format!("{name}-{node_name}"));
    pod.metadata
        .namespace
        .get_or_insert_with(|| "default".into());
    pod.metadata.uid = Some(hash.clone());
    let annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(HASH_ANNOTATION.into(), hash);
    annotations.insert(SOURCE_ANNOTATION.into(), "file".into());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some(node_name.to_string());
    // Static pods tolerate every NoExecute taint.
    spec.tolerations
        .get_or_insert_with(Vec::new)
        .push(Toleration {
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            ..Default::default()
        });
    Ok(pod)
}

fn read_dir(dir: &Path, node_name: &str) -> HashMap<String, Pod> {
    let mut pods = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return pods;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.')
            || !(name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
        {
            continue;
        }
        match std::fs::read_to_string(entry.path())
            .map_err(|e| e.to_string())
            .and_then(|t| from_manifest(&t, node_name))
        {
            Ok(pod) => {
                pods.insert(pod.metadata.uid.clone().unwrap_or_default(), pod);
            }
            Err(err) => {
                tracing::warn!(file = %entry.path().display(), error = %err, "invalid static pod manifest")
            }
        }
    }
    pods
}

async fn ensure_mirror(client: &kube::Client, pod: &Pod, node_uid: &str) {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let hash = pod.metadata.uid.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(existing)) => {
            let current = existing
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(MIRROR_ANNOTATION))
                .cloned();
            if current.as_deref() == Some(hash.as_str())
                || existing.metadata.deletion_timestamp.is_some()
            {
                return;
            }
            let _ = api.delete(name, &DeleteParams::default()).await;
        }
        Ok(None) => {}
        Err(err) => {
            tracing::debug!(error = %err, "reading mirror pod");
            return;
        }
    }
    let mut mirror = pod.clone();
    mirror.metadata.uid = None;
    mirror.metadata.resource_version = None;
    mirror.status = None;
    mirror
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(MIRROR_ANNOTATION.into(), hash);
    if !node_uid.is_empty() {
        mirror.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
            uid: node_uid.to_string(),
            controller: Some(true),
            ..Default::default()
        }]);
    }
    if let Err(err) = api.create(&PostParams::default(), &mirror).await {
        tracing::warn!(pod = %name, error = %err, "creating mirror pod");
    }
}

/// Reads the manifest directory every `period` until `shutdown`.
pub async fn run(
    kubelet: Arc<Kubelet>,
    dir: std::path::PathBuf,
    period: Duration,
    client: Option<kube::Client>,
    node_uid: tokio::sync::watch::Receiver<String>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut known: HashMap<String, Pod> = HashMap::new();
    loop {
        let node_name = kubelet.config.node_name.clone();
        let dir2 = dir.clone();
        let current = tokio::task::spawn_blocking(move || read_dir(&dir2, &node_name))
            .await
            .unwrap_or_default();
        for (uid, pod) in &current {
            if !known.contains_key(uid) {
                tracing::info!(pod = %pod.metadata.name.as_deref().unwrap_or_default(), "static pod added");
                kubelet.update_pod(pod.clone());
            }
            if let Some(client) = &client {
                let node_uid = node_uid.borrow().clone();
                ensure_mirror(client, pod, &node_uid).await;
            }
        }
        for (uid, pod) in &known {
            if !current.contains_key(uid) {
                tracing::info!(pod = %pod.metadata.name.as_deref().unwrap_or_default(), "static pod removed");
                kubelet.remove_pod(pod.clone());
                if let Some(client) = &client {
                    let api: Api<Pod> = Api::namespaced(
                        client.clone(),
                        pod.metadata.namespace.as_deref().unwrap_or("default"),
                    );
                    let name = pod.metadata.name.as_deref().unwrap_or_default();
                    let _ = api.delete(name, &DeleteParams::default()).await;
                }
            }
        }
        known = current;
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = &mut shutdown => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_defaults() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: busybox\n";
        let pod = from_manifest(text, "node-a").unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("web-node-a"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(pod.metadata.uid.as_ref().unwrap().len(), 32);
        assert!(is_static(&pod));
        assert_eq!(
            pod.spec.as_ref().unwrap().node_name.as_deref(),
            Some("node-a")
        );
        assert_eq!(
            from_manifest(text, "node-a").unwrap().metadata.uid,
            pod.metadata.uid
        );
        assert_ne!(
            from_manifest(text, "node-b").unwrap().metadata.uid,
            pod.metadata.uid
        );
        assert!(from_manifest("kind: Pod\n", "n").is_err());
    }
}
