//! Eviction signals and thresholds: parsing `evictionHard`, `evictionSoft`,
//! `evictionSoftGracePeriod` and `evictionMinimumReclaim`, and deciding which
//! thresholds an observation meets (upstream `ParseThresholdConfig` and
//! `thresholdsMet`). Pure functions; the manager keeps the time-dependent
//! state.

use std::collections::BTreeMap;
use std::time::Duration;

use corten_apimachinery::quantity::Quantity;

use crate::config::KubeletConfiguration;

/// An eviction signal (upstream `evictionapi.Signal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// `memory.available`: memory capacity minus the working set.
    MemoryAvailable,
    /// `nodefs.available`: free bytes on the kubelet's filesystem.
    NodeFsAvailable,
    /// `nodefs.inodesFree`: free inodes on the kubelet's filesystem.
    NodeFsInodesFree,
    /// `imagefs.available`: free bytes on the runtime's image filesystem.
    ImageFsAvailable,
    /// `imagefs.inodesFree`: free inodes on the image filesystem.
    ImageFsInodesFree,
    /// `pid.available`: PIDs left before the pid limit.
    PidAvailable,
}

/// Every signal, in upstream's eviction order (memory is reclaimed first).
pub const SIGNALS: [Signal; 6] = [
    Signal::MemoryAvailable,
    Signal::NodeFsAvailable,
    Signal::NodeFsInodesFree,
    Signal::ImageFsAvailable,
    Signal::ImageFsInodesFree,
    Signal::PidAvailable,
];

impl Signal {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory.available",
            Signal::NodeFsAvailable => "nodefs.available",
            Signal::NodeFsInodesFree => "nodefs.inodesFree",
            Signal::ImageFsAvailable => "imagefs.available",
            Signal::ImageFsInodesFree => "imagefs.inodesFree",
            Signal::PidAvailable => "pid.available",
        }
    }

    /// Parses a configuration name.
    pub fn parse(name: &str) -> Option<Self> {
        SIGNALS.into_iter().find(|s| s.as_str() == name)
    }

    /// The resource the signal starves, as eviction messages name it.
    pub fn resource(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory",
            Signal::NodeFsAvailable | Signal::ImageFsAvailable => "ephemeral-storage",
            Signal::NodeFsInodesFree | Signal::ImageFsInodesFree => "inodes",
            Signal::PidAvailable => "pids",
        }
    }

    /// The node condition the signal drives.
    pub fn condition(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "MemoryPressure",
            Signal::PidAvailable => "PIDPressure",
            _ => "DiskPressure",
        }
    }

    /// Whether quantities of this signal are bytes (binary suffixes in messages).
    pub fn is_bytes(self) -> bool {
        matches!(
            self,
            Signal::MemoryAvailable | Signal::NodeFsAvailable | Signal::ImageFsAvailable
        )
    }
}

/// A threshold value: an absolute quantity or a fraction of capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// An absolute amount (bytes, inodes, pids).
    Quantity(i64),
    /// A fraction (0..=1) of the signal's capacity.
    Percentage(f64),
}

impl Value {
    /// The amount for a signal whose capacity is `capacity`.
    pub fn amount(self, capacity: i64) -> i64 {
        match self {
            Value::Quantity(q) => q,
            Value::Percentage(p) => (capacity as f64 * p) as i64,
        }
    }

    /// Parses `100Mi`, `10%`. `Ok(None)` for a zero value (the threshold is
    /// disabled, as upstream drops zero thresholds).
    fn parse(signal: &str, text: &str) -> Result<Option<Self>, String> {
        if let Some(percent) = text.strip_suffix('%') {
            let p: f64 = percent
                .trim()
                .parse()
                .map_err(|_| format!("invalid eviction threshold {signal}: {text:?}"))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!(
                    "eviction percentage threshold {signal} must be >= 0% and <= 100%: {text}"
                ));
            }
            return Ok((p > 0.0).then_some(Value::Percentage(p / 100.0)));
        }
        let q = Quantity::parse(text.trim())
            .map_err(|e| format!("invalid eviction threshold {signal}: {text:?}: {e}"))?;
        let v = q.value();
        if v < 0 {
            return Err(format!(
                "eviction threshold {signal} must be positive: {text}"
            ));
        }
        Ok((v > 0).then_some(Value::Quantity(v)))
    }
}

