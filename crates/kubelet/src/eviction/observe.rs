//! What the eviction manager observes: the signals of the machine and the
//! usage of each pod. Behind the [`Observer`] trait so tests (and simulated
//! nodes) can make pressure up deterministically; [`MachineObserver`] reads
//! the real machine (cgroup memory, statvfs, the pid limit) and CRI stats.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use corten_cri::Runtime;

use super::threshold::{Observation, Observations, Signal};
use crate::pod::labels;

/// One container's usage.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ContainerUsage {
    /// Memory working set in bytes.
    pub memory: i64,
    /// Bytes of its writable layer.
    pub rootfs: i64,
    /// Inodes of its writable layer.
    pub rootfs_inodes: i64,
}

/// A pod's usage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodUsage {
    /// By container name.
    pub containers: BTreeMap<String, ContainerUsage>,
    /// Bytes of its logs and emptyDir volumes (on the node filesystem).
    pub local_bytes: i64,
    /// Inodes of its logs and emptyDir volumes.
    pub local_inodes: i64,
    /// Processes (threads) in its cgroup.
    pub processes: i64,
}

impl PodUsage {
    /// Memory working set of the whole pod.
    pub fn memory(&self) -> i64 {
        self.containers.values().map(|c| c.memory).sum()
    }

    /// Bytes the pod uses on the node's filesystems.
    pub fn disk(&self) -> i64 {
        self.containers.values().map(|c| c.rootfs).sum::<i64>() + self.local_bytes
    }

    /// Inodes the pod uses.
    pub fn inodes(&self) -> i64 {
        self.containers
            .values()
            .map(|c| c.rootfs_inodes)
            .sum::<i64>()
            + self.local_inodes
    }
}

/// One observation of the node and its pods.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// The signals.
    pub node: Observations,
    /// Usage by pod UID.
    pub pods: HashMap<String, PodUsage>,
}

/// Source of [`Stats`].
#[async_trait]
pub trait Observer: Send + Sync {
    /// Observes the node now.
    async fn observe(&self) -> Stats;
}

/// Observes nothing: no signal, so no threshold is ever met (simulated
/// nodes, whose pods use nothing of the machine they run on).
#[derive(Debug, Clone, Copy, Default)]
pub struct NothingObserved;

#[async_trait]
impl Observer for NothingObserved {
    async fn observe(&self) -> Stats {
        Stats::default()
    }
}

/// The real machine.
pub struct MachineObserver {
    runtime: Arc<dyn Runtime>,
    root_dir: PathBuf,
    pod_logs_dir: PathBuf,
    cgroup_root: String,
    memory_capacity: i64,
}

impl std::fmt::Debug for MachineObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineObserver")
            .field("root_dir", &self.root_dir)
            .finish_non_exhaustive()
    }
}

fn read_u64(path: impl AsRef<Path>) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn stat_field(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn meminfo_kib(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The node's memory working set as upstream computes it from the root
/// cgroup (usage minus inactive file pages); `/proc/meminfo` when the
/// cgroup v1 memory controller is not mounted (cgroup v2's root has no
/// usage file).
fn memory_working_set(capacity: i64) -> i64 {
    let v1 = "/sys/fs/cgroup/memory";
    if let Some(usage) = read_u64(format!("{v1}/memory.usage_in_bytes")) {
        let inactive = stat_field(&format!("{v1}/memory.stat"), "total_inactive_file").unwrap_or(0);
        return usage.saturating_sub(inactive) as i64;
    }
    let total = meminfo_kib("MemTotal").unwrap_or(0) * 1024;
    let available = meminfo_kib("MemAvailable").unwrap_or(0) * 1024;
    (total.saturating_sub(available) as i64).min(capacity)
}

fn statvfs_observations(path: &Path) -> Option<(Observation, Observation)> {
    let mut dir = path;
    let stat = loop {
        if let Ok(s) = nix::sys::statvfs::statvfs(dir) {
            break s;
        }
        dir = dir.parent()?;
    };
    let bytes = Observation {
        available: (stat.blocks_available() * stat.fragment_size()) as i64,
        capacity: (stat.blocks() * stat.fragment_size()) as i64,
    };
    let inodes = Observation {
        available: stat.files_available() as i64,
        capacity: stat.files() as i64,
    };
    Some((bytes, inodes))
}

/// `pid.available` from the pid limit and the number of threads, as
/// upstream's `pidlimit` stats (`min(pid_max, threads-max)` and the
/// scheduling entities of `/proc/loadavg`).
fn pid_observation() -> Option<Observation> {
    let pid_max = read_u64("/proc/sys/kernel/pid_max")?;
    let threads_max = read_u64("/proc/sys/kernel/threads-max").unwrap_or(pid_max);
    let limit = pid_max.min(threads_max) as i64;
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let running: i64 = loadavg
        .split_whitespace()
        .nth(3)?
        .split_once('/')?
        .1
        .parse()
        .ok()?;
    Some(Observation {
        available: limit - running,
        capacity: limit,
    })
}

/// Bytes and inodes under `dir` (not following symlinks or crossing into
/// other filesystems' mount points is not checked: pod dirs are small).
fn du(dir: &Path) -> (i64, i64) {
    let mut bytes = 0i64;
    let mut inodes = 0i64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            inodes += 1;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                bytes += meta.len() as i64;
            }
        }
    }
    (bytes, inodes)
}

