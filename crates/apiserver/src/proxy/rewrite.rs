//! What upstream's proxy transport does to a backend's answer on
//! `pods/proxy`, `services/proxy` and `nodes/proxy` (its `Transport` and
//! `corsRemovingTransport`): links in HTML pages and redirect `Location`s
//! that point at the backend's own absolute paths are rewritten to go
//! through the proxy path again, so a page served at
//! `/api/v1/namespaces/ns/pods/p/proxy/` that links `/style.css` keeps
//! working; the backend's CORS headers are dropped (the apiserver decides
//! CORS).
//!
//! Only `text/html` bodies without a content encoding are rewritten
//! (upstream also decompresses gzip and deflate); the attribute values are
//! replaced in place and the rest of the page is passed byte for byte.

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::BodyExt;

use crate::wire::Body;

/// Pages larger than this are passed through unchanged.
const MAX_REWRITE_BYTES: usize = 16 << 20;

const CORS_HEADERS: [&str; 5] = [
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
    "access-control-expose-headers",
];

/// The element attributes holding URLs (upstream's list).
const URL_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("a", &["href"]),
    ("applet", &["codebase"]),
    ("area", &["href"]),
    ("audio", &["src"]),
    ("base", &["href"]),
    ("blockquote", &["cite"]),
    ("body", &["background"]),
    ("button", &["formaction"]),
    ("command", &["icon"]),
    ("del", &["cite"]),
    ("embed", &["src"]),
    ("form", &["action"]),
    ("frame", &["longdesc", "src"]),
    ("head", &["profile"]),
    ("html", &["manifest"]),
    ("iframe", &["longdesc", "src"]),
    ("img", &["longdesc", "src", "usemap"]),
    ("input", &["src", "usemap", "formaction"]),
    ("ins", &["cite"]),
    ("link", &["href"]),
    ("object", &["classid", "codebase", "data", "usemap"]),
    ("q", &["cite"]),
    ("script", &["src"]),
    ("source", &["src"]),
    ("video", &["poster", "src"]),
    ("track", &["src"]),
];

/// How URLs pointing back at the backend are rewritten.
pub struct Rewriter {
    /// The proxy path the backend's paths go under
    /// (`/api/v1/namespaces/ns/pods/p/proxy`).
    pub prepend: String,
    /// The backend's `host:port`.
    pub backend_host: String,
    /// The client's `Host` header.
    pub request_host: String,
}

impl Rewriter {
    /// The prefix for a request to `path` that reaches the backend at
    /// `rest` (upstream strips the backend path, with the request's
    /// trailing slash, off the request path).
    pub fn prepend_for(path: &str, rest: &str) -> String {
        let mut suffix = rest.to_string();
        if path.ends_with('/') && !suffix.ends_with('/') {
            suffix.push('/');
        }
        path.strip_suffix(suffix.as_str())
            .unwrap_or(path)
            .to_string()
    }