/// One threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    /// The signal.
    pub signal: Signal,
    /// Met when the signal's available amount is below this.
    pub value: Value,
    /// Zero for hard thresholds; how long a soft one must hold.
    pub grace_period: Duration,
    /// Extra amount to reclaim once met (`evictionMinimumReclaim`).
    pub min_reclaim: Option<Value>,
    /// Whether this is a hard threshold.
    pub hard: bool,
}

impl Threshold {
    /// Identity within a configuration (a signal has at most one hard and one soft threshold).
    pub fn key(&self) -> (Signal, bool) {
        (self.signal, self.hard)
    }
}

/// One signal's observed state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Observation {
    /// What is left.
    pub available: i64,
    /// The total (for percentages).
    pub capacity: i64,
}

/// Observations by signal (a missing signal cannot meet a threshold).
pub type Observations = BTreeMap<Signal, Observation>;

fn signal_of(name: &str) -> Result<Signal, String> {
    Signal::parse(name).ok_or_else(|| format!("unsupported eviction signal {name}"))
}

/// Every configured threshold, hard ones first.
pub fn from_config(c: &KubeletConfiguration) -> Result<Vec<Threshold>, String> {
    let empty = BTreeMap::new();
    let mut min_reclaim = BTreeMap::new();
    for (name, text) in c.eviction_minimum_reclaim.as_ref().unwrap_or(&empty) {
        let signal = signal_of(name)?;
        if let Some(v) = Value::parse(name, text)? {
            min_reclaim.insert(signal, v);
        }
    }
    let mut grace = BTreeMap::new();
    for (name, text) in c.eviction_soft_grace_period.as_ref().unwrap_or(&empty) {
        let signal = signal_of(name)?;
        let d = crate::duration::parse_go_duration(text)
            .map_err(|e| format!("invalid eviction grace period {name}: {e}"))?;
        grace.insert(signal, d);
    }
    let mut out = Vec::new();
    for (name, text) in c.eviction_hard.as_ref().unwrap_or(&empty) {
        let signal = signal_of(name)?;
        if let Some(value) = Value::parse(name, text)? {
            out.push(Threshold {
                signal,
                value,
                grace_period: Duration::ZERO,
                min_reclaim: min_reclaim.get(&signal).copied(),
                hard: true,
            });
        }
    }
    for (name, text) in c.eviction_soft.as_ref().unwrap_or(&empty) {
        let signal = signal_of(name)?;
        let Some(value) = Value::parse(name, text)? else {
            continue;
        };
        let grace_period = *grace.get(&signal).ok_or_else(|| {
            format!("no grace period specified for soft eviction threshold {name}")
        })?;
        if grace_period.is_zero() {
            return Err(format!(
                "soft eviction threshold {name} must have a positive grace period"
            ));
        }
        out.push(Threshold {
            signal,
            value,
            grace_period,
            min_reclaim: min_reclaim.get(&signal).copied(),
            hard: false,
        });
    }
    Ok(out)
}

/// Parses the thresholds of a configuration (for validation).
#[derive(Debug)]
pub struct Thresholds;

impl Thresholds {
    /// See [`from_config`].
    pub fn from_config(c: &KubeletConfiguration) -> Result<Vec<Threshold>, String> {
        from_config(c)
    }
}

/// The thresholds `observations` meet. With `enforce_min_reclaim`, a
/// threshold stays met until `evictionMinimumReclaim` beyond it is free
/// (used for thresholds met in the previous pass).
pub fn met(
    thresholds: &[Threshold],
    observations: &Observations,
    enforce_min_reclaim: bool,
) -> Vec<Threshold> {
    thresholds
        .iter()
        .filter(|t| {
            let Some(o) = observations.get(&t.signal) else {
                return false;
            };
            let mut quantity = t.value.amount(o.capacity);
            if enforce_min_reclaim && let Some(extra) = t.min_reclaim {
                quantity += extra.amount(o.capacity);
            }
            o.available < quantity
        })
        .copied()
        .collect()
}

