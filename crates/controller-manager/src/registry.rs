//! The controllers by their upstream names, and `--controllers`.
//!
//! [`DESCRIPTORS`] lists every controller upstream kube-controller-manager
//! 1.33 knows, with its aliases (the short names used before 1.28, such as
//! `namespace` or `garbagecollector`) and whether `*` enables it. Those Corten
//! implements have a constructor; adding a controller means writing its
//! module under [`crate::controllers`] and filling in `constructor` here.
//!
//! `--controllers` follows upstream: `*` enables every controller that is on
//! by default, `foo` enables `foo`, `-foo` disables it; the first explicit
//! mention wins; names may be canonical or aliases; unknown names are
//! rejected (`"foo" is not in the list of known controllers`). Naming a known
//! controller that Corten does not implement yet is rejected too, rather than
//! silently running without it; `*` just logs which ones are missing.

use std::fmt;

use crate::controllers;
use crate::framework::controller::{Controller, ControllerContext};

/// Builds a controller; `Ok(None)` means it is disabled by its configuration
/// (for example the root CA publisher without a CA).
pub type Constructor = fn(&ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>>;

/// One upstream controller.
#[derive(Clone, Copy)]
pub struct ControllerDescriptor {
    /// Canonical upstream name, e.g. `namespace-controller`.
    pub name: &'static str,
    /// Older names accepted by `--controllers`.
    pub aliases: &'static [&'static str],
    /// Not enabled by `*` (upstream `isDisabledByDefault`).
    pub disabled_by_default: bool,
    /// Upstream skips it even when enabled: a cloud-provider controller, or
    /// one behind a feature gate that is off by default in 1.33.
    pub skipped_upstream: bool,
    /// `None`: Corten does not implement it yet.
    pub constructor: Option<Constructor>,
}

impl fmt::Debug for ControllerDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerDescriptor")
            .field("name", &self.name)
            .field("aliases", &self.aliases)
            .field("disabled_by_default", &self.disabled_by_default)
            .field("skipped_upstream", &self.skipped_upstream)
            .field("implemented", &self.constructor.is_some())
            .finish()
    }
}

impl ControllerDescriptor {
    /// Whether Corten has this controller.
    pub fn is_implemented(&self) -> bool {
        self.constructor.is_some()
    }
}

const fn known(name: &'static str, aliases: &'static [&'static str]) -> ControllerDescriptor {
    ControllerDescriptor {
        name,
        aliases,
        disabled_by_default: false,
        skipped_upstream: false,
        constructor: None,
    }
}

const fn skipped(name: &'static str, aliases: &'static [&'static str]) -> ControllerDescriptor {
    ControllerDescriptor {
        name,
        aliases,
        disabled_by_default: false,
        skipped_upstream: true,
        constructor: None,
    }
}

const fn off_by_default(
    name: &'static str,
    aliases: &'static [&'static str],
) -> ControllerDescriptor {
    ControllerDescriptor {
        name,
        aliases,
        disabled_by_default: true,
        skipped_upstream: false,
        constructor: None,
    }
}

const fn implemented(
    name: &'static str,
    aliases: &'static [&'static str],
    constructor: Constructor,
) -> ControllerDescriptor {
    ControllerDescriptor {
        name,
        aliases,
        disabled_by_default: false,
        skipped_upstream: false,
        constructor: Some(constructor),
    }
}

