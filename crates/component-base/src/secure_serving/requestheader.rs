//! Front-proxy authentication (`--requestheader-*`, upstream's
//! request-header authenticator in the delegated authentication): a proxy
//! whose client certificate verifies against `--requestheader-client-ca-file`
//! and whose CN is in `--requestheader-allowed-names` (any CN when empty)
//! names the user in headers: the first non-empty value of the username
//! headers (and of the UID headers, when configured), every value of the
//! group headers, and extras from headers
//! starting with an extra prefix (the rest of the name, percent-decoded and
//! lower-cased, is the key). Headers from any other caller are ignored.
//!
//! Without `--requestheader-client-ca-file` the CA, the allowed names and
//! the header names all come from the `extension-apiserver-authentication`
//! ConfigMap and change when it does, so the settings are swappable.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use http::HeaderMap;
use rustls::pki_types::CertificateDer;

use super::authn::UserInfo;
use super::tls::{CertIdentity, ClientCa};

/// Upstream's delegated defaults.
pub const DEFAULT_USERNAME_HEADERS: &str = "x-remote-user";
/// Upstream's delegated default group header.
pub const DEFAULT_GROUP_HEADERS: &str = "x-remote-group";
/// Upstream's delegated default extra prefix.
pub const DEFAULT_EXTRA_HEADERS_PREFIX: &str = "x-remote-extra-";

/// What a connection's certificate says about a front proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyIdentity {
    /// No certificate, or no front-proxy CA configured.
    None,
    /// An allowed front proxy.
    Verified,
    /// A certificate that is not an allowed proxy's (why).
    Invalid(String),
}

/// The request-header authenticator.
#[derive(Debug)]
pub struct RequestHeaderAuthenticator {
    ca: Arc<ClientCa>,
    settings: RwLock<Arc<Settings>>,
}

/// Who may act as a front proxy and where it names the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Settings {
    /// Allowed proxy certificate CNs; any when empty.
    allowed_names: Vec<String>,
    names: HeaderNames,
}

