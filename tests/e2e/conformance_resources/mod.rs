//! Upstream's API-only conformance entries of the resource groups
//! (storage, node, network, auth, instrumentation, scheduling, apps, cli),
//! each replayed as the requests the upstream e2e test sends, with its
//! expectations, against a real etcd and apiserver through kube-rs and
//! kubectl. Shared helpers live here; one module per area.

mod auth;
mod kubectl;
mod lifecycle;
mod network;
mod node;
mod storage;

use std::fmt::Debug;

use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::api::{DynamicObject, ListParams, WatchEvent, WatchParams};
use kube::core::Resource;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Whether an error is the API answer `code`.
fn is_code(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

/// Names of the items a list answer holds.
fn names<K: Resource>(items: &[K]) -> Vec<String> {
    items
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect()
}

/// Reads a watch until `done` says it saw what it waited for, or fails
/// when the stream ends first.
async fn watch_until<K, F>(api: &Api<K>, selector: &str, rv: &str, mut done: F)
where
    K: Resource + Clone + DeserializeOwned + Debug,
    F: FnMut(&WatchEvent<K>) -> bool,
{
    let wp = WatchParams::default().labels(selector).timeout(20);
    let mut stream = api.watch(&wp, rv).await.unwrap().boxed();
    while let Some(ev) = stream.try_next().await.unwrap() {
        if done(&ev) {
            return;
        }
    }
    panic!("watch ended before the expected events");
}

/// POSTs `body` to `path` and returns the answer's code.
async fn create_code(client: &kube::Client, path: &str, body: Value) -> (u16, Value) {
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap();
    match client.request::<Value>(req).await {
        Ok(v) => (201, v),
        Err(kube::Error::Api(s)) => (s.code, json!({"message": s.message, "reason": s.reason})),
        Err(e) => panic!("{e:?}"),
    }
}

fn container_spec() -> Value {
    json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}], "restartPolicy": "Never"})
}

/// A pod spec a ReplicationController accepts (restartPolicy Always).
fn rc_pod_spec() -> Value {
    let mut spec = container_spec();
    spec["restartPolicy"] = json!("Always");
    spec
}

/// The object as JSON without what the control plane changes on every
/// write (resourceVersion, managedFields).
fn without_write_meta<T: serde::Serialize>(o: &T) -> Value {
    let mut v = serde_json::to_value(o).unwrap();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    v
}

/// The value of label `key` of a dynamic object.
fn label<'a>(o: &'a DynamicObject, key: &str) -> Option<&'a str> {
    o.metadata.labels.as_ref()?.get(key).map(String::as_str)
}
