//! Tuning of the kernel's connection tracking at start, as upstream's
//! `setupConntrack`: `nf_conntrack_max` from `conntrack.maxPerCore` x CPUs
//! (at least `conntrack.min`; 0 leaves it alone) with the hash table sized a
//! quarter of it, and the TCP/UDP timeouts and `tcp_be_liberal` when set.
//! A value is written only when it differs from what the kernel has. A
//! read-only `/sys` (containers) skips the hash size with a warning, as
//! upstream; any other failure stops kube-proxy, as upstream.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::parse_duration;

/// `conntrack` of KubeProxyConfiguration, with upstream's v1alpha1 defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConntrackSettings {
    /// Connections to track per CPU (0: leave `nf_conntrack_max` alone).
    pub max_per_core: u32,
    /// The least `nf_conntrack_max` to set.
    pub min: u32,
    /// `nf_conntrack_tcp_timeout_established` (zero: leave alone).
    pub tcp_established_timeout: Duration,
    /// `nf_conntrack_tcp_timeout_close_wait` (zero: leave alone).
    pub tcp_close_wait_timeout: Duration,
    /// Set `nf_conntrack_tcp_be_liberal` to 1.
    pub tcp_be_liberal: bool,
    /// `nf_conntrack_udp_timeout` (zero: leave alone).
    pub udp_timeout: Duration,
    /// `nf_conntrack_udp_timeout_stream` (zero: leave alone).
    pub udp_stream_timeout: Duration,
}

impl Default for ConntrackSettings {
    fn default() -> Self {
        ConntrackSettings {
            max_per_core: 32768,
            min: 131072,
            tcp_established_timeout: Duration::from_secs(24 * 3600),
            tcp_close_wait_timeout: Duration::from_secs(3600),
            tcp_be_liberal: false,
            udp_timeout: Duration::ZERO,
            udp_stream_timeout: Duration::ZERO,
        }
    }
}

/// The `conntrack` section as written in the file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConntrackFile {
    /// `maxPerCore`.
    pub max_per_core: Option<i64>,
    /// `min`.
    pub min: Option<i64>,
    /// `tcpEstablishedTimeout` (a Go duration).
    pub tcp_established_timeout: Option<String>,
    /// `tcpCloseWaitTimeout`.
    pub tcp_close_wait_timeout: Option<String>,
    /// `tcpBeLiberal`.
    pub tcp_be_liberal: Option<bool>,
    /// `udpTimeout`.
    pub udp_timeout: Option<String>,
    /// `udpStreamTimeout`.
    pub udp_stream_timeout: Option<String>,
}

fn non_negative(field: &str, value: i64) -> Result<u32, String> {
    u32::try_from(value)
        .map_err(|_| format!("conntrack.{field}: must be greater than or equal to 0"))
}

impl ConntrackFile {
    /// The settings with upstream's defaults for what the file leaves out.
    pub fn settings(&self) -> Result<ConntrackSettings, String> {
        let d = ConntrackSettings::default();
        let duration = |field: &str, value: &Option<String>, default: Duration| {
            value
                .as_deref()
                .map(|v| parse_duration(v).map_err(|e| format!("conntrack.{field}: {e}")))
                .transpose()
                .map(|v| v.unwrap_or(default))
        };
        Ok(ConntrackSettings {
            max_per_core: self
                .max_per_core
                .map(|v| non_negative("maxPerCore", v))
                .transpose()?
                .unwrap_or(d.max_per_core),
            min: self
                .min
                .map(|v| non_negative("min", v))
                .transpose()?
                .unwrap_or(d.min),
            tcp_established_timeout: duration(
                "tcpEstablishedTimeout",
                &self.tcp_established_timeout,
                d.tcp_established_timeout,
            )?,
            tcp_close_wait_timeout: duration(
                "tcpCloseWaitTimeout",
                &self.tcp_close_wait_timeout,
                d.tcp_close_wait_timeout,
            )?,
            tcp_be_liberal: self.tcp_be_liberal.unwrap_or(d.tcp_be_liberal),
            udp_timeout: duration("udpTimeout", &self.udp_timeout, d.udp_timeout)?,
            udp_stream_timeout: duration(
                "udpStreamTimeout",
                &self.udp_stream_timeout,
                d.udp_stream_timeout,
            )?,
        })
    }
}

impl ConntrackSettings {
    /// `nf_conntrack_max` to set for `cpus` CPUs (`None`: leave alone).
    pub fn max(&self, cpus: usize) -> Option<u64> {
        if self.max_per_core == 0 {
            return None;
        }
        let scaled = u64::from(self.max_per_core) * cpus as u64;
        Some(scaled.max(u64::from(self.min)))
    }

    /// The `net/netfilter/` sysctls to set, in upstream's order.
    pub fn sysctls(&self, cpus: usize) -> Vec<(&'static str, u64)> {
        let mut out = Vec::new();
        if let Some(max) = self.max(cpus) {
            out.push(("nf_conntrack_max", max));
        }
        let seconds = |d: Duration| d.as_secs();
        if !self.tcp_established_timeout.is_zero() {
            out.push((
                "nf_conntrack_tcp_timeout_established",
                seconds(self.tcp_established_timeout),
            ));
        }
        if !self.tcp_close_wait_timeout.is_zero() {
            out.push((
                "nf_conntrack_tcp_timeout_close_wait",
                seconds(self.tcp_close_wait_timeout),
            ));
        }
        if self.tcp_be_liberal {
            out.push(("nf_conntrack_tcp_be_liberal", 1));
        }
        if !self.udp_timeout.is_zero() {
            out.push(("nf_conntrack_udp_timeout", seconds(self.udp_timeout)));
        }
        if !self.udp_stream_timeout.is_zero() {
            out.push((
                "nf_conntrack_udp_timeout_stream",
                seconds(self.udp_stream_timeout),
            ));
        }
        out
    }
}

