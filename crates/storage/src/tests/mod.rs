//! Tests against a real etcd (one per test, on free ports; see
//! [`crate::testing`]). Every test runs under a timeout.

mod cache_list;
mod cache_watch;
mod fanout;
mod resilience;
mod scale;
mod store;
mod units;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::cache::{CacheConfig, WatchCache};
use crate::etcd::EtcdStore;
use crate::filter::AttrsFn;
use crate::testing::EtcdServer;

/// Runs a test body under a timeout.
async fn timed<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(90), body)
        .await
        .expect("test timed out");
}

/// A fresh etcd and a store with the default prefix.
async fn etcd() -> (EtcdServer, EtcdStore) {
    let server = EtcdServer::start().await.expect("start etcd");
    let store = server.store("/registry").await.expect("connect");
    (server, store)
}

/// A pod as the apiserver stores it (no resourceVersion).
fn pod(namespace: &str, name: &str, labels: &[(&str, &str)], node: &str) -> Vec<u8> {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    serde_json::to_vec(&json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"nodeName": node},
    }))
    .unwrap()
}

fn pod_key(namespace: &str, name: &str) -> String {
    format!("pods/{namespace}/{name}")
}

/// Extracts `spec.nodeName` like the pod strategy does.
fn pod_attrs() -> AttrsFn {
    Arc::new(|obj: &serde_json::Value| {
        let node = obj
            .pointer("/spec/nodeName")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        vec![("spec.nodeName".to_string(), node.to_string())]
    })
}

fn pods_config() -> CacheConfig {
    let mut config = CacheConfig::new("pods/", "v1", "Pod");
    config.attrs = pod_attrs();
    config
}

async fn pods_cache(store: &EtcdStore, config: CacheConfig) -> Arc<WatchCache> {
    WatchCache::start(store.clone(), config)
        .await
        .expect("start cache")
}

fn json_of(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("valid json")
}
