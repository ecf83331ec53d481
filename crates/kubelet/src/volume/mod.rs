//! Pod volumes: emptyDir (disk or Memory), configMap, secret, downwardAPI,
//! projected (configMap, secret, downwardAPI, serviceAccountToken),
//! hostPath (with type checks) and persistentVolumeClaim bound to hostPath
//! or local volumes.
//!
//! Layout as upstream: `<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>`.
//! Content volumes are re-projected on every pod sync through the
//! [`atomic_writer`], so updates of ConfigMaps and Secrets reach running
//! containers atomically (the `..data` symlink swap). Secret volumes and
//! `medium: Memory` emptyDirs are tmpfs mounts. With a pod `fsGroup`, content
//! volumes and new emptyDirs belong to that group (`ownership.rs`).

pub mod atomic_writer;
mod host_path;
mod mounts;
mod ownership;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{
    ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, Volume, VolumeProjection,
};

use crate::pod::downward::{RuntimeFacts, field_value, resource_value};
use crate::pod::objects::ObjectGetter;
use atomic_writer::FileProjection;

pub use mounts::{is_mount_point, unmount_all_below};

/// A volume failed to set up; the text is upstream's FailedMount message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
pub struct VolumeError {
    /// The volume.
    pub volume: String,
    /// What went wrong.
    pub message: String,
}

/// Where a volume is on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeInfo {
    /// Host path to bind-mount.
    pub host_path: PathBuf,
    /// The plugin forces read-only (configMap, secret, downwardAPI, projected).
    pub read_only: bool,
}

const DEFAULT_MODE: i32 = 0o644;

struct CachedToken {
    token: String,
    refresh_at: jiff::Timestamp,
}

/// Sets up and tears down pod volumes.
pub struct VolumeManager {
    root_dir: PathBuf,
    objects: Arc<dyn ObjectGetter>,
    tokens: Mutex<HashMap<String, CachedToken>>,
    /// Whether secret, projected and `medium: Memory` volumes are tmpfs
    /// mounts (false for simulated nodes, which must not mount anything).
    memory_backed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for VolumeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeManager")
            .field("root_dir", &self.root_dir)
            .finish_non_exhaustive()
    }
}

fn err(volume: &str, message: impl Into<String>) -> VolumeError {
    VolumeError {
        volume: volume.to_string(),
        message: message.into(),
    }
}

/// The pod's `fsGroup` as a group id (negative or oversized ones are
/// rejected by validation; ignored here).
fn fs_group(pod: &Pod) -> Option<u32> {
    pod.spec
        .as_ref()?
        .security_context
        .as_ref()?
        .fs_group
        .and_then(|g| u32::try_from(g).ok())
}

fn mode_of(item_mode: Option<i32>, default_mode: Option<i32>) -> u32 {
    (item_mode.or(default_mode).unwrap_or(DEFAULT_MODE) & 0o777) as u32
}

fn config_map_payload(
    cm: &ConfigMap,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
    out: &mut BTreeMap<String, FileProjection>,
) -> Result<(), String> {
    let mut all: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in cm.data.iter().flatten() {
        all.insert(k.clone(), v.clone().into_bytes());
    }
    for (k, v) in cm.binary_data.iter().flatten() {
        all.insert(k.clone(), v.0.clone());
    }
    key_payload(
        &all,
        items,
        default_mode,
        optional,
        "configmap references non-existent config key",
        out,
    )
}

fn secret_payload(
    secret: &Secret,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
    out: &mut BTreeMap<String, FileProjection>,
) -> Result<(), String> {
    let mut all: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in secret.data.iter().flatten() {
        all.insert(k.clone(), v.0.clone());
    }
    for (k, v) in secret.string_data.iter().flatten() {
        all.insert(k.clone(), v.clone().into_bytes());
    }
    key_payload(
        &all,
        items,
        default_mode,
        optional,
        "references non-existent secret key",
        out,
    )
}

