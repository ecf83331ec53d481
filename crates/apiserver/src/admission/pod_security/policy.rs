//! The namespace's policy from its `pod-security.kubernetes.io/` labels
//! (upstream `api.PolicyToEvaluate`): a level and a version for each of
//! enforce, audit and warn, with the label errors.

use std::collections::BTreeMap;
use std::fmt;

use corten_apimachinery::{ErrorList, FieldError, Path};

use super::checks::Level;

/// The label prefix.
pub const PREFIX: &str = "pod-security.kubernetes.io/";

/// A level at a version (`restricted:latest`, `baseline:v1.30`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelVersion {
    /// The level.
    pub level: Level,
    /// `latest` or `v1.<minor>`.
    pub version: String,
}

impl LevelVersion {
    /// `privileged:latest`.
    pub fn privileged() -> Self {
        LevelVersion {
            level: Level::Privileged,
            version: "latest".into(),
        }
    }
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level.name(), self.version)
    }
}

/// The three modes of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Pods that violate it are refused.
    pub enforce: LevelVersion,
    /// Violations are recorded in the audit log.
    pub audit: LevelVersion,
    /// Violations are returned as warnings.
    pub warn: LevelVersion,
}

impl Policy {
    /// `privileged:latest` in every mode (upstream's default policy).
    pub fn privileged() -> Self {
        Policy {
            enforce: LevelVersion::privileged(),
            audit: LevelVersion::privileged(),
            warn: LevelVersion::privileged(),
        }
    }
}

/// Whether a version label value is `latest` or `v1.<minor>`.
pub fn valid_version(v: &str) -> bool {
    v == "latest"
        || v.strip_prefix("v1.").is_some_and(|minor| {
            minor == "0"
                || (!minor.is_empty()
                    && !minor.starts_with('0')
                    && minor.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// The policy of a namespace with these labels (unset modes come from
/// `defaults`, the plugin configuration's) and the label errors.
/// A bad enforce level fails closed (restricted), bad audit and warn
/// levels fail open (privileged), a bad version reads as latest.
pub fn policy_to_evaluate(
    labels: &BTreeMap<String, String>,
    defaults: &Policy,
) -> (Policy, ErrorList) {
    let mut errs = ErrorList::new();
    let path = Path::new("metadata").child("labels");
    let mut mode =
        |name: &str, fail: Level, default: &LevelVersion| -> (LevelVersion, bool, bool) {
            let mut lv = default.clone();
            let level_key = format!("{PREFIX}{name}");
            let version_key = format!("{level_key}-version");
            let mut level_ok = false;
            if let Some(v) = labels.get(&level_key) {
                match Level::parse(v) {
                    Some(l) => {
                        lv.level = l;
                        level_ok = true;
                    }
                    None => {
                        lv.level = fail;
                        errs.push(FieldError::invalid(
                            &path.key(&level_key),
                            v.as_str(),
                            "must be one of privileged, baseline, restricted",
                        ));
                    }
                }
            }
            let has_version = labels.contains_key(&version_key);
            if let Some(v) = labels.get(&version_key) {
                if valid_version(v) {
                    lv.version = v.clone();
                } else {
                    lv.version = "latest".into();
                    errs.push(FieldError::invalid(
                        &path.key(&version_key),
                        v.as_str(),
                        "must be \"latest\" or \"v1.x\"",
                    ));
                }
            }
            (lv, level_ok, has_version)
        };
    let (enforce, enforce_level_set, _) = mode("enforce", Level::Restricted, &defaults.enforce);
    let (audit, _, _) = mode("audit", Level::Privileged, &defaults.audit);
    let has_warn_level = labels.contains_key(&format!("{PREFIX}warn"));
    let (mut warn, _, has_warn_version) = mode("warn", Level::Privileged, &defaults.warn);
    // An explicit, stricter enforce level also warns (workload templates
    // are warned about at the level their pods will be refused at).
    if !has_warn_level && enforce_level_set && enforce.level > warn.level {
        warn.level = enforce.level;
        if !has_warn_version {
            warn.version = enforce.version.clone();
        }
    }
    (
        Policy {
            enforce,
            audit,
            warn,
        },
        errs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_pick_levels_and_versions() {
        let (p, errs) = policy_to_evaluate(&BTreeMap::new(), &Policy::privileged());
        assert!(errs.is_empty());
        assert_eq!(p.enforce.to_string(), "privileged:latest");
        let (p, errs) = policy_to_evaluate(
            &labels(&[("enforce", "baseline"), ("enforce-version", "v1.30")]),
            &Policy::privileged(),
        );
        assert!(errs.is_empty());
        assert_eq!(p.enforce.to_string(), "baseline:v1.30");
        // Warn follows a stricter enforce level, with its version.
        assert_eq!(p.warn.to_string(), "baseline:v1.30");
        assert_eq!(p.audit.to_string(), "privileged:latest");
        let (p, _) = policy_to_evaluate(
            &labels(&[("enforce", "baseline"), ("warn", "privileged")]),
            &Policy::privileged(),
        );
        assert_eq!(p.warn.level, Level::Privileged);
        // Unlabelled modes take the configured defaults.
        let mut defaults = Policy::privileged();
        defaults.enforce.level = Level::Baseline;
        defaults.audit = LevelVersion {
            level: Level::Restricted,
            version: "v1.29".into(),
        };
        let (p, _) = policy_to_evaluate(&BTreeMap::new(), &defaults);
        assert_eq!(p, defaults);
        let (p, _) = policy_to_evaluate(&labels(&[("enforce", "privileged")]), &defaults);
        assert_eq!(p.enforce.level, Level::Privileged);
        assert_eq!(p.audit.to_string(), "restricted:v1.29");
    }

    #[test]
    fn bad_labels_are_errors_with_upstream_fallbacks() {
        let (p, errs) = policy_to_evaluate(
            &labels(&[
                ("enforce", "strict"),
                ("warn", "loud"),
                ("audit-version", "1.30"),
            ]),
            &Policy::privileged(),
        );
        assert_eq!(p.enforce.level, Level::Restricted);
        assert_eq!(p.warn.level, Level::Privileged);
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": must be one of privileged, baseline, restricted",
                "metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: \"1.30\": must be \"latest\" or \"v1.x\"",
                "metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: \"loud\": must be one of privileged, baseline, restricted",
            ]
        );
        assert!(valid_version("v1.0") && valid_version("v1.33"));
        assert!(!valid_version("v1.03") && !valid_version("v2.1") && !valid_version("v1."));
    }
}