    /// Applies the rewriting to a backend's response.
    pub async fn response(&self, response: Response<Body>) -> Response<Body> {
        let (mut parts, body) = response.into_parts();
        for name in CORS_HEADERS {
            parts.headers.remove(name);
        }
        if parts.status.is_redirection()
            && let Some(location) = parts
                .headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
        {
            let rewritten = self.url(location);
            if let Ok(value) = HeaderValue::from_str(&rewritten) {
                parts.headers.insert(header::LOCATION, value);
            }
        }
        let html = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("text/html")
            });
        let encoded = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
        let small = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_none_or(|n| n <= MAX_REWRITE_BYTES);
        if !html || encoded || !small {
            return Response::from_parts(parts, body);
        }
        let bytes = match http_body_util::Limited::new(body, MAX_REWRITE_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                // The backend broke off (or lied about its length): end the
                // answer with the error, as a streamed body would.
                let err = std::io::Error::other(err.to_string());
                let body = http_body_util::StreamBody::new(futures::stream::iter([Err::<
                    http_body::Frame<Bytes>,
                    _,
                >(
                    err
                )]));
                return Response::from_parts(parts, BodyExt::boxed_unsync(body));
            }
        };
        let page = self.html(&String::from_utf8_lossy(&bytes));
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(header::TRANSFER_ENCODING);
        Response::from_parts(parts, crate::wire::full(Bytes::from(page)))
    }

    /// Rewrites the URL attributes of an HTML page.
    pub fn html(&self, page: &str) -> String {
        let mut out = String::with_capacity(page.len() + 64);
        let mut rest = page;
        while let Some(open) = rest.find('<') {
            out.push_str(&rest[..open]);
            rest = &rest[open..];
            if let Some(comment) = rest.strip_prefix("<!--") {
                let end = comment.find("-->").map_or(rest.len(), |i| i + 4 + 3);
                out.push_str(&rest[..end]);
                rest = &rest[end..];
                continue;
            }
            let name_len = rest[1..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len() - 1);
            let tag = rest[1..1 + name_len].to_ascii_lowercase();
            let Some(attributes) = URL_ATTRIBUTES
                .iter()
                .find(|(t, _)| *t == tag)
                .map(|(_, a)| *a)
            else {
                // Not a tag with URLs (or not a tag): copy the `<` and go on;
                // raw-text elements are skipped whole so their content is
                // never taken for markup.
                let raw_end = ["style", "textarea", "title", "xmp"]
                    .contains(&tag.as_str())
                    .then(|| find_close(rest, &tag))
                    .flatten();
                let end = raw_end.unwrap_or(1);
                out.push_str(&rest[..end]);
                rest = &rest[end..];
                continue;
            };
            let (rewritten, used) = self.tag(rest, 1 + name_len, attributes);
            out.push_str(&rewritten);
            rest = &rest[used..];
            if tag == "script"
                && let Some(end) = find_close(rest, "script")
            {
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
        }
        out.push_str(rest);
        out
    }

    /// Rewrites one start tag starting at `tag[0] == '<'` whose name ends at
    /// `from`; (the tag as written out, bytes consumed).
    fn tag(&self, tag: &str, from: usize, attributes: &[&str]) -> (String, usize) {
        let bytes = tag.as_bytes();
        let mut out = String::from(&tag[..from]);
        let mut i = from;
        while i < bytes.len() {
            let c = bytes[i];
            if c == b'>' {
                out.push('>');
                return (out, i + 1);
            }
            if c.is_ascii_whitespace() || c == b'/' {
                out.push(c as char);
                i += 1;
                continue;
            }
            // An attribute name, then maybe `= value`.
            let start = i;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"=>/".contains(&bytes[i])
            {
                i += 1;
            }
            let name = tag[start..i].to_ascii_lowercase();
            out.push_str(&tag[start..i]);
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if j >= bytes.len() || bytes[j] != b'=' {
                continue;
            }
            j += 1;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            out.push_str(&tag[i..j]);
            let (quote, value_start) = match bytes.get(j) {
                Some(q @ (b'"' | b'\'')) => (Some(*q as char), j + 1),
                _ => (None, j),
            };
            let value_end = match quote {
                Some(q) => tag[value_start..]
                    .find(q)
                    .map_or(tag.len(), |k| value_start + k),
                None => tag[value_start..]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .map_or(tag.len(), |k| value_start + k),
            };
            let value = &tag[value_start..value_end];
            let value = if attributes.contains(&name.as_str()) {
                self.url(value)
            } else {
                value.to_string()
            };
            if let Some(q) = quote {
                out.push(q);
                out.push_str(&value);
                if value_end < tag.len() {
                    out.push(q);
                }
                i = (value_end + 1).min(tag.len());
            } else {
                out.push_str(&value);
                i = value_end;
            }
        }
        (out, tag.len())
    }

    /// Rewrites one URL (upstream `rewriteURL`): only absolute paths on the
    /// backend's own host (or none) go under the proxy path.
    pub fn url(&self, url: &str) -> String {
        let (before_fragment, fragment) = match url.find('#') {
            Some(i) => url.split_at(i),
            None => (url, ""),
        };
        let (before_query, query) = match before_fragment.find('?') {
            Some(i) => before_fragment.split_at(i),
            None => (before_fragment, ""),
        };
        // `scheme://host/path`, `//host/path` or a bare path.
        let (scheme, host, path) = match before_query.split_once("//") {
            Some((scheme, rest))
                if scheme.is_empty()
                    || (scheme.ends_with(':')
                        && scheme[..scheme.len() - 1]
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))) =>
            {
                let slash = rest.find('/').unwrap_or(rest.len());
                (Some(scheme), &rest[..slash], &rest[slash..])
            }
            _ => (None, "", before_query),
        };
        if let Some(s) = scheme {
            let s = s.trim_end_matches(':').to_ascii_lowercase();
            if !(s.is_empty() || s == "http" || s == "https") {
                return url.to_string();
            }
        }
        let different_host =
            !host.is_empty() && host != self.backend_host && host != self.request_host;
        if different_host || !path.starts_with('/') {
            return url.to_string();
        }
        // A link to the client's own host keeps its scheme and host; one
        // to the backend's becomes a path on the apiserver.
        let origin = if !host.is_empty() && host == self.request_host {
            before_query[..before_query.len() - path.len()].to_string()
        } else {
            String::new()
        };
        let path = if path.starts_with(&self.prepend) && !self.prepend.is_empty() {
            path.to_string()
        } else {
            let mut joined = clean(&format!("{}/{}", self.prepend, path));
            if path.ends_with('/') && !joined.ends_with('/') {
                joined.push('/');
            }
            joined
        };
        format!("{origin}{path}{query}{fragment}")
    }
}

