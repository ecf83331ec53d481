//! Command-line flags of kube-scheduler (named as upstream) and their
//! validation into a [`Config`].
//!
//! As upstream: with `--config`, the deprecated client flags
//! (`--kubeconfig`, `--kube-api-qps`, ...) are ignored and only the
//! `--leader-elect*` flags given explicitly override the file; without
//! `--config`, the defaults are used with every flag applied.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};
use corten_component_base::logging::LoggingOptions;
use corten_component_base::secure_serving::SecureServingOptions;

use crate::config::{ConfigError, KubeSchedulerConfiguration};
use crate::duration::parse_duration;

/// kube-scheduler flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kube-scheduler",
    about = "The Kubernetes scheduler (Corten): a control plane process which assigns Pods to Nodes.",
    version = corten_component_base::version::GIT_VERSION,
    args_override_self = true
)]
pub struct Options {
    /// The path to the configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,

    /// If set, write the configuration values to this file and exit.
    #[arg(long)]
    pub write_config_to: Option<PathBuf>,

    /// DEPRECATED: path to kubeconfig file with authorization and master location information. This parameter is ignored if a config file is specified in --config.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// The address of the Kubernetes API server (overrides any value in kubeconfig).
    #[arg(long)]
    pub master: Option<String>,

    /// DEPRECATED: QPS to use while talking with kubernetes apiserver (default 50). This parameter is ignored if a config file is specified in --config.
    #[arg(long)]
    pub kube_api_qps: Option<f32>,

    /// DEPRECATED: burst to use while talking with kubernetes apiserver (default 100). This parameter is ignored if a config file is specified in --config.
    #[arg(long)]
    pub kube_api_burst: Option<i32>,

    /// DEPRECATED: content type of requests sent to apiserver. Corten always sends JSON. This parameter is ignored if a config file is specified in --config.
    #[arg(long)]
    pub kube_api_content_type: Option<String>,

    /// Start a leader election client and gain leadership before executing the main loop. Enable this when running replicated components for high availability. (default true)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub leader_elect: Option<bool>,

    /// The duration that non-leader candidates will wait after observing a leadership renewal until attempting to acquire leadership of a led but unrenewed leader slot. (default 15s)
    #[arg(long, value_parser = parse_duration)]
    pub leader_elect_lease_duration: Option<Duration>,

    /// The interval between attempts by the acting master to renew a leadership slot before it stops leading. This must be less than the lease duration. (default 10s)
    #[arg(long, value_parser = parse_duration)]
    pub leader_elect_renew_deadline: Option<Duration>,

    /// The duration the clients should wait between attempting acquisition and renewal of a leadership. (default 2s)
    #[arg(long, value_parser = parse_duration)]
    pub leader_elect_retry_period: Option<Duration>,

    /// The type of resource object that is used for locking during leader election. Supported options are 'leases'. (default "leases")
    #[arg(long)]
    pub leader_elect_resource_lock: Option<String>,

    /// The name of resource object that is used for locking during leader election. (default "kube-scheduler")
    #[arg(long)]
    pub leader_elect_resource_name: Option<String>,

    /// The namespace of resource object that is used for locking during leader election. (default "kube-system")
    #[arg(long)]
    pub leader_elect_resource_namespace: Option<String>,

    /// The port on which to serve HTTPS with authentication and authorization. If 0, don't serve HTTPS at all.
    #[arg(long, default_value_t = 10259)]
    pub secure_port: u16,

    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub bind_address: IpAddr,

    /// DEPRECATED: the maximum time a pod can stay in unschedulablePods. This parameter is ignored if a config file is specified in --config. (default 5m0s)
    #[arg(long, value_parser = parse_duration)]
    pub pod_max_in_unschedulable_pods_duration: Option<Duration>,

    /// TLS, delegated authentication and authorization of the secure port.
    #[command(flatten)]
    pub secure_serving: SecureServingOptions,

    /// Logging flags.
    #[command(flatten)]
    pub logging: LoggingOptions,

    /// `--feature-gates` (validated and exposed, no behaviour depends on it).
    #[command(flatten)]
    pub feature_gates: corten_component_base::feature_gates::FeatureGateOptions,
}

/// The validated configuration of a scheduler process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The component configuration (file or flags).
    pub component: KubeSchedulerConfiguration,
    /// `--master`.
    pub master: Option<String>,
    /// Where to serve the ops endpoints (None: not at all).
    pub serving: Option<SocketAddr>,
    /// TLS, authentication and authorization of the secure port.
    pub secure_serving: SecureServingOptions,
    /// How long a pod may stay unschedulable before it is retried anyway.
    pub max_in_unschedulable: Duration,
    /// `--write-config-to`.
    pub write_config_to: Option<PathBuf>,
}

impl Options {
    fn apply_leader_election(&self, config: &mut KubeSchedulerConfiguration) {
        let le = &mut config.leader_election;
        if let Some(v) = self.leader_elect {
            le.leader_elect = v;
        }
        if let Some(v) = self.leader_elect_lease_duration {
            le.lease_duration = v;
        }
        if let Some(v) = self.leader_elect_renew_deadline {
            le.renew_deadline = v;
        }
        if let Some(v) = self.leader_elect_retry_period {
            le.retry_period = v;
        }
        if let Some(v) = &self.leader_elect_resource_lock {
            le.resource_lock = v.clone();
        }
        if let Some(v) = &self.leader_elect_resource_name {
            le.resource_name = v.clone();
        }
        if let Some(v) = &self.leader_elect_resource_namespace {
            le.resource_namespace = v.clone();
        }
    }

