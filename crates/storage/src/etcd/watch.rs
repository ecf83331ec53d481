//! A raw etcd watch over a key prefix, with previous values and progress
//! notifications: the feed of the watch cache.

use etcd_client::{WatchOptions, WatchRequestSender, WatchResponse, WatchResponseStream};
use futures::StreamExt;

use super::{EtcdStore, KeyValue, observe};
use crate::error::{Error, Result};

/// Whether an etcd event wrote or deleted its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdEventKind {
    /// The key was created or modified.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change of one key.
#[derive(Debug, Clone)]
pub struct EtcdEvent {
    /// Put or delete.
    pub kind: EtcdEventKind,
    /// For a put, the new key-value. For a delete, the key with an empty
    /// value, `mod_revision` set to the revision of the delete and
    /// `create_revision` 0.
    pub kv: KeyValue,
    /// The key-value before the event, if it existed and etcd still had it.
    pub prev: Option<KeyValue>,
}

impl EtcdEvent {
    /// The revision of the write that produced this event.
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// One message of an [`EtcdWatch`].
#[derive(Debug, Clone)]
pub enum EtcdWatchMessage {
    /// Events in revision order. All events of one revision (one etcd
    /// transaction) arrive in the same message.
    Events(Vec<EtcdEvent>),
    /// A progress notification: no events up to `revision` remain to be
    /// delivered on this watch.
    Progress {
        /// The revision all events up to which have been delivered.
        revision: i64,
        /// True if this answers [`EtcdWatch::request_progress`] (rather
        /// than being etcd's periodic notification). On etcd before
        /// 3.4.31 / 3.5.13 such answers can overtake pending events
        /// (etcd issue #15220); periodic notifications are always ordered.
        requested: bool,
    },
}

/// A raw etcd watch on a key prefix. Obtain one with
/// [`EtcdStore::watch`]; read it with [`EtcdWatch::next`].
pub struct EtcdWatch {
    sender: WatchRequestSender,
    stream: WatchResponseStream,
    store: EtcdStore,
    start_revision: i64,
}

impl std::fmt::Debug for EtcdWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdWatch")
            .field("start_revision", &self.start_revision)
            .finish_non_exhaustive()
    }
}

pub(super) async fn open(store: &EtcdStore, prefix: &str, from_revision: i64) -> Result<EtcdWatch> {
    let mut client = store.watch_client();
    let full = store.full_key(prefix);
    let mut options = WatchOptions::new()
        .with_prefix()
        .with_prev_key()
        .with_progress_notify();
    if from_revision > 0 {
        options = options.with_start_revision(from_revision);
    }
    let stream = observe("watch", prefix, async move {
        client.watch(full, Some(options)).await.map_err(Error::from)
    })
    .await?;
    let (sender, stream) = stream.split();
    Ok(EtcdWatch {
        sender,
        stream,
        store: store.clone(),
        start_revision: from_revision,
    })
}

impl EtcdWatch {
    /// The next message; `Ok(None)` when etcd closed the stream.
    /// `Error::TooOldResourceVersion` (with etcd's compacted revision as
    /// `oldest`) if the start revision was compacted; any other error means
    /// the watch is broken and must be re-opened. Cancel-safe: dropping the
    /// future loses nothing.
    pub async fn next(&mut self) -> Result<Option<EtcdWatchMessage>> {
        loop {
            let resp = match self.stream.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(Error::Etcd(e)),
                Some(Ok(resp)) => resp,
            };
            if let Some(message) = self.convert(resp)? {
                return Ok(Some(message));
            }
        }
    }

    /// Asks etcd for a progress notification on this stream (answered by
    /// an [`EtcdWatchMessage::Progress`] with `requested: true`).
    pub async fn request_progress(&mut self) -> Result<()> {
        self.sender.request_progress().await.map_err(Error::from)
    }

    fn convert(&self, resp: WatchResponse) -> Result<Option<EtcdWatchMessage>> {
        if resp.compact_revision() > 0 {
            return Err(Error::TooOldResourceVersion {
                requested: self.start_revision,
                oldest: resp.compact_revision(),
            });
        }
        if resp.canceled() {
            return Err(Error::Unavailable(format!(
                "etcd cancelled the watch: {}",
                resp.cancel_reason()
            )));
        }
        if resp.events().is_empty() {
            if resp.created() {
                return Ok(None);
            }
            let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
            return Ok(Some(EtcdWatchMessage::Progress {
                revision,
                requested: resp.watch_id() == -1,
            }));
        }
        let mut events = Vec::with_capacity(resp.events().len());
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let Some(key) = self.store.relative_key(kv.key()) else {
                tracing::warn!(
                    key = %String::from_utf8_lossy(kv.key()),
                    "watch event outside the prefix"
                );
                continue;
            };
            // etcd marks deletes with create_revision 0 (its own rule when it
            // builds events); this also avoids `Event::event_type`, which
            // panics on unknown values.
            let kind = if kv.create_revision() == 0 {
                EtcdEventKind::Delete
            } else {
                EtcdEventKind::Put
            };
            let prev = ev.prev_kv().map(|p| KeyValue {
                key: key.clone(),
                value: self.store.decode_value(&key, p.value()),
                mod_revision: p.mod_revision(),
                create_revision: p.create_revision(),
            });
            events.push(EtcdEvent {
                kind,
                kv: KeyValue {
                    value: self.store.decode_value(&key, kv.value()),
                    key,
                    mod_revision: kv.mod_revision(),
                    create_revision: kv.create_revision(),
                },
                prev,
            });
        }
        Ok(Some(EtcdWatchMessage::Events(events)))
    }
}
