//! `GET /logs/{path}`: the node's log directory (`/var/log`), as upstream's
//! kubelet serves it when `enableSystemLogHandler` is on (its default): a
//! directory answers with an HTML list of links (sub-directories end in
//! `/`), a file with its bytes. The apiserver reaches it through
//! `nodes/{name}/proxy/logs/`; authorization is the `nodes/log` subresource
//! ([`super::auth`]).

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::AsyncReadExt;

use super::{Body, full, text};

/// Upstream serves this directory, whatever the kubelet's other settings.
pub const LOG_DIR: &str = "/var/log";

/// Answers `rest` (the path after `/logs`) from `root`.
pub async fn serve(root: &Path, rest: &str) -> Response<Body> {
    let Some(target) = resolve(root, rest) else {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    };
    let Ok(meta) = tokio::fs::metadata(&target).await else {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    };
    if meta.is_dir() {
        // Relative links in the listing need the trailing slash, so a
        // directory named without one is redirected, as Go's file server does.
        if !rest.ends_with('/') {
            let name = rest.rsplit('/').next().unwrap_or("logs");
            let name = if name.is_empty() { "logs" } else { name };
            return redirect(&format!("{name}/"));
        }
        return listing(&target).await;
    }
    match tokio::fs::File::open(&target).await {
        Ok(file) => {
            let stream = futures::stream::unfold(file, |mut file| async move {
                let mut chunk = vec![0u8; 64 * 1024];
                match file.read(&mut chunk).await {
                    Ok(0) => None,
                    Ok(n) => {
                        chunk.truncate(n);
                        Some((Ok(Frame::data(Bytes::from(chunk))), file))
                    }
                    Err(err) => Some((Err(err), file)),
                }
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .header(header::CONTENT_LENGTH, meta.len())
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error"))
        }
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
            text(StatusCode::FORBIDDEN, "403 Forbidden\n")
        }
        Err(_) => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

/// The file under `root` that `rest` names; `None` for a path leaving it.
fn resolve(root: &Path, rest: &str) -> Option<PathBuf> {
    let mut target = root.to_path_buf();
    for component in Path::new(rest.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => target.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(target)
}

fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header(header::LOCATION, location)
        .body(full(""))
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error"))
}

async fn listing(dir: &Path) -> Response<Body> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(_) => return text(StatusCode::FORBIDDEN, "403 Forbidden\n"),
    };
    let mut names = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().await.is_ok_and(|t| t.is_dir()) {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    let mut body = String::from(
        "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n",
    );
    for name in names {
        let shown = html_escape(&name);
        body.push_str(&format!("<a href=\"{}\">{shown}</a>\n", href_escape(&name)));
    }
    body.push_str("</pre>\n");
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(full(body))
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error"))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Percent-encodes what would break the link (a name is one path segment).
fn href_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn lists_directories_and_serves_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("syslog"), "line one\n").unwrap();
        std::fs::create_dir(dir.path().join("pods")).unwrap();
        std::fs::write(dir.path().join("a b<c>"), "x").unwrap();

        let root = serve(dir.path(), "/").await;
        assert_eq!(root.status(), StatusCode::OK);
        let listing = body(root).await;
        assert!(listing.contains("<a href=\"pods/\">pods/</a>"), "{listing}");
        assert!(
            listing.contains("<a href=\"syslog\">syslog</a>"),
            "{listing}"
        );
        assert!(
            listing.contains("<a href=\"a%20b%3Cc%3E\">a b&lt;c&gt;</a>"),
            "{listing}"
        );

        let file = serve(dir.path(), "/syslog").await;
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(body(file).await, "line one\n");

        let moved = serve(dir.path(), "/pods").await;
        assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(moved.headers()[header::LOCATION], "pods/");

        assert_eq!(
            serve(dir.path(), "/missing").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            serve(dir.path(), "/../etc/passwd").await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
