//! `/metrics/cadvisor`: the container metrics upstream's kubelet serves
//! from its embedded cAdvisor, with cAdvisor's names and the kubelet's
//! labels (`container`, `id`, `image`, `name`, `namespace`, `pod`).
//!
//! Instead of watching every cgroup of the machine like cAdvisor, a scrape
//! asks the runtime which sandboxes and containers are running and reads
//! just their cgroups (and the kubepods hierarchy above them):
//!
//! | series | `id` | `container` | `name` | `image` |
//! | --- | --- | --- | --- | --- |
//! | the machine | `/` | | | |
//! | QoS levels | `<cgroupRoot>/kubepods[/burstable\|/besteffort]` | | | |
//! | a pod | `.../pod<uid>` | | | |
//! | its sandbox | `.../pod<uid>/<sandbox id>` | | sandbox id | the pause image |
//! | a container | `.../pod<uid>/<container id>` | its name | container id | its image |
//!
//! Pods, sandboxes and containers carry `namespace` and `pod`. Network
//! counters are on the sandbox (whose network namespace the pod's
//! containers share) and on `/` (the host's interfaces); filesystem usage
//! (the writable layer, from CRI stats) on containers.

pub mod cgroup;
pub mod netdev;
pub mod render;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use corten_cri::api;
use k8s_openapi::api::core::v1::Pod;

use self::cgroup::Hierarchy;
use self::render::{FsUsage, Labels, Machine, Series};
use crate::kubelet::Kubelet;
use crate::pod::labels;

/// What to read for one series.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Labels (`id` is the cgroup path).
    pub labels: Labels,
    /// Creation time in seconds (`None`: the cgroup directory's).
    pub start_time: Option<f64>,
    /// Read the network counters of the cgroup's network namespace.
    pub network: bool,
    /// Filesystem usage from the runtime.
    pub fs: Option<FsUsage>,
}

/// `a` + `/b`, without doubled slashes (`/` + `kubepods` is `/kubepods`).
fn join(parent: &str, child: &str) -> String {
    format!("{}/{}", parent.trim_end_matches('/'), child)
}

/// The pod's cgroup under `root`: the first of the per-QoS parents that
/// exists (the runtime API does not say which QoS class a pod has).
fn pod_cgroup(hierarchy: &Hierarchy, root: &str, uid: &str) -> Option<String> {
    ["kubepods", "kubepods/burstable", "kubepods/besteffort"]
        .iter()
        .map(|parent| join(&join(root, parent), &format!("pod{uid}")))
        .find(|cgroup| hierarchy.exists(cgroup))
}

/// Inputs from the runtime and the kubelet for one scrape.
pub struct Inventory<'a> {
    /// `cgroupRoot`.
    pub cgroup_root: &'a str,
    /// `cgroupsPerQOS`.
    pub per_qos: bool,
    /// The sandbox image (the `image` of sandboxes).
    pub sandbox_image: &'a str,
    /// Ready sandboxes.
    pub sandboxes: &'a [api::PodSandbox],
    /// Running containers.
    pub containers: &'a [api::Container],
    /// Pods the kubelet knows, by UID (for container images as the pod
    /// spec names them).
    pub pods: &'a HashMap<String, Pod>,
    /// Writable layer usage by container id.
    pub layer_usage: &'a HashMap<String, u64>,
    /// The image filesystem (device, size, inodes) the layers live on.
    pub image_fs: Option<FsUsage>,
}

