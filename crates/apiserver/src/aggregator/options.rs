//! The aggregation flags: `--requestheader-*` (who may assert a user in
//! `X-Remote-*` headers, published to extension apiservers in the
//! `extension-apiserver-authentication` ConfigMap), `--proxy-client-*`
//! (the identity the aggregator presents to extension apiservers) and
//! `--enable-aggregator-routing`.

use std::path::PathBuf;

/// Aggregation and request-header flags, as upstream names them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AggregatorOptions {
    /// Root certificate bundle to use to verify client certificates on
    /// incoming requests before trusting usernames in headers specified by
    /// --requestheader-username-headers.
    #[arg(long)]
    pub requestheader_client_ca_file: Option<PathBuf>,

    /// List of client certificate common names to allow to provide
    /// usernames in headers specified by --requestheader-username-headers.
    /// If empty, any client certificate validated by the authorities in
    /// --requestheader-client-ca-file is allowed.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,

    /// List of request headers to inspect for usernames. X-Remote-User is
    /// common.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_username_headers: Vec<String>,

    /// List of request headers to inspect for groups. X-Remote-Group is
    /// suggested.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_group_headers: Vec<String>,

    /// List of request headers to inspect for UIDs. X-Remote-Uid is
    /// suggested (upstream's RemoteRequestHeaderUID, on by default in 1.33).
    #[arg(long, value_delimiter = ',')]
    pub requestheader_uid_headers: Vec<String>,

    /// List of request header prefixes to inspect. X-Remote-Extra- is
    /// suggested.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_extra_headers_prefix: Vec<String>,

    /// Client certificate used to prove the identity of the aggregator or
    /// kube-apiserver when it must call out during a request (proxying
    /// requests to a user api-server and calling out to webhook admission
    /// plugins).
    #[arg(long)]
    pub proxy_client_cert_file: Option<PathBuf>,

    /// Private key for the client certificate used to prove the identity of
    /// the aggregator or kube-apiserver when it must call out during a
    /// request.
    #[arg(long)]
    pub proxy_client_key_file: Option<PathBuf>,

    /// Turns on aggregator routing requests to endpoints IP rather than
    /// cluster IP.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enable_aggregator_routing: bool,
}

/// The request-header authentication settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHeaderConfig {
    /// `--requestheader-client-ca-file`.
    pub client_ca_file: PathBuf,
    /// `--requestheader-allowed-names` (empty: any verified certificate).
    pub allowed_names: Vec<String>,
    /// `--requestheader-username-headers`.
    pub username_headers: Vec<String>,
    /// `--requestheader-group-headers`.
    pub group_headers: Vec<String>,
    /// `--requestheader-uid-headers`.
    pub uid_headers: Vec<String>,
    /// `--requestheader-extra-headers-prefix`.
    pub extra_headers_prefix: Vec<String>,
}

/// Validated aggregation settings.
#[derive(Debug, Clone, Default)]
pub struct AggregatorConfig {
    /// Request-header authentication, when a CA file is given.
    pub request_header: Option<RequestHeaderConfig>,
    /// `--proxy-client-cert-file` and `--proxy-client-key-file`.
    pub proxy_client: Option<(PathBuf, PathBuf)>,
    /// `--enable-aggregator-routing`: dial endpoint IPs instead of the
    /// Service's ClusterIP.
    pub endpoint_routing: bool,
}

fn clean(v: Vec<String>) -> Vec<String> {
    v.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl AggregatorOptions {
    /// Validates the flags.
    pub fn complete(self) -> Result<AggregatorConfig, String> {
        let proxy_client = match (self.proxy_client_cert_file, self.proxy_client_key_file) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(
                    "--proxy-client-cert-file and --proxy-client-key-file must be given together"
                        .into(),
                );
            }
        };
        let usernames = clean(self.requestheader_username_headers);
        let request_header = match self.requestheader_client_ca_file {
            Some(client_ca_file) => Some(RequestHeaderConfig {
                client_ca_file,
                allowed_names: clean(self.requestheader_allowed_names),
                username_headers: usernames,
                group_headers: clean(self.requestheader_group_headers),
                uid_headers: clean(self.requestheader_uid_headers),
                extra_headers_prefix: clean(self.requestheader_extra_headers_prefix),
            }),
            None => {
                if !usernames.is_empty() {
                    return Err(
                        "--requestheader-username-headers requires --requestheader-client-ca-file"
                            .into(),
                    );
                }
                None
            }
        };
        Ok(AggregatorConfig {
            request_header,
            proxy_client,
            endpoint_routing: self.enable_aggregator_routing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        o: AggregatorOptions,
    }

    fn parse(args: &[&str]) -> Result<AggregatorConfig, String> {
        let mut v = vec!["x"];
        v.extend_from_slice(args);
        Flags::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .o
            .complete()
    }

    #[test]
    fn kubeadm_flags() {
        let c = parse(&[
            "--requestheader-client-ca-file=/pki/front-proxy-ca.crt",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-uid-headers=X-Remote-Uid",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--proxy-client-cert-file=/pki/front-proxy-client.crt",
            "--proxy-client-key-file=/pki/front-proxy-client.key",
            "--enable-aggregator-routing=true",
        ])
        .unwrap();
        let rh = c.request_header.unwrap();
        assert_eq!(rh.allowed_names, ["front-proxy-client"]);
        assert_eq!(rh.username_headers, ["X-Remote-User"]);
        assert_eq!(rh.uid_headers, ["X-Remote-Uid"]);
        assert_eq!(rh.extra_headers_prefix, ["X-Remote-Extra-"]);
        assert!(c.proxy_client.is_some());
        assert!(c.endpoint_routing);
        let d = parse(&[]).unwrap();
        assert!(d.request_header.is_none() && d.proxy_client.is_none() && !d.endpoint_routing);
    }

    #[test]
    fn incomplete_flags_are_rejected() {
        assert!(parse(&["--proxy-client-cert-file=/a"]).is_err());
        assert!(parse(&["--requestheader-username-headers=X-Remote-User"]).is_err());
    }
}
