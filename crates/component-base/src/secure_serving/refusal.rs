//! Upstream's answers when the secure port turns a request away:
//!
//! - 401: a metav1.Status `Unauthorized` (`genericapifilters.Unauthorized`);
//! - 403: a metav1.Status `Forbidden` with
//!   `forbidden: User "<name>" cannot <verb> path "<path>"` (plus
//!   `: <reason>` when the authorizer gave one) and empty `details`;
//! - 500 (the SubjectAccessReview could not be made): plain text
//!   `Internal Server Error: "<request URI>": <error>`.
//!
//! The JSON is indented for `curl`/`Wget` user agents and `?pretty=true`,
//! as the Go apiserver libraries do.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, Uri, header};
use http_body_util::Full;
use serde_json::{Value, json};

fn pretty(headers: &HeaderMap, uri: &Uri) -> bool {
    let asked = uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| {
            k == "pretty" && matches!(v.as_ref(), "1" | "t" | "T" | "true" | "TRUE" | "True")
        })
    });
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    asked || agent.starts_with("curl") || agent.starts_with("Wget")
}

fn status_response(
    code: StatusCode,
    status: &Value,
    headers: &HeaderMap,
    uri: &Uri,
) -> Response<Full<Bytes>> {
    let mut body = if pretty(headers, uri) {
        serde_json::to_vec_pretty(status)
    } else {
        serde_json::to_vec(status)
    }
    .unwrap_or_default();
    body.push(b'\n');
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// 401 Unauthorized.
pub fn unauthorized(headers: &HeaderMap, uri: &Uri) -> Response<Full<Bytes>> {
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    });
    status_response(StatusCode::UNAUTHORIZED, &status, headers, uri)
}

/// Go's `%q` for the plain strings that appear here (names, paths).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The message of a 403 for a non-resource request.
pub fn forbidden_message(user: &str, verb: &str, path: &str, reason: &str) -> String {
    let base = format!(
        "forbidden: User {} cannot {verb} path {}",
        quote(user),
        quote(path)
    );
    if reason.is_empty() {
        base
    } else {
        format!("{base}: {reason}")
    }
}

/// 403 Forbidden.
pub fn forbidden(
    headers: &HeaderMap,
    uri: &Uri,
    user: &str,
    verb: &str,
    reason: &str,
) -> Response<Full<Bytes>> {
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": forbidden_message(user, verb, uri.path(), reason),
        "reason": "Forbidden",
        "details": {},
        "code": 403,
    });
    status_response(StatusCode::FORBIDDEN, &status, headers, uri)
}

/// 500 when authorization could not be decided.
pub fn internal_error(uri: &Uri, error: &str) -> Response<Full<Bytes>> {
    let request_uri = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let body = format!("Internal Server Error: {}: {error}\n", quote(request_uri));
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(response: Response<Full<Bytes>>) -> String {
        String::from_utf8(
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn bodies_like_upstream() {
        let uri: Uri = "/metrics".parse().unwrap();
        let plain = HeaderMap::new();
        let response = forbidden(&plain, &uri, "system:anonymous", "get", "");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            text(response).await,
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"forbidden: User \\\"system:anonymous\\\" cannot get path \\\"/metrics\\\"\",\"reason\":\"Forbidden\",\"details\":{},\"code\":403}\n"
        );
        let mut curl = HeaderMap::new();
        curl.insert(header::USER_AGENT, "curl/7.88.1".parse().unwrap());
        let body = text(unauthorized(&curl, &uri)).await;
        assert_eq!(
            body,
            "{\n  \"kind\": \"Status\",\n  \"apiVersion\": \"v1\",\n  \"metadata\": {},\n  \"status\": \"Failure\",\n  \"message\": \"Unauthorized\",\n  \"reason\": \"Unauthorized\",\n  \"code\": 401\n}\n"
        );
        let pretty_uri: Uri = "/metrics?pretty=true".parse().unwrap();
        assert!(
            text(unauthorized(&plain, &pretty_uri))
                .await
                .contains("\n  \"kind\"")
        );
        assert_eq!(
            forbidden_message("u", "post", "/metrics", "no RBAC policy matched"),
            "forbidden: User \"u\" cannot post path \"/metrics\": no RBAC policy matched"
        );
        let response = internal_error(
            &"/metrics?x=1".parse().unwrap(),
            "SubjectAccessReview: timed out",
        );
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            text(response).await,
            "Internal Server Error: \"/metrics?x=1\": SubjectAccessReview: timed out\n"
        );
    }
}