/// The series to read, in the hierarchy `hierarchy`.
pub fn targets(hierarchy: &Hierarchy, inventory: &Inventory<'_>) -> Vec<Target> {
    let root = inventory.cgroup_root;
    let mut out = vec![Target {
        labels: Labels {
            id: "/".into(),
            ..Default::default()
        },
        start_time: boot_time(),
        network: true,
        fs: None,
    }];
    if inventory.per_qos {
        for qos in ["kubepods", "kubepods/burstable", "kubepods/besteffort"] {
            let id = join(root, qos);
            if hierarchy.exists(&id) {
                out.push(Target {
                    labels: Labels {
                        id,
                        ..Default::default()
                    },
                    start_time: None,
                    network: false,
                    fs: None,
                });
            }
        }
    }
    // Sandbox id -> (pod cgroup, namespace, pod name, uid).
    let mut pods: HashMap<&str, (String, String, String, String)> = HashMap::new();
    for sandbox in inventory.sandboxes {
        let metadata = sandbox.metadata.clone().unwrap_or_default();
        let label = |k: &str| sandbox.labels.get(k).cloned();
        let uid = label(labels::POD_UID).unwrap_or(metadata.uid);
        let namespace = label(labels::POD_NAMESPACE).unwrap_or(metadata.namespace);
        let name = label(labels::POD_NAME).unwrap_or(metadata.name);
        let parent = if inventory.per_qos {
            let Some(cgroup) = pod_cgroup(hierarchy, root, &uid) else {
                continue;
            };
            out.push(Target {
                labels: Labels {
                    id: cgroup.clone(),
                    namespace: namespace.clone(),
                    pod: name.clone(),
                    ..Default::default()
                },
                start_time: Some(sandbox.created_at as f64 / 1e9),
                network: false,
                fs: None,
            });
            cgroup
        } else {
            root.to_string()
        };
        out.push(Target {
            labels: Labels {
                id: join(&parent, &sandbox.id),
                name: sandbox.id.clone(),
                image: inventory.sandbox_image.to_string(),
                namespace: namespace.clone(),
                pod: name.clone(),
                ..Default::default()
            },
            start_time: Some(sandbox.created_at as f64 / 1e9),
            network: true,
            fs: None,
        });
        pods.insert(&sandbox.id, (parent, namespace, name, uid));
    }
    for container in inventory.containers {
        let Some((parent, namespace, pod, uid)) = pods.get(container.pod_sandbox_id.as_str())
        else {
            continue;
        };
        let name = container
            .labels
            .get(labels::CONTAINER_NAME)
            .cloned()
            .or_else(|| container.metadata.as_ref().map(|m| m.name.clone()))
            .unwrap_or_default();
        let image = inventory
            .pods
            .get(uid)
            .and_then(|p| p.spec.as_ref())
            .and_then(|spec| {
                spec.containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
                    .find(|c| c.name == name)
                    .and_then(|c| c.image.clone())
            })
            .or_else(|| container.image.as_ref().map(|i| i.image.clone()))
            .unwrap_or_default();
        let fs = inventory.image_fs.clone().map(|fs| FsUsage {
            usage: inventory
                .layer_usage
                .get(&container.id)
                .copied()
                .unwrap_or(0),
            ..fs
        });
        out.push(Target {
            labels: Labels {
                id: join(parent, &container.id),
                name: container.id.clone(),
                image,
                container: name,
                namespace: namespace.clone(),
                pod: pod.clone(),
            },
            start_time: Some(container.created_at as f64 / 1e9),
            network: false,
            fs,
        });
    }
    out
}

/// Reads every target (blocking: many small files).
pub fn read(hierarchy: &Hierarchy, targets: Vec<Target>) -> Vec<Series> {
    targets
        .into_iter()
        .filter_map(|target| {
            let id = target.labels.id.clone();
            let stats = hierarchy.read(&id);
            // A cgroup that is gone (the container just exited) is left
            // out, as cAdvisor does; `/` is always reported.
            if stats.is_none() && id != "/" {
                return None;
            }
            let network = if !target.network {
                Vec::new()
            } else if id == "/" {
                netdev::of_host()
            } else {
                hierarchy
                    .process(&id)
                    .and_then(netdev::of_process)
                    .unwrap_or_default()
            };
            let start_time = target.start_time.unwrap_or_else(|| {
                hierarchy
                    .dir(&id)
                    .and_then(|d| std::fs::metadata(d).ok())
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0.0, |d| d.as_secs() as f64)
            });
            Some(Series {
                labels: target.labels,
                start_time,
                stats,
                network,
                fs: target.fs,
            })
        })
        .collect()
}

