//! `KubeSchedulerConfiguration` (kubescheduler.config.k8s.io/v1): the file
//! given with `--config`, decoded strictly (unknown fields are errors, as
//! upstream), defaulted and validated like upstream.

pub mod args;
pub mod plugins;
pub mod validation;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::plugins::{PluginRef, PluginSet, Plugins};

/// The scheduler name of the default profile.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// The only supported `apiVersion`.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
/// The `kind`.
pub const KIND: &str = "KubeSchedulerConfiguration";

/// Leader election settings (`leaderElection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaderElectionConfiguration {
    /// Whether to elect a leader before scheduling (default true).
    #[serde(default = "default_true")]
    pub leader_elect: bool,
    /// Lease validity (default 15s).
    #[serde(default = "lease_duration", with = "go_duration")]
    pub lease_duration: Duration,
    /// How long the leader retries renewing (default 10s).
    #[serde(default = "renew_deadline", with = "go_duration")]
    pub renew_deadline: Duration,
    /// Pause between attempts (default 2s).
    #[serde(default = "retry_period", with = "go_duration")]
    pub retry_period: Duration,
    /// Lock type (only `leases`).
    #[serde(default = "resource_lock")]
    pub resource_lock: String,
    /// Lease name (default `kube-scheduler`).
    #[serde(default = "resource_name")]
    pub resource_name: String,
    /// Lease namespace (default `kube-system`).
    #[serde(default = "resource_namespace")]
    pub resource_namespace: String,
}

fn default_true() -> bool {
    true
}
fn lease_duration() -> Duration {
    Duration::from_secs(15)
}
fn renew_deadline() -> Duration {
    Duration::from_secs(10)
}
fn retry_period() -> Duration {
    Duration::from_secs(2)
}
fn resource_lock() -> String {
    "leases".into()
}
fn resource_name() -> String {
    "kube-scheduler".into()
}
fn resource_namespace() -> String {
    "kube-system".into()
}

impl Default for LeaderElectionConfiguration {
    fn default() -> Self {
        LeaderElectionConfiguration {
            leader_elect: true,
            lease_duration: lease_duration(),
            renew_deadline: renew_deadline(),
            retry_period: retry_period(),
            resource_lock: resource_lock(),
            resource_name: resource_name(),
            resource_namespace: resource_namespace(),
        }
    }
}

/// Client settings (`clientConnection`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientConnection {
    /// Path to a kubeconfig.
    #[serde(default)]
    pub kubeconfig: String,
    /// Accept header (ignored: Corten always speaks JSON).
    #[serde(default)]
    pub accept_content_types: String,
    /// Content type of requests (ignored: JSON).
    #[serde(default)]
    pub content_type: String,
    /// Sustained requests per second (default 50).
    #[serde(default = "qps")]
    pub qps: f32,
    /// Burst (default 100).
    #[serde(default = "burst")]
    pub burst: i32,
}

fn qps() -> f32 {
    50.0
}
fn burst() -> i32 {
    100
}

impl Default for ClientConnection {
    fn default() -> Self {
        ClientConnection {
            kubeconfig: String::new(),
            accept_content_types: String::new(),
            content_type: "application/vnd.kubernetes.protobuf".into(),
            qps: qps(),
            burst: burst(),
        }
    }
}

/// One `pluginConfig` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin.
    pub name: String,
    /// Its arguments (decoded by the plugin's args type).
    #[serde(default)]
    pub args: Option<serde_json::Value>,
}

/// One scheduling profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    /// Pods with this `spec.schedulerName` use this profile.
    #[serde(default)]
    pub scheduler_name: String,
    /// Overrides the global `percentageOfNodesToScore`.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Plugins enabled/disabled per extension point.
    #[serde(default)]
    pub plugins: Option<Plugins>,
    /// Plugin arguments.
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeSchedulerConfiguration {
    /// `kubescheduler.config.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `KubeSchedulerConfiguration`.
    #[serde(default)]
    pub kind: String,
    /// Parallelism of the scheduling algorithm (default 16).
    #[serde(default = "parallelism")]
    pub parallelism: i32,
    /// Leader election.
    #[serde(default)]
    pub leader_election: LeaderElectionConfiguration,
    /// The API client.
    #[serde(default)]
    pub client_connection: ClientConnection,
    /// Profiling endpoints (not served by Corten yet).
    #[serde(default)]
    pub enable_profiling: Option<bool>,
    /// Contention profiling (not served by Corten yet).
    #[serde(default)]
    pub enable_contention_profiling: Option<bool>,
    /// Share of nodes to find feasible before scoring; 0 means adaptive.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Initial backoff of unschedulable pods, seconds (default 1).
    #[serde(default = "initial_backoff")]
    pub pod_initial_backoff_seconds: i64,
    /// Maximum backoff, seconds (default 10).
    #[serde(default = "max_backoff")]
    pub pod_max_backoff_seconds: i64,
    /// Scheduling profiles (default: one `default-scheduler`).
    #[serde(default)]
    pub profiles: Vec<Profile>,
    /// Scheduler extenders (not supported by Corten: must be empty).
    #[serde(default)]
    pub extenders: Vec<serde_json::Value>,
    /// Wait for leadership before filling the caches.
    #[serde(default)]
    pub delay_cache_until_active: bool,
}

fn parallelism() -> i32 {
    16
}
fn initial_backoff() -> i64 {
    1
}
fn max_backoff() -> i64 {
    10
}

