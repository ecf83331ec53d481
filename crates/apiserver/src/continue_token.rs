//! List continue tokens, in upstream's format so tokens look familiar:
//! base64 of `{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<key>\u0000"}`
//! where `start` is the key relative to the listed prefix.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use corten_apimachinery::StatusError;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Token {
    v: String,
    rv: i64,
    start: String,
}

/// The revision of a token that continues at the latest revision (the
/// one a 410 for a compacted continue token carries).
pub const LATEST: i64 = -1;

/// Encodes a token resuming after `last_key` (relative to the list prefix)
/// at `revision`.
pub fn encode(revision: i64, last_key_relative: &str) -> String {
    let t = Token {
        v: "meta.k8s.io/v1".into(),
        rv: revision,
        start: format!("{last_key_relative}\u{0}"),
    };
    URL_SAFE.encode(serde_json::to_vec(&t).unwrap_or_default())
}

/// Decodes a token into (revision, relative key to start strictly after);
/// a negative revision ([`LATEST`]) means the latest one.
pub fn decode(token: &str) -> Result<(i64, String), StatusError> {
    let bad = |why: &str| StatusError::bad_request(format!("continue key is not valid: {why}"));
    let raw = URL_SAFE
        .decode(token.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token.as_bytes()))
        .map_err(|_| bad("illegal base64 data"))?;
    let t: Token = serde_json::from_slice(&raw).map_err(|_| bad("malformed token"))?;
    if t.v != "meta.k8s.io/v1" {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    if t.rv == 0 {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    let start = t
        .start
        .strip_suffix('\u{0}')
        .unwrap_or(&t.start)
        .to_string();
    if start.contains("..") || start.starts_with('/') {
        return Err(bad("key path is not allowed"));
    }
    Ok((t.rv, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = encode(42, "default/web-7");
        assert_eq!(decode(&t).unwrap(), (42, "default/web-7".to_string()));
        assert_eq!(decode("!!!").unwrap_err().code, 400);
        assert_eq!(decode(&URL_SAFE.encode(b"{}")).unwrap_err().code, 400);
        let evil = URL_SAFE.encode(br#"{"v":"meta.k8s.io/v1","rv":3,"start":"../secrets/x"}"#);
        assert_eq!(decode(&evil).unwrap_err().code, 400);
        let zero = URL_SAFE.encode(br#"{"v":"meta.k8s.io/v1","rv":0,"start":"a\u0000"}"#);
        assert_eq!(decode(&zero).unwrap_err().code, 400);
        assert_eq!(
            decode(&encode(LATEST, "a")).unwrap(),
            (LATEST, "a".to_string())
        );
    }
}
