//! The Prometheus text of `/metrics/cadvisor`: cAdvisor's metric names,
//! help texts, types and labels, as upstream's kubelet serves them
//! (families sorted by name, label names sorted, stats samples stamped
//! with the scrape time, spec samples without).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::cgroup::CgroupStats;
use super::netdev::InterfaceStats;

/// The labels the kubelet gives every container series: the cgroup path
/// (`id`), the runtime's container id (`name`), the image, and the
/// Kubernetes container, namespace and pod (empty where they do not
/// apply: the pod cgroup has no container, the QoS cgroups no pod).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// The cgroup path (`/kubepods/burstable/pod<uid>/<id>`).
    pub id: String,
    /// The runtime's container id.
    pub name: String,
    /// The image.
    pub image: String,
    /// The Kubernetes container name.
    pub container: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
}

/// The filesystem a container writes to, and its use of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsUsage {
    /// Device of the filesystem (`/dev/vda1`).
    pub device: String,
    /// Bytes the container uses (its writable layer).
    pub usage: u64,
    /// Size of the filesystem.
    pub limit: u64,
    /// Inodes of the filesystem.
    pub inodes: u64,
    /// Free inodes of the filesystem.
    pub inodes_free: u64,
}

/// One cgroup the scrape reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// When it was created (seconds since the epoch).
    pub start_time: f64,
    /// What its cgroup said (`None`: nothing could be read).
    pub stats: Option<CgroupStats>,
    /// Network counters (sandboxes and the root cgroup only).
    pub network: Vec<InterfaceStats>,
    /// Filesystem usage (containers only).
    pub fs: Option<FsUsage>,
}

/// The machine, for the `machine_*` metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Machine {
    /// Logical CPUs.
    pub cores: u64,
    /// Physical cores.
    pub physical_cores: u64,
    /// Sockets.
    pub sockets: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// The DMI product UUID.
    pub system_uuid: String,
    /// The kernel's boot id.
    pub boot_id: String,
}

struct Family {
    help: &'static str,
    kind: &'static str,
    samples: Vec<(String, f64, Option<i64>)>,
}