fn key_payload(
    all: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
    missing_key: &str,
    out: &mut BTreeMap<String, FileProjection>,
) -> Result<(), String> {
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in all {
                out.insert(
                    k.clone(),
                    FileProjection {
                        data: v.clone(),
                        mode: mode_of(None, default_mode),
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                match all.get(&item.key) {
                    Some(v) => {
                        out.insert(
                            item.path.clone(),
                            FileProjection {
                                data: v.clone(),
                                mode: mode_of(item.mode, default_mode),
                            },
                        );
                    }
                    None if optional => {}
                    None => {
                        // Upstream's wording differs between the two plugins.
                        return Err(format!("{missing_key}: {}", item.key));
                    }
                }
            }
        }
    }
    Ok(())
}

fn downward_payload(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
    facts: &RuntimeFacts,
    out: &mut BTreeMap<String, FileProjection>,
) -> Result<(), String> {
    for item in items {
        let value = if let Some(field) = &item.field_ref {
            field_value(pod, field, facts, true)?
        } else if let Some(resource) = &item.resource_field_ref {
            let name = resource.container_name.as_deref().unwrap_or_default();
            let container = pod
                .spec
                .iter()
                .flat_map(|s| {
                    s.containers
                        .iter()
                        .chain(s.init_containers.iter().flatten())
                })
                .find(|c| c.name == name)
                .ok_or_else(|| format!("cannot find container {name:?} for resourceFieldRef"))?;
            resource_value(container, resource, facts)?
        } else {
            String::new()
        };
        out.insert(
            item.path.clone(),
            FileProjection {
                data: value.into_bytes(),
                mode: mode_of(item.mode, default_mode),
            },
        );
    }
    Ok(())
}

