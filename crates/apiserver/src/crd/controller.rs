//! The CRD controllers upstream's apiextensions-apiserver runs, folded
//! into one level-triggered loop over the CRD watch cache:
//!
//! - naming + establishing: computes `status.acceptedNames` and the
//!   `NamesAccepted`/`Established` conditions (`crd_status`) and writes
//!   them through `/status`;
//! - serving: an established CRD is served under its accepted names with
//!   one watch cache; serving is rebuilt when the spec or the accepted
//!   names change and stops when the CRD is gone. Serving starts *before*
//!   the `Established` condition is written, so a client that waits for it
//!   never sees a 404;
//! - finalizer: a CRD being deleted refuses new objects, has every object
//!   deleted, then loses the `customresourcecleanup.apiextensions.k8s.io`
//!   finalizer (and with it the CRD).

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use corten_apimachinery::{meta, time};
use corten_storage::{CacheConfig, Filter, ListRequest, WatchCache, WatchRequest, WatchStart};
use serde_json::{Value, json};

use super::ServedCrd;
use super::custom::{self, Names};
use super::definition::{CLEANUP_FINALIZER, GROUP, set_condition};
use super::webhook::WebhookClient;
use crate::app::ApiServer;
use crate::registry::delete::{self, DeleteOptions};
use crate::registry::store::{self, UpdateTarget, WriteOptions};
use crate::registry::{Registry, Resource};

/// How often everything is reconciled even without events.
const RESYNC: Duration = Duration::from_secs(10);

/// How long the finalizer waits between passes over remaining objects.
const CLEANUP_RETRY: Duration = Duration::from_millis(250);

fn crd_resource(reg: &Registry) -> Option<Arc<Resource>> {
    reg.resource(GROUP, "v1", "customresourcedefinitions")
}

/// Serves the CRDs already established (so a restarted apiserver answers
/// for their objects as soon as it listens), then starts the controller
/// loop; it ends when the server is dropped.
pub async fn start(server: &Arc<ApiServer>) {
    let cleaning: Arc<Mutex<HashSet<String>>> = Arc::default();
    sync_once(server, &cleaning).await;
    let weak = Arc::downgrade(server);
    tokio::spawn(async move {
        loop {
            let Some(server) = weak.upgrade() else { return };
            let Some(res) = crd_resource(&server.registry) else {
                return;
            };
            let watch = res
                .cache
                .watch(WatchRequest {
                    prefix: format!("{}/", res.def.storage_resource),
                    filter: Filter::default(),
                    start: WatchStart::After(res.cache.revision()),
                    bookmarks: false,
                    initial_events_end_bookmark: false,
                })
                .await;
            sync_once(&server, &cleaning).await;
            drop(server);
            let Ok(mut watcher) = watch else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            loop {
                let next = tokio::time::timeout(RESYNC, watcher.next()).await;
                let Some(server) = weak.upgrade() else { return };
                match next {
                    Ok(None) => break,
                    Ok(Some(_)) | Err(_) => sync_once(&server, &cleaning).await,
                }
            }
        }
    });
}

fn condition_true(crd: &Value, type_: &str) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(Value::as_str) == Some(type_)
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
}