/// Every controller of upstream kube-controller-manager 1.33, in upstream's
/// registration order.
pub static DESCRIPTORS: &[ControllerDescriptor] = &[
    implemented(
        controllers::serviceaccount_token::NAME,
        &["serviceaccount-token"],
        controllers::serviceaccount_token::new_controller,
    ),
    implemented(
        controllers::endpoints::NAME,
        &["endpoint"],
        controllers::endpoints::new_controller,
    ),
    implemented(
        controllers::endpointslice::NAME,
        &["endpointslice"],
        controllers::endpointslice::new_controller,
    ),
    implemented(
        controllers::endpointslicemirroring::NAME,
        &["endpointslicemirroring"],
        controllers::endpointslicemirroring::new_controller,
    ),
    implemented(
        controllers::replicationcontroller::NAME,
        &["replicationcontroller"],
        controllers::replicationcontroller::new_controller,
    ),
    implemented(
        controllers::podgc::NAME,
        &["podgc"],
        controllers::podgc::new_controller,
    ),
    implemented(
        controllers::resourcequota::NAME,
        &["resourcequota"],
        controllers::resourcequota::new_controller,
    ),
    implemented(
        controllers::namespace::NAME,
        &["namespace"],
        controllers::namespace::new_controller,
    ),
    implemented(
        controllers::serviceaccount::NAME,
        &["serviceaccount"],
        controllers::serviceaccount::new_controller,
    ),
    implemented(
        controllers::garbagecollector::NAME,
        &["garbagecollector"],
        controllers::garbagecollector::new_controller,
    ),
    implemented(
        controllers::daemonset::NAME,
        &["daemonset"],
        controllers::daemonset::new_controller,
    ),
    implemented(
        controllers::job::NAME,
        &["job"],
        controllers::job::new_controller,
    ),
    implemented(
        controllers::deployment::NAME,
        &["deployment"],
        controllers::deployment::new_controller,
    ),
    implemented(
        controllers::replicaset::NAME,
        &["replicaset"],
        controllers::replicaset::new_controller,
    ),
    implemented(
        controllers::horizontal_pod_autoscaler::NAME,
        &["horizontalpodautoscaling"],
        controllers::horizontal_pod_autoscaler::new_controller,
    ),
    implemented(
        controllers::disruption::NAME,
        &["disruption"],
        controllers::disruption::new_controller,
    ),
    implemented(
        controllers::statefulset::NAME,
        &["statefulset"],
        controllers::statefulset::new_controller,
    ),
    implemented(
        controllers::cronjob::NAME,
        &["cronjob"],
        controllers::cronjob::new_controller,
    ),
    implemented(
        controllers::certificates::signer::NAME,
        &["csrsigning"],
        controllers::certificates::signer::new_controller,
    ),
    implemented(
        controllers::certificates::approver::NAME,
        &["csrapproving"],
        controllers::certificates::approver::new_controller,
    ),
    implemented(
        controllers::certificates::cleaner::NAME,
        &["csrcleaner"],
        controllers::certificates::cleaner::new_controller,
    ),
    implemented(
        controllers::ttl::NAME,
        &["ttl"],
        controllers::ttl::new_controller,
    ),
    ControllerDescriptor {
        name: controllers::bootstrapsigner::NAME,
        aliases: &["bootstrapsigner"],
        disabled_by_default: true,
        skipped_upstream: false,
        constructor: Some(controllers::bootstrapsigner::new_controller),
    },
    ControllerDescriptor {
        name: controllers::tokencleaner::NAME,
        aliases: &["tokencleaner"],
        disabled_by_default: true,
        skipped_upstream: false,
        constructor: Some(controllers::tokencleaner::new_controller),
    },
    implemented(
        controllers::nodeipam::NAME,
        &["nodeipam"],
        controllers::nodeipam::new_controller,
    ),
    implemented(
        controllers::nodelifecycle::NAME,
        &["nodelifecycle"],
        controllers::nodelifecycle::new_controller,
    ),
    skipped("service-lb-controller", &["service"]),
    skipped("node-route-controller", &["route"]),
    skipped("cloud-node-lifecycle-controller", &["cloud-node-lifecycle"]),
    implemented(
        controllers::persistentvolume::NAME,
        &["persistentvolume-binder"],
        controllers::persistentvolume::new_controller,
    ),
    known(
        "persistentvolume-attach-detach-controller",
        &["attachdetach"],
    ),
    known(
        "persistentvolume-expander-controller",
        &["persistentvolume-expander"],
    ),
    implemented(
        controllers::clusterrole_aggregation::NAME,
        &["clusterrole-aggregation"],
        controllers::clusterrole_aggregation::new_controller,
    ),
    implemented(
        controllers::pvcprotection::NAME,
        &["pvc-protection"],
        controllers::pvcprotection::new_controller,
    ),
    implemented(
        controllers::pvprotection::NAME,
        &["pv-protection"],
        controllers::pvprotection::new_controller,
    ),
    skipped("volumeattributesclass-protection-controller", &[]),
    implemented(
        controllers::ttlafterfinished::NAME,
        &["ttl-after-finished"],
        controllers::ttlafterfinished::new_controller,
    ),
    implemented(
        controllers::root_ca_cert_publisher::NAME,
        &["root-ca-cert-publisher"],
        controllers::root_ca_cert_publisher::new_controller,
    ),
    skipped(
        "kube-apiserver-serving-clustertrustbundle-publisher-controller",
        &[],
    ),
    known("ephemeral-volume-controller", &["ephemeral-volume"]),
    skipped(
        "storageversion-garbage-collector-controller",
        &["storage-version-gc"],
    ),
    skipped("resourceclaim-controller", &["resource-claim-controller"]),
    skipped("device-taint-eviction-controller", &[]),
    known(
        "legacy-serviceaccount-token-cleaner-controller",
        &["legacy-service-account-token-cleaner"],
    ),
    known("validatingadmissionpolicy-status-controller", &[]),
    implemented(
        controllers::taint_eviction::NAME,
        &[],
        controllers::taint_eviction::new_controller,
    ),
    known("service-cidr-controller", &[]),
    skipped("storage-version-migrator-controller", &[]),
    off_by_default("selinux-warning-controller", &[]),
];