fn clean_names(v: Vec<String>) -> Vec<String> {
    v.into_iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

fn clean_headers(v: Vec<String>) -> Vec<String> {
    v.into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// The headers a trusted front proxy names the user in (lower-cased;
/// shared with the apiserver's own request-header authenticator).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderNames {
    username: Vec<String>,
    uid: Vec<String>,
    group: Vec<String>,
    extra_prefixes: Vec<String>,
}

impl HeaderNames {
    /// The `--requestheader-{username,uid,group}-headers` and
    /// `--requestheader-extra-headers-prefix` values.
    pub fn new(
        username: Vec<String>,
        uid: Vec<String>,
        group: Vec<String>,
        extra_prefixes: Vec<String>,
    ) -> Self {
        HeaderNames {
            username: clean_headers(username),
            uid: clean_headers(uid),
            group: clean_headers(group),
            extra_prefixes: clean_headers(extra_prefixes),
        }
    }

    /// The user the headers name; `None` without a username.
    pub fn user(&self, headers: &HeaderMap) -> Option<UserInfo> {
        let first = |names: &[String]| {
            names.iter().find_map(|h| {
                headers
                    .get_all(h.as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find(|v| !v.is_empty())
                    .map(str::to_string)
            })
        };
        let name = first(&self.username)?;
        let groups = self
            .group
            .iter()
            .flat_map(|h| headers.get_all(h.as_str()).iter())
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (header, value) in headers {
            let Some(rest) = self
                .extra_prefixes
                .iter()
                .find_map(|p| header.as_str().strip_prefix(p.as_str()))
            else {
                continue;
            };
            let key = percent_decode(rest).to_ascii_lowercase();
            if let Ok(v) = value.to_str() {
                extra.entry(key).or_default().push(v.to_string());
            }
        }
        Some(UserInfo {
            name,
            uid: first(&self.uid).unwrap_or_default(),
            groups,
            extra,
        })
    }
}

impl RequestHeaderAuthenticator {
    /// `ca` holds the front-proxy CA bundle (re-read by the caller).
    pub fn new(
        ca: Arc<ClientCa>,
        allowed_names: Vec<String>,
        username_headers: Vec<String>,
        group_headers: Vec<String>,
        extra_prefixes: Vec<String>,
    ) -> Self {
        let settings = Settings {
            allowed_names: clean_names(allowed_names),
            names: HeaderNames::new(username_headers, Vec::new(), group_headers, extra_prefixes),
        };
        RequestHeaderAuthenticator {
            ca,
            settings: RwLock::new(Arc::new(settings)),
        }
    }

    /// Also reads the user's UID from these headers
    /// (`--requestheader-uid-headers`).
    pub fn with_uid_headers(self, uid_headers: Vec<String>) -> Self {
        let mut settings = (*self.settings()).clone();
        settings.names.uid = clean_headers(uid_headers);
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
        self
    }

    /// Replaces the allowed names and the header names (read again from
    /// the authentication ConfigMap); true when they changed.
    pub fn set_names(&self, allowed_names: Vec<String>, names: HeaderNames) -> bool {
        let settings = Settings {
            allowed_names: clean_names(allowed_names),
            names,
        };
        let mut current = self.settings.write().unwrap_or_else(|e| e.into_inner());
        if **current == settings {
            return false;
        }
        *current = Arc::new(settings);
        true
    }

    fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The CA bundle (for reloading and the handshake).
    pub fn ca(&self) -> &Arc<ClientCa> {
        &self.ca
    }

    /// Whether the connection's certificate is an allowed proxy's.
    pub fn verify(&self, chain: Option<&[CertificateDer<'static>]>) -> ProxyIdentity {
        if !self.ca.is_set() {
            return ProxyIdentity::None;
        }
        match self.ca.identify(chain) {
            CertIdentity::None => ProxyIdentity::None,
            CertIdentity::Invalid(why) => ProxyIdentity::Invalid(format!("front proxy: {why}")),
            CertIdentity::Verified(user) => {
                let allowed = &self.settings().allowed_names;
                if allowed.is_empty() || allowed.contains(&user.name) {
                    ProxyIdentity::Verified
                } else {
                    ProxyIdentity::Invalid(format!(
                        "front proxy: certificate CN {:?} is not in --requestheader-allowed-names",
                        user.name
                    ))
                }
            }
        }
    }

    /// The user the headers name; `None` without a username.
    pub fn user_from_headers(&self, headers: &HeaderMap) -> Option<UserInfo> {
        self.settings().names.user(headers)
    }
}

/// Percent-decodes an extra key; a malformed escape is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_the_user() {
        let ca = ClientCa::new(super::super::tls::default_provider());
        let rh = RequestHeaderAuthenticator::new(
            ca,
            vec![],
            vec!["X-Remote-User".into()],
            vec!["x-remote-group".into()],
            vec!["x-remote-extra-".into()],
        );
        let mut headers = HeaderMap::new();
        headers.append("x-remote-user", "alice".parse().unwrap());
        headers.append("x-remote-group", "devs".parse().unwrap());
        headers.append("x-remote-group", "ops".parse().unwrap());
        headers.append("x-remote-extra-scopes%2fa", "s1".parse().unwrap());
        let user = rh.user_from_headers(&headers).unwrap();
        assert_eq!(user.name, "alice");
        assert_eq!(user.groups, ["devs", "ops"]);
        assert_eq!(user.extra["scopes/a"], ["s1"]);
        assert!(rh.user_from_headers(&HeaderMap::new()).is_none());
        // UIDs are read only from configured headers (none by default).
        headers.append("x-remote-uid", "1234".parse().unwrap());
        assert_eq!(rh.user_from_headers(&headers).unwrap().uid, "");
        let rh = rh.with_uid_headers(vec!["X-Remote-Uid".into()]);
        assert_eq!(rh.user_from_headers(&headers).unwrap().uid, "1234");
        // No CA: nobody is a proxy.
        assert_eq!(rh.verify(None), ProxyIdentity::None);
        assert_eq!(percent_decode("a%zzb%41"), "a%zzbA");
    }
}