impl MachineObserver {
    /// Observes the machine the kubelet runs on.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        root_dir: &Path,
        pod_logs_dir: &Path,
        cgroup_root: &str,
        memory_capacity: i64,
    ) -> Self {
        Self {
            runtime,
            root_dir: root_dir.to_path_buf(),
            pod_logs_dir: pod_logs_dir.to_path_buf(),
            cgroup_root: cgroup_root.trim_end_matches('/').to_string(),
            memory_capacity,
        }
    }

    async fn image_fs_path(&self) -> Option<PathBuf> {
        let info = self.runtime.image_fs_info().await.ok()?;
        let mount = info
            .image_filesystems
            .first()?
            .fs_id
            .as_ref()?
            .mountpoint
            .clone();
        (!mount.is_empty()).then(|| PathBuf::from(mount))
    }

    fn pod_processes(&self, uid: &str) -> i64 {
        // cgroup v1 pids controller; per-QoS parents are tried in turn.
        let base = format!("/sys/fs/cgroup/pids{}/kubepods", self.cgroup_root);
        ["", "/burstable", "/besteffort"]
            .iter()
            .find_map(|qos| read_u64(format!("{base}{qos}/pod{uid}/pids.current")))
            .unwrap_or(0) as i64
    }
}

#[async_trait]
impl Observer for MachineObserver {
    async fn observe(&self) -> Stats {
        let mut node = Observations::new();
        node.insert(
            Signal::MemoryAvailable,
            Observation {
                available: (self.memory_capacity - memory_working_set(self.memory_capacity)).max(0),
                capacity: self.memory_capacity,
            },
        );
        if let Some((bytes, inodes)) = statvfs_observations(&self.root_dir) {
            node.insert(Signal::NodeFsAvailable, bytes);
            node.insert(Signal::NodeFsInodesFree, inodes);
        }
        if let Some((bytes, inodes)) = self
            .image_fs_path()
            .await
            .and_then(|p| statvfs_observations(&p))
        {
            node.insert(Signal::ImageFsAvailable, bytes);
            node.insert(Signal::ImageFsInodesFree, inodes);
        }
        if let Some(pids) = pid_observation() {
            node.insert(Signal::PidAvailable, pids);
        }
        let mut pods: HashMap<String, PodUsage> = HashMap::new();
        for stat in self
            .runtime
            .list_container_stats(None)
            .await
            .unwrap_or_default()
        {
            let Some(attributes) = &stat.attributes else {
                continue;
            };
            let Some(uid) = attributes.labels.get(labels::POD_UID) else {
                continue;
            };
            let name = attributes
                .labels
                .get(labels::CONTAINER_NAME)
                .cloned()
                .unwrap_or_default();
            let value = |v: Option<&corten_cri::api::UInt64Value>| {
                v.map_or(0, |v| i64::try_from(v.value).unwrap_or(i64::MAX))
            };
            let usage = ContainerUsage {
                memory: value(
                    stat.memory
                        .as_ref()
                        .and_then(|m| m.working_set_bytes.as_ref()),
                ),
                rootfs: value(
                    stat.writable_layer
                        .as_ref()
                        .and_then(|f| f.used_bytes.as_ref()),
                ),
                rootfs_inodes: value(
                    stat.writable_layer
                        .as_ref()
                        .and_then(|f| f.inodes_used.as_ref()),
                ),
            };
            pods.entry(uid.clone())
                .or_default()
                .containers
                .insert(name, usage);
        }
        let root_dir = self.root_dir.clone();
        let logs_dir = self.pod_logs_dir.clone();
        let uids: Vec<String> = pods.keys().cloned().collect();
        // Walking directories blocks: off the async threads.
        let local = tokio::task::spawn_blocking(move || {
            uids.into_iter()
                .map(|uid| {
                    let (vb, vi) = du(&root_dir
                        .join("pods")
                        .join(&uid)
                        .join("volumes/kubernetes.io~empty-dir"));
                    let logs = std::fs::read_dir(&logs_dir)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .find(|e| {
                            e.file_name()
                                .to_string_lossy()
                                .ends_with(&format!("_{uid}"))
                        })
                        .map(|e| du(&e.path()))
                        .unwrap_or((0, 0));
                    (uid, vb + logs.0, vi + logs.1)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (uid, bytes, inodes) in local {
            let processes = self.pod_processes(&uid);
            if let Some(p) = pods.get_mut(&uid) {
                p.local_bytes = bytes;
                p.local_inodes = inodes;
                p.processes = processes;
            }
        }
        Stats { node, pods }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn observes_this_machine() {
        let runtime = Arc::new(corten_cri::fake::FakeRuntime::new());
        let dir = tempfile::tempdir().unwrap();
        let capacity = crate::node::machine::MachineInfo::read(dir.path()).memory_bytes as i64;
        let observer = MachineObserver::new(runtime, dir.path(), dir.path(), "/", capacity);
        let stats = observer.observe().await;
        let memory = stats.node[&Signal::MemoryAvailable];
        assert_eq!(memory.capacity, capacity);
        assert!(memory.available > 0 && memory.available <= memory.capacity);
        let nodefs = stats.node[&Signal::NodeFsAvailable];
        assert!(nodefs.available > 0 && nodefs.available <= nodefs.capacity);
        assert!(stats.node[&Signal::NodeFsInodesFree].capacity > 0);
        let pids = stats.node[&Signal::PidAvailable];
        assert!(pids.available > 0 && pids.available < pids.capacity);
        // The fake's image filesystem (/var/lib/fake) resolves to an existing ancestor.
        assert!(stats.node.contains_key(&Signal::ImageFsAvailable));
    }
}
