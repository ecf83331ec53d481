//! Kubernetes feature gates: upstream 1.33's table and `--feature-gates`
//! parsing, and the process's gates that code consults.
//!
//! Upstream binaries share one feature gate (component-base `featuregate`)
//! holding every Kubernetes gate, whichever component reads it. Corten keeps
//! the same table (see [`table`](self) for its sources) and the same parsing and
//! validation, so a manifest or unit written for upstream starts (or fails) the
//! same way:
//!
//! - `--feature-gates=A=true,B=false`, repeatable; each occurrence adds to what
//!   was set before, a later value for the same gate wins;
//! - `AllAlpha=` / `AllBeta=` set every alpha / beta gate not set explicitly;
//! - an unknown gate, a gate locked to its default, or a value that is not a
//!   Go `strconv.ParseBool` boolean is an error with upstream's message;
//! - setting a GA or deprecated gate logs upstream's warning.
//!
//! It lives here, below every crate, because resource strategies (in
//! `corten-api`) drop and validate gated fields as upstream does; the flag,
//! logging and metric live in `corten-component-base::feature_gates`.
//!
//! ```
//! use corten_apimachinery::feature_gates::FeatureGates;
//!
//! let mut gates = FeatureGates::new();
//! gates.set("MaxUnavailableStatefulSet=true").unwrap();
//! assert_eq!(gates.enabled("MaxUnavailableStatefulSet"), Some(true));
//! assert_eq!(
//!     gates.set("Foo=true").unwrap_err(),
//!     "unrecognized feature gate: Foo"
//! );
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

mod table;

/// Maturity of a feature gate, upstream's `PreRelease`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Off by default, may change or go away.
    Alpha,
    /// Usually on by default.
    Beta,
    /// Generally available; the gate only remains for compatibility.
    Ga,
    /// Scheduled for removal.
    Deprecated,
}

impl Stage {
    /// Upstream's spelling, as in the `stage` label of
    /// `kubernetes_feature_enabled` (GA is the empty string upstream).
    pub fn label(self) -> &'static str {
        match self {
            Stage::Alpha => "ALPHA",
            Stage::Beta => "BETA",
            Stage::Ga => "",
            Stage::Deprecated => "DEPRECATED",
        }
    }
}

/// One known gate at Kubernetes 1.33.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateSpec {
    /// The gate's name, as written in `--feature-gates`.
    pub name: &'static str,
    /// Its maturity.
    pub stage: Stage,
    /// Whether it is on when not set.
    pub default: bool,
    /// Whether setting it to anything but `default` is an error.
    pub locked: bool,
}

/// The special gate that sets every alpha gate.
pub const ALL_ALPHA: &str = "AllAlpha";
/// The special gate that sets every beta gate.
pub const ALL_BETA: &str = "AllBeta";

const SPECIAL_GATES: &[GateSpec] = &[
    GateSpec {
        name: ALL_ALPHA,
        stage: Stage::Alpha,
        default: false,
        locked: false,
    },
    GateSpec {
        name: ALL_BETA,
        stage: Stage::Beta,
        default: false,
        locked: false,
    },
];

/// Every known gate, `AllAlpha` and `AllBeta` included, sorted by name.
pub fn known() -> &'static [GateSpec] {
    static ALL: OnceLock<Vec<GateSpec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<GateSpec> = SPECIAL_GATES
            .iter()
            .chain(table::KUBE_GATES)
            .chain(table::COMPONENT_GATES)
            .copied()
            .collect();
        all.sort_by(|a, b| a.name.cmp(b.name));
        all.dedup_by(|a, b| a.name == b.name);
        all
    })
}

/// The spec of the gate called `name`, if upstream 1.33 knows it.
pub fn spec(name: &str) -> Option<&'static GateSpec> {
    let all = known();
    all.binary_search_by(|g| g.name.cmp(name))
        .ok()
        .map(|i| &all[i])
}

/// Parses a boolean as Go's `strconv.ParseBool`, with its error text.
pub fn parse_go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            go_quote(value)
        )),
    }
}

/// Go's `%q` for the strings that can reach an error message here.
fn go_quote(value: &str) -> String {
    format!("{value:?}")
}

/// A set of feature gate values over the known defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureGates {
    /// Everything set so far, as given (upstream's `enabledRaw`).
    raw: BTreeMap<String, bool>,
    /// Resolved explicit values, `AllAlpha`/`AllBeta` expanded.
    enabled: BTreeMap<&'static str, bool>,
    /// Upstream's warnings for the gates set (GA or deprecated ones).
    warnings: Vec<String>,
}

impl FeatureGates {
    /// Every gate at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one `--feature-gates` value (`A=true,B=false`), as upstream's
    /// `Set`: the pairs are added to what was set before and the whole is
    /// validated again. On error nothing changes.
    pub fn set(&mut self, value: &str) -> Result<(), String> {
        let map = parse_pairs(value)?;
        self.set_from_map(&map)
    }

