//! `--tls-min-version` and `--tls-cipher-suites`, with upstream's names
//! (Go's `crypto/tls` constants) mapped onto rustls.
//!
//! rustls speaks TLS 1.2 and 1.3 only, with AEAD suites only. So:
//! - `VersionTLS10`/`VersionTLS11` are accepted and mean TLS 1.2 (nothing
//!   older is ever negotiated);
//! - as in Go, the suite list restricts TLS 1.2 only: the TLS 1.3 suites
//!   stay enabled whatever it says;
//! - names Go knows but rustls lacks (CBC, RC4, 3DES, static RSA key
//!   exchange) are skipped with a warning; a list with no usable suite, or
//!   with a name nobody knows, is an error naming the suite.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, SupportedCipherSuite, SupportedProtocolVersion};

/// `--tls-min-version` values (upstream's).
pub const TLS_VERSIONS: [&str; 4] = [
    "VersionTLS10",
    "VersionTLS11",
    "VersionTLS12",
    "VersionTLS13",
];

/// Upstream names of the suites rustls implements.
const SUPPORTED: &[(&str, CipherSuite)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Upstream names of suites Go accepts that rustls does not implement.
const GO_ONLY: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// Protocol versions and the crypto provider (with its suites) to serve.
#[derive(Debug, Clone)]
pub struct TlsParams {
    /// The versions offered.
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// rustls' ring provider with the allowed suites.
    pub provider: Arc<CryptoProvider>,
}

impl Default for TlsParams {
    fn default() -> Self {
        TlsParams {
            versions: rustls::DEFAULT_VERSIONS.to_vec(),
            provider: super::tls::default_provider(),
        }
    }
}

/// Upstream `cliflag.TLSVersion`: `""` is the default (TLS 1.2 and 1.3).
pub fn parse_min_version(name: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    match name {
        "" | "VersionTLS10" | "VersionTLS11" | "VersionTLS12" => {
            Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12])
        }
        "VersionTLS13" => Ok(vec![&rustls::version::TLS13]),
        other => Err(format!("unknown tls version {other:?}")),
    }
}

/// Upstream `cliflag.TLSCipherSuites`, onto rustls: the TLS 1.2 suites
/// to allow (empty input: every suite).
pub fn parse_cipher_suites(names: &[String]) -> Result<Option<Vec<CipherSuite>>, String> {
    let names: Vec<&str> = names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let mut suites = Vec::new();
    for name in names {
        if let Some((_, suite)) = SUPPORTED.iter().find(|(n, _)| *n == name) {
            if !suites.contains(suite) {
                suites.push(*suite);
            }
        } else if GO_ONLY.contains(&name) {
            tracing::warn!(
                cipher = name,
                "--tls-cipher-suites: this cipher suite is not implemented by Corten's TLS stack (rustls); skipped"
            );
        } else {
            return Err(format!(
                "Cipher suite {name} not supported or doesn't exist"
            ));
        }
    }
    if !suites.iter().any(|s| !is_tls13(*s)) {
        return Err(
            "--tls-cipher-suites: none of the listed cipher suites is usable for TLS 1.2 (rustls implements only the ECDHE AES-GCM and ChaCha20-Poly1305 suites)"
                .into(),
        );
    }
    Ok(Some(suites))
}

fn is_tls13(suite: CipherSuite) -> bool {
    matches!(
        suite,
        CipherSuite::TLS13_AES_128_GCM_SHA256
            | CipherSuite::TLS13_AES_256_GCM_SHA384
            | CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
    )
}

/// The provider and versions for `--tls-min-version` and
/// `--tls-cipher-suites` (already validated by [`parse_min_version`] and
/// [`parse_cipher_suites`]).
pub fn tls_params(min_version: &str, cipher_suites: &[String]) -> Result<TlsParams, String> {
    let versions = parse_min_version(min_version)?;
    let allowed = parse_cipher_suites(cipher_suites)?;
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(allowed) = allowed {
        // Go keeps every TLS 1.3 suite whatever the list says.
        provider
            .cipher_suites
            .retain(|s: &SupportedCipherSuite| is_tls13(s.suite()) || allowed.contains(&s.suite()));
    }
    Ok(TlsParams {
        versions,
        provider: Arc::new(provider),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn versions_follow_upstream_names() {
        assert_eq!(parse_min_version("").unwrap().len(), 2);
        assert_eq!(parse_min_version("VersionTLS10").unwrap().len(), 2);
        let only13 = parse_min_version("VersionTLS13").unwrap();
        assert_eq!(only13.len(), 1);
        assert_eq!(only13[0].version, rustls::ProtocolVersion::TLSv1_3);
        assert_eq!(
            parse_min_version("TLS13").unwrap_err(),
            "unknown tls version \"TLS13\""
        );
    }

    #[test]
    fn cipher_suites_restrict_tls12_and_name_the_unknown_one() {
        let params = tls_params(
            "",
            &names(&[
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_RSA_WITH_AES_128_CBC_SHA",
            ]),
        )
        .unwrap();
        let suites: Vec<CipherSuite> = params
            .provider
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert!(suites.contains(&CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256));
        assert!(!suites.contains(&CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384));
        assert!(suites.contains(&CipherSuite::TLS13_AES_128_GCM_SHA256));
        assert_eq!(
            tls_params(
                "",
                &names(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_BOGUS"])
            )
            .unwrap_err(),
            "Cipher suite TLS_BOGUS not supported or doesn't exist"
        );
        assert!(
            tls_params("", &names(&["TLS_RSA_WITH_AES_128_CBC_SHA"]))
                .unwrap_err()
                .contains("none of the listed cipher suites")
        );
        assert_eq!(parse_cipher_suites(&names(&["", " "])).unwrap(), None);
    }
}
