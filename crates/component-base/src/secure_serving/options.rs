//! The flags of secure serving with delegated authentication and
//! authorization, named and defaulted as upstream's kube-scheduler and
//! kube-controller-manager (`--secure-port` and `--bind-address` stay with
//! each component: their defaults differ).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};

use super::authz::{AlwaysAllowPaths, DEFAULT_ALWAYS_ALLOW_PATHS};
use super::requestheader::{
    DEFAULT_EXTRA_HEADERS_PREFIX, DEFAULT_GROUP_HEADERS, DEFAULT_USERNAME_HEADERS,
};
use super::serving_certs::NamedCertKey;
use super::tls::ServingCertSource;
use super::tls_params::{TlsParams, tls_params};
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

    /// Minimum TLS version supported. Possible values: VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13. (Corten never negotiates below TLS 1.2.)
    #[arg(long, default_value = "")]
    pub tls_min_version: String,

    /// Comma-separated list of cipher suites for the server. If omitted, the default cipher suites will be used. Names are Go's (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...); they restrict TLS 1.2, TLS 1.3 suites stay enabled.
    #[arg(long, value_delimiter = ',')]
    pub tls_cipher_suites: Vec<String>,

    /// A pair of x509 certificate and private key file paths, optionally suffixed with a list of domain patterns which are fully qualified domain names, possibly with prefixed wildcard segments. The domain patterns also allow IP addresses. If no domain patterns are provided, the names of the certificate are extracted. Non-wildcard matches trump over wildcard matches, explicit domain patterns trump over extracted names. For multiple key/certificate pairs, use the --tls-sni-cert-key multiple times. Examples: "example.crt,example.key" or "foo.crt,foo.key:*.foo.com,foo.com".
    #[arg(long, action = ArgAction::Append)]
    pub tls_sni_cert_key: Vec<NamedCertKey>,

    /// If true, SO_REUSEPORT will be used when binding the port, which allows more than one instance to bind on the same address and port.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false)]
    pub permit_port_sharing: bool,

    /// If true, SO_REUSEADDR will be used when binding the port. This allows binding to wildcard IPs like 0.0.0.0 and specific IPs in parallel, and it avoids waiting for the kernel to release sockets in TIME_WAIT state. (On Linux Corten's listeners always set SO_REUSEADDR, as Go's do, so this changes nothing.)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false)]
    pub permit_address_sharing: bool,

    /// Root certificate bundle to use to verify client certificates on incoming requests before trusting usernames in headers specified by --requestheader-username-headers.
    #[arg(long)]
    pub requestheader_client_ca_file: Option<PathBuf>,

    /// List of client certificate common names to allow to provide usernames in headers specified by --requestheader-username-headers. If empty, any client certificate validated by the authorities in --requestheader-client-ca-file is allowed.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,

    /// List of request headers to inspect for usernames. X-Remote-User is common.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_USERNAME_HEADERS)]
    pub requestheader_username_headers: Vec<String>,

    /// List of request headers to inspect for groups. X-Remote-Group is suggested.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_GROUP_HEADERS)]
    pub requestheader_group_headers: Vec<String>,

    /// List of request headers to inspect for UIDs. X-Remote-Uid is suggested. (No default, like upstream's delegated authentication: UID headers came later, in 1.32.)
    #[arg(long, value_delimiter = ',')]
    pub requestheader_uid_headers: Vec<String>,

    /// List of request header prefixes to inspect. X-Remote-Extra- is suggested.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_EXTRA_HEADERS_PREFIX)]
    pub requestheader_extra_headers_prefix: Vec<String>,

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
            tls_min_version: String::new(),
            tls_cipher_suites: Vec::new(),
            tls_sni_cert_key: Vec::new(),
            permit_port_sharing: false,
            permit_address_sharing: false,
            requestheader_client_ca_file: None,
            requestheader_allowed_names: Vec::new(),
            requestheader_username_headers: vec![DEFAULT_USERNAME_HEADERS.into()],
            requestheader_group_headers: vec![DEFAULT_GROUP_HEADERS.into()],
            requestheader_uid_headers: Vec::new(),
            requestheader_extra_headers_prefix: vec![DEFAULT_EXTRA_HEADERS_PREFIX.into()],
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
        if let Err(err) = super::tls_params::parse_min_version(&self.tls_min_version) {
            errors.push(format!("--tls-min-version: {err}"));
        }
        if let Err(err) = super::tls_params::parse_cipher_suites(&self.tls_cipher_suites) {
            errors.push(format!("--tls-cipher-suites: {err}"));
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

    /// The TLS versions and cipher suites to serve.
    pub fn tls_params(&self) -> Result<TlsParams, String> {
        tls_params(&self.tls_min_version, &self.tls_cipher_suites)
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
        let tls = parse(&[
            "--tls-min-version=VersionTLS13",
            "--tls-cipher-suites=TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "--tls-sni-cert-key=a.crt,a.key",
            "--tls-sni-cert-key=b.crt,b.key:*.b.com,b.com",
            "--requestheader-client-ca-file=/front-proxy-ca.crt",
            "--requestheader-allowed-names=front-proxy-client,aggregator",
            "--requestheader-username-headers=X-Remote-User,X-User",
        ]);
        assert!(tls.validate().is_ok());
        assert_eq!(tls.tls_params().unwrap().versions.len(), 1);
        assert_eq!(tls.tls_sni_cert_key.len(), 2);
        assert_eq!(tls.tls_sni_cert_key[1].names, ["*.b.com", "b.com"]);
        assert_eq!(
            tls.requestheader_allowed_names,
            ["front-proxy-client", "aggregator"]
        );
        assert_eq!(
            tls.requestheader_username_headers,
            ["X-Remote-User", "X-User"]
        );
        assert_eq!(tls.requestheader_group_headers, ["x-remote-group"]);
        assert_eq!(tls.requestheader_extra_headers_prefix, ["x-remote-extra-"]);
        let defaults = parse(&[]);
        assert_eq!(
            defaults.requestheader_username_headers,
            SecureServingOptions::default().requestheader_username_headers
        );
        let bad_tls = parse(&[
            "--tls-min-version=VersionTLS14",
            "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_NOPE",
        ]);
        let errors = bad_tls.validate().unwrap_err();
        assert_eq!(
            errors,
            [
                "--tls-min-version: unknown tls version \"VersionTLS14\"",
                "--tls-cipher-suites: Cipher suite TLS_NOPE not supported or doesn't exist"
            ]
        );
        let mut bad_sni = vec!["x"];
        bad_sni.push("--tls-sni-cert-key=onlyone");
        assert!(Cli::try_parse_from(bad_sni).is_err());

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