    /// Adds `map` to the gates set so far and validates the result, as
    /// upstream's `SetFromMap` (used for config files' `featureGates`). On error
    /// nothing changes.
    pub fn set_from_map(&mut self, map: &BTreeMap<String, bool>) -> Result<(), String> {
        let mut raw = self.raw.clone();
        raw.extend(map.iter().map(|(k, v)| (k.clone(), *v)));
        let (enabled, warnings) = resolve(&raw)?;
        self.raw = raw;
        self.enabled = enabled;
        self.warnings = warnings;
        Ok(())
    }

    /// Whether the gate is on; `None` for a gate upstream does not know.
    pub fn enabled(&self, name: &str) -> Option<bool> {
        let spec = spec(name)?;
        Some(self.enabled.get(spec.name).copied().unwrap_or(spec.default))
    }

    /// The gates set explicitly, as given.
    pub fn explicit(&self) -> &BTreeMap<String, bool> {
        &self.raw
    }

    /// Upstream's warnings for the gates set: `Setting GA feature gate X=true.
    /// It will be removed in a future release.` (or `deprecated`).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Every known gate with its stage and current value, sorted by name.
    pub fn all(&self) -> impl Iterator<Item = (&'static GateSpec, bool)> + '_ {
        known()
            .iter()
            .map(|g| (g, self.enabled.get(g.name).copied().unwrap_or(g.default)))
    }
}

/// Splits `A=true,B=false` as upstream's `Set` does.
fn parse_pairs(value: &str) -> Result<BTreeMap<String, bool>, String> {
    let mut map = BTreeMap::new();
    for pair in value.split(',') {
        if pair.is_empty() {
            continue;
        }
        let (key, val) = match pair.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => return Err(format!("missing bool value for {}", pair.trim())),
        };
        let on =
            parse_go_bool(val).map_err(|e| format!("invalid value of {key}={val}, err: {e}"))?;
        map.insert(key.to_string(), on);
    }
    Ok(map)
}

/// Resolved explicit values and the warnings for them.
type Resolved = (BTreeMap<&'static str, bool>, Vec<String>);

/// Validates `raw` and expands `AllAlpha`/`AllBeta`, as upstream's
/// `unsafeSetFromMap`. Upstream walks a Go map (random order); we walk it
/// sorted so errors are reproducible. Several errors are joined as upstream's
/// aggregate (`[a, b]`); an unknown gate stops the walk as upstream.
fn resolve(raw: &BTreeMap<String, bool>) -> Result<Resolved, String> {
    let mut errors = Vec::new();
    let mut enabled = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut all_alpha = None;
    let mut all_beta = None;
    for (name, &value) in raw {
        let Some(spec) = spec(name) else {
            errors.push(format!("unrecognized feature gate: {name}"));
            break;
        };
        if spec.locked && spec.default != value {
            errors.push(format!(
                "cannot set feature gate {name} to {value}, feature is locked to {}",
                spec.default
            ));
            continue;
        }
        enabled.insert(spec.name, value);
        match spec.name {
            ALL_ALPHA => all_alpha = Some(value),
            ALL_BETA => all_beta = Some(value),
            _ => match spec.stage {
                Stage::Deprecated => warnings.push(format!(
                    "Setting deprecated feature gate {name}={value}. It will be removed in a future release."
                )),
                Stage::Ga => warnings.push(format!(
                    "Setting GA feature gate {name}={value}. It will be removed in a future release."
                )),
                Stage::Alpha | Stage::Beta => {}
            },
        }
    }
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0)),
        _ => return Err(format!("[{}]", errors.join(", "))),
    }
    // Explicit values win over AllAlpha/AllBeta whatever the order.
    for (stage, value) in [(Stage::Alpha, all_alpha), (Stage::Beta, all_beta)] {
        let Some(value) = value else { continue };
        for gate in known() {
            if gate.stage == stage && !SPECIAL_GATES.iter().any(|s| s.name == gate.name) {
                enabled.entry(gate.name).or_insert(value);
            }
        }
    }
    Ok((enabled, warnings))
}

static GLOBAL: OnceLock<FeatureGates> = OnceLock::new();

/// Makes `gates` the process's gates; the first call wins and its gates are
/// returned. Daemons call it once at start (component-base's `install`).
pub fn set_global(gates: FeatureGates) -> &'static FeatureGates {
    GLOBAL.get_or_init(|| gates)
}

/// The process's gates (set with [`set_global`], else all defaults). Code
/// that behaves differently per gate asks here, as upstream asks
/// `utilfeature.DefaultFeatureGate`.
pub fn global() -> &'static FeatureGates {
    static DEFAULTS: OnceLock<FeatureGates> = OnceLock::new();
    GLOBAL
        .get()
        .unwrap_or_else(|| DEFAULTS.get_or_init(FeatureGates::new))
}

/// Whether the gate `name` is on for this process; an unknown name is off.
pub fn enabled(name: &str) -> bool {
    global().enabled(name).unwrap_or(false)
}

#[cfg(test)]
mod tests;
