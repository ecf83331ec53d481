//! The OpenAPI of remote APIServices (upstream's aggregator OpenAPI
//! controllers): when an APIService's discovery is read, its backend's
//! `/openapi/v3` index is read too, and the document of the APIService's
//! group-version is kept. `/openapi/v3` lists it beside the local ones,
//! `/openapi/v3/apis/<group>/<version>` serves it, and `/openapi/v2` merges
//! it (converted like the local documents), so `kubectl explain` and
//! client-side validation know the remote kinds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use serde_json::Value;

use crate::openapi::{OpenApi, document_key, hash_of, v2};

/// One remote group-version's document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RemoteDoc {
    /// `apis/<group>/<version>`.
    key: String,
    bytes: Bytes,
    hash: String,
}

/// The merged `/openapi/v2`, and what it was built from.
struct CachedV2 {
    crd_docs: usize,
    generation: u64,
    doc: Arc<v2::V2>,
}

/// The documents of the remote APIServices, by APIService name.
#[derive(Default)]
pub struct RemoteOpenApi {
    docs: RwLock<BTreeMap<String, RemoteDoc>>,
    /// Bumped whenever a document changes, so `/openapi/v2` is rebuilt.
    generation: AtomicU64,
    v2: Mutex<Option<CachedV2>>,
}

/// The index key of a group-version's document.
pub fn key_for(group: &str, version: &str) -> String {
    document_key(group, version)
}

/// The `serverRelativeURL` of `key` in a backend's `/openapi/v3` index.
pub fn document_url(index: &Value, key: &str) -> Option<String> {
    index
        .pointer("/paths")?
        .get(key)?
        .get("serverRelativeURL")?
        .as_str()
        .filter(|u| u.starts_with('/'))
        .map(str::to_string)
}

impl RemoteOpenApi {
    /// Records (or forgets, with `None`) the document an APIService's
    /// backend serves for `key`; only valid JSON objects are kept.
    pub fn set(&self, apiservice: &str, doc: Option<(String, Bytes)>) {
        let doc = doc.and_then(|(key, bytes)| {
            let parsed: Value = serde_json::from_slice(&bytes).ok()?;
            parsed.is_object().then(|| RemoteDoc {
                key,
                hash: hash_of(&bytes),
                bytes,
            })
        });
        let mut docs = self.docs.write().unwrap_or_else(|e| e.into_inner());
        let changed = match doc {
            Some(d) => docs.insert(apiservice.to_string(), d.clone()) != Some(d),
            None => docs.remove(apiservice).is_some(),
        };
        if changed {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (key, hash) of every remote document, for the `/openapi/v3` index.
    pub fn index(&self) -> Vec<(String, String)> {
        let docs = self.docs.read().unwrap_or_else(|e| e.into_inner());
        docs.values()
            .map(|d| (d.key.clone(), d.hash.clone()))
            .collect()
    }

    /// The remote document at `key` and its hash.
    pub fn document(&self, key: &str) -> Option<(Bytes, String)> {
        let key = key.trim_matches('/');
        let docs = self.docs.read().unwrap_or_else(|e| e.into_inner());
        docs.values()
            .find(|d| d.key == key)
            .map(|d| (d.bytes.clone(), d.hash.clone()))
    }

    /// Whether any remote document is known.
    pub fn is_empty(&self) -> bool {
        self.docs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// `/openapi/v2`: the built-in, CRD (identified by `crd_docs`, which
    /// are rebuilt on every CRD change) and remote documents as one Swagger
    /// 2.0 document; rebuilt only when the CRD or remote documents changed.
    pub fn v2(&self, builtin: &OpenApi, crd_docs: &Arc<crate::crd::openapi::Docs>) -> Arc<v2::V2> {
        let generation = self.generation.load(Ordering::Relaxed);
        let crd_id = Arc::as_ptr(crd_docs) as usize;
        let mut cached = self.v2.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached.as_ref()
            && c.crd_docs == crd_id
            && c.generation == generation
        {
            return c.doc.clone();
        }
        let mut all: Vec<Value> = builtin.documents().collect();
        all.extend(crd_docs.documents());
        {
            let docs = self.docs.read().unwrap_or_else(|e| e.into_inner());
            all.extend(
                docs.values()
                    .filter_map(|d| serde_json::from_slice::<Value>(&d.bytes).ok()),
            );
        }
        let doc = Arc::new(v2::build(&all, corten_component_base::version::GIT_VERSION));
        *cached = Some(CachedV2 {
            crd_docs: crd_id,
            generation,
            doc: doc.clone(),
        });
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_kept_per_apiservice_and_bump_the_generation() {
        let r = RemoteOpenApi::default();
        let doc = Bytes::from_static(br#"{"openapi":"3.0.0","paths":{}}"#);
        r.set(
            "v1alpha1.wardle.example.com",
            Some((key_for("wardle.example.com", "v1alpha1"), doc.clone())),
        );
        assert_eq!(r.generation.load(Ordering::Relaxed), 1);
        // The same document again changes nothing.
        r.set(
            "v1alpha1.wardle.example.com",
            Some((key_for("wardle.example.com", "v1alpha1"), doc.clone())),
        );
        assert_eq!(r.generation.load(Ordering::Relaxed), 1);
        let (bytes, hash) = r.document("apis/wardle.example.com/v1alpha1").unwrap();
        assert_eq!(bytes, doc);
        assert_eq!(
            r.index(),
            [("apis/wardle.example.com/v1alpha1".to_string(), hash)]
        );
        // Not JSON: forgotten.
        r.set(
            "v1alpha1.wardle.example.com",
            Some((
                key_for("wardle.example.com", "v1alpha1"),
                Bytes::from("<html>"),
            )),
        );
        assert!(r.is_empty());
        assert_eq!(r.generation.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn index_urls_must_be_server_relative() {
        let index = json!({"paths": {
            "apis/a/v1": {"serverRelativeURL": "/openapi/v3/apis/a/v1?hash=1"},
            "apis/b/v1": {"serverRelativeURL": "https://elsewhere/x"},
        }});
        assert_eq!(
            document_url(&index, "apis/a/v1").as_deref(),
            Some("/openapi/v3/apis/a/v1?hash=1")
        );
        assert_eq!(document_url(&index, "apis/b/v1"), None);
        assert_eq!(document_url(&index, "apis/c/v1"), None);
    }
}
