//! Requests for a remote APIService's group-version, after authentication
//! and authorization here, go to the extension apiserver (upstream's
//! `proxyHandler`): the caller's credentials are dropped, the aggregator
//! authenticates with its proxy client certificate and names the user in
//! `X-Remote-User`, `X-Remote-Uid`, `X-Remote-Group` and
//! `X-Remote-Extra-<key>` headers.
//! Responses and watch streams are passed through as they arrive; upgrade
//! requests are spliced.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};

use super::backend;
use super::snapshot::Entry;
use crate::app::ApiServer;
use crate::auth::UserInfo;
use crate::proxy::forward::{Backend, forward};
use crate::wire::{self, Body};

/// The user header the aggregator sets.
pub const USER_HEADER: &str = "X-Remote-User";
/// The UID header the aggregator sets (when the user has a UID).
pub const UID_HEADER: &str = "X-Remote-Uid";
/// The group header the aggregator sets (once per group).
pub const GROUP_HEADER: &str = "X-Remote-Group";
/// The prefix of the extra headers the aggregator sets.
pub const EXTRA_PREFIX: &str = "X-Remote-Extra-";

/// How long dialing and the TLS handshake with a backend may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Upstream's answer when the APIService cannot be reached: plain text,
/// which clients report as "the server is currently unable to handle the
/// request".
pub fn service_unavailable() -> Response<Body> {
    text(StatusCode::SERVICE_UNAVAILABLE, "service unavailable\n")
}

fn text(code: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(wire::full(Bytes::from(body.to_string())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Whether a header byte may appear unescaped in a header name (an RFC 7230
/// token character other than `%`).
fn legal_header_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b)
}

/// Percent-encodes what may not appear in a header name (upstream's
/// `headerKeyEscape`), so extra keys like `example.org/team` survive.
pub fn escape_extra_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if legal_header_byte(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Removes every header that could assert an identity to the backend
/// (`X-Remote-*` and the configured request-header names), then names
/// `user` in the aggregator's headers.
pub fn set_identity_headers(headers: &mut HeaderMap, user: &UserInfo, configured: &[String]) {
    let lowered: Vec<String> = configured.iter().map(|h| h.to_ascii_lowercase()).collect();
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            k.starts_with("x-remote-") || lowered.iter().any(|c| k.starts_with(c.as_str()))
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
    if let Ok(v) = HeaderValue::from_str(&user.name) {
        headers.insert(USER_HEADER, v);
    }
    if !user.uid.is_empty()
        && let Ok(v) = HeaderValue::from_str(&user.uid)
    {
        headers.insert(UID_HEADER, v);
    }
    for g in &user.groups {
        if let Ok(v) = HeaderValue::from_str(g) {
            headers.append(GROUP_HEADER, v);
        }
    }
    for (key, values) in &user.extra {
        let Ok(name) = HeaderName::from_bytes(
            format!("{EXTRA_PREFIX}{}", escape_extra_key(key))
                .to_ascii_lowercase()
                .as_bytes(),
        ) else {
            continue;
        };
        for value in values {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.append(name.clone(), v);
            }
        }
    }
}

/// Spreads requests over the endpoints of a Service.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Proxies one request to the backend of `entry`.
pub async fn serve<B>(
    server: &Arc<ApiServer>,
    entry: Arc<Entry>,
    mut req: Request<B>,
    user: &UserInfo,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let Some(svc) = entry.service.clone() else {
        return service_unavailable();
    };
    if !entry.available {
        return service_unavailable();
    }
    let agg = &server.aggregator;
    let seed = NEXT.fetch_add(1, Ordering::Relaxed);
    let authority = match backend::resolve(&server.registry, &svc, agg.endpoint_routing(), seed) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(apiservice = %entry.name, error = %e, "resolving the APIService backend");
            return service_unavailable();
        }
    };
    let tls = match agg.tls_for(&entry) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(apiservice = %entry.name, error = %e, "building the APIService TLS client");
            return service_unavailable();
        }
    };
    set_identity_headers(req.headers_mut(), user, &agg.request_header_names());
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let target = Backend::Tls {
        config: tls,
        host: backend::server_name(&svc),
        authority,
    };
    match forward(target, DIAL_TIMEOUT, req, None, &path_and_query).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(apiservice = %entry.name, error = %e.message, "proxying to the APIService");
            text(StatusCode::SERVICE_UNAVAILABLE, &format!("{}\n", e.message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_replace_what_the_client_sent() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", HeaderValue::from_static("mallory"));
        h.insert("x-remote-group", HeaderValue::from_static("system:masters"));
        h.insert("x-remote-uid", HeaderValue::from_static("forged"));
        h.insert("x-forged-user", HeaderValue::from_static("mallory"));
        h.insert("accept", HeaderValue::from_static("application/json"));
        let mut user = UserInfo::new("alice", &["dev", "system:authenticated"]);
        user.uid = "uid-1".into();
        user.extra.insert(
            "example.org/team".into(),
            vec!["blue".into(), "green".into()],
        );
        set_identity_headers(&mut h, &user, &["X-Forged-User".to_string()]);
        assert_eq!(h.get("x-remote-user").unwrap(), "alice");
        assert_eq!(h.get_all("x-remote-uid").iter().count(), 1);
        assert_eq!(h.get("x-remote-uid").unwrap(), "uid-1");
        let groups: Vec<&str> = h
            .get_all("x-remote-group")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(groups, ["dev", "system:authenticated"]);
        let extra: Vec<&str> = h
            .get_all("x-remote-extra-example.org%2fteam")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(extra, ["blue", "green"]);
        assert!(h.get("x-forged-user").is_none());
        assert_eq!(h.get("accept").unwrap(), "application/json");
    }

    #[test]
    fn extra_keys_are_escaped_like_upstream() {
        assert_eq!(
            escape_extra_key("authentication.kubernetes.io/pod-name"),
            "authentication.kubernetes.io%2Fpod-name"
        );
        assert_eq!(escape_extra_key("100%"), "100%25");
        assert_eq!(escape_extra_key("plain-key_1"), "plain-key_1");
    }
}
