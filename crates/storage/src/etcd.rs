//! The etcd v3 backend: transactional create/update/delete keyed by
//! mod_revision, paginated range reads (optionally at a past revision) and
//! watches.
//!
//! Every request is timed into `etcd_request_duration_seconds` and counted
//! in `etcd_requests_total` / `etcd_request_errors_total` with the
//! operation and the resource (first key segment) as labels.

mod lease;
mod watch;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use etcd_client::{
    Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, GetResponse, KvClient,
    MaintenanceClient, Txn, TxnOp, TxnOpResponse, TxnResponse, WatchClient,
};

pub use watch::{EtcdEvent, EtcdEventKind, EtcdWatch, EtcdWatchMessage};

use crate::error::{Error, Result};
use crate::metrics;

/// Largest gRPC message we accept from etcd. A list page of 10,000 large
/// objects can be tens of megabytes; etcd-client's default is 4 MiB.
const MAX_DECODING_MESSAGE_SIZE: usize = 1 << 30;

/// One stored key.
#[derive(Debug, Clone)]
pub struct KeyValue {
    /// The key relative to the store prefix, e.g. `pods/default/web`.
    pub key: String,
    /// The stored bytes (JSON without `metadata.resourceVersion`).
    pub value: Bytes,
    /// The revision of the last write: the object's resourceVersion.
    pub mod_revision: i64,
    /// The revision at which the key was created.
    pub create_revision: i64,
}

/// Options of a range read.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Start strictly after this relative key (for continue tokens).
    pub start_after: Option<String>,
    /// At most this many items (None or 0 = all).
    pub limit: Option<i64>,
    /// Read at this past revision (None or 0 = current).
    pub revision: Option<i64>,
}

/// One page of a range read.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// Items in key order.
    pub items: Vec<KeyValue>,
    /// The revision the read was served at.
    pub revision: i64,
    /// Whether more keys follow the last item.
    pub more: bool,
    /// How many keys follow the last item (0 if none).
    pub remaining: i64,
}

/// What a `guaranteed_update` callback wants done with the current value.
#[derive(Debug, Clone)]
pub enum UpdateDecision {
    /// Write these bytes (compare-and-swap on the value's mod_revision).
    Write(Vec<u8>),
    /// Delete the key (compare-and-swap on the value's mod_revision).
    Delete,
    /// Leave it as it is (e.g. the update is a no-op).
    Unchanged,
}

/// What `guaranteed_update` did.
#[derive(Debug, Clone)]
pub enum UpdateOutcome {
    /// New bytes were written; this is the new key-value.
    Written(KeyValue),
    /// The key was deleted; this is the last value, with `mod_revision` set
    /// to the revision of the delete.
    Deleted(KeyValue),
    /// Nothing was written; this is the current value.
    Unchanged(KeyValue),
}

/// Transforms values on their way to and from etcd (encryption at rest).
/// `key` is the relative key (`secrets/<ns>/<name>`).
pub trait ValueTransformer: Send + Sync {
    /// Encodes a value about to be written.
    fn write(&self, key: &str, value: Vec<u8>) -> std::result::Result<Vec<u8>, String>;
    /// Decodes a value read back.
    fn read(&self, key: &str, value: &[u8]) -> std::result::Result<Vec<u8>, String>;
}

