//! The `--feature-gates` flag every daemon takes, and installing its value
//! as the process's gates (logging upstream's warnings and exposing
//! `kubernetes_feature_enabled`). The table, parsing and the process's gates
//! are in [`corten_apimachinery::feature_gates`], re-exported here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use prometheus::{IntGaugeVec, Opts};

use crate::flags::EXIT_USAGE;
pub use corten_apimachinery::feature_gates::*;

/// The `--feature-gates` flag; `#[command(flatten)]` it into a daemon's options.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct FeatureGateOptions {
    /// A set of key=value pairs that describe feature gates for alpha/experimental
    /// features (upstream 1.33's gates; Corten validates and exposes all of
    /// them, and honours the ones its docs list).
    #[arg(long = "feature-gates", value_name = "mapStringBool", action = clap::ArgAction::Append)]
    pub feature_gates: Vec<String>,
}

impl FeatureGateOptions {
    /// The gates the flags set over the defaults.
    pub fn gates(&self) -> Result<FeatureGates, String> {
        self.gates_over(&BTreeMap::new())
    }

    /// The gates of a config file's `featureGates` with the flags on top (a
    /// gate in both takes the flag's value), as kubelet and kube-proxy do.
    /// Errors name the flag value (pflag's `invalid argument` form) or the
    /// config file.
    pub fn gates_over(&self, file: &BTreeMap<String, bool>) -> Result<FeatureGates, String> {
        let mut from_flags = FeatureGates::new();
        for value in &self.feature_gates {
            from_flags.set(value).map_err(|e| {
                format!("invalid argument {value:?} for \"--feature-gates\" flag: {e}")
            })?;
        }
        let mut gates = FeatureGates::new();
        let mut merged = file.clone();
        merged.extend(from_flags.explicit().clone());
        gates
            .set_from_map(&merged)
            .map_err(|e| format!("invalid featureGates in the config file: {e}"))?;
        Ok(gates)
    }

    /// [`Self::gates`], or `Error: <message>` on stderr and exit with
    /// [`EXIT_USAGE`], like the other flag errors.
    pub fn gates_or_exit(&self) -> FeatureGates {
        match self.gates() {
            Ok(gates) => gates,
            Err(message) => {
                eprintln!("Error: {message}");
                std::process::exit(EXIT_USAGE);
            }
        }
    }
}

/// Makes `gates` the process's gates (the first call wins), logs upstream's
/// warnings for them and exposes `kubernetes_feature_enabled`. Call it once
/// logging is set up.
pub fn install(gates: FeatureGates) {
    let gates = set_global(gates);
    for warning in gates.warnings() {
        tracing::warn!("{warning}");
    }
    if !gates.explicit().is_empty() {
        tracing::info!(gates = ?gates.explicit(), "feature gates set");
    }
    register_metrics(gates);
}

/// Help text of `kubernetes_feature_enabled`, as upstream.
const FEATURE_ENABLED_HELP: &str =
    "This metric records the data about the stage and enablement of a k8s feature.";

/// Registers `kubernetes_feature_enabled{name,stage}` (1 or 0 per gate) in the
/// default registry. Only the first call registers.
pub fn register_metrics(gates: &FeatureGates) {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        let result = feature_gauge(gates).and_then(|g| prometheus::register(Box::new(g)));
        if let Err(err) = result {
            tracing::warn!(error = %err, "registering kubernetes_feature_enabled");
        }
    });
}

fn feature_gauge(gates: &FeatureGates) -> prometheus::Result<IntGaugeVec> {
    let gauge = IntGaugeVec::new(
        Opts::new("kubernetes_feature_enabled", FEATURE_ENABLED_HELP),
        &["name", "stage"],
    )?;
    for (spec, on) in gates.all() {
        gauge
            .with_label_values(&[spec.name, spec.stage.label()])
            .set(i64::from(on));
    }
    Ok(gauge)
}

#[cfg(test)]
mod tests;