/// When the machine booted (`btime` of /proc/stat).
fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Physical cores and sockets from /proc/cpuinfo (`None` when it does
/// not say, as in some VMs).
fn cpu_topology() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mut cores = std::collections::BTreeSet::new();
    let mut sockets = std::collections::BTreeSet::new();
    let mut socket = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "physical id" => {
                socket = Some(value.trim().to_string());
                sockets.insert(value.trim().to_string());
            }
            "core id" => {
                cores.insert((socket.clone(), value.trim().to_string()));
            }
            _ => {}
        }
    }
    (!cores.is_empty()).then(|| (cores.len() as u64, sockets.len().max(1) as u64))
}

/// The device and size of the filesystem holding `path`
/// (`/proc/self/mountinfo` and statvfs).
fn filesystem(path: &Path) -> Option<FsUsage> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let device = mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let point = mount.split_whitespace().nth(4)?;
            let source = fs.split_whitespace().nth(1)?;
            path.starts_with(point)
                .then(|| (point.len(), source.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, source)| source)?;
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    Some(FsUsage {
        device,
        usage: 0,
        limit: stat.blocks() * stat.fragment_size(),
        inodes: stat.files(),
        inodes_free: stat.files_available(),
    })
}

fn hierarchy() -> &'static Hierarchy {
    static HIERARCHY: OnceLock<Hierarchy> = OnceLock::new();
    HIERARCHY.get_or_init(Hierarchy::detect)
}

/// `/metrics/cadvisor` of `kubelet` now.
pub async fn cadvisor_metrics(kubelet: &Kubelet) -> String {
    let runtime = &kubelet.runtime;
    let sandboxes = runtime.list_pod_sandbox(None).await;
    let containers = runtime.list_containers(None).await;
    let failed = sandboxes.is_err() || containers.is_err();
    if let Err(err) = sandboxes.as_ref().and(containers.as_ref()) {
        tracing::warn!(error = %err, "listing sandboxes and containers for /metrics/cadvisor");
    }
    let sandboxes: Vec<api::PodSandbox> = sandboxes
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.state == api::PodSandboxState::SandboxReady as i32)
        .collect();
    let containers: Vec<api::Container> = containers
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.state == api::ContainerState::ContainerRunning as i32)
        .collect();
    let layer_usage: HashMap<String, u64> = runtime
        .list_container_stats(None)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| {
            let id = s.attributes?.id;
            let used = s.writable_layer?.used_bytes?.value;
            Some((id, used))
        })
        .collect();
    let image_fs_path = runtime
        .image_fs_info()
        .await
        .ok()
        .and_then(|info| info.image_filesystems.into_iter().next())
        .and_then(|fs| fs.fs_id)
        .map(|id| std::path::PathBuf::from(id.mountpoint))
        .filter(|p| !p.as_os_str().is_empty());
    let pods: HashMap<String, Pod> = kubelet
        .known_pods()
        .into_iter()
        .filter_map(|p| Some((p.metadata.uid.clone()?, p)))
        .collect();
    let file = &kubelet.config.file;
    let cgroup_root = file.cgroup_root.clone().unwrap_or_else(|| "/".into());
    let per_qos = file.cgroups_per_qos.unwrap_or(true);
    let sandbox_image = kubelet.config.pod_infra_container_image.clone();
    let info = &kubelet.machine;
    let (physical_cores, sockets) = cpu_topology().unwrap_or((info.cpus, 1));
    let machine = Machine {
        cores: info.cpus,
        physical_cores,
        sockets,
        memory_bytes: info.memory_bytes,
        machine_id: info.machine_id.clone(),
        system_uuid: info.system_uuid.clone(),
        boot_id: info.boot_id.clone(),
    };
    let series = tokio::task::spawn_blocking(move || {
        let hierarchy = hierarchy();
        let image_fs = image_fs_path.as_deref().and_then(filesystem);
        let inventory = Inventory {
            cgroup_root: &cgroup_root,
            per_qos,
            sandbox_image: &sandbox_image,
            sandboxes: &sandboxes,
            containers: &containers,
            pods: &pods,
            layer_usage: &layer_usage,
            image_fs,
        };
        read(hierarchy, targets(hierarchy, &inventory))
    })
    .await
    .unwrap_or_default();
    render::render(
        &machine,
        &series,
        failed,
        jiff::Timestamp::now().as_millisecond(),
    )
}

#[cfg(test)]
mod tests;