/// The families being written, by name (so they come out sorted).
#[derive(Default)]
struct Families(BTreeMap<&'static str, Family>);

impl Families {
    fn add(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        labels: String,
        value: f64,
        at: Option<i64>,
    ) {
        self.0
            .entry(name)
            .or_insert_with(|| Family {
                help,
                kind,
                samples: Vec::new(),
            })
            .samples
            .push((labels, value, at));
    }

    fn render(mut self) -> String {
        let mut out = String::new();
        for (name, family) in &mut self.0 {
            family.samples.sort_by(|a, b| a.0.cmp(&b.0));
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            for (labels, value, at) in &family.samples {
                match at {
                    Some(at) => {
                        let _ = writeln!(out, "{name}{labels} {value} {at}");
                    }
                    None => {
                        let _ = writeln!(out, "{name}{labels} {value}");
                    }
                }
            }
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `{a="1",b="2"}` with the names sorted, as client_golang writes them.
fn format_labels(mut pairs: Vec<(&str, &str)>) -> String {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", body.join(","))
}

impl Labels {
    fn with(&self, extra: &[(&'static str, &str)]) -> String {
        let mut pairs = vec![
            ("container", self.container.as_str()),
            ("id", self.id.as_str()),
            ("image", self.image.as_str()),
            ("name", self.name.as_str()),
            ("namespace", self.namespace.as_str()),
            ("pod", self.pod.as_str()),
        ];
        pairs.extend_from_slice(extra);
        format_labels(pairs)
    }
}

const GAUGE: &str = "gauge";
const COUNTER: &str = "counter";

fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

fn add_spec(families: &mut Families, series: &Series) {
    let labels = series.labels.with(&[]);
    families.add(
        "container_start_time_seconds",
        GAUGE,
        "Start time of the container since unix epoch in seconds.",
        labels.clone(),
        series.start_time,
        None,
    );
    let Some(stats) = &series.stats else {
        return;
    };
    let spec = &stats.spec;
    if let Some(shares) = spec.cpu_shares {
        if let Some(period) = spec.cpu_period {
            families.add(
                "container_spec_cpu_period",
                GAUGE,
                "CPU period of the container.",
                labels.clone(),
                period as f64,
                None,
            );
        }
        if spec.cpu_quota != 0 {
            families.add(
                "container_spec_cpu_quota",
                GAUGE,
                "CPU quota of the container.",
                labels.clone(),
                spec.cpu_quota as f64,
                None,
            );
        }
        families.add(
            "container_spec_cpu_shares",
            GAUGE,
            "CPU share of the container.",
            labels.clone(),
            shares as f64,
            None,
        );
    }
    if let Some(limit) = spec.memory_limit {
        for (name, help, value) in [
            (
                "container_spec_memory_limit_bytes",
                "Memory limit for the container.",
                limit,
            ),
            (
                "container_spec_memory_swap_limit_bytes",
                "Memory swap limit for the container.",
                spec.memory_swap_limit,
            ),
            (
                "container_spec_memory_reservation_limit_bytes",
                "Memory reservation limit for the container.",
                spec.memory_reservation,
            ),
        ] {
            families.add(name, GAUGE, help, labels.clone(), value as f64, None);
        }
    }
}

fn add_cpu(families: &mut Families, series: &Series, stats: &CgroupStats, at: Option<i64>) {
    let labels = series.labels.with(&[]);
    if let Some(user) = stats.cpu_user_ns {
        families.add(
            "container_cpu_user_seconds_total",
            COUNTER,
            "Cumulative user cpu time consumed in seconds.",
            labels.clone(),
            seconds(user),
            at,
        );
    }
    if let Some(system) = stats.cpu_system_ns {
        families.add(
            "container_cpu_system_seconds_total",
            COUNTER,
            "Cumulative system cpu time consumed in seconds.",
            labels.clone(),
            seconds(system),
            at,
        );
    }
    // cAdvisor leaves out a zero total (a cgroup that never ran).
    if let Some(total) = stats.cpu_total_ns.filter(|t| *t > 0) {
        families.add(
            "container_cpu_usage_seconds_total",
            COUNTER,
            "Cumulative cpu time consumed in seconds.",
            series.labels.with(&[("cpu", "total")]),
            seconds(total),
            at,
        );
    }
    if stats.spec.cpu_quota != 0 {
        for (name, help, value) in [
            (
                "container_cpu_cfs_periods_total",
                "Number of elapsed enforcement period intervals.",
                stats.cfs_periods.map(|v| v as f64),
            ),
            (
                "container_cpu_cfs_throttled_periods_total",
                "Number of throttled period intervals.",
                stats.cfs_throttled_periods.map(|v| v as f64),
            ),
            (
                "container_cpu_cfs_throttled_seconds_total",
                "Total time duration the container has been throttled.",
                stats.cfs_throttled_ns.map(seconds),
            ),
        ] {
            if let Some(value) = value {
                families.add(name, COUNTER, help, labels.clone(), value, at);
            }
        }
    }
}

fn add_memory(families: &mut Families, series: &Series, stats: &CgroupStats, at: Option<i64>) {
    let Some(memory) = &stats.memory else {
        return;
    };
    let labels = series.labels.with(&[]);
    for (name, kind, help, value) in [
        (
            "container_memory_cache",
            GAUGE,
            "Number of bytes of page cache memory.",
            memory.cache,
        ),
        (
            "container_memory_rss",
            GAUGE,
            "Size of RSS in bytes.",
            memory.rss,
        ),
        (
            "container_memory_mapped_file",
            GAUGE,
            "Size of memory mapped files in bytes.",
            memory.mapped_file,
        ),
        (
            "container_memory_swap",
            GAUGE,
            "Container swap usage in bytes.",
            memory.swap,
        ),
        (
            "container_memory_failcnt",
            COUNTER,
            "Number of memory usage hits limits",
            memory.failcnt,
        ),
        (
            "container_memory_usage_bytes",
            GAUGE,
            "Current memory usage in bytes, including all memory regardless of when it was accessed",
            memory.usage,
        ),
        (
            "container_memory_max_usage_bytes",
            GAUGE,
            "Maximum memory usage recorded in bytes",
            memory.max_usage,
        ),
        (
            "container_memory_working_set_bytes",
            GAUGE,
            "Current working set in bytes.",
            memory.working_set,
        ),
        (
            "container_oom_events_total",
            COUNTER,
            "Count of out of memory events observed for the container",
            memory.oom_kills,
        ),
    ] {
        families.add(name, kind, help, labels.clone(), value as f64, at);
    }
    for (failure_type, scope, value) in [
        ("pgfault", "container", memory.pgfault),
        ("pgmajfault", "container", memory.pgmajfault),
        ("pgfault", "hierarchy", memory.hierarchical_pgfault),
        ("pgmajfault", "hierarchy", memory.hierarchical_pgmajfault),
    ] {
        families.add(
            "container_memory_failures_total",
            COUNTER,
            "Cumulative count of memory allocation failures.",
            series
                .labels
                .with(&[("failure_type", failure_type), ("scope", scope)]),
            value as f64,
            at,
        );
    }
}

fn add_processes(families: &mut Families, series: &Series, stats: &CgroupStats, at: Option<i64>) {
    let labels = series.labels.with(&[]);
    for (name, help, value) in [
        (
            "container_processes",
            "Number of processes running inside the container.",
            stats.processes,
        ),
        (
            "container_threads",
            "Number of threads running inside the container",
            stats.threads,
        ),
        (
            "container_threads_max",
            "Maximum number of threads allowed inside the container, infinity if value is zero",
            stats.threads_max,
        ),
    ] {
        if let Some(value) = value {
            families.add(name, GAUGE, help, labels.clone(), value as f64, at);
        }
    }
}

fn add_network(families: &mut Families, series: &Series, at: Option<i64>) {
    for interface in &series.network {
        let labels = series.labels.with(&[("interface", &interface.name)]);
        for (name, help, value) in [
            (
                "container_network_receive_bytes_total",
                "Cumulative count of bytes received",
                interface.rx_bytes,
            ),
            (
                "container_network_receive_packets_total",
                "Cumulative count of packets received",
                interface.rx_packets,
            ),
            (
                "container_network_receive_packets_dropped_total",
                "Cumulative count of packets dropped while receiving",
                interface.rx_dropped,
            ),
            (
                "container_network_receive_errors_total",
                "Cumulative count of errors encountered while receiving",
                interface.rx_errors,
            ),
            (
                "container_network_transmit_bytes_total",
                "Cumulative count of bytes transmitted",
                interface.tx_bytes,
            ),
            (
                "container_network_transmit_packets_total",
                "Cumulative count of packets transmitted",
                interface.tx_packets,
            ),
            (
                "container_network_transmit_packets_dropped_total",
                "Cumulative count of packets dropped while transmitting",
                interface.tx_dropped,
            ),
            (
                "container_network_transmit_errors_total",
                "Cumulative count of errors encountered while transmitting",
                interface.tx_errors,
            ),
        ] {
            families.add(name, COUNTER, help, labels.clone(), value as f64, at);
        }
    }
}

fn add_fs(families: &mut Families, series: &Series, at: Option<i64>) {
    let Some(fs) = &series.fs else {
        return;
    };
    let labels = series.labels.with(&[("device", &fs.device)]);
    for (name, help, value) in [
        (
            "container_fs_inodes_free",
            "Number of available Inodes",
            fs.inodes_free,
        ),
        ("container_fs_inodes_total", "Number of Inodes", fs.inodes),
        (
            "container_fs_limit_bytes",
            "Number of bytes that can be consumed by the container on this filesystem.",
            fs.limit,
        ),
        (
            "container_fs_usage_bytes",
            "Number of bytes that are consumed by the container on this filesystem.",
            fs.usage,
        ),
    ] {
        families.add(name, GAUGE, help, labels.clone(), value as f64, at);
    }
}

fn add_machine(families: &mut Families, machine: &Machine, at: Option<i64>) {
    let labels = format_labels(vec![
        ("boot_id", &machine.boot_id),
        ("machine_id", &machine.machine_id),
        ("system_uuid", &machine.system_uuid),
    ]);
    for (name, help, value) in [
        (
            "machine_cpu_cores",
            "Number of logical CPU cores.",
            machine.cores,
        ),
        (
            "machine_cpu_physical_cores",
            "Number of physical CPU cores.",
            machine.physical_cores,
        ),
        (
            "machine_cpu_sockets",
            "Number of CPU sockets.",
            machine.sockets,
        ),
        (
            "machine_memory_bytes",
            "Amount of memory installed on the machine.",
            machine.memory_bytes,
        ),
    ] {
        families.add(name, GAUGE, help, labels.clone(), value as f64, at);
    }
}

/// Renders a scrape taken at `now_ms` (milliseconds since the epoch);
/// `containers_failed` sets `container_scrape_error`.
pub fn render(
    machine: &Machine,
    series: &[Series],
    containers_failed: bool,
    now_ms: i64,
) -> String {
    let mut families = Families::default();
    let at = Some(now_ms);
    add_machine(&mut families, machine, at);
    families.add(
        "machine_scrape_error",
        GAUGE,
        "1 if there was an error while getting machine metrics, 0 otherwise.",
        String::new(),
        0.0,
        None,
    );
    families.add(
        "container_scrape_error",
        GAUGE,
        "1 if there was an error while getting container metrics, 0 otherwise",
        String::new(),
        if containers_failed { 1.0 } else { 0.0 },
        None,
    );
    for one in series {
        families.add(
            "container_last_seen",
            GAUGE,
            "Last time a container was seen by the exporter",
            one.labels.with(&[]),
            (now_ms / 1000) as f64,
            at,
        );
        add_spec(&mut families, one);
        if let Some(stats) = &one.stats {
            add_cpu(&mut families, one, stats, at);
            add_memory(&mut families, one, stats, at);
            add_processes(&mut families, one, stats, at);
        }
        add_network(&mut families, one, at);
        add_fs(&mut families, one, at);
    }
    families.render()
}
