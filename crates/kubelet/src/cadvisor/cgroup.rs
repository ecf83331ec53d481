//! Reading one cgroup's usage and limits, cgroup v1 (one hierarchy per
//! controller, as on hybrid machines) or v2 (the unified hierarchy), the
//! way cAdvisor's libcontainer handler reads them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the cgroup hierarchies are mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v2: one tree.
    V2 {
        /// Mount point of the unified hierarchy.
        root: PathBuf,
    },
    /// cgroup v1: one tree per controller (some may be missing).
    V1 {
        /// `cpu` (shares, CFS quota and throttling).
        cpu: Option<PathBuf>,
        /// `cpuacct` (usage).
        cpuacct: Option<PathBuf>,
        /// `memory`.
        memory: Option<PathBuf>,
        /// `pids`.
        pids: Option<PathBuf>,
    },
}

/// Memory usage of a cgroup (bytes, except the counters).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MemoryStats {
    /// Usage including page cache.
    pub usage: u64,
    /// Peak usage (0 when the kernel does not track it).
    pub max_usage: u64,
    /// Page cache.
    pub cache: u64,
    /// Anonymous memory.
    pub rss: u64,
    /// Memory-mapped files.
    pub mapped_file: u64,
    /// Swap used.
    pub swap: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
    /// Usage minus inactive file pages: what the kubelet evicts on.
    pub working_set: u64,
    /// Page faults of the cgroup itself.
    pub pgfault: u64,
    /// Major page faults of the cgroup itself.
    pub pgmajfault: u64,
    /// Page faults of the cgroup and its descendants.
    pub hierarchical_pgfault: u64,
    /// Major page faults of the cgroup and its descendants.
    pub hierarchical_pgmajfault: u64,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kills: u64,
}

/// Limits of a cgroup, as cAdvisor's container spec reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CgroupSpec {
    /// CPU shares (v2: converted back from `cpu.weight`).
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period; 0 is unlimited.
    pub cpu_quota: i64,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
    /// Memory limit; 0 is unlimited.
    pub memory_limit: Option<u64>,
    /// Memory + swap limit; 0 is unlimited.
    pub memory_swap_limit: u64,
    /// Soft limit (v1) or `memory.low` (v2); 0 is none.
    pub memory_reservation: u64,
}

/// Everything read from one cgroup. `None` fields could not be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CgroupStats {
    /// Total CPU time in nanoseconds.
    pub cpu_total_ns: Option<u64>,
    /// User CPU time in nanoseconds.
    pub cpu_user_ns: Option<u64>,
    /// System CPU time in nanoseconds.
    pub cpu_system_ns: Option<u64>,
    /// CFS enforcement periods elapsed.
    pub cfs_periods: Option<u64>,
    /// CFS periods in which the cgroup was throttled.
    pub cfs_throttled_periods: Option<u64>,
    /// Time throttled, in nanoseconds.
    pub cfs_throttled_ns: Option<u64>,
    /// Memory usage.
    pub memory: Option<MemoryStats>,
    /// Tasks (threads) in the cgroup.
    pub threads: Option<u64>,
    /// Task limit; 0 is unlimited.
    pub threads_max: Option<u64>,
    /// Processes in the cgroup and its descendants.
    pub processes: Option<u64>,
    /// Limits.
    pub spec: CgroupSpec,
}

/// Values above this are "unlimited" (the kernel rounds the maximum).
const UNLIMITED: u64 = 1 << 62;

/// USER_HZ: the unit of `cpuacct.stat`.
const NANOS_PER_TICK: u64 = 10_000_000;

fn read_string(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_u64(path: &Path) -> Option<u64> {
    read_string(path)?.trim().parse().ok()
}

fn read_i64(path: &Path) -> Option<i64> {
    read_string(path)?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, cpuacct.stat).
fn read_flat_keyed(path: &Path) -> Option<HashMap<String, u64>> {
    let text = read_string(path)?;
    Some(
        text.lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(' ')?;
                Some((key.to_string(), value.trim().parse().ok()?))
            })
            .collect(),
    )
}

/// A limit file: a number, or `max` (v2) / a huge number (v1) for none.
fn read_limit(path: &Path) -> Option<u64> {
    let text = read_string(path)?;
    let text = text.trim();
    if text == "max" {
        return Some(0);
    }
    let value: u64 = text.parse().ok()?;
    Some(if value > UNLIMITED { 0 } else { value })
}

