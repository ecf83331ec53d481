//! Prometheus metrics shared by every daemon.
//!
//! All daemons register into the prometheus crate's default registry; this
//! module adds what upstream binaries always expose (the `process_*` family
//! and `kubernetes_build_info`) and encodes the registry in the text format.

use std::sync::OnceLock;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Encoder, Gauge, IntGauge, IntGaugeVec, Opts, TextEncoder};

use crate::version;

/// Content type of [`gather_text`]'s output (Prometheus text format 0.0.4).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Help text of `kubernetes_build_info`, as upstream.
const BUILD_INFO_HELP: &str = "A metric with a constant '1' value labeled by major, minor, git version, git commit, git tree state, build date, Go version, and compiler from which Kubernetes was built, and platform on which it is running.";

/// Linux reports CPU times in USER_HZ, which is 100 on every architecture
/// Corten runs on (it is fixed by the kernel ABI, independent of CONFIG_HZ).
const USER_HZ: f64 = 100.0;

/// Encodes every metric of the default registry in the Prometheus text format.
///
/// Registers the process metrics first (once), so every daemon exposes them.
pub fn gather_text() -> Vec<u8> {
    register_process_metrics();
    let families = prometheus::gather();
    let mut buf = Vec::with_capacity(16 * 1024);
    if let Err(err) = TextEncoder::new().encode(&families, &mut buf) {
        tracing::error!(error = %err, "encoding metrics");
    }
    buf
}

/// Registers the upstream-style `process_*` metrics (read from `/proc/self`)
/// in the default registry. Idempotent.
///
/// Exposes `process_cpu_seconds_total`, `process_open_fds`, `process_max_fds`,
/// `process_virtual_memory_bytes`, `process_virtual_memory_max_bytes`,
/// `process_resident_memory_bytes` and `process_start_time_seconds`.
pub fn register_process_metrics() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| match ProcessCollector::new() {
        Ok(collector) => {
            if let Err(err) = prometheus::register(Box::new(collector)) {
                tracing::warn!(error = %err, "registering process metrics");
            }
        }
        Err(err) => tracing::warn!(error = %err, "creating process metrics"),
    });
}

/// Registers `kubernetes_build_info{...} 1` in the default registry, with
/// upstream's label set. Idempotent; `component` is only used for logging.
pub fn register_build_info(component: &str) {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        if let Err(err) = try_register_build_info() {
            tracing::warn!(component, error = %err, "registering kubernetes_build_info");
        }
    });
}

fn try_register_build_info() -> prometheus::Result<()> {
    let info = version::info();
    let labels = [
        ("major", info.major.as_str()),
        ("minor", info.minor.as_str()),
        ("git_version", info.git_version.as_str()),
        ("git_commit", info.git_commit.as_str()),
        ("git_tree_state", info.git_tree_state.as_str()),
        ("build_date", info.build_date.as_str()),
        ("go_version", info.go_version.as_str()),
        ("compiler", info.compiler.as_str()),
        ("platform", info.platform.as_str()),
    ];
    let names: Vec<&str> = labels.iter().map(|(name, _)| *name).collect();
    let values: Vec<&str> = labels.iter().map(|(_, value)| *value).collect();
    let gauge = IntGaugeVec::new(Opts::new("kubernetes_build_info", BUILD_INFO_HELP), &names)?;
    gauge.with_label_values(&values).set(1);
    prometheus::register(Box::new(gauge))
}

/// Collects the `process_*` metrics from `/proc/self` at scrape time.
struct ProcessCollector {
    descs: Vec<Desc>,
    cpu_seconds: Counter,
    open_fds: IntGauge,
    max_fds: IntGauge,
    virtual_memory: IntGauge,
    virtual_memory_max: Gauge,
    resident_memory: IntGauge,
    start_time: Gauge,
}

impl ProcessCollector {
    fn new() -> prometheus::Result<Self> {
        let cpu_seconds = Counter::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        )?;
        let open_fds = IntGauge::new("process_open_fds", "Number of open file descriptors.")?;
        let max_fds = IntGauge::new(
            "process_max_fds",
            "Maximum number of open file descriptors.",
        )?;
        let virtual_memory = IntGauge::new(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
        )?;
        let virtual_memory_max = Gauge::new(
            "process_virtual_memory_max_bytes",
            "Maximum amount of virtual memory available in bytes.",
        )?;
        let resident_memory = IntGauge::new(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        )?;
        let start_time = Gauge::new(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )?;
        let mut descs = Vec::new();
        descs.extend(cpu_seconds.desc().into_iter().cloned());
        descs.extend(open_fds.desc().into_iter().cloned());
        descs.extend(max_fds.desc().into_iter().cloned());
        descs.extend(virtual_memory.desc().into_iter().cloned());
        descs.extend(virtual_memory_max.desc().into_iter().cloned());
        descs.extend(resident_memory.desc().into_iter().cloned());
        descs.extend(start_time.desc().into_iter().cloned());
        let collector = Self {
            descs,
            cpu_seconds,
            open_fds,
            max_fds,
            virtual_memory,
            virtual_memory_max,
            resident_memory,
            start_time,
        };
        // The start time never changes: compute it once.
        if let (Some(stat), Some(boot)) = (read_self_stat(), read_boot_time()) {
            collector
                .start_time
                .set(boot + stat.start_ticks as f64 / USER_HZ);
        }
        Ok(collector)
    }

    fn refresh(&self) {
        if let Some(stat) = read_self_stat() {
            let total = (stat.utime_ticks + stat.stime_ticks) as f64 / USER_HZ;
            let current = self.cpu_seconds.get();
            if total > current {
                self.cpu_seconds.inc_by(total - current);
            }
            self.virtual_memory
                .set(i64::try_from(stat.vsize_bytes).unwrap_or(i64::MAX));
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status")
            && let Some(rss) = parse_status_kib(&status, "VmRSS:")
        {
            self.resident_memory
                .set(i64::try_from(rss.saturating_mul(1024)).unwrap_or(i64::MAX));
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle itself is one of the entries; upstream's
            // procfs reader counts it too.
            self.open_fds
                .set(i64::try_from(entries.count()).unwrap_or(i64::MAX));
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            if let Some(max) = parse_limit(&limits, "Max open files") {
                self.max_fds.set(i64::try_from(max).unwrap_or(i64::MAX));
            }
            if let Some(max) = parse_limit(&limits, "Max address space") {
                self.virtual_memory_max.set(max as f64);
            }
        }
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.refresh();
        let mut families = Vec::with_capacity(7);
        families.extend(self.cpu_seconds.collect());
        families.extend(self.open_fds.collect());
        families.extend(self.max_fds.collect());
        families.extend(self.virtual_memory.collect());
        families.extend(self.virtual_memory_max.collect());
        families.extend(self.resident_memory.collect());
        families.extend(self.start_time.collect());
        families
    }
}