/// A handle on etcd. Cheap to clone (all clones share one HTTP/2
/// connection per endpoint).
#[derive(Clone)]
pub struct EtcdStore {
    /// Encryption at rest, if configured.
    transformer: Option<std::sync::Arc<dyn ValueTransformer>>,
    client: etcd_client::Client,
    kv: KvClient,
    watch: WatchClient,
    maintenance: MaintenanceClient,
    endpoints: Vec<String>,
    prefix: String,
    /// `prefix` normalized to start with `/` and not end with one (empty
    /// for the root); full keys are `base + "/" + relative`.
    base: String,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to the given endpoints (`http://127.0.0.1:2379`). `prefix`
    /// is the `--etcd-prefix` (default `/registry`). The connection is
    /// established lazily: this succeeds even if etcd is not up yet.
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<Self> {
        metrics::register();
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        let client = etcd_client::Client::connect(endpoints, Some(options)).await?;
        let kv = client
            .kv_client()
            .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE);
        let watch = client
            .watch_client()
            .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE);
        let maintenance = client.maintenance_client();
        let trimmed = prefix.trim_matches('/');
        let base = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        Ok(EtcdStore {
            transformer: None,
            client,
            kv,
            watch,
            maintenance,
            endpoints: endpoints.to_vec(),
            prefix: prefix.to_string(),
            base,
        })
    }

    /// Sets the value transformer (encryption at rest) used by every write
    /// and read of this handle and its clones made afterwards.
    pub fn with_transformer(mut self, t: std::sync::Arc<dyn ValueTransformer>) -> Self {
        self.transformer = Some(t);
        self
    }

    /// A value about to be written, transformed.
    fn encode_value(&self, key: &str, value: Vec<u8>) -> Result<Vec<u8>> {
        match &self.transformer {
            Some(t) => t
                .write(key, value)
                .map_err(|e| Error::Unavailable(format!("transforming {key} for storage: {e}"))),
            None => Ok(value),
        }
    }

    /// A value read from etcd, transformed back. A value that does not
    /// transform is returned as stored (decoding it then fails loudly).
    pub(crate) fn decode_value(&self, key: &str, raw: &[u8]) -> Bytes {
        match &self.transformer {
            Some(t) if !key.ends_with('/') => match t.read(key, raw) {
                Ok(v) => Bytes::from(v),
                Err(e) => {
                    tracing::error!(%key, error = %e, "cannot transform a stored value");
                    Bytes::copy_from_slice(raw)
                }
            },
            _ => Bytes::copy_from_slice(raw),
        }
    }

    /// The configured prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The endpoints this store was connected with.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The underlying client (for watches and health checks).
    pub fn client(&self) -> &etcd_client::Client {
        &self.client
    }

    /// The absolute etcd key of a relative key.
    pub fn full_key(&self, key: &str) -> String {
        format!("{}/{key}", self.base)
    }

    /// The relative key of an absolute etcd key, or None if it lies outside
    /// the prefix (or is not UTF-8).
    pub(crate) fn relative_key(&self, full: &[u8]) -> Option<String> {
        let rest = full.strip_prefix(self.base.as_bytes())?;
        let rest = rest.strip_prefix(b"/")?;
        std::str::from_utf8(rest).ok().map(str::to_string)
    }

    fn kv(&self) -> KvClient {
        self.kv.clone()
    }

    /// Put-if-absent. Returns the new revision, or `Error::AlreadyExists`.
    pub async fn create(&self, key: &str, value: Vec<u8>) -> Result<i64> {
        let full = self.full_key(key);
        let value = self.encode_value(key, value)?;
        let txn = Txn::new()
            .when([Compare::create_revision(full.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(full, value, None)]);
        let resp = self.txn("create", key, txn).await?;
        if !resp.succeeded() {
            return Err(Error::AlreadyExists {
                key: key.to_string(),
            });
        }
        Ok(header_revision(resp.header()))
    }

    /// Reads one key at the current revision (a linearizable read).
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let full = self.full_key(key);
        let mut kv = self.kv();
        let mut resp = observe("get", key, async move {
            kv.get(full, None).await.map_err(Error::from)
        })
        .await?;
        Ok(resp
            .take_kvs()
            .into_iter()
            .next()
            .map(|kv| self.convert(kv, key)))
    }

    /// Reads one key as it was at `revision`. `Error::TooOldResourceVersion`
    /// if that revision was compacted.
    pub async fn get_at(&self, key: &str, revision: i64) -> Result<Option<KeyValue>> {
        let full = self.full_key(key);
        let mut kv = self.kv();
        let result = observe("get", key, async move {
            kv.get(full, Some(GetOptions::new().with_revision(revision)))
                .await
                .map_err(Error::from)
        })
        .await;
        let mut resp = self.map_revision_error(result, key, revision).await?;
        Ok(resp
            .take_kvs()
            .into_iter()
            .next()
            .map(|kv| self.convert(kv, key)))
    }

    /// Range read over keys starting with `prefix` (a plain byte prefix of
    /// the relative key, usually ending in `/`). For a prefix ending in `/`
    /// the key equal to the prefix itself is left out: it is the watch
    /// cache's barrier key, not an object.
    /// `Error::TooOldResourceVersion` if `opts.revision` was compacted,
    /// `Error::ResourceVersionTooLarge` if it is in the future.
    pub async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListPage> {
        let full_prefix = self.full_key(prefix).into_bytes();
        let range_end = prefix_end(&full_prefix);
        let mut start = full_prefix.clone();
        if prefix.is_empty() || prefix.ends_with('/') {
            // The key equal to a directory prefix is never an object (it is
            // the watch cache's barrier key): start just after it.
            start.push(0);
        }
        if let Some(after) = &opts.start_after {
            let mut s = self.full_key(after).into_bytes();
            s.push(0);
            if s > start {
                start = s;
            }
        }
        let mut options = GetOptions::new().with_range(range_end);
        if let Some(limit) = opts.limit.filter(|l| *l > 0) {
            options = options.with_limit(limit);
        }
        let revision = opts.revision.filter(|r| *r > 0);
        if let Some(rev) = revision {
            options = options.with_revision(rev);
        }
        let mut kv = self.kv();
        let result = observe("list", prefix, async move {
            kv.get(start, Some(options)).await.map_err(Error::from)
        })
        .await;
        let mut resp = match revision {
            Some(rev) => self.map_revision_error(result, prefix, rev).await?,
            None => result?,
        };
        // etcd's header carries its current revision; a read at a past
        // revision is served at that revision.
        let read_revision = revision.unwrap_or_else(|| header_revision(resp.header()));
        let more = resp.more();
        let count = resp.count();
        let items: Vec<KeyValue> = resp
            .take_kvs()
            .into_iter()
            .filter_map(|kv| self.convert_full(kv))
            .collect();
        let remaining = (count - items.len() as i64).max(0);
        Ok(ListPage {
            items,
            revision: read_revision,
            more,
            remaining,
        })
    }

    /// Read-modify-write with optimistic concurrency: reads the key (or
    /// starts from `hint` if given, to skip a round trip), calls `decide`,
    /// and compare-and-swaps on mod_revision, re-reading and calling
    /// `decide` again whenever another writer got there first. `decide`
    /// returns the caller's error type to abort (e.g. a precondition or
    /// validation failure). `Error::NotFound` (via `E: From<Error>`) if the
    /// key does not exist.
    ///
    /// A failed compare-and-swap returns the current value in the same
    /// round trip, so a conflict costs one request, not two. If `decide`
    /// answers `Unchanged` for a state that came from the hint, the key is
    /// re-read first: a no-op is only reported against the current value.
    pub async fn guaranteed_update<E, F>(
        &self,
        key: &str,
        hint: Option<KeyValue>,
        mut decide: F,
    ) -> std::result::Result<UpdateOutcome, E>
    where
        E: From<crate::Error>,
        F: FnMut(&KeyValue) -> std::result::Result<UpdateDecision, E>,
    {
        let full = self.full_key(key);
        let (mut current, mut from_hint) = match hint {
            Some(kv) => (kv, true),
            None => (self.get_existing(key).await?, false),
        };
        loop {
            match decide(&current)? {
                UpdateDecision::Unchanged => {
                    if from_hint {
                        let fresh = self.get_existing(key).await?;
                        from_hint = false;
                        if fresh.mod_revision != current.mod_revision {
                            current = fresh;
                            continue;
                        }
                    }
                    return Ok(UpdateOutcome::Unchanged(current));
                }
                UpdateDecision::Write(value) => {
                    let stored = Bytes::from(value.clone());
                    let value = self.encode_value(key, value)?;
                    let txn = Txn::new()
                        .when([Compare::mod_revision(
                            full.clone(),
                            CompareOp::Equal,
                            current.mod_revision,
                        )])
                        .and_then([TxnOp::put(full.clone(), value, None)])
                        .or_else([TxnOp::get(full.clone(), None)]);
                    let resp = self.txn("update", key, txn).await?;
                    if resp.succeeded() {
                        return Ok(UpdateOutcome::Written(KeyValue {
                            key: key.to_string(),
                            value: stored,
                            mod_revision: header_revision(resp.header()),
                            create_revision: current.create_revision,
                        }));
                    }
                    current = self.txn_else_value(resp, key)?;
                    from_hint = false;
                }
                UpdateDecision::Delete => {
                    let txn = Txn::new()
                        .when([Compare::mod_revision(
                            full.clone(),
                            CompareOp::Equal,
                            current.mod_revision,
                        )])
                        .and_then([TxnOp::delete(full.clone(), None)])
                        .or_else([TxnOp::get(full.clone(), None)]);
                    let resp = self.txn("delete", key, txn).await?;
                    if resp.succeeded() {
                        let mut last = current;
                        last.mod_revision = header_revision(resp.header());
                        return Ok(UpdateOutcome::Deleted(last));
                    }
                    current = self.txn_else_value(resp, key)?;
                    from_hint = false;
                }
            }
        }
    }

    /// Deletes a key, optionally only if its mod_revision is
    /// `expected_mod_revision` (a resourceVersion precondition). Returns the
    /// deleted value with `mod_revision` set to the revision of the delete.
    /// `Error::NotFound` if the key does not exist, `Error::Conflict` if it
    /// exists with another mod_revision.
    pub async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<KeyValue> {
        let full = self.full_key(key);
        let guard = match expected_mod_revision {
            Some(rev) => Compare::mod_revision(full.clone(), CompareOp::Equal, rev),
            None => Compare::create_revision(full.clone(), CompareOp::Greater, 0),
        };
        let txn = Txn::new()
            .when([guard])
            .and_then([TxnOp::delete(
                full.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let resp = self.txn("delete", key, txn).await?;
        let revision = header_revision(resp.header());
        let succeeded = resp.succeeded();
        for op in resp.op_responses() {
            match op {
                TxnOpResponse::Delete(mut d) if succeeded => {
                    if let Some(prev) = d.take_prev_kvs().into_iter().next() {
                        let mut kv = self.convert(prev, key);
                        kv.mod_revision = revision;
                        return Ok(kv);
                    }
                }
                TxnOpResponse::Get(g) if !succeeded => {
                    return Err(if g.kvs().is_empty() {
                        Error::NotFound {
                            key: key.to_string(),
                        }
                    } else {
                        Error::Conflict {
                            key: key.to_string(),
                        }
                    });
                }
                _ => {}
            }
        }
        // The guard held but the key vanished in the same transaction: only
        // possible if etcd misbehaves. Report it as gone.
        Err(Error::NotFound {
            key: key.to_string(),
        })
    }

    /// The current etcd revision (from a cheap read's header).
    pub async fn current_revision(&self) -> Result<i64> {
        let probe = self.full_key("");
        let mut kv = self.kv();
        let resp = observe("currentRevision", "", async move {
            kv.get(probe, Some(GetOptions::new().with_count_only()))
                .await
                .map_err(Error::from)
        })
        .await?;
        Ok(header_revision(resp.header()))
    }

    /// Compacts history up to `revision`: reads at older revisions fail
    /// with `Error::TooOldResourceVersion` afterwards.
    pub async fn compact(&self, revision: i64) -> Result<()> {
        let mut kv = self.kv();
        observe("compact", "", async move {
            kv.compact(revision, None).await.map_err(Error::from)
        })
        .await?;
        Ok(())
    }

    /// Whether etcd answers a linearizable read within 2 seconds (for
    /// /healthz and /readyz `etcd` checks).
    pub async fn healthy(&self) -> bool {
        let key = self.full_key("health");
        let mut kv = self.kv();
        let check = async move {
            kv.get(key, Some(GetOptions::new().with_count_only()))
                .await
                .map_err(Error::from)
        };
        match tokio::time::timeout(Duration::from_secs(2), observe("get", "health", check)).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "etcd health check failed");
                false
            }
            Err(_) => false,
        }
    }

    /// The etcd server version of the first endpoint that answers, e.g.
    /// `3.4.23`.
    pub async fn server_version(&self) -> Result<String> {
        let mut m = self.maintenance.clone();
        let status = observe("status", "", async move {
            m.status().await.map_err(Error::from)
        })
        .await?;
        Ok(status.version().to_string())
    }

    /// Reads the database size from etcd's status and publishes it as
    /// `apiserver_storage_db_total_size_in_bytes` and
    /// `etcd_db_total_size_in_bytes` (call it periodically, e.g. every
    /// minute). Returns the size.
    pub async fn refresh_db_size(&self) -> Result<i64> {
        let mut m = self.maintenance.clone();
        let status = observe("status", "", async move {
            m.status().await.map_err(Error::from)
        })
        .await?;
        let endpoint = self.endpoints.first().map(String::as_str).unwrap_or("");
        for gauge in [
            &metrics::ETCD_DB_TOTAL_SIZE,
            &metrics::ETCD_DB_TOTAL_SIZE_LEGACY,
        ] {
            gauge
                .with_label_values(&[endpoint])
                .set(status.db_size() as f64);
        }
        Ok(status.db_size())
    }

    /// Writes the barrier key of a watch cache (the relative `prefix`
    /// itself, e.g. `pods/` at `/registry/pods/`, which no object can
    /// have) and returns the write's revision. Seeing this write on the
    /// cache's watch proves every earlier event was delivered, on any etcd
    /// version.
    pub(crate) async fn write_barrier(&self, prefix: &str) -> Result<i64> {
        let full = self.full_key(prefix);
        let mut kv = self.kv();
        let resp = observe("barrier", prefix, async move {
            kv.put(full, b"{}".to_vec(), None)
                .await
                .map_err(Error::from)
        })
        .await?;
        Ok(header_revision(resp.header()))
    }

    /// Opens a raw watch on every key under the relative `prefix`, starting
    /// at `from_revision` (inclusive; 0 = from now), with previous values
    /// and periodic progress notifications. See [`EtcdWatch`].
    pub async fn watch(&self, prefix: &str, from_revision: i64) -> Result<EtcdWatch> {
        watch::open(self, prefix, from_revision).await
    }

    // ---- helpers ----

    pub(crate) fn watch_client(&self) -> WatchClient {
        self.watch.clone()
    }

    async fn get_existing(&self, key: &str) -> Result<KeyValue> {
        self.get(key).await?.ok_or_else(|| Error::NotFound {
            key: key.to_string(),
        })
    }

    async fn txn(&self, operation: &'static str, key: &str, txn: Txn) -> Result<TxnResponse> {
        let mut kv = self.kv();
        observe(operation, key, async move {
            kv.txn(txn).await.map_err(Error::from)
        })
        .await
    }

    /// The value read by the `or_else` get of a failed compare-and-swap.
    fn txn_else_value(&self, resp: TxnResponse, key: &str) -> Result<KeyValue> {
        for op in resp.op_responses() {
            if let TxnOpResponse::Get(mut g) = op {
                return match g.take_kvs().into_iter().next() {
                    Some(kv) => Ok(self.convert(kv, key)),
                    None => Err(Error::NotFound {
                        key: key.to_string(),
                    }),
                };
            }
        }
        Err(Error::NotFound {
            key: key.to_string(),
        })
    }

    /// Converts a key-value read by a range, deriving the relative key.
    /// None (logged) if the key lies outside the prefix.
    pub(crate) fn convert_full(&self, kv: etcd_client::KeyValue) -> Option<KeyValue> {
        let Some(key) = self.relative_key(kv.key()) else {
            tracing::warn!(key = %String::from_utf8_lossy(kv.key()), "etcd key outside the prefix");
            return None;
        };
        Some(self.convert(kv, &key))
    }

    fn convert(&self, kv: etcd_client::KeyValue, key: &str) -> KeyValue {
        let mod_revision = kv.mod_revision();
        let create_revision = kv.create_revision();
        let (_, value) = kv.into_key_value();
        KeyValue {
            key: key.to_string(),
            value: self.decode_value(key, &value),
            mod_revision,
            create_revision,
        }
    }

    /// Maps etcd's "compacted" / "future revision" errors of a read at
    /// `revision` to the storage errors the apiserver turns into 410 / 504.
    async fn map_revision_error(
        &self,
        result: Result<GetResponse>,
        key: &str,
        revision: i64,
    ) -> Result<GetResponse> {
        match result {
            Err(Error::Etcd(e)) if is_compacted(&e) => Err(Error::TooOldResourceVersion {
                requested: revision,
                oldest: self.compacted_revision(key, revision).await,
            }),
            Err(Error::Etcd(e)) if is_future_revision(&e) => {
                let current = self.current_revision().await.unwrap_or(0);
                Err(Error::ResourceVersionTooLarge {
                    requested: revision,
                    current,
                })
            }
            other => other,
        }
    }

    /// The revision etcd compacted to. etcd's range error does not carry
    /// it, but a watch at the compacted revision is cancelled with it.
    /// Falls back to `requested + 1` if etcd does not say.
    async fn compacted_revision(&self, key: &str, requested: i64) -> i64 {
        let probe = async {
            let mut w = self.watch(key, requested.max(1)).await?;
            loop {
                match w.next().await {
                    Err(Error::TooOldResourceVersion { oldest, .. }) => return Ok(oldest),
                    Err(e) => return Err(e),
                    Ok(None) => return Err(Error::Unavailable("watch closed".into())),
                    Ok(Some(_)) => {}
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(2), probe).await {
            Ok(Ok(rev)) => rev,
            _ => requested + 1,
        }
    }
}

/// Times `fut` into the etcd request metrics under `operation` and the
/// resource of `key`. Only etcd/transport failures count as errors.
pub(crate) async fn observe<T>(
    operation: &'static str,
    key: &str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let start = Instant::now();
    let result = fut.await;
    let failed = matches!(result, Err(Error::Etcd(_)));
    metrics::observe_etcd(operation, &resource_of(key), start.elapsed(), failed);
    result
}

/// The metrics `type` of a relative key: its resource. Keys of API groups
/// other than core are `<group>/<resource>/...`, reported as
/// `<resource>.<group>` like upstream's resource labels.
pub(crate) fn resource_of(key: &str) -> String {
    let mut parts = key.split('/');
    let first = parts.next().unwrap_or("");
    if first.contains('.')
        && let Some(second) = parts.next().filter(|s| !s.is_empty())
    {
        return format!("{second}.{first}");
    }
    first.to_string()
}

/// The smallest key greater than every key starting with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): the range runs to the end of the keyspace.
    vec![0]
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> i64 {
    header.map(|h| h.revision()).unwrap_or(0)
}

fn grpc_message(e: &etcd_client::Error) -> Option<&str> {
    match e {
        etcd_client::Error::GRpcStatus(s) => Some(s.message()),
        _ => None,
    }
}

pub(crate) fn is_compacted(e: &etcd_client::Error) -> bool {
    grpc_message(e).is_some_and(|m| m.contains("compacted"))
}

fn is_future_revision(e: &etcd_client::Error) -> bool {
    grpc_message(e).is_some_and(|m| m.contains("future revision"))
}