/// The descriptor for a canonical name or an alias.
pub fn lookup(name: &str) -> Option<&'static ControllerDescriptor> {
    DESCRIPTORS
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name))
}

/// Why `--controllers` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// Names that are neither canonical nor aliases (upstream's message).
    #[error("{}", join_messages(.0.iter().map(|n| format!("{n:?} is not in the list of known controllers"))))]
    Unknown(Vec<String>),
    /// Known upstream controllers explicitly enabled that Corten lacks.
    #[error("{}", join_messages(.0.iter().map(|n| format!("controller {n:?} is an upstream kube-controller-manager controller that Corten does not implement yet"))))]
    NotImplemented(Vec<String>),
}

/// Formats several errors like Go's `utilerrors.NewAggregate`.
fn join_messages(messages: impl Iterator<Item = String>) -> String {
    let messages: Vec<String> = messages.collect();
    if messages.len() == 1 {
        messages.into_iter().next().unwrap_or_default()
    } else {
        format!("[{}]", messages.join(", "))
    }
}

/// A validated `--controllers` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSelection {
    /// The entries with aliases replaced by canonical names (`-` kept).
    entries: Vec<String>,
}

impl Default for ControllerSelection {
    /// `*`, upstream's default.
    fn default() -> Self {
        Self {
            entries: vec!["*".to_string()],
        }
    }
}

impl ControllerSelection {
    /// Validates and canonicalises the entries of `--controllers`.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<Self, SelectionError> {
        let mut entries = Vec::new();
        let mut unknown = Vec::new();
        for value in values {
            let value = value.as_ref();
            if value == "*" {
                entries.push("*".to_string());
                continue;
            }
            let (prefix, name) = match value.strip_prefix('-') {
                Some(name) => ("-", name),
                None => ("", value),
            };
            match lookup(name) {
                Some(descriptor) => entries.push(format!("{prefix}{}", descriptor.name)),
                None => unknown.push(name.to_string()),
            }
        }
        if !unknown.is_empty() {
            return Err(SelectionError::Unknown(unknown));
        }
        let selection = Self { entries };
        let missing: Vec<String> = selection
            .entries
            .iter()
            .filter(|e| *e != "*" && !e.starts_with('-'))
            .filter(|e| lookup(e).is_some_and(|d| !d.is_implemented()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(SelectionError::NotImplemented(missing));
        }
        Ok(selection)
    }

    /// Upstream `IsControllerEnabled`: an explicit `name` or `-name` decides
    /// (first one wins); otherwise `*` enables what is on by default.
    pub fn is_enabled(&self, descriptor: &ControllerDescriptor) -> bool {
        let mut star = false;
        for entry in &self.entries {
            if entry == descriptor.name {
                return true;
            }
            if entry.strip_prefix('-') == Some(descriptor.name) {
                return false;
            }
            if entry == "*" {
                star = true;
            }
        }
        star && !descriptor.disabled_by_default
    }