/// `a` plus the thresholds of `b` not in it.
pub fn merge(mut a: Vec<Threshold>, b: Vec<Threshold>) -> Vec<Threshold> {
    for t in b {
        if !a.iter().any(|x| x.key() == t.key()) {
            a.push(t);
        }
    }
    a
}

fn suffixed(value: i64, base: i64, suffixes: &[&str]) -> String {
    if value == 0 {
        return "0".into();
    }
    let mut v = value;
    let mut unit = "";
    for s in suffixes {
        if v % base != 0 {
            break;
        }
        v /= base;
        unit = s;
    }
    format!("{v}{unit}")
}

/// A quantity as Go's `resource.Quantity` prints it (binary suffixes for
/// bytes, decimal ones otherwise), for upstream's eviction messages.
pub fn format_quantity(value: i64, bytes: bool) -> String {
    if bytes {
        suffixed(value, 1024, &["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])
    } else {
        suffixed(value, 1000, &["k", "M", "G", "T", "P", "E"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> KubeletConfiguration {
        let (c, _) = KubeletConfiguration::parse(yaml, std::path::Path::new("k.yaml")).unwrap();
        c.defaulted()
    }

    #[test]
    fn defaults_and_soft_thresholds() {
        let c = config(
            "evictionSoft: {memory.available: 1Gi}\n\
             evictionSoftGracePeriod: {memory.available: 1m30s}\n\
             evictionMinimumReclaim: {memory.available: 0.5Gi}\n",
        );
        let t = from_config(&c).unwrap();
        assert_eq!(t.len(), 5);
        let memory_hard = t
            .iter()
            .find(|t| t.key() == (Signal::MemoryAvailable, true));
        assert_eq!(memory_hard.unwrap().value, Value::Quantity(100 << 20));
        let nodefs = t.iter().find(|t| t.signal == Signal::NodeFsAvailable);
        assert_eq!(nodefs.unwrap().value, Value::Percentage(0.1));
        let soft = t.iter().find(|t| !t.hard).unwrap();
        assert_eq!(soft.grace_period, Duration::from_secs(90));
        assert_eq!(soft.min_reclaim, Some(Value::Quantity(512 << 20)));
    }

    #[test]
    fn invalid_thresholds() {
        let err = |yaml: &str| from_config(&config(yaml)).unwrap_err();
        assert_eq!(
            err("evictionHard: {memory.free: 1Gi}\n"),
            "unsupported eviction signal memory.free"
        );
        assert!(err("evictionHard: {memory.available: 120%}\n").contains("<= 100%"));
        assert!(err("evictionHard: {memory.available: -1Mi}\n").contains("must be positive"));
        assert!(err("evictionSoft: {memory.available: 1Gi}\n").contains("no grace period"));
        // Zero disables a threshold.
        let t = from_config(&config(
            "evictionHard: {memory.available: '0%', pid.available: '0'}\n",
        ));
        assert!(t.unwrap().is_empty());
    }

    #[test]
    fn met_with_minimum_reclaim() {
        let t = Threshold {
            signal: Signal::MemoryAvailable,
            value: Value::Quantity(100),
            grace_period: Duration::ZERO,
            min_reclaim: Some(Value::Percentage(0.5)),
            hard: true,
        };
        let obs = |available| {
            Observations::from([(
                Signal::MemoryAvailable,
                Observation {
                    available,
                    capacity: 1000,
                },
            )])
        };
        assert_eq!(met(&[t], &obs(99), false).len(), 1);
        assert!(met(&[t], &obs(100), false).is_empty());
        // Once met, 100 + 50% of 1000 must be free before it resolves.
        assert_eq!(met(&[t], &obs(500), true).len(), 1);
        assert!(met(&[t], &obs(600), true).is_empty());
        assert!(met(&[t], &Observations::new(), false).is_empty());
    }

    #[test]
    fn quantities_print_like_go() {
        assert_eq!(format_quantity(100 << 20, true), "100Mi");
        assert_eq!(format_quantity(1536, true), "1536");
        assert_eq!(format_quantity(3 << 10, true), "3Ki");
        assert_eq!(format_quantity(1000, false), "1k");
        assert_eq!(format_quantity(32768, false), "32768");
        assert_eq!(format_quantity(0, true), "0");
    }
}
