//! What the node reports about the machine: capacity (cpu, memory, pods,
//! ephemeral-storage, hugepages), system info, and the usage numbers the
//! pressure conditions are computed from. Read from /proc, /sys and statvfs,
//! behind the [`MachineInfo`] snapshot so tests and simulated nodes can make
//! one up.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A snapshot of the machine.
#[derive(Clone, Debug, PartialEq)]
pub struct MachineInfo {
    /// Logical CPUs.
    pub cpus: u64,
    /// Physical memory in bytes.
    pub memory_bytes: u64,
    /// Size of the filesystem holding the kubelet's root dir, in bytes.
    pub root_fs_bytes: u64,
    /// Hugepage pools: page size in bytes -> total bytes.
    pub hugepages: BTreeMap<u64, u64>,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// `/sys/class/dmi/id/product_uuid` (empty if unreadable).
    pub system_uuid: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
    /// `uname -r`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of /etc/os-release.
    pub os_image: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
}

/// Usage numbers for the eviction signals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineUsage {
    /// `memory.available` (bytes): MemAvailable.
    pub memory_available: u64,
    /// `nodefs.available` (bytes) on the root dir's filesystem.
    pub nodefs_available: u64,
    /// `nodefs.inodesFree`.
    pub nodefs_inodes_free: u64,
    /// Total inodes of the root dir's filesystem.
    pub nodefs_inodes: u64,
    /// Processes running.
    pub processes: u64,
    /// `kernel.pid_max`.
    pub pid_max: u64,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn meminfo_kib(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse::<u64>().ok()
    })
}

fn cpu_count() -> u64 {
    // Count "processor" entries like cadvisor, falling back to the
    // scheduler's view.
    let from_cpuinfo = std::fs::read_to_string("/proc/cpuinfo")
        .map(|t| t.lines().filter(|l| l.starts_with("processor")).count() as u64)
        .unwrap_or(0);
    if from_cpuinfo > 0 {
        return from_cpuinfo;
    }
    std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1)
}

fn hugepages() -> BTreeMap<u64, u64> {
    let mut pools = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return pools;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(kib) = name
            .strip_prefix("hugepages-")
            .and_then(|s| s.strip_suffix("kB"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let count = std::fs::read_to_string(entry.path().join("nr_hugepages"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        pools.insert(kib * 1024, kib * 1024 * count);
    }
    pools
}

fn os_image() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn statvfs(path: &Path) -> Option<nix::sys::statvfs::Statvfs> {
    // The root dir may not exist yet: walk up to an existing ancestor.
    let mut dir = path;
    loop {
        if let Ok(stat) = nix::sys::statvfs::statvfs(dir) {
            return Some(stat);
        }
        dir = dir.parent()?;
    }
}

impl MachineInfo {
    /// Reads the machine; `root_dir` selects the filesystem for ephemeral-storage.
    pub fn read(root_dir: &Path) -> Self {
        let root_fs_bytes = statvfs(root_dir)
            .map(|s| s.blocks() * s.fragment_size())
            .unwrap_or(0);
        Self {
            cpus: cpu_count(),
            memory_bytes: meminfo_kib("MemTotal").unwrap_or(0) * 1024,
            root_fs_bytes,
            hugepages: hugepages(),
            machine_id: read("/etc/machine-id"),
            system_uuid: read("/sys/class/dmi/id/product_uuid"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            kernel_version: read("/proc/sys/kernel/osrelease"),
            os_image: os_image(),
            architecture: corten_cri::image_layout::host_architecture().to_string(),
        }
    }

    /// A made-up machine for a simulated node: `cpus`, `memory_bytes` and
    /// `root_fs_bytes` as given, ids derived from `node` (stable across
    /// restarts), the kernel and OS of this machine.
    pub fn simulated(node: &str, cpus: u64, memory_bytes: u64, root_fs_bytes: u64) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(node.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        Self {
            cpus,
            memory_bytes,
            root_fs_bytes,
            hugepages: BTreeMap::new(),
            machine_id: hex[..32].to_string(),
            system_uuid: uuid.clone(),
            boot_id: uuid,
            kernel_version: read("/proc/sys/kernel/osrelease"),
            os_image: os_image(),
            architecture: corten_cri::image_layout::host_architecture().to_string(),
        }
    }

    /// Capacity as node status reports it (`pods` from maxPods).
    pub fn capacity(&self, max_pods: i32) -> BTreeMap<String, Quantity> {
        let mut capacity = BTreeMap::new();
        capacity.insert("cpu".to_string(), Quantity(self.cpus.to_string()));
        capacity.insert(
            "memory".to_string(),
            Quantity(format!("{}Ki", self.memory_bytes / 1024)),
        );
        capacity.insert(
            "ephemeral-storage".to_string(),
            Quantity(format!("{}Ki", self.root_fs_bytes / 1024)),
        );
        capacity.insert("pods".to_string(), Quantity(max_pods.to_string()));
        for (page, total) in &self.hugepages {
            capacity.insert(
                format!("hugepages-{}", hugepage_suffix(*page)),
                Quantity(total.to_string()),
            );
        }
        capacity
    }
}

/// `2Mi`, `1Gi` for a page size in bytes.
fn hugepage_suffix(bytes: u64) -> String {
    const GI: u64 = 1 << 30;
    const MI: u64 = 1 << 20;
    if bytes.is_multiple_of(GI) {
        format!("{}Gi", bytes / GI)
    } else if bytes.is_multiple_of(MI) {
        format!("{}Mi", bytes / MI)
    } else {
        format!("{}Ki", bytes / 1024)
    }
}

impl MachineUsage {
    /// Reads current usage; `root_dir` selects the node filesystem.
    pub fn read(root_dir: &Path) -> Self {
        let fs = statvfs(root_dir);
        let processes = std::fs::read_dir("/proc")
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    })
                    .count() as u64
            })
            .unwrap_or(0);
        Self {
            memory_available: meminfo_kib("MemAvailable").unwrap_or(0) * 1024,
            nodefs_available: fs
                .as_ref()
                .map(|s| s.blocks_available() * s.fragment_size())
                .unwrap_or(0),
            nodefs_inodes_free: fs.as_ref().map(|s| s.files_available()).unwrap_or(0),
            nodefs_inodes: fs.as_ref().map(|s| s.files()).unwrap_or(0),
            processes,
            pid_max: read("/proc/sys/kernel/pid_max").parse().unwrap_or(32768),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let info = MachineInfo::read(Path::new("/tmp/does/not/exist"));
        assert!(info.cpus >= 1);
        assert!(info.memory_bytes > 0);
        assert!(info.root_fs_bytes > 0);
        assert!(!info.kernel_version.is_empty());
        let capacity = info.capacity(110);
        assert_eq!(capacity["pods"].0, "110");
        assert!(capacity["memory"].0.ends_with("Ki"));
        let usage = MachineUsage::read(Path::new("/"));
        assert!(usage.memory_available > 0 && usage.processes > 0);
        assert_eq!(hugepage_suffix(2 << 20), "2Mi");
        assert_eq!(hugepage_suffix(1 << 30), "1Gi");
    }
}