    /// The implemented controllers to run, in registration order.
    pub fn enabled(&self) -> Vec<&'static ControllerDescriptor> {
        DESCRIPTORS
            .iter()
            .filter(|d| d.is_implemented() && self.is_enabled(d))
            .collect()
    }

    /// Controllers the selection enables, that upstream would run, and that
    /// Corten does not have yet (only possible through `*`).
    pub fn enabled_but_missing(&self) -> Vec<&'static str> {
        DESCRIPTORS
            .iter()
            .filter(|d| !d.is_implemented() && !d.skipped_upstream && self.is_enabled(d))
            .map(|d| d.name)
            .collect()
    }

    /// The canonicalised entries.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(selection: &ControllerSelection) -> Vec<&'static str> {
        selection.enabled().iter().map(|d| d.name).collect()
    }

    #[test]
    fn star_enables_the_implemented_defaults() {
        let all = ControllerSelection::parse(&["*"]).unwrap();
        let enabled = names(&all);
        // Every implemented controller that is on by default, in order.
        let expected: Vec<&str> = DESCRIPTORS
            .iter()
            .filter(|d| d.is_implemented() && !d.disabled_by_default)
            .map(|d| d.name)
            .collect();
        assert_eq!(enabled, expected);
        for name in [
            "replicationcontroller-controller",
            "namespace-controller",
            "deployment-controller",
            "replicaset-controller",
            "root-ca-certificate-publisher-controller",
            "endpointslice-controller",
            "node-lifecycle-controller",
        ] {
            assert!(enabled.contains(&name), "{name}");
        }
        assert_eq!(all, ControllerSelection::default());
        let missing = all.enabled_but_missing();
        assert!(missing.contains(&"persistentvolume-expander-controller"));
        assert!(!missing.contains(&"horizontal-pod-autoscaler-controller"));
        assert!(!missing.contains(&"bootstrap-signer-controller"));
        assert!(!missing.contains(&"selinux-warning-controller"));
        assert!(!missing.contains(&"service-lb-controller"));
        assert!(!missing.contains(&"resourceclaim-controller"));
        assert!(!missing.contains(&"garbage-collector-controller"));
    }

    #[test]
    fn minus_disables_by_alias_or_canonical_name() {
        let s = ControllerSelection::parse(&["*", "-serviceaccount", "-garbagecollector"]).unwrap();
        let enabled = names(&s);
        assert!(!enabled.contains(&"serviceaccount-controller"));
        assert!(!enabled.contains(&"garbage-collector-controller"));
        assert!(enabled.contains(&"namespace-controller"));
        assert_eq!(
            enabled.len(),
            names(&ControllerSelection::default()).len() - 2
        );
        assert_eq!(
            s.entries(),
            [
                "*",
                "-serviceaccount-controller",
                "-garbage-collector-controller"
            ]
        );
        let s = ControllerSelection::parse(&[
            "-namespace-controller",
            "-deployment",
            "-replicaset",
            "-replicationcontroller",
            "*",
        ])
        .unwrap();
        let enabled = names(&s);
        for name in [
            "namespace-controller",
            "deployment-controller",
            "replicaset-controller",
            "replicationcontroller-controller",
        ] {
            assert!(!enabled.contains(&name), "{name}");
        }
        assert!(enabled.contains(&"serviceaccount-controller"));
        // Disabling something Corten lacks is fine.
        let s = ControllerSelection::parse(&["*", "-persistentvolume-expander", "-attachdetach"])
            .unwrap();
        assert!(
            !s.enabled_but_missing()
                .contains(&"persistentvolume-expander-controller")
        );
    }

    #[test]
    fn explicit_names_without_star() {
        let s = ControllerSelection::parse(&["namespace"]).unwrap();
        assert_eq!(names(&s), ["namespace-controller"]);
        assert!(s.enabled_but_missing().is_empty());
        let s = ControllerSelection::parse::<&str>(&[]).unwrap();
        assert!(names(&s).is_empty());
        // The first explicit mention wins.
        let s = ControllerSelection::parse(&["-namespace", "namespace-controller", "*"]).unwrap();
        assert!(!names(&s).contains(&"namespace-controller"));
    }

    #[test]
    fn unknown_names_are_rejected_like_upstream() {
        let err = ControllerSelection::parse(&["*", "-bogus"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"bogus\" is not in the list of known controllers"
        );
        let err = ControllerSelection::parse(&["foo", "bar"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "[\"foo\" is not in the list of known controllers, \"bar\" is not in the list of known controllers]"
        );
        assert!(ControllerSelection::parse(&[""]).is_err());
    }

    #[test]
    fn enabling_a_missing_controller_is_rejected() {
        let err = ControllerSelection::parse(&["*", "persistentvolume-expander"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "controller \"persistentvolume-expander-controller\" is an upstream kube-controller-manager controller that Corten does not implement yet"
        );
        assert!(ControllerSelection::parse(&["*", "attachdetach"]).is_err());
    }

    #[test]
    fn names_and_aliases_are_unique() {
        let mut all: Vec<&str> = DESCRIPTORS
            .iter()
            .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()))
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
        assert_eq!(
            lookup("root-ca-cert-publisher").unwrap().name,
            "root-ca-certificate-publisher-controller"
        );
        assert_eq!(
            lookup("garbagecollector").unwrap().name,
            "garbage-collector-controller"
        );
    }
}