/// One reconcile of every CRD.
pub async fn sync_once(server: &Arc<ApiServer>, cleaning: &Arc<Mutex<HashSet<String>>>) {
    let reg = &server.registry;
    let Some(res) = crd_resource(reg) else { return };
    let listed = res.cache.list(&ListRequest {
        prefix: format!("{}/", res.def.storage_resource),
        filter: Filter::default(),
        start_after: None,
        limit: None,
    });
    let mut all: Vec<Value> = listed
        .items
        .iter()
        .filter_map(|o| o.to_value().ok())
        .collect();
    let now = time::format_time(jiff::Timestamp::now());
    let mut present = HashSet::new();
    for i in 0..all.len() {
        let crd = all[i].clone();
        let name = meta::name(&crd).unwrap_or_default().to_string();
        present.insert(name.clone());
        let status = corten_apiextensions::crd_status(&crd, &all, &now);
        let mut updated = crd.clone();
        updated["status"] = status;
        all[i] = updated.clone();
        let deleting = meta::deletion_timestamp(&crd).is_some();
        if condition_true(&updated, "Established")
            && let Err(e) = ensure_served(server, &updated, deleting).await
        {
            tracing::warn!(crd = %name, error = %e, "serving custom resource");
            continue;
        }
        if deleting {
            reg.crds.set_terminating(&name, true);
            if meta::finalizers(&crd)
                .iter()
                .any(|f| f == CLEANUP_FINALIZER)
            {
                start_cleanup(server, &name, cleaning);
            }
        }
        if updated.get("status") != crd.get("status") {
            let opts = WriteOptions::default();
            match store::update(reg, &res, None, &name, updated, UpdateTarget::Status, &opts).await
            {
                Ok(_) => {}
                // A newer version is on its way through the watch.
                Err(e) if e.code == 409 || e.code == 404 => {}
                Err(e) => tracing::warn!(crd = %name, error = %e.message, "updating CRD status"),
            }
        }
    }
    for name in reg.crds.names() {
        if !present.contains(&name) {
            reg.crds.unserve(&name);
        }
    }
}

/// Extracts the selectable fields (every version's) from a stored object.
fn field_values(labels: &[String], obj: &Value) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|l| {
            let v = l
                .split('.')
                .filter(|s| !s.is_empty())
                .try_fold(obj, |o, k| o.get(k));
            let text = match v {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            (l.clone(), text)
        })
        .collect()
}

/// Serves a CRD under its accepted names unless already served as is.
async fn ensure_served(server: &ApiServer, crd: &Value, deleting: bool) -> Result<(), String> {
    let reg = &server.registry;
    let name = meta::name(crd).unwrap_or_default();
    let fingerprint = json!({
        "uid": meta::uid(crd),
        "spec": crd.get("spec"),
        "acceptedNames": crd.pointer("/status/acceptedNames"),
    });
    if reg.crds.fingerprint(name).as_ref() == Some(&fingerprint) {
        return Ok(());
    }
    let names = Names::from_json(crd.pointer("/status/acceptedNames").unwrap_or(&Value::Null));
    if names.plural.is_empty() || names.kind.is_empty() {
        return Err("no accepted names".into());
    }
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let storage = custom::storage_version(crd).ok_or("no storage version")?;
    let labels = custom::all_labels(crd);
    let mut cfg = CacheConfig::new(
        &format!("{group}/{}/", names.plural),
        &format!("{group}/{storage}"),
        &names.kind,
    );
    cfg.window = server.config.watch_cache_window;
    cfg.attrs = Arc::new(move |obj| field_values(&labels, obj));
    cfg.resource = format!("{}.{group}", names.plural);
    // Objects enter the cache pruned and defaulted by this spec's schemas,
    // as upstream decodes them (the cache is restarted on a spec change).
    let decoder = Arc::new(super::decode::StoredDecoder::new(&custom::served_crd(
        crd, &names,
    ))?);
    cfg.transform = Some(decoder.transform());
    let cache = WatchCache::start(reg.store.clone(), cfg)
        .await
        .map_err(|e| format!("starting the watch cache: {e}"))?;
    let webhook = WebhookClient::from_crd(
        crd,
        reg.cache("services").cloned(),
        reg.crds.conversion_pool(),
    )?
    .map(Arc::new);
    let terminating = Arc::new(AtomicBool::new(deleting));
    let built = custom::build(
        crd,
        &names,
        cache.clone(),
        terminating.clone(),
        webhook,
        decoder,
    )?;
    tracing::info!(
        crd = name,
        versions = built.served.len(),
        "serving custom resource"
    );
    reg.crds.serve(
        name,
        ServedCrd {
            crd: crd.clone(),
            fingerprint,
            cache,
            resources: built.served,
            terminating,
        },
    );
    Ok(())
}