impl VolumeManager {
    /// A manager for pods under `<root_dir>/pods`.
    pub fn new(root_dir: &Path, objects: Arc<dyn ObjectGetter>) -> Self {
        Self {
            root_dir: root_dir.to_path_buf(),
            objects,
            tokens: Mutex::new(HashMap::new()),
            memory_backed: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Turns tmpfs mounts on or off (simulated nodes write plain files).
    pub fn set_memory_backed(&self, on: bool) {
        self.memory_backed
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn mounts_tmpfs(&self) -> bool {
        self.memory_backed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `<root>/pods/<uid>`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.root_dir.join("pods").join(uid)
    }

    fn volume_dir(&self, uid: &str, plugin: &str, name: &str) -> PathBuf {
        self.pod_dir(uid)
            .join("volumes")
            .join(format!("kubernetes.io~{plugin}"))
            .join(name)
    }

    /// Sets up (or refreshes) every volume of `pod`.
    pub async fn setup(
        &self,
        pod: &Pod,
        facts: &RuntimeFacts,
    ) -> Result<HashMap<String, VolumeInfo>, VolumeError> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let mut volumes = HashMap::new();
        for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let info = match self.setup_one(pod, uid, volume, facts).await {
                Ok(info) => info,
                // Like upstream's remount: a content volume that was set up
                // once keeps its last content when a refresh fails (its
                // ConfigMap deleted, the apiserver away), so a running pod
                // goes on being synced. Only the first setup blocks the pod.
                Err(error) => match self.populated(uid, volume) {
                    Some(info) => {
                        tracing::warn!(%error, "keeping the volume's last content");
                        info
                    }
                    None => return Err(error),
                },
            };
            volumes.insert(volume.name.clone(), info);
        }
        Ok(volumes)
    }

    /// A content volume (configMap, secret, downwardAPI, projected) that
    /// already holds a projected version.
    fn populated(&self, uid: &str, volume: &Volume) -> Option<VolumeInfo> {
        let plugin = if volume.config_map.is_some() {
            "configmap"
        } else if volume.secret.is_some() {
            "secret"
        } else if volume.downward_api.is_some() {
            "downward-api"
        } else if volume.projected.is_some() {
            "projected"
        } else {
            return None;
        };
        let dir = self.volume_dir(uid, plugin, &volume.name);
        atomic_writer::has_version(&dir).then_some(VolumeInfo {
            host_path: dir,
            read_only: true,
        })
    }

    async fn setup_one(
        &self,
        pod: &Pod,
        uid: &str,
        volume: &Volume,
        facts: &RuntimeFacts,
    ) -> Result<VolumeInfo, VolumeError> {
        let name = volume.name.as_str();
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let io = |e: std::io::Error| err(name, e.to_string());
        let fs_group = fs_group(pod);
        if let Some(host) = &volume.host_path {
            host_path::check(&host.path, host.type_.as_deref()).map_err(|m| err(name, m))?;
            return Ok(VolumeInfo {
                host_path: PathBuf::from(&host.path),
                read_only: false,
            });
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            let path = self
                .objects
                .claim_host_path(namespace, &claim.claim_name)
                .await
                .map_err(|m| err(name, m))?;
            std::fs::create_dir_all(&path).map_err(io)?;
            return Ok(VolumeInfo {
                host_path: path,
                read_only: claim.read_only.unwrap_or(false),
            });
        }
        if let Some(empty) = &volume.empty_dir {
            let dir = self.volume_dir(uid, "empty-dir", name);
            // Set up once, like upstream's emptyDir (its setup marker):
            // later syncs must not reset what the pod did with the mode.
            let mut fresh = !dir.is_dir();
            mounts::ensure_dir(&dir, 0o777).map_err(io)?;
            if empty.medium.as_deref() == Some("Memory") && self.mounts_tmpfs() {
                fresh |= !mounts::is_mount_point(&dir);
                let size = empty.size_limit.as_ref().map(|q| q.0.clone());
                mounts::ensure_tmpfs(&dir, size.as_deref()).map_err(io)?;
            }
            if fresh {
                // The tmpfs root comes up 1777 and mkdir obeys the umask.
                mounts::chmod(&dir, 0o777).map_err(io)?;
                if let Some(gid) = fs_group {
                    ownership::apply(&dir, gid, false).map_err(io)?;
                }
            }
            return Ok(VolumeInfo {
                host_path: dir,
                read_only: false,
            });
        }
        let mut payload = BTreeMap::new();
        let (plugin, tmpfs) = if let Some(source) = &volume.config_map {
            let optional = source.optional.unwrap_or(false);
            match self
                .objects
                .config_map(namespace, &source.name)
                .await
                .map_err(|m| err(name, m))?
            {
                Some(cm) => config_map_payload(
                    &cm,
                    source.items.as_ref(),
                    source.default_mode,
                    optional,
                    &mut payload,
                )
                .map_err(|m| err(name, m))?,
                None if optional => {}
                None => {
                    return Err(err(
                        name,
                        format!("configmap \"{}\" not found", source.name),
                    ));
                }
            }
            ("configmap", false)
        } else if let Some(source) = &volume.secret {
            let secret_name = source.secret_name.clone().unwrap_or_default();
            let optional = source.optional.unwrap_or(false);
            match self
                .objects
                .secret(namespace, &secret_name)
                .await
                .map_err(|m| err(name, m))?
            {
                Some(secret) => secret_payload(
                    &secret,
                    source.items.as_ref(),
                    source.default_mode,
                    optional,
                    &mut payload,
                )
                .map_err(|m| err(name, m))?,
                None if optional => {}
                None => return Err(err(name, format!("secret \"{secret_name}\" not found"))),
            }
            ("secret", true)
        } else if let Some(source) = &volume.downward_api {
            downward_payload(
                pod,
                source.items.as_deref().unwrap_or_default(),
                source.default_mode,
                facts,
                &mut payload,
            )
            .map_err(|m| err(name, m))?;
            ("downward-api", false)
        } else if let Some(source) = &volume.projected {
            for projection in source.sources.iter().flatten() {
                self.projection(
                    pod,
                    name,
                    projection,
                    source.default_mode,
                    facts,
                    &mut payload,
                )
                .await
                .map_err(|m| err(name, m))?;
            }
            ("projected", false)
        } else {
            return Err(err(
                name,
                "unsupported volume type (supported: emptyDir, configMap, secret, downwardAPI, projected, hostPath, persistentVolumeClaim)",
            ));
        };
        let dir = self.volume_dir(uid, plugin, name);
        mounts::ensure_dir(&dir, 0o755).map_err(io)?;
        if tmpfs && self.mounts_tmpfs() {
            mounts::ensure_tmpfs(&dir, None).map_err(io)?;
        }
        if fs_group.is_some() {
            // Written with the modes fsGroup leads to, so an unchanged
            // payload still compares equal to what is on disk.
            for file in payload.values_mut() {
                file.mode = ownership::file_mode(file.mode, true);
            }
        }
        let changed = atomic_writer::write(&dir, &payload).map_err(io)?;
        if changed && let Some(gid) = fs_group {
            ownership::apply(&dir, gid, true).map_err(io)?;
        }
        Ok(VolumeInfo {
            host_path: dir,
            read_only: true,
        })
    }

    async fn projection(
        &self,
        pod: &Pod,
        volume: &str,
        projection: &VolumeProjection,
        default_mode: Option<i32>,
        facts: &RuntimeFacts,
        payload: &mut BTreeMap<String, FileProjection>,
    ) -> Result<(), String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        if let Some(source) = &projection.config_map {
            let optional = source.optional.unwrap_or(false);
            match self.objects.config_map(namespace, &source.name).await? {
                Some(cm) => {
                    config_map_payload(&cm, source.items.as_ref(), default_mode, optional, payload)?
                }
                None if optional => {}
                None => return Err(format!("configmap \"{}\" not found", source.name)),
            }
        }
        if let Some(source) = &projection.secret {
            let optional = source.optional.unwrap_or(false);
            match self.objects.secret(namespace, &source.name).await? {
                Some(secret) => secret_payload(
                    &secret,
                    source.items.as_ref(),
                    default_mode,
                    optional,
                    payload,
                )?,
                None if optional => {}
                None => return Err(format!("secret \"{}\" not found", source.name)),
            }
        }
        if let Some(source) = &projection.downward_api {
            downward_payload(
                pod,
                source.items.as_deref().unwrap_or_default(),
                default_mode,
                facts,
                payload,
            )?;
        }
        if let Some(source) = &projection.service_account_token {
            let token = self.token(pod, volume, source).await?;
            payload.insert(
                source.path.clone(),
                FileProjection {
                    data: token.into_bytes(),
                    mode: mode_of(None, default_mode),
                },
            );
        }
        if let Some(source) = &projection.cluster_trust_bundle
            && !source.optional.unwrap_or(false)
        {
            return Err("clusterTrustBundle projections are not supported yet".into());
        }
        Ok(())
    }

