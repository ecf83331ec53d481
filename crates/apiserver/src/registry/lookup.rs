//! Reads of single objects that admission plugins make on every write
//! (the pod's ServiceAccount, the namespace), served by the watch cache.
//!
//! A key the cache does not hold may still have been written a moment
//! ago; instead of reading etcd for every miss (one etcd read per refused
//! pod), the cache first catches up with etcd as of the call, exactly as a
//! consistent LIST does ([`WatchCache::wait_consistent`]: a progress
//! request, or on etcd older than 3.4.31 one barrier write that every
//! miss waiting at the same time shares), and is asked again.

use std::sync::Arc;

use corten_apimachinery::StatusError;
use corten_storage::{CachedObject, WatchCache};

use super::Registry;
use super::list::CONSISTENT_READ_TIMEOUT;

/// The object at the relative `key` of `storage_resource`
/// (`serviceaccounts/<ns>/<name>`), consistent with etcd as of the call:
/// from the cache, which catches up with etcd before a miss is believed.
/// `Ok(None)` when it does not exist; an error when etcd cannot be reached
/// or the cache does not catch up in time.
pub async fn consistent_get(
    reg: &Registry,
    storage_resource: &str,
    key: &str,
) -> Result<Option<Arc<CachedObject>>, StatusError> {
    // Every built-in resource has its cache.
    let cache = reg
        .cache(storage_resource)
        .ok_or_else(|| StatusError::internal(format!("no watch cache for {storage_resource}")))?;
    if let Some(o) = cache.get(key) {
        return Ok(Some(o));
    }
    catch_up(cache).await?;
    Ok(cache.get(key))
}

/// Every object of `storage_resource` in `namespace`, consistent with
/// etcd as of the call: the cache catches up first (one progress request
/// or shared barrier), then is read.
pub async fn consistent_values(
    reg: &Registry,
    storage_resource: &str,
    namespace: &str,
) -> Result<Vec<serde_json::Value>, StatusError> {
    let cache = reg
        .cache(storage_resource)
        .ok_or_else(|| StatusError::internal(format!("no watch cache for {storage_resource}")))?;
    catch_up(cache).await?;
    Ok(reg.cached_values(storage_resource, Some(namespace)))
}

async fn catch_up(cache: &WatchCache) -> Result<(), StatusError> {
    cache
        .wait_consistent(CONSISTENT_READ_TIMEOUT)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            corten_storage::Error::ResourceVersionTooLarge { .. } => StatusError::timeout(
                "Timeout: the watch cache did not catch up with etcd in time".to_string(),
                1,
            ),
            other => StatusError::internal(other),
        })
}
