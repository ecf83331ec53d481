//! Request-header authentication (`--requestheader-*`): a front proxy
//! (an aggregator in front of this server) that proves itself with a
//! client certificate signed by `--requestheader-client-ca-file`, whose
//! common name is in `--requestheader-allowed-names` (any, when empty), may
//! name the user in headers: the first non-empty username header, the
//! first non-empty UID header, every value of the group headers, and
//! extras from headers with an extra prefix (the rest of the name,
//! percent-decoded and lower-cased, is the key). The headers are read by
//! component-base's [`HeaderNames`], which the scheduler's and
//! controller-manager's secure ports share. The certificate is verified
//! once per connection; the headers are read per request.

use anyhow::Result;
use corten_component_base::secure_serving::requestheader::HeaderNames;
use http::HeaderMap;
use rustls::pki_types::CertificateDer;

use super::UserInfo;
use super::x509::X509Authenticator;
use crate::aggregator::options::RequestHeaderConfig;

/// The request-header authenticator.
#[derive(Debug)]
pub struct RequestHeaderAuthenticator {
    verifier: X509Authenticator,
    allowed_names: Vec<String>,
    names: HeaderNames,
}

impl RequestHeaderAuthenticator {
    /// Loads the CA bundle.
    pub fn from_config(cfg: &RequestHeaderConfig) -> Result<Self> {
        use anyhow::Context;
        let pem = std::fs::read(&cfg.client_ca_file).with_context(|| {
            format!(
                "reading --requestheader-client-ca-file {}",
                cfg.client_ca_file.display()
            )
        })?;
        Ok(Self::new(X509Authenticator::from_pem(&pem)?, cfg))
    }

    /// Builds from a verifier and the header settings.
    pub fn new(verifier: X509Authenticator, cfg: &RequestHeaderConfig) -> Self {
        RequestHeaderAuthenticator {
            verifier,
            allowed_names: cfg.allowed_names.clone(),
            names: HeaderNames::new(
                cfg.username_headers.clone(),
                cfg.uid_headers.clone(),
                cfg.group_headers.clone(),
                cfg.extra_headers_prefix.clone(),
            ),
        }
    }

    /// Whether a connection's client certificate is an allowed proxy's:
    /// `Ok(false)` without one, `Err` when it does not verify or its name
    /// is not allowed.
    pub fn verify_peer(&self, chain: &[CertificateDer<'static>]) -> Result<bool, String> {
        let Some(user) = self.verifier.authenticate(chain)? else {
            return Ok(false);
        };
        if !self.allowed_names.is_empty() && !self.allowed_names.contains(&user.name) {
            return Err(format!(
                "client certificate CN {:?} is not in --requestheader-allowed-names",
                user.name
            ));
        }
        Ok(true)
    }

    /// The user the headers name; `None` without a username.
    pub fn user_from_headers(&self, headers: &HeaderMap) -> Option<UserInfo> {
        let user = self.names.user(headers)?;
        Some(UserInfo {
            name: user.name,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    fn ca() -> (String, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "front-proxy-ca");
        let cert = p.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(p, key))
    }

    fn client(issuer: &Issuer<'static, KeyPair>, cn: &str) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        p.signed_by(&key, issuer).unwrap().der().clone()
    }

    fn authn(pem: &str) -> RequestHeaderAuthenticator {
        RequestHeaderAuthenticator::new(
            X509Authenticator::from_pem(pem.as_bytes()).unwrap(),
            &RequestHeaderConfig {
                client_ca_file: Default::default(),
                allowed_names: vec!["front-proxy-client".into()],
                username_headers: vec!["X-Remote-User".into()],
                uid_headers: vec!["X-Remote-Uid".into()],
                group_headers: vec!["X-Remote-Group".into()],
                extra_headers_prefix: vec!["X-Remote-Extra-".into()],
            },
        )
    }

    #[test]
    fn only_allowed_proxies_of_the_ca_are_trusted() {
        let (pem, issuer) = ca();
        let (_, other) = ca();
        let a = authn(&pem);
        assert_eq!(
            a.verify_peer(&[client(&issuer, "front-proxy-client")]),
            Ok(true)
        );
        assert!(a.verify_peer(&[client(&issuer, "someone-else")]).is_err());
        assert!(
            a.verify_peer(&[client(&other, "front-proxy-client")])
                .is_err()
        );
        assert_eq!(a.verify_peer(&[]), Ok(false));
    }

    #[test]
    fn headers_name_the_user() {
        let (pem, _) = ca();
        let a = authn(&pem);
        let mut h = HeaderMap::new();
        assert!(a.user_from_headers(&h).is_none());
        h.insert("x-remote-user", HeaderValue::from_static("alice"));
        h.append("x-remote-group", HeaderValue::from_static("dev"));
        h.append("x-remote-group", HeaderValue::from_static("ops"));
        h.append(
            "x-remote-extra-example.org%2fteam",
            HeaderValue::from_static("blue"),
        );
        h.append("x-remote-extra-scopes", HeaderValue::from_static("a"));
        h.append("x-remote-extra-scopes", HeaderValue::from_static("b"));
        let u = a.user_from_headers(&h).unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.uid, "");
        h.insert("x-remote-uid", HeaderValue::from_static("1234"));
        let u = a.user_from_headers(&h).unwrap();
        assert_eq!(u.uid, "1234");
        assert_eq!(u.groups, ["dev", "ops"]);
        assert_eq!(u.extra["example.org/team"], ["blue"]);
        assert_eq!(u.extra["scopes"], ["a", "b"]);
    }
}