/// The fields of `/proc/self/stat` we expose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcStat {
    utime_ticks: u64,
    stime_ticks: u64,
    start_ticks: u64,
    vsize_bytes: u64,
}

fn read_self_stat() -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let after_comm = &text[text.rfind(')')? + 1..];
    // After the command: field 3 (state) is index 0, so field N is index N - 3.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(ProcStat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        start_ticks: field(22)?,
        vsize_bytes: field(23)?,
    })
}

fn read_boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok())
}

/// Reads a `Key:   123 kB` line of `/proc/self/status`, in KiB.
fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Reads the soft limit of a `/proc/self/limits` row; `unlimited` is u64::MAX
/// (as upstream's Go collector reports it).
fn parse_limit(limits: &str, name: &str) -> Option<u64> {
    let line = limits.lines().find(|line| line.starts_with(name))?;
    let soft = line[name.len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A parsed sample line: metric name, labels, value.
    type Sample = (String, HashMap<String, String>, f64);

    /// A small parser for the text format, enough to read our output back.
    fn parse_text(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
        let mut types = HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                let name = parts.next().unwrap().to_string();
                let kind = parts.next().unwrap().to_string();
                types.insert(name, kind);
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap();
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), HashMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').unwrap();
                    let labels = body
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').unwrap();
                            (
                                k.to_string(),
                                v.trim_start_matches('"').trim_end_matches('"').to_string(),
                            )
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            samples.push((name, labels, value));
        }
        (types, samples)
    }

    #[test]
    fn text_output_contains_process_and_build_info() {
        register_build_info("test");
        let text = String::from_utf8(gather_text()).unwrap();
        let (types, samples) = parse_text(&text);

        assert_eq!(types["process_cpu_seconds_total"], "counter");
        assert_eq!(types["process_resident_memory_bytes"], "gauge");
        assert_eq!(types["kubernetes_build_info"], "gauge");

        let value = |name: &str| {
            samples
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, v)| *v)
                .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
        };
        assert!(value("process_resident_memory_bytes") > 0.0);
        assert!(value("process_virtual_memory_bytes") > 0.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_cpu_seconds_total") >= 0.0);
        // Started after 2020 and not in the future.
        let start = value("process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(start > 1_577_836_800.0 && start <= now + 1.0, "{start}");

        let (_, labels, build) = samples
            .iter()
            .find(|(n, _, _)| n == "kubernetes_build_info")
            .unwrap();
        assert_eq!(*build, 1.0);
        assert_eq!(labels["git_version"], version::GIT_VERSION);
        assert_eq!(labels["major"], "1");
        assert_eq!(labels["minor"], "33");
        assert_eq!(labels["compiler"], "rustc");
        for key in [
            "git_commit",
            "git_tree_state",
            "build_date",
            "go_version",
            "platform",
        ] {
            assert!(labels.contains_key(key), "label {key} missing");
        }
    }

    #[test]
    fn registration_is_idempotent() {
        register_build_info("a");
        register_build_info("b");
        register_process_metrics();
        register_process_metrics();
        let text = String::from_utf8(gather_text()).unwrap();
        assert_eq!(text.matches("# TYPE kubernetes_build_info").count(), 1);
        assert_eq!(text.matches("# TYPE process_open_fds").count(), 1);
    }

    #[test]
    fn output_passes_promtool_when_available() {
        let promtool = std::path::Path::new("/usr/bin/promtool");
        if !promtool.exists() {
            eprintln!("skipping: /usr/bin/promtool not installed (make deps installs it)");
            return;
        }
        register_build_info("test");
        let text = gather_text();
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&text).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool rejected the metrics:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn parses_proc_stat_with_awkward_command_names() {
        let line = "4242 (my (weird) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 123456 987654321 2000 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                utime_ticks: 250,
                stime_ticks: 75,
                start_ticks: 123456,
                vsize_bytes: 987654321,
            }
        );
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn parses_limits_and_status() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\nMax address space         unlimited            unlimited            bytes\n";
        assert_eq!(parse_limit(limits, "Max open files"), Some(1024));
        assert_eq!(parse_limit(limits, "Max address space"), Some(u64::MAX));
        assert_eq!(parse_limit(limits, "Max processes"), None);
        let status = "Name:\tcat\nVmRSS:\t    1234 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(1234));
    }
}