    fn deprecated_given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.kubeconfig.is_some() {
            given.push("--kubeconfig");
        }
        if self.kube_api_qps.is_some() {
            given.push("--kube-api-qps");
        }
        if self.kube_api_burst.is_some() {
            given.push("--kube-api-burst");
        }
        if self.kube_api_content_type.is_some() {
            given.push("--kube-api-content-type");
        }
        if self.pod_max_in_unschedulable_pods_duration.is_some() {
            given.push("--pod-max-in-unschedulable-pods-duration");
        }
        given
    }

    /// Loads `--config` (or the defaults), applies the flags and validates.
    pub fn complete(&self) -> Result<Config, ConfigError> {
        let mut max_in_unschedulable = Duration::from_secs(300);
        let component = match &self.config {
            Some(path) => {
                let mut config = KubeSchedulerConfiguration::load(path)?;
                let ignored = self.deprecated_given();
                if !ignored.is_empty() {
                    tracing::warn!(
                        flags = %ignored.join(", "),
                        "deprecated flags are ignored because a config file is specified with --config"
                    );
                }
                self.apply_leader_election(&mut config);
                config
            }
            None => {
                let mut config = KubeSchedulerConfiguration::default();
                if let Some(path) = &self.kubeconfig {
                    config.client_connection.kubeconfig = path.display().to_string();
                }
                if let Some(qps) = self.kube_api_qps {
                    config.client_connection.qps = qps;
                }
                if let Some(burst) = self.kube_api_burst {
                    config.client_connection.burst = burst;
                }
                if let Some(content_type) = &self.kube_api_content_type {
                    config.client_connection.content_type = content_type.clone();
                }
                if let Some(d) = self.pod_max_in_unschedulable_pods_duration {
                    max_in_unschedulable = d;
                }
                self.apply_leader_election(&mut config);
                config
            }
        };
        component.validate()?;
        self.secure_serving.validate().map_err(ConfigError::Flags)?;
        if let Some(master) = &self.master {
            corten_component_base::flags::parse_master(master)
                .map_err(|e| ConfigError::Flags(vec![e]))?;
        }
        Ok(Config {
            component,
            master: self.master.clone(),
            serving: (self.secure_port != 0)
                .then(|| SocketAddr::new(self.bind_address, self.secure_port)),
            secure_serving: self.secure_serving.clone(),
            max_in_unschedulable,
            write_config_to: self.write_config_to.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        let mut all = vec!["kube-scheduler"];
        all.extend_from_slice(args);
        Options::try_parse_from(all).unwrap()
    }

    #[test]
    fn defaults_match_upstream() {
        let config = parse(&[]).complete().unwrap();
        assert_eq!(config.serving, Some("0.0.0.0:10259".parse().unwrap()));
        assert!(config.component.leader_election.leader_elect);
        assert_eq!(
            config.component.leader_election.resource_name,
            "kube-scheduler"
        );
        assert_eq!(config.max_in_unschedulable, Duration::from_secs(300));
    }

    #[test]
    fn flags_apply_without_a_config_file() {
        let config = parse(&[
            "--kubeconfig=/k",
            "--leader-elect=false",
            "--kube-api-qps=200",
            "--secure-port=0",
            "--pod-max-in-unschedulable-pods-duration=1m",
        ])
        .complete()
        .unwrap();
        assert_eq!(config.component.client_connection.kubeconfig, "/k");
        assert!(!config.component.leader_election.leader_elect);
        assert_eq!(config.component.client_connection.qps, 200.0);
        assert_eq!(config.serving, None);
        assert_eq!(config.max_in_unschedulable, Duration::from_secs(60));
        assert!(parse(&["--leader-elect"]).leader_elect.unwrap());
    }

    #[test]
    fn config_file_wins_over_deprecated_flags_but_not_leader_election_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: /from-file\nleaderElection:\n  leaderElect: true\n",
        )
        .unwrap();
        let config = parse(&[
            &format!("--config={}", path.display()),
            "--kubeconfig=/flag",
            "--leader-elect=false",
        ])
        .complete()
        .unwrap();
        assert_eq!(config.component.client_connection.kubeconfig, "/from-file");
        assert!(!config.component.leader_election.leader_elect);
    }

    #[test]
    fn bad_configuration_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npercentageOfNodesToScore: 150\n",
        )
        .unwrap();
        let err = parse(&[&format!("--config={}", path.display())])
            .complete()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("percentageOfNodesToScore: Invalid value: 150"),
            "{err}"
        );
        let err = parse(&["--config=/does/not/exist"]).complete().unwrap_err();
        assert!(err.to_string().contains("/does/not/exist"), "{err}");
        let err = parse(&["--leader-elect-lease-duration=5s"])
            .complete()
            .unwrap_err();
        assert!(
            err.to_string().contains("leaderElection.leaseDuration"),
            "{err}"
        );
    }
}