/// Processes in `dir` and every cgroup below it.
fn count_processes(dir: &Path) -> Option<u64> {
    let own = read_string(&dir.join("cgroup.procs"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    let children: u64 = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| count_processes(&e.path()))
        .sum();
    Some(own + children)
}

/// A process of the cgroup (the first in `cgroup.procs`), for its network
/// namespace.
fn first_process(dir: &Path) -> Option<u32> {
    read_string(&dir.join("cgroup.procs"))?
        .lines()
        .find_map(|l| l.trim().parse().ok())
}

/// cAdvisor's inverse of the kubelet's shares-to-weight conversion.
fn weight_to_shares(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    2 + ((weight - 1) * 262_142) / 9_999
}

impl Hierarchy {
    /// The hierarchies this process sees (`/proc/self/mountinfo`).
    pub fn detect() -> Self {
        Self::from_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
    }

    /// The hierarchies in a mountinfo text: v1 when any v1 controller we
    /// read is mounted (hybrid machines mount an empty v2 tree too), else
    /// the v2 mount, else the default v2 location.
    pub fn from_mountinfo(text: &str) -> Self {
        let (mut cpu, mut cpuacct, mut memory, mut pids, mut unified) =
            (None, None, None, None, None);
        for line in text.lines() {
            let Some((mount, fs)) = line.split_once(" - ") else {
                continue;
            };
            let Some(mount_point) = mount.split_whitespace().nth(4) else {
                continue;
            };
            let mut fs = fs.split_whitespace();
            let fs_type = fs.next().unwrap_or_default();
            let options = fs.nth(1).unwrap_or_default();
            let point = PathBuf::from(mount_point);
            match fs_type {
                "cgroup2" => unified = unified.or(Some(point)),
                "cgroup" => {
                    for option in options.split(',') {
                        let slot = match option {
                            "cpu" => &mut cpu,
                            "cpuacct" => &mut cpuacct,
                            "memory" => &mut memory,
                            "pids" => &mut pids,
                            _ => continue,
                        };
                        if slot.is_none() {
                            *slot = Some(point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        if cpu.is_some() || cpuacct.is_some() || memory.is_some() {
            Hierarchy::V1 {
                cpu,
                cpuacct,
                memory,
                pids,
            }
        } else {
            Hierarchy::V2 {
                root: unified.unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup")),
            }
        }
    }

    /// The directory of `cgroup` (an absolute cgroup path such as
    /// `/kubepods/burstable/pod<uid>`) in the CPU accounting tree: the one
    /// whose existence says whether the cgroup exists.
    pub fn dir(&self, cgroup: &str) -> Option<PathBuf> {
        let relative = cgroup.trim_start_matches('/');
        match self {
            Hierarchy::V2 { root } => Some(root.join(relative)),
            Hierarchy::V1 {
                cpuacct,
                cpu,
                memory,
                ..
            } => cpu
                .as_ref()
                .or(cpuacct.as_ref())
                .or(memory.as_ref())
                .map(|m| m.join(relative)),
        }
    }

    /// Whether `cgroup` exists.
    pub fn exists(&self, cgroup: &str) -> bool {
        self.dir(cgroup).is_some_and(|d| d.is_dir())
    }

    /// A process in `cgroup` (for its network namespace).
    pub fn process(&self, cgroup: &str) -> Option<u32> {
        first_process(&self.dir(cgroup)?)
    }

    /// Reads `cgroup`; `None` if it does not exist.
    pub fn read(&self, cgroup: &str) -> Option<CgroupStats> {
        if !self.exists(cgroup) {
            return None;
        }
        let relative = cgroup.trim_start_matches('/');
        Some(match self {
            Hierarchy::V2 { root } => read_v2(&root.join(relative)),
            Hierarchy::V1 {
                cpu,
                cpuacct,
                memory,
                pids,
            } => read_v1(
                cpu.as_ref().map(|m| m.join(relative)),
                cpuacct.as_ref().map(|m| m.join(relative)),
                memory.as_ref().map(|m| m.join(relative)),
                pids.as_ref().map(|m| m.join(relative)),
            ),
        })
    }
}

fn read_v1(
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    memory: Option<PathBuf>,
    pids: Option<PathBuf>,
) -> CgroupStats {
    let mut stats = CgroupStats::default();
    if let Some(dir) = &cpuacct {
        stats.cpu_total_ns = read_u64(&dir.join("cpuacct.usage"));
        if let Some(ticks) = read_flat_keyed(&dir.join("cpuacct.stat")) {
            stats.cpu_user_ns = ticks.get("user").map(|t| t * NANOS_PER_TICK);
            stats.cpu_system_ns = ticks.get("system").map(|t| t * NANOS_PER_TICK);
        }
    }
    if let Some(dir) = &cpu {
        if let Some(cfs) = read_flat_keyed(&dir.join("cpu.stat")) {
            stats.cfs_periods = cfs.get("nr_periods").copied();
            stats.cfs_throttled_periods = cfs.get("nr_throttled").copied();
            stats.cfs_throttled_ns = cfs.get("throttled_time").copied();
        }
        stats.spec.cpu_shares = read_u64(&dir.join("cpu.shares"));
        stats.spec.cpu_period = read_u64(&dir.join("cpu.cfs_period_us"));
        stats.spec.cpu_quota = read_i64(&dir.join("cpu.cfs_quota_us"))
            .filter(|q| *q > 0)
            .unwrap_or(0);
    }
    if let Some(dir) = &memory
        && let Some(usage) = read_u64(&dir.join("memory.usage_in_bytes"))
    {
        let stat = read_flat_keyed(&dir.join("memory.stat")).unwrap_or_default();
        let get = |k: &str| stat.get(k).copied().unwrap_or(0);
        let oom = read_flat_keyed(&dir.join("memory.oom_control")).unwrap_or_default();
        stats.memory = Some(MemoryStats {
            usage,
            max_usage: read_u64(&dir.join("memory.max_usage_in_bytes")).unwrap_or(0),
            cache: get("total_cache"),
            rss: get("total_rss"),
            mapped_file: get("total_mapped_file"),
            swap: get("total_swap"),
            failcnt: read_u64(&dir.join("memory.failcnt")).unwrap_or(0),
            working_set: usage.saturating_sub(get("total_inactive_file")),
            pgfault: get("pgfault"),
            pgmajfault: get("pgmajfault"),
            hierarchical_pgfault: get("total_pgfault"),
            hierarchical_pgmajfault: get("total_pgmajfault"),
            oom_kills: oom.get("oom_kill").copied().unwrap_or(0),
        });
        stats.spec.memory_limit = read_limit(&dir.join("memory.limit_in_bytes"));
        stats.spec.memory_swap_limit =
            read_limit(&dir.join("memory.memsw.limit_in_bytes")).unwrap_or(0);
        stats.spec.memory_reservation =
            read_limit(&dir.join("memory.soft_limit_in_bytes")).unwrap_or(0);
    }
    if let Some(dir) = &pids {
        stats.threads = read_u64(&dir.join("pids.current"));
        stats.threads_max = read_limit(&dir.join("pids.max"));
    }
    stats.processes = cpu
        .as_deref()
        .or(cpuacct.as_deref())
        .and_then(count_processes);
    stats
}

fn read_v2(dir: &Path) -> CgroupStats {
    let mut stats = CgroupStats::default();
    if let Some(cpu) = read_flat_keyed(&dir.join("cpu.stat")) {
        let micros = |k: &str| cpu.get(k).map(|v| v * 1000);
        stats.cpu_total_ns = micros("usage_usec");
        stats.cpu_user_ns = micros("user_usec");
        stats.cpu_system_ns = micros("system_usec");
        stats.cfs_periods = cpu.get("nr_periods").copied();
        stats.cfs_throttled_periods = cpu.get("nr_throttled").copied();
        stats.cfs_throttled_ns = micros("throttled_usec");
    }
    stats.spec.cpu_shares = read_u64(&dir.join("cpu.weight")).map(weight_to_shares);
    if let Some(max) = read_string(&dir.join("cpu.max")) {
        let mut fields = max.split_whitespace();
        stats.spec.cpu_quota = fields
            .next()
            .and_then(|q| q.parse::<i64>().ok())
            .unwrap_or(0);
        stats.spec.cpu_period = fields.next().and_then(|p| p.parse().ok());
    }
    if let Some(usage) = read_u64(&dir.join("memory.current")) {
        let stat = read_flat_keyed(&dir.join("memory.stat")).unwrap_or_default();
        let get = |k: &str| stat.get(k).copied().unwrap_or(0);
        let events = read_flat_keyed(&dir.join("memory.events")).unwrap_or_default();
        stats.memory = Some(MemoryStats {
            usage,
            max_usage: read_u64(&dir.join("memory.peak")).unwrap_or(0),
            cache: get("file"),
            rss: get("anon"),
            mapped_file: get("file_mapped"),
            swap: read_u64(&dir.join("memory.swap.current")).unwrap_or(0),
            failcnt: events.get("max").copied().unwrap_or(0),
            working_set: usage.saturating_sub(get("inactive_file")),
            pgfault: get("pgfault"),
            pgmajfault: get("pgmajfault"),
            hierarchical_pgfault: get("pgfault"),
            hierarchical_pgmajfault: get("pgmajfault"),
            oom_kills: events.get("oom_kill").copied().unwrap_or(0),
        });
        stats.spec.memory_limit = read_limit(&dir.join("memory.max"));
        // v2 limits swap alone; cAdvisor reports memory + swap.
        stats.spec.memory_swap_limit = match (
            read_limit(&dir.join("memory.swap.max")),
            stats.spec.memory_limit,
        ) {
            (Some(swap), Some(memory)) if swap > 0 && memory > 0 => swap + memory,
            _ => 0,
        };
        stats.spec.memory_reservation = read_limit(&dir.join("memory.low")).unwrap_or(0);
    }
    stats.threads = read_u64(&dir.join("pids.current"));
    stats.threads_max = read_limit(&dir.join("pids.max"));
    stats.processes = count_processes(dir);
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn detects_hybrid_and_unified_mounts() {
        let hybrid = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
            33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n\
            39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            Hierarchy::from_mountinfo(hybrid),
            Hierarchy::V1 {
                cpu: Some("/sys/fs/cgroup/cpu".into()),
                cpuacct: Some("/sys/fs/cgroup/cpuacct".into()),
                memory: Some("/sys/fs/cgroup/memory".into()),
                pids: Some("/sys/fs/cgroup/pids".into()),
            }
        );
        let joined = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let Hierarchy::V1 { cpu, cpuacct, .. } = Hierarchy::from_mountinfo(joined) else {
            panic!("v1 expected");
        };
        assert_eq!(cpu, cpuacct);
        let unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            Hierarchy::from_mountinfo(unified),
            Hierarchy::V2 {
                root: "/sys/fs/cgroup".into()
            }
        );
    }

    #[test]
    fn reads_a_v1_cgroup() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path();
        let h = Hierarchy::V1 {
            cpu: Some(root.join("cpu")),
            cpuacct: Some(root.join("cpuacct")),
            memory: Some(root.join("memory")),
            pids: Some(root.join("pids")),
        };
        let cg = "kubepods/burstable/podu1/c1";
        assert_eq!(h.read("/kubepods/burstable/podu1/c1"), None);
        write(
            &root.join("cpuacct").join(cg),
            "cpuacct.usage",
            "2500000000\n",
        );
        write(
            &root.join("cpuacct").join(cg),
            "cpuacct.stat",
            "user 150\nsystem 50\n",
        );
        write(
            &root.join("cpu").join(cg),
            "cpu.stat",
            "nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n",
        );
        write(&root.join("cpu").join(cg), "cpu.shares", "512\n");
        write(&root.join("cpu").join(cg), "cpu.cfs_period_us", "100000\n");
        write(&root.join("cpu").join(cg), "cpu.cfs_quota_us", "50000\n");
        write(&root.join("cpu").join(cg), "cgroup.procs", "41\n42\n");
        write(
            &root.join("cpu").join(cg).join("sub"),
            "cgroup.procs",
            "43\n",
        );
        write(
            &root.join("memory").join(cg),
            "memory.usage_in_bytes",
            "1000000\n",
        );
        write(
            &root.join("memory").join(cg),
            "memory.max_usage_in_bytes",
            "2000000\n",
        );
        write(
            &root.join("memory").join(cg),
            "memory.stat",
            "cache 1\nrss 2\npgfault 7\npgmajfault 1\ntotal_cache 300000\ntotal_rss 600000\n\
             total_mapped_file 4096\ntotal_inactive_file 250000\ntotal_pgfault 70\ntotal_pgmajfault 3\n",
        );
        write(&root.join("memory").join(cg), "memory.failcnt", "4\n");
        write(
            &root.join("memory").join(cg),
            "memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            &root.join("memory").join(cg),
            "memory.soft_limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            &root.join("memory").join(cg),
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        );
        write(&root.join("pids").join(cg), "pids.current", "5\n");
        write(&root.join("pids").join(cg), "pids.max", "max\n");
        let stats = h.read("/kubepods/burstable/podu1/c1").unwrap();
        assert_eq!(stats.cpu_total_ns, Some(2_500_000_000));
        assert_eq!(stats.cpu_user_ns, Some(1_500_000_000));
        assert_eq!(stats.cpu_system_ns, Some(500_000_000));
        assert_eq!(
            (
                stats.cfs_periods,
                stats.cfs_throttled_periods,
                stats.cfs_throttled_ns
            ),
            (Some(10), Some(2), Some(3000))
        );
        let memory = stats.memory.unwrap();
        assert_eq!(memory.usage, 1_000_000);
        assert_eq!(memory.working_set, 750_000);
        assert_eq!(
            (memory.cache, memory.rss, memory.mapped_file),
            (300_000, 600_000, 4096)
        );
        assert_eq!((memory.pgfault, memory.hierarchical_pgfault), (7, 70));
        assert_eq!(
            (memory.failcnt, memory.max_usage, memory.oom_kills),
            (4, 2_000_000, 1)
        );
        assert_eq!(
            stats.spec,
            CgroupSpec {
                cpu_shares: Some(512),
                cpu_quota: 50_000,
                cpu_period: Some(100_000),
                memory_limit: Some(0),
                memory_swap_limit: 0,
                memory_reservation: 0,
            }
        );
        assert_eq!((stats.threads, stats.threads_max), (Some(5), Some(0)));
        assert_eq!(stats.processes, Some(3));
        assert_eq!(h.process("/kubepods/burstable/podu1/c1"), Some(41));
    }

    #[test]
    fn reads_a_v2_cgroup() {
        let base = tempfile::tempdir().unwrap();
        let h = Hierarchy::V2 {
            root: base.path().to_path_buf(),
        };
        let dir = base.path().join("kubepods/podu2");
        write(
            &dir,
            "cpu.stat",
            "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
        );
        write(&dir, "cpu.weight", "79\n");
        write(&dir, "cpu.max", "max 100000\n");
        write(&dir, "memory.current", "4096000\n");
        write(
            &dir,
            "memory.stat",
            "anon 1000\nfile 3000\nfile_mapped 10\ninactive_file 96000\npgfault 5\npgmajfault 0\n",
        );
        write(
            &dir,
            "memory.events",
            "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
        );
        write(&dir, "memory.max", "268435456\n");
        write(&dir, "memory.swap.max", "max\n");
        write(&dir, "memory.low", "0\n");
        write(&dir, "cgroup.procs", "");
        let stats = h.read("/kubepods/podu2").unwrap();
        assert_eq!(stats.cpu_total_ns, Some(2_000_000));
        assert_eq!(stats.cfs_throttled_ns, Some(7000));
        // The kubelet writes weight 79 for 2048 shares (2 CPUs); the round
        // trip loses a little, as upstream's.
        assert_eq!(stats.spec.cpu_shares, Some(2046));
        assert_eq!(
            (stats.spec.cpu_quota, stats.spec.cpu_period),
            (0, Some(100_000))
        );
        let memory = stats.memory.unwrap();
        assert_eq!(memory.working_set, 4_000_000);
        assert_eq!(
            (memory.rss, memory.cache, memory.failcnt, memory.oom_kills),
            (1000, 3000, 2, 1)
        );
        assert_eq!(stats.spec.memory_limit, Some(268_435_456));
        assert_eq!(stats.spec.memory_swap_limit, 0);
        assert_eq!(stats.processes, Some(0));
        assert_eq!(stats.threads, None);
    }
}