/// Starts the finalizer for a CRD being deleted, once.
fn start_cleanup(server: &Arc<ApiServer>, name: &str, cleaning: &Arc<Mutex<HashSet<String>>>) {
    {
        let mut set = cleaning.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(name.to_string()) {
            return;
        }
    }
    let weak = Arc::downgrade(server);
    let name = name.to_string();
    let cleaning = cleaning.clone();
    tokio::spawn(async move {
        cleanup(weak, &name).await;
        cleaning
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
    });
}

async fn write_crd(reg: &Registry, crd: Value, target: UpdateTarget) -> Result<(), u16> {
    let Some(res) = crd_resource(reg) else {
        return Err(500);
    };
    let name = meta::name(&crd).unwrap_or_default().to_string();
    let opts = WriteOptions::default();
    store::update(reg, &res, None, &name, crd, target, &opts)
        .await
        .map(|_| ())
        .map_err(|e| e.code)
}

async fn current_crd(reg: &Registry, name: &str) -> Option<Value> {
    let res = crd_resource(reg)?;
    let bytes = store::get(reg, &res, None, name, None).await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Deletes every object of a CRD, then removes the cleanup finalizer.
async fn cleanup(server: Weak<ApiServer>, name: &str) {
    let mut announced = false;
    loop {
        let Some(server) = server.upgrade() else {
            return;
        };
        let reg = &server.registry;
        let Some(crd) = current_crd(reg, name).await else {
            return;
        };
        if !meta::finalizers(&crd)
            .iter()
            .any(|f| f == CLEANUP_FINALIZER)
        {
            return;
        }
        if !announced {
            let mut c = crd.clone();
            set_condition(
                &mut c,
                "Terminating",
                "True",
                "InstanceDeletionInProgress",
                "CustomResource deletion is in progress",
            );
            if write_crd(reg, c, UpdateTarget::Status).await.is_ok() {
                announced = true;
            } else {
                drop(server);
                tokio::time::sleep(CLEANUP_RETRY).await;
            }
            continue;
        }
        let remaining = match reg.crds.storage_resource(name) {
            Some(res) => delete_all(reg, &res).await,
            None => 0,
        };
        if remaining > 0 {
            drop(server);
            tokio::time::sleep(CLEANUP_RETRY).await;
            continue;
        }
        let mut c = crd.clone();
        set_condition(
            &mut c,
            "Terminating",
            "False",
            "InstanceDeletionCompleted",
            "removed all instances",
        );
        if write_crd(reg, c, UpdateTarget::Status).await.is_err() {
            drop(server);
            tokio::time::sleep(CLEANUP_RETRY).await;
            continue;
        }
        let Some(mut c) = current_crd(reg, name).await else {
            return;
        };
        let finalizers: Vec<String> = meta::finalizers(&c)
            .into_iter()
            .filter(|f| f != CLEANUP_FINALIZER)
            .collect();
        meta::set(&mut c, "finalizers", json!(finalizers));
        match write_crd(reg, c, UpdateTarget::Main).await {
            Ok(()) | Err(404) => {
                tracing::info!(crd = name, "removed all instances; CRD finalized");
                return;
            }
            Err(_) => {
                drop(server);
                tokio::time::sleep(CLEANUP_RETRY).await;
            }
        }
    }
}

/// Deletes every object of a custom resource; returns how many remain.
async fn delete_all(reg: &Registry, res: &Arc<Resource>) -> usize {
    let prefix = format!("{}/", res.def.storage_resource);
    let listed = res.cache.list(&ListRequest {
        prefix,
        filter: Filter::default(),
        start_after: None,
        limit: None,
    });
    let count = listed.items.len();
    for o in &listed.items {
        if let Ok(v) = o.to_value()
            && meta::deletion_timestamp(&v).is_none()
        {
            let ns = (!o.namespace.is_empty()).then_some(o.namespace.as_str());
            if let Err(e) = delete::delete(reg, res, ns, &o.name, &DeleteOptions::default()).await
                && e.code != 404
            {
                tracing::warn!(object = %o.key, error = %e.message, "deleting custom resource");
            }
        }
    }
    count
}