/// Where the kernel's knobs live (`/proc/sys`, `/sys`; tests use a
/// scratch directory).
#[derive(Clone, Debug)]
pub struct KernelFiles {
    /// The sysctl tree.
    pub proc_sys: PathBuf,
    /// sysfs.
    pub sys: PathBuf,
}

impl Default for KernelFiles {
    fn default() -> Self {
        KernelFiles {
            proc_sys: PathBuf::from("/proc/sys"),
            sys: PathBuf::from("/sys"),
        }
    }
}

/// What [`apply`] changed: (file, old value, new value).
pub type Changes = Vec<(PathBuf, Option<u64>, u64)>;

fn read(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Writes `value` to `path` unless it already holds it.
fn set(path: PathBuf, value: u64, changes: &mut Changes) -> std::io::Result<()> {
    let old = read(&path);
    if old == Some(value) {
        return Ok(());
    }
    tracing::info!(entry = %path.display(), value, "setting conntrack sysctl");
    std::fs::write(&path, value.to_string())?;
    changes.push((path, old, value));
    Ok(())
}

/// Applies `settings` for `cpus` CPUs.
pub fn apply(
    settings: &ConntrackSettings,
    cpus: usize,
    files: &KernelFiles,
) -> anyhow::Result<Changes> {
    use anyhow::Context;
    let mut changes = Changes::new();
    let netfilter = files.proc_sys.join("net/netfilter");
    for (name, value) in settings.sysctls(cpus) {
        let path = netfilter.join(name);
        set(path.clone(), value, &mut changes)
            .with_context(|| format!("setting {} to {value}", path.display()))?;
        if name == "nf_conntrack_max" {
            // The hash table follows the limit (a quarter of it), as
            // upstream; /sys is read-only in some containers.
            let hashsize = files.sys.join("module/nf_conntrack/parameters/hashsize");
            match set(hashsize.clone(), value / 4, &mut changes) {
                Ok(()) => {}
                Err(err) if err.raw_os_error() == Some(30) => tracing::warn!(
                    "/sys is read-only: cannot modify conntrack limits, problems may arise later"
                ),
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!("setting {} to {}", hashsize.display(), value / 4)
                    });
                }
            }
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> KernelFiles {
        let proc_sys = dir.join("proc");
        let sys = dir.join("sys");
        std::fs::create_dir_all(proc_sys.join("net/netfilter")).unwrap();
        std::fs::create_dir_all(sys.join("module/nf_conntrack/parameters")).unwrap();
        KernelFiles { proc_sys, sys }
    }

    fn write(files: &KernelFiles, name: &str, value: u64) {
        std::fs::write(
            files.proc_sys.join("net/netfilter").join(name),
            format!("{value}\n"),
        )
        .unwrap();
    }

    #[test]
    fn defaults_and_file_match_upstream() {
        let d = ConntrackSettings::default();
        // 2 CPUs x 32768 is below the floor: the floor wins.
        assert_eq!(d.max(2), Some(131072));
        assert_eq!(d.max(8), Some(262144));
        let file: ConntrackFile = serde_yaml::from_str(
            "maxPerCore: 0\ntcpEstablishedTimeout: 2h\ntcpCloseWaitTimeout: 0s\nudpTimeout: 30s\ntcpBeLiberal: true\n",
        )
        .unwrap();
        let s = file.settings().unwrap();
        assert_eq!(s.max(4), None, "maxPerCore 0 leaves the limit alone");
        assert_eq!(
            s.sysctls(4),
            vec![
                ("nf_conntrack_tcp_timeout_established", 7200),
                ("nf_conntrack_tcp_be_liberal", 1),
                ("nf_conntrack_udp_timeout", 30),
            ]
        );
        let bad: ConntrackFile = serde_yaml::from_str("min: -1\n").unwrap();
        assert!(bad.settings().unwrap_err().contains("conntrack.min"));
        assert!(serde_yaml::from_str::<ConntrackFile>("bogus: 1\n").is_err());
    }

    #[test]
    fn writes_only_values_that_differ() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        write(&files, "nf_conntrack_max", 262144);
        write(&files, "nf_conntrack_tcp_timeout_established", 86400);
        write(&files, "nf_conntrack_tcp_timeout_close_wait", 60);
        std::fs::write(
            files.sys.join("module/nf_conntrack/parameters/hashsize"),
            "65536\n",
        )
        .unwrap();
        let changes = apply(&ConntrackSettings::default(), 2, &files).unwrap();
        let changed: Vec<(String, Option<u64>, u64)> = changes
            .iter()
            .map(|(p, old, new)| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    *old,
                    *new,
                )
            })
            .collect();
        assert_eq!(
            changed,
            vec![
                ("nf_conntrack_max".to_string(), Some(262144), 131072),
                ("hashsize".to_string(), Some(65536), 32768),
                (
                    "nf_conntrack_tcp_timeout_close_wait".to_string(),
                    Some(60),
                    3600
                ),
            ],
            "the established timeout already matched"
        );
        assert_eq!(
            read(&files.proc_sys.join("net/netfilter/nf_conntrack_max")),
            Some(131072)
        );
        // Again: nothing to do.
        assert!(
            apply(&ConntrackSettings::default(), 2, &files)
                .unwrap()
                .is_empty()
        );
        // A knob that cannot be written stops kube-proxy, as upstream.
        let missing = KernelFiles {
            proc_sys: dir.path().join("nowhere"),
            sys: files.sys.clone(),
        };
        assert!(apply(&ConntrackSettings::default(), 2, &missing).is_err());
    }
}