impl Default for KubeSchedulerConfiguration {
    fn default() -> Self {
        let mut config = KubeSchedulerConfiguration {
            api_version: String::new(),
            kind: String::new(),
            parallelism: parallelism(),
            leader_election: LeaderElectionConfiguration::default(),
            client_connection: ClientConnection::default(),
            enable_profiling: None,
            enable_contention_profiling: None,
            percentage_of_nodes_to_score: None,
            pod_initial_backoff_seconds: initial_backoff(),
            pod_max_backoff_seconds: max_backoff(),
            profiles: Vec::new(),
            extenders: Vec::new(),
            delay_cache_until_active: false,
        };
        config.set_defaults();
        config
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read config file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid KubeSchedulerConfiguration document.
    #[error("failed to decode config file {path}: {message}")]
    Decode {
        /// The path.
        path: String,
        /// What is wrong (with the offending field).
        message: String,
    },
    /// The configuration decoded but is invalid.
    #[error("invalid KubeSchedulerConfiguration: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Command-line flags are invalid together.
    #[error("invalid flags: {}", .0.join("; "))]
    Flags(Vec<String>),
}

impl KubeSchedulerConfiguration {
    /// Reads, decodes and defaults a configuration file (not validated).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Decode {
            path: path.display().to_string(),
            message,
        })
    }

    /// Decodes YAML or JSON text and applies defaults.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let api_version = value
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or("");
        if kind != KIND {
            return Err(format!("kind: Invalid value: {kind:?}: must be {KIND:?}"));
        }
        if api_version != API_VERSION {
            return Err(format!(
                "apiVersion: Invalid value: {api_version:?}: no kind \"{KIND}\" is registered for version {api_version:?} (Corten supports {API_VERSION})"
            ));
        }
        let mut config: KubeSchedulerConfiguration =
            serde_yaml::from_str(text).map_err(|e| format!("strict decoding error: {e}"))?;
        config.set_defaults();
        Ok(config)
    }

    /// Upstream `SetDefaults_KubeSchedulerConfiguration`: a default profile
    /// when none is given, and the default scheduler name.
    pub fn set_defaults(&mut self) {
        if self.api_version.is_empty() {
            self.api_version = API_VERSION.into();
        }
        if self.kind.is_empty() {
            self.kind = KIND.into();
        }
        if self.profiles.is_empty() {
            self.profiles.push(Profile::default());
        }
        if self.profiles.len() == 1 && self.profiles[0].scheduler_name.is_empty() {
            self.profiles[0].scheduler_name = DEFAULT_SCHEDULER_NAME.into();
        }
    }

    /// Validates like upstream `ValidateKubeSchedulerConfiguration`; every
    /// problem is reported with its field path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let errors = validation::validate(self);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }
}

/// Go `metav1.Duration` strings (`15s`, `1m30s`) for serde.
pub mod go_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as Go syntax.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::duration::format_duration(*d))
    }

    /// Parses Go syntax.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        crate::duration::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream() {
        let c = KubeSchedulerConfiguration::default();
        assert_eq!(c.parallelism, 16);
        assert_eq!(c.pod_initial_backoff_seconds, 1);
        assert_eq!(c.pod_max_backoff_seconds, 10);
        assert_eq!(c.profiles.len(), 1);
        assert_eq!(c.profiles[0].scheduler_name, DEFAULT_SCHEDULER_NAME);
        assert!(c.leader_election.leader_elect);
        assert_eq!(c.leader_election.lease_duration, Duration::from_secs(15));
        assert_eq!(c.client_connection.qps, 50.0);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn parses_a_full_file() {
        let c = KubeSchedulerConfiguration::parse(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 50
leaderElection:
  leaderElect: false
  leaseDuration: 30s
clientConnection:
  kubeconfig: /etc/kubernetes/scheduler.conf
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packer
  plugins:
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"#,
        )
        .unwrap();
        assert_eq!(c.percentage_of_nodes_to_score, Some(50));
        assert!(!c.leader_election.leader_elect);
        assert_eq!(c.leader_election.lease_duration, Duration::from_secs(30));
        assert_eq!(c.leader_election.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.profiles.len(), 2);
        assert_eq!(
            c.client_connection.kubeconfig,
            "/etc/kubernetes/scheduler.conf"
        );
        c.validate().unwrap();
    }

    #[test]
    fn example_configurations_are_valid() {
        for text in [
            include_str!("../../../../deploy/scheduler/kube-scheduler-config.yaml"),
            include_str!("../../../../deploy/scheduler/multiple-profiles.yaml"),
        ] {
            let config = KubeSchedulerConfiguration::parse(text).unwrap();
            config.validate().unwrap();
        }
    }

    #[test]
    fn unknown_fields_and_kinds_are_rejected() {
        let err = KubeSchedulerConfiguration::parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: a\n  bogus: 1\n",
        )
        .unwrap_err();
        assert!(err.contains("unknown field `bogus`"), "{err}");
        assert!(err.contains("profiles[0]"), "{err}");
        let err = KubeSchedulerConfiguration::parse("apiVersion: v1\nkind: Pod\n").unwrap_err();
        assert!(err.contains("kind"), "{err}");
        let err = KubeSchedulerConfiguration::parse(
            "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n",
        )
        .unwrap_err();
        assert!(err.contains("v1beta3"), "{err}");
    }
}