/// Where the element `tag` opened at the start of `text` closes (the
/// index after `</tag>`).
fn find_close(text: &str, tag: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let close = format!("</{tag}");
    let at = lower.find(&close)?;
    let end = lower[at..].find('>')?;
    Some(at + end + 1)
}

/// A path with `.`/`..` segments resolved and repeated slashes folded
/// (Go's `path.Clean` for absolute paths).
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter() -> Rewriter {
        Rewriter {
            prepend: "/api/v1/namespaces/ns/pods/p/proxy".into(),
            backend_host: "10.0.0.5:80".into(),
            request_host: "127.0.0.1:6443".into(),
        }
    }

    #[test]
    fn prefixes_for_requests() {
        let p = "/api/v1/namespaces/ns/pods/p/proxy";
        assert_eq!(Rewriter::prepend_for(&format!("{p}/"), "/"), p);
        assert_eq!(Rewriter::prepend_for(p, "/"), p);
        assert_eq!(Rewriter::prepend_for(&format!("{p}/a/b"), "/a/b"), p);
        assert_eq!(Rewriter::prepend_for(&format!("{p}/a/"), "/a/"), p);
    }

    #[test]
    fn urls() {
        let r = rewriter();
        let p = "/api/v1/namespaces/ns/pods/p/proxy";
        assert_eq!(r.url("/rewriteme"), format!("{p}/rewriteme"));
        assert_eq!(r.url("/a/b/?x=1#top"), format!("{p}/a/b/?x=1#top"));
        assert_eq!(r.url("http://10.0.0.5:80/x"), format!("{p}/x"));
        assert_eq!(
            r.url("https://127.0.0.1:6443/x"),
            format!("https://127.0.0.1:6443{p}/x")
        );
        assert_eq!(r.url(&format!("{p}/already")), format!("{p}/already"));
        for unchanged in [
            "relative/path",
            "http://example.com/x",
            "//example.com/x",
            "mailto:someone@example.com",
            "#anchor",
        ] {
            assert_eq!(r.url(unchanged), unchanged);
        }
    }

    #[test]
    fn html_links() {
        let r = rewriter();
        let p = "/api/v1/namespaces/ns/pods/p/proxy";
        assert_eq!(
            r.html(r#"<a href="/rewriteme">test</a>"#),
            format!(r#"<a href="{p}/rewriteme">test</a>"#)
        );
        let page = "<!doctype html><HTML><body>\n<IMG SRC='/i.png' alt=\"/not-a-url\">\
            <link rel=stylesheet href=/s.css><a class=x href=rel>r</a>\
            <!-- <a href=\"/in-comment\"> --><p>a < b</p>\
            <script src=\"/app.js\">if (a<b) { x = '<a href=\"/js\">'; }</script></body></HTML>";
        let want = format!(
            "<!doctype html><HTML><body>\n<IMG SRC='{p}/i.png' alt=\"/not-a-url\">\
            <link rel=stylesheet href={p}/s.css><a class=x href=rel>r</a>\
            <!-- <a href=\"/in-comment\"> --><p>a < b</p>\
            <script src=\"{p}/app.js\">if (a<b) {{ x = '<a href=\"/js\">'; }}</script></body></HTML>"
        );
        assert_eq!(r.html(page), want);
        // Broken markup ends the page without losing bytes.
        assert_eq!(r.html("<a href=\"/x"), format!("<a href=\"{p}/x"));
        assert_eq!(r.html("text <"), "text <");
    }

    #[tokio::test]
    async fn responses() {
        let r = rewriter();
        let p = "/api/v1/namespaces/ns/pods/p/proxy";
        let page = Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(header::CONTENT_LENGTH, "28")
            .header("access-control-allow-origin", "*")
            .body(crate::wire::full(r#"<a href="/rewriteme">test</a>"#))
            .unwrap();
        let out = r.response(page).await;
        assert!(out.headers().get("access-control-allow-origin").is_none());
        assert!(out.headers().get(header::CONTENT_LENGTH).is_none());
        let body = out.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!(r#"<a href="{p}/rewriteme">test</a>"#));

        let plain = Response::builder()
            .header(header::CONTENT_TYPE, "text/plain")
            .body(crate::wire::full("<a href=\"/x\">"))
            .unwrap();
        let body = r.response(plain).await.into_body().collect().await.unwrap();
        assert_eq!(body.to_bytes(), "<a href=\"/x\">");

        let moved = Response::builder()
            .status(302)
            .header(header::LOCATION, "/login")
            .body(crate::wire::full(""))
            .unwrap();
        assert_eq!(
            r.response(moved).await.headers()[header::LOCATION],
            format!("{p}/login")
        );
    }
}