    /// A token from the cache, or a fresh one when 80% of its lifetime (at
    /// most 24h) has passed, as upstream's token manager does.
    async fn token(
        &self,
        pod: &Pod,
        volume: &str,
        source: &k8s_openapi::api::core::v1::ServiceAccountTokenProjection,
    ) -> Result<String, String> {
        let key = format!(
            "{}/{volume}/{}",
            pod.metadata.uid.as_deref().unwrap_or_default(),
            source.path
        );
        let now = jiff::Timestamp::now();
        if let Some(cached) = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && now < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let expiration = source.expiration_seconds.unwrap_or(3600).max(600);
        let audiences = source
            .audience
            .clone()
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let (token, expiry) = self
            .objects
            .service_account_token(pod, audiences, expiration)
            .await?;
        let ttl = (expiry.as_second() - now.as_second()).max(0);
        let refresh_after = (ttl * 8 / 10).min(24 * 3600);
        let refresh_at = now
            .checked_add(jiff::SignedDuration::from_secs(refresh_after))
            .unwrap_or(now);
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                key,
                CachedToken {
                    token: token.clone(),
                    refresh_at,
                },
            );
        Ok(token)
    }

    /// Unmounts and removes everything of the pod under the root dir.
    /// Refuses to delete files when something below is still mounted.
    pub fn teardown(&self, uid: &str) -> std::io::Result<()> {
        let dir = self.pod_dir(uid);
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| !k.starts_with(&format!("{uid}/")));
        if !dir.exists() {
            return Ok(());
        }
        let remaining = unmount_all_below(&dir);
        if remaining > 0 {
            return Err(std::io::Error::other(format!(
                "{remaining} mount(s) below {} could not be unmounted",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(&dir)
    }

    /// UIDs with a pod directory.
    pub fn pod_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.root_dir.join("pods"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
