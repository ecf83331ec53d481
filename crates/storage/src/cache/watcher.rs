//! Watchers: the client side ([`Watcher`], a stream of shared events) and
//! the cache side ([`Registry`], which fans each event out to the
//! watchers that want it without ever blocking on a slow one).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::Shared;
use super::event::{CacheEvent, EventType, WatchEvent};
use super::object::CachedObject;
use super::scope::KeyScope;
use crate::filter::Filter;

/// What the cache keeps about one watcher.
pub(crate) struct WatcherEntry {
    pub scope: KeyScope,
    pub filter: Filter,
    pub everything: bool,
    pub bookmarks: bool,
    /// The watcher has seen every change up to this revision (from its
    /// snapshot or replay); live events at or below it are skipped.
    pub from_revision: i64,
    pub tx: mpsc::Sender<Arc<WatchEvent>>,
}

/// The live watchers of one cache.
#[derive(Default)]
pub(crate) struct Registry {
    next_id: u64,
    watchers: HashMap<u64, WatcherEntry>,
    /// Every event up to this revision has been handed to the watchers
    /// (bookmarks may claim it).
    pub dispatched_revision: i64,
}

impl Registry {
    pub fn new(revision: i64) -> Registry {
        Registry {
            dispatched_revision: revision,
            ..Registry::default()
        }
    }

    pub fn register(&mut self, entry: WatcherEntry) -> u64 {
        self.next_id += 1;
        self.watchers.insert(self.next_id, entry);
        self.next_id
    }

    pub fn remove(&mut self, id: u64) {
        self.watchers.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.watchers.len()
    }

    /// Fans `events` out. A watcher whose buffer is full is terminated
    /// (its stream ends after the buffered events) so one slow client
    /// never stalls the cache; a watcher whose client is gone is removed.
    /// Returns how many watchers were terminated for being slow.
    pub fn dispatch(&mut self, events: &[Arc<CacheEvent>]) -> u64 {
        let mut gone: Vec<(u64, bool)> = Vec::new();
        for (id, w) in &self.watchers {
            for ev in events {
                if ev.revision <= w.from_revision || !w.scope.contains(ev.key()) {
                    continue;
                }
                let Some(event) = ev.for_watcher(&w.filter, w.everything) else {
                    continue;
                };
                match w.tx.try_send(event) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        gone.push((*id, true));
                        break;
                    }
                    Err(TrySendError::Closed(_)) => {
                        gone.push((*id, false));
                        break;
                    }
                }
            }
        }
        if let Some(last) = events.iter().map(|e| e.revision).max() {
            self.dispatched_revision = self.dispatched_revision.max(last);
        }
        let mut terminated = 0;
        for (id, slow) in gone {
            if slow {
                tracing::info!(watcher = id, "terminating a watcher that does not keep up");
                terminated += 1;
            }
            self.watchers.remove(&id);
        }
        terminated
    }

    /// Sends a BOOKMARK to every watcher that asked for them. A watcher
    /// with a full buffer just misses this one.
    pub fn send_bookmarks(&mut self, api_version: &str, kind: &str) {
        let revision = self.dispatched_revision;
        if revision <= 0 {
            return;
        }
        let mut shared: Option<Arc<WatchEvent>> = None;
        let mut closed = Vec::new();
        for (id, w) in &self.watchers {
            if !w.bookmarks {
                continue;
            }
            let event = if w.from_revision > revision {
                Arc::new(WatchEvent::bookmark(
                    api_version,
                    kind,
                    w.from_revision,
                    false,
                ))
            } else {
                shared
                    .get_or_insert_with(|| {
                        Arc::new(WatchEvent::bookmark(api_version, kind, revision, false))
                    })
                    .clone()
            };
            if let Err(TrySendError::Closed(_)) = w.tx.try_send(event) {
                closed.push(*id);
            }
        }
        for id in closed {
            self.watchers.remove(&id);
        }
    }

    /// Ends every watch (after a relist, their resourceVersions may no
    /// longer be servable; clients re-watch).
    pub fn terminate_all(&mut self) -> usize {
        let n = self.watchers.len();
        self.watchers.clear();
        n
    }
}

/// A live watch: a stream of events for one client.
///
/// `Watcher` implements [`futures::Stream`] with
/// `Item = Arc<WatchEvent>` (and has an inherent async [`Watcher::next`]).
/// It yields, in order: the initial state as ADDED events (for
/// `WatchStart::InitialState`) or the replayed events after the requested
/// revision (for `WatchStart::After`), then the initial-events-end
/// BOOKMARK if requested, then live events and periodic BOOKMARKs. The
/// stream ends when the cache terminates the watch (the client fell behind,
/// the cache relisted, or the cache shut down); the client should then
/// watch again from the last resourceVersion it received. Dropping the
/// `Watcher` unregisters it.
pub struct Watcher {
    revision: i64,
    snapshot: std::vec::IntoIter<Arc<CachedObject>>,
    replay: std::vec::IntoIter<Arc<CacheEvent>>,
    filter: Filter,
    everything: bool,
    end_bookmark: Option<Arc<WatchEvent>>,
    rx: mpsc::Receiver<Arc<WatchEvent>>,
    shared: Weak<Shared>,
    id: u64,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("id", &self.id)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// The parts of a new watcher, assembled by the cache under its locks.
pub(crate) struct WatcherParts {
    pub revision: i64,
    pub snapshot: Vec<Arc<CachedObject>>,
    pub replay: Vec<Arc<CacheEvent>>,
    pub filter: Filter,
    pub everything: bool,
    pub end_bookmark: Option<Arc<WatchEvent>>,
    pub rx: mpsc::Receiver<Arc<WatchEvent>>,
    pub shared: Weak<Shared>,
    pub id: u64,
}

impl Watcher {
    pub(crate) fn new(parts: WatcherParts) -> Watcher {
        Watcher {
            revision: parts.revision,
            snapshot: parts.snapshot.into_iter(),
            replay: parts.replay.into_iter(),
            filter: parts.filter,
            everything: parts.everything,
            end_bookmark: parts.end_bookmark,
            rx: parts.rx,
            shared: parts.shared,
            id: parts.id,
        }
    }

    /// The revision the watch started at: the initial state (or replay)
    /// covers everything up to it, live events come after it.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The next event, or None when the watch ended.
    pub async fn next(&mut self) -> Option<Arc<WatchEvent>> {
        futures::StreamExt::next(self).await
    }
}

impl Stream for Watcher {
    type Item = Arc<WatchEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(obj) = this.snapshot.next() {
            return Poll::Ready(Some(Arc::new(WatchEvent::new(EventType::Added, obj))));
        }
        for ev in this.replay.by_ref() {
            if let Some(event) = ev.for_watcher(&this.filter, this.everything) {
                return Poll::Ready(Some(event));
            }
        }
        if let Some(bookmark) = this.end_bookmark.take() {
            return Poll::Ready(Some(bookmark));
        }
        this.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.snapshot.len(), None)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.registry().remove(self.id);
        }
    }
}
