//! The PodSecurity plugin's `PodSecurityConfiguration`
//! (`pod-security.admission.config.k8s.io/v1`, `v1beta1`, `v1alpha1`), from
//! the admission configuration file: the policy of namespaces without
//! labels (`defaults`) and the requests never judged (`exemptions`).

use std::collections::BTreeSet;

use corten_apimachinery::names::{is_dns1123_label, is_dns1123_subdomain};
use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::Value;

use super::checks::Level;
use super::policy::{LevelVersion, Policy, valid_version};

const API_VERSIONS: &[&str] = &[
    "pod-security.admission.config.k8s.io/v1",
    "pod-security.admission.config.k8s.io/v1beta1",
    "pod-security.admission.config.k8s.io/v1alpha1",
];

/// Requests PodSecurity lets through unjudged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exemptions {
    /// Requesting users.
    pub usernames: BTreeSet<String>,
    /// Namespaces.
    pub namespaces: BTreeSet<String>,
    /// Pods (and templates) with these `runtimeClassName`s.
    pub runtime_classes: BTreeSet<String>,
}

/// Why a request was exempt: upstream's values of the
/// `pod-security.kubernetes.io/exempt` audit annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exemption {
    /// The namespace is exempt.
    Namespace,
    /// The requesting user is exempt.
    User,
    /// The pod's runtime class is exempt.
    RuntimeClass,
}

impl Exemption {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Exemption::Namespace => "namespace",
            Exemption::User => "user",
            Exemption::RuntimeClass => "runtimeClass",
        }
    }
}

/// The plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSecurityConfig {
    /// The policy of a namespace without labels (per mode).
    pub defaults: Policy,
    /// What is never judged.
    pub exemptions: Exemptions,
}

impl Default for PodSecurityConfig {
    /// Upstream's default: privileged:latest for every mode, no exemptions.
    fn default() -> Self {
        PodSecurityConfig {
            defaults: Policy::privileged(),
            exemptions: Exemptions::default(),
        }
    }
}

impl PodSecurityConfig {
    /// Parses the plugin's configuration; the errors name the field, like
    /// upstream's `ValidatePodSecurityConfiguration`.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "PodSecurityConfiguration" || !API_VERSIONS.contains(&api_version) {
            return Err(format!(
                "PodSecurity: unexpected apiVersion/kind {api_version:?}/{kind:?}: want kind PodSecurityConfiguration in one of {}",
                API_VERSIONS.join(", ")
            ));
        }
        let mut errs = ErrorList::new();
        let defaults = v.get("defaults").unwrap_or(&Value::Null);
        let mut mode = |name: &str| -> LevelVersion {
            let path = Path::new("defaults");
            let level = defaults
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("privileged");
            let version_key = format!("{name}-version");
            let version = defaults
                .get(&version_key)
                .and_then(Value::as_str)
                .unwrap_or("latest");
            let parsed = Level::parse(level).unwrap_or_else(|| {
                errs.push(FieldError::invalid(
                    &path.child(name),
                    level,
                    "must be one of privileged, baseline, restricted",
                ));
                Level::Privileged
            });
            if !valid_version(version) {
                errs.push(FieldError::invalid(
                    &path.child(&version_key),
                    version,
                    "must be \"latest\" or \"v1.x\"",
                ));
            }
            LevelVersion {
                level: parsed,
                version: version.to_string(),
            }
        };
        let defaults = Policy {
            enforce: mode("enforce"),
            warn: mode("warn"),
            audit: mode("audit"),
        };
        let ex = v.get("exemptions").unwrap_or(&Value::Null);
        let mut list = |key: &str, check: &dyn Fn(&str) -> Vec<String>| -> BTreeSet<String> {
            let path = Path::new("exemptions").child(key);
            let mut set = BTreeSet::new();
            for (i, item) in ex
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let s = item.as_str().unwrap_or("");
                let problems = check(s);
                if !problems.is_empty() {
                    errs.push(FieldError::invalid(&path.index(i), s, &problems.join(", ")));
                } else if !set.insert(s.to_string()) {
                    errs.push(FieldError::duplicate(&path.index(i), s));
                }
            }
            set
        };
        let exemptions = Exemptions {
            namespaces: list("namespaces", &is_dns1123_label),
            runtime_classes: list("runtimeClasses", &is_dns1123_subdomain),
            usernames: list("usernames", &|s: &str| {
                if s.is_empty() {
                    vec!["username must not be empty".into()]
                } else {
                    Vec::new()
                }
            }),
        };
        if !errs.is_empty() {
            let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            return Err(format!(
                "PodSecurity: invalid configuration: {}",
                shown.join(", ")
            ));
        }
        Ok(PodSecurityConfig {
            defaults,
            exemptions,
        })
    }

    /// Whether requests in `namespace` are exempt.
    pub fn exempt_namespace(&self, namespace: &str) -> bool {
        !namespace.is_empty() && self.exemptions.namespaces.contains(namespace)
    }

    /// Whether requests by `user` are exempt.
    pub fn exempt_user(&self, user: &str) -> bool {
        !user.is_empty() && self.exemptions.usernames.contains(user)
    }

    /// Whether a pod spec's runtime class is exempt.
    pub fn exempt_runtime_class(&self, spec: &Value) -> bool {
        spec.get("runtimeClassName")
            .and_then(Value::as_str)
            .is_some_and(|rc| !rc.is_empty() && self.exemptions.runtime_classes.contains(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_exemptions_are_read() {
        let c = PodSecurityConfig::from_value(&json!({
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "baseline", "enforce-version": "v1.30", "warn": "restricted"},
            "exemptions": {"namespaces": ["kube-system"], "usernames": ["admin"], "runtimeClasses": ["kata"]},
        }))
        .unwrap();
        assert_eq!(c.defaults.enforce.to_string(), "baseline:v1.30");
        assert_eq!(c.defaults.warn.to_string(), "restricted:latest");
        assert_eq!(c.defaults.audit.to_string(), "privileged:latest");
        assert!(c.exempt_namespace("kube-system") && !c.exempt_namespace("default"));
        assert!(c.exempt_user("admin") && !c.exempt_user(""));
        assert!(c.exempt_runtime_class(&json!({"runtimeClassName": "kata"})));
        assert!(!c.exempt_runtime_class(&json!({})));
        assert_eq!(
            PodSecurityConfig::from_value(&json!({
                "apiVersion": "pod-security.admission.config.k8s.io/v1beta1",
                "kind": "PodSecurityConfiguration",
            }))
            .unwrap(),
            PodSecurityConfig::default()
        );
    }

    #[test]
    fn bad_configurations_name_the_field() {
        let err = PodSecurityConfig::from_value(&json!({
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "strict", "audit-version": "1.30"},
            "exemptions": {"namespaces": ["Bad_NS", "a", "a"], "usernames": [""]},
        }))
        .unwrap_err();
        for want in [
            "defaults.enforce: Invalid value: \"strict\": must be one of privileged, baseline, restricted",
            "defaults.audit-version: Invalid value: \"1.30\"",
            "exemptions.namespaces[0]: Invalid value: \"Bad_NS\"",
            "exemptions.namespaces[2]: Duplicate value: \"a\"",
            "exemptions.usernames[0]: Invalid value: \"\": username must not be empty",
        ] {
            assert!(err.contains(want), "{want} missing from {err}");
        }
        let err = PodSecurityConfig::from_value(&json!({"kind": "Other"})).unwrap_err();
        assert!(err.contains("want kind PodSecurityConfiguration"), "{err}");
    }
}
