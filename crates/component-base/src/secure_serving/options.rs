//! The flags of secure serving with delegated authentication and
//! authorization, named and defaulted as upstream's kube-scheduler and
//! kube-controller-manager (`--secure-port` and `--bind-address` stay with
//! each component: their defaults differ).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};

use super::authz::{AlwaysAllowPaths, DEFAULT_ALWAYS_ALLOW_PATHS};
use super::tls::ServingCertSource;
use crate::duration::parse_duration;

/// TLS, authentication and authorization flags of the secure port.
#[derive(Debug, Clone, Args)]
pub struct SecureServingOptions {
    /// The directory where the TLS certs are located. If --tls-cert-file and --tls-private-key-file are provided, this flag will be ignored. Without either, a self-signed certificate for localhost and 127.0.0.1 is generated in memory.
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,

    /// File containing the default x509 Certificate for HTTPS. (CA cert, if any, concatenated after server cert). If HTTPS serving is enabled, and --tls-cert-file and --tls-private-key-file are not provided, a self-signed certificate and key are generated for the public address and saved to the directory specified by --cert-dir.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,

    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,

    /// If set, any request presenting a client certificate signed by one of the authorities in the client-ca-file is authenticated with an identity corresponding to the CommonName of the client certificate.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,

    /// kubeconfig file pointing at the 'core' kubernetes server with enough rights to create tokenreviews.authentication.k8s.io. (Corten: without it, the component's own API connection is used.)
    #[arg(long)]
    pub authentication_kubeconfig: Option<PathBuf>,

    /// If false, the authentication-kubeconfig will be used to lookup missing authentication configuration from the cluster.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false)]
    pub authentication_skip_lookup: bool,

    /// The duration to cache responses from the webhook token authenticator.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub authentication_token_webhook_cache_ttl: Duration,

    /// If true, failures to look up missing authentication configuration from the cluster are not considered fatal. Note that this can result in authentication that treats all requests as anonymous.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true)]
    pub authentication_tolerate_lookup_failure: bool,

    /// kubeconfig file pointing at the 'core' kubernetes server with enough rights to create subjectaccessreviews.authorization.k8s.io. (Corten: without it, the component's own API connection is used.)
    #[arg(long)]
    pub authorization_kubeconfig: Option<PathBuf>,

    /// A list of HTTP paths to skip during authorization, i.e. these are authorized without contacting the 'core' kubernetes server.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_ALWAYS_ALLOW_PATHS.iter().map(|p| p.to_string()).collect::<Vec<_>>())]
    pub authorization_always_allow_paths: Vec<String>,

    /// The duration to cache 'authorized' responses from the webhook authorizer.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub authorization_webhook_cache_authorized_ttl: Duration,

    /// The duration to cache 'unauthorized' responses from the webhook authorizer.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub authorization_webhook_cache_unauthorized_ttl: Duration,
}

impl Default for SecureServingOptions {
    fn default() -> Self {
        SecureServingOptions {
            cert_dir: None,
            tls_cert_file: None,
            tls_private_key_file: None,
            client_ca_file: None,
            authentication_kubeconfig: None,
            authentication_skip_lookup: false,
            authentication_token_webhook_cache_ttl: Duration::from_secs(10),
            authentication_tolerate_lookup_failure: true,
            authorization_kubeconfig: None,
            authorization_always_allow_paths: DEFAULT_ALWAYS_ALLOW_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            authorization_webhook_cache_authorized_ttl: Duration::from_secs(10),
            authorization_webhook_cache_unauthorized_ttl: Duration::from_secs(10),
        }
    }
}

impl SecureServingOptions {
    /// Checks the flags together; the errors name them.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if self.tls_cert_file.is_some() != self.tls_private_key_file.is_some() {
            errors.push(
                "--tls-cert-file and --tls-private-key-file must be given together".to_string(),
            );
        }
        if let Err(err) = self.always_allow_paths() {
            errors.push(format!("--authorization-always-allow-paths: {err}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The parsed `--authorization-always-allow-paths` (an empty value
    /// means none, as upstream's string slice).
    pub fn always_allow_paths(&self) -> Result<AlwaysAllowPaths, String> {
        let patterns: Vec<&str> = self
            .authorization_always_allow_paths
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect();
        AlwaysAllowPaths::new(&patterns)
    }

    /// Where the serving certificate comes from; `pair_name` names the
    /// self-signed files in `--cert-dir`.
    pub fn cert_source(&self, pair_name: &str) -> ServingCertSource {
        match (&self.tls_cert_file, &self.tls_private_key_file) {
            (Some(cert), Some(key)) => ServingCertSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => ServingCertSource::SelfSigned {
                cert_dir: self.cert_dir.clone().filter(|d| !d.as_os_str().is_empty()),
                pair_name: pair_name.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serving: SecureServingOptions,
    }

    fn parse(args: &[&str]) -> SecureServingOptions {
        let mut all = vec!["x"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap().serving
    }

    #[test]
    fn defaults_are_upstreams() {
        let parsed = parse(&[]);
        let default = SecureServingOptions::default();
        assert_eq!(
            parsed.authorization_always_allow_paths,
            default.authorization_always_allow_paths
        );
        assert_eq!(
            parsed.authorization_always_allow_paths,
            ["/healthz", "/readyz", "/livez"]
        );
        assert_eq!(
            parsed.authentication_token_webhook_cache_ttl,
            Duration::from_secs(10)
        );
        assert_eq!(
            parsed.authorization_webhook_cache_authorized_ttl,
            Duration::from_secs(10)
        );
        assert_eq!(
            parsed.authorization_webhook_cache_unauthorized_ttl,
            Duration::from_secs(10)
        );
        assert!(parsed.authentication_tolerate_lookup_failure);
        assert!(!parsed.authentication_skip_lookup);
        assert!(parsed.validate().is_ok());
        assert_eq!(
            parsed.cert_source("kube-scheduler"),
            ServingCertSource::SelfSigned {
                cert_dir: None,
                pair_name: "kube-scheduler".into()
            }
        );
    }

    #[test]
    fn flags_parse_and_validate() {
        let parsed = parse(&[
            "--authorization-always-allow-paths=/healthz,/metrics*",
            "--authentication-skip-lookup",
            "--authentication-tolerate-lookup-failure=false",
            "--authentication-token-webhook-cache-ttl=1m",
            "--tls-cert-file=/c",
            "--tls-private-key-file=/k",
        ]);
        assert!(parsed.always_allow_paths().unwrap().allows("/metrics/slis"));
        assert!(parsed.authentication_skip_lookup);
        assert!(!parsed.authentication_tolerate_lookup_failure);
        assert_eq!(
            parsed.authentication_token_webhook_cache_ttl,
            Duration::from_secs(60)
        );
        assert_eq!(
            parsed.cert_source("x"),
            ServingCertSource::Files {
                cert: "/c".into(),
                key: "/k".into()
            }
        );
        let none = parse(&["--authorization-always-allow-paths="]);
        assert!(!none.always_allow_paths().unwrap().allows("/healthz"));

        let bad = parse(&[
            "--tls-cert-file=/c",
            "--authorization-always-allow-paths=/a*b",
        ]);
        let errors = bad.validate().unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("--tls-private-key-file"), "{errors:?}");
        assert!(errors[1].contains("only trailing *"), "{errors:?}");
    }
}
