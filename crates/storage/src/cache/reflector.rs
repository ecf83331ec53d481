//! The cache's only writer: lists the prefix, then follows one etcd watch.
//!
//! States: Watching(from) -> on a broken stream, back off and watch again
//! from the last applied revision; on "compacted", relist (replacing the
//! index and ending every watch) and watch from the list's revision.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::object::{CachedObject, decode_all_async};
use super::scope::KeyScope;
use super::{CacheConfig, ListRequest, ListResult, Shared};
use crate::error::{Error, Result};
use crate::etcd::{EtcdStore, EtcdWatch, EtcdWatchMessage, ListOptions};

/// Largest etcd page read by `list_from_etcd` when a filter is selective.
const MAX_FILTERED_PAGE: i64 = 10_000;

/// Exponential backoff between reconnection attempts.
struct Backoff {
    next: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn new() -> Backoff {
        Backoff { next: Self::MIN }
    }

    fn reset(&mut self) {
        self.next = Self::MIN;
    }

    async fn sleep(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MAX);
    }
}

/// Why following a watch stopped.
enum End {
    /// The watch's start revision was compacted: relist.
    Compacted,
    /// The stream broke: watch again from the last applied revision.
    Broken,
}

/// Lists every object under `config.prefix`, page by page, all pages at
/// the revision of the first. Returns the objects and that revision.
pub(crate) async fn list_all(
    store: &EtcdStore,
    config: &CacheConfig,
) -> Result<(BTreeMap<String, Arc<CachedObject>>, i64)> {
    let mut objects = BTreeMap::new();
    let mut opts = ListOptions {
        start_after: None,
        limit: Some(config.list_page_size.max(1)),
        revision: None,
    };
    let mut revision = 0;
    loop {
        let page = store.list(&config.prefix, &opts).await?;
        if revision == 0 {
            revision = page.revision;
            opts.revision = Some(revision);
        }
        let more = page.more;
        let last = page.items.last().map(|kv| kv.key.clone());
        for obj in decode_all_async(page.items, &config.attrs, config.transform.as_ref()).await? {
            objects.insert(obj.key.clone(), obj);
        }
        match (more, last) {
            (true, Some(key)) => opts.start_after = Some(key),
            _ => break,
        }
    }
    Ok((objects, revision))
}

/// The reflector task: runs until aborted.
pub(crate) async fn run(shared: Arc<Shared>, store: EtcdStore, trust_progress: bool) {
    let prefix = shared.config.prefix.clone();
    let mut backoff = Backoff::new();
    // The last revision whose events are all applied; watches resume
    // after it.
    let mut applied = shared.revision();
    loop {
        #[cfg(test)]
        drop(shared.hooks.hold.read().await);
        let mut watch = match store.watch(&prefix, applied + 1).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(prefix = %prefix, error = %e, "cannot open the etcd watch");
                backoff.sleep().await;
                continue;
            }
        };
        match follow(
            &shared,
            &mut watch,
            trust_progress,
            &mut applied,
            &mut backoff,
        )
        .await
        {
            End::Broken => backoff.sleep().await,
            End::Compacted => loop {
                tracing::info!(prefix = %prefix, revision = applied, "watch revision compacted; relisting");
                match list_all(&store, &shared.config).await {
                    Ok((objects, revision)) => {
                        shared.replace(objects, revision);
                        shared.metrics.initializations.inc();
                        applied = revision;
                        backoff.reset();
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(prefix = %prefix, error = %e, "relist failed");
                        backoff.sleep().await;
                    }
                }
            },
        }
    }
}

/// Applies the watch's messages until it ends; serves progress requests.
///
/// Writes to the barrier key (the resource prefix itself, see
/// [`super::WatchCache::wait_consistent`]) are not objects: like an
/// ordered progress notification they prove every earlier event of this
/// watch was delivered.
async fn follow(
    shared: &Shared,
    watch: &mut EtcdWatch,
    trust_progress: bool,
    applied: &mut i64,
    backoff: &mut Backoff,
) -> End {
    let prefix = &shared.config.prefix;
    loop {
        tokio::select! {
            msg = watch.next() => match msg {
                Ok(Some(EtcdWatchMessage::Events(events))) => {
                    backoff.reset();
                    let seen = *applied;
                    let mut barrier = None;
                    let mut fresh = Vec::with_capacity(events.len());
                    for ev in events {
                        if ev.revision() <= seen {
                            continue;
                        }
                        if ev.kv.key == *prefix {
                            barrier = barrier.max(Some(ev.revision()));
                        } else {
                            fresh.push(ev);
                        }
                    }
                    if let Some(last) = fresh.iter().map(|e| e.revision()).max() {
                        *applied = (*applied).max(last);
                    }
                    shared.apply_events(fresh);
                    if let Some(rev) = barrier {
                        *applied = (*applied).max(rev);
                        shared.apply_progress(rev);
                    }
                }
                Ok(Some(EtcdWatchMessage::Progress { revision, requested })) => {
                    backoff.reset();
                    // Periodic notifications are always ordered; answers to
                    // requests only on etcd versions that fixed #15220.
                    if trust_progress || !requested {
                        *applied = (*applied).max(revision);
                        shared.apply_progress(revision);
                    }
                }
                Ok(None) => {
                    tracing::warn!(prefix = %prefix, "etcd closed the watch");
                    return End::Broken;
                }
                Err(Error::TooOldResourceVersion { .. }) => return End::Compacted,
                Err(e) => {
                    tracing::warn!(prefix = %prefix, error = %e, "etcd watch broke");
                    return End::Broken;
                }
            },
            () = test_break(shared) => return End::Broken,
            () = shared.progress_wanted.notified(), if trust_progress => {
                if let Err(e) = watch.request_progress().await {
                    tracing::warn!(prefix = %prefix, error = %e, "progress request failed");
                    return End::Broken;
                }
            }
        }
    }
}

#[cfg(test)]
async fn test_break(shared: &Shared) {
    shared.hooks.break_watch.notified().await
}

#[cfg(not(test))]
async fn test_break(_: &Shared) {
    std::future::pending::<()>().await
}

/// See [`super::WatchCache::list_from_etcd`].
pub(crate) async fn list_from_etcd(
    store: &EtcdStore,
    config: &CacheConfig,
    req: &ListRequest,
    revision: i64,
) -> Result<ListResult> {
    let everything = req.filter.is_everything();
    let limit = req.limit.filter(|l| *l > 0);
    let passes = |o: &Arc<CachedObject>| everything || req.filter.matches(o);
    let revision = (revision > 0).then_some(revision);

    let prefix = match KeyScope::new(&req.prefix) {
        KeyScope::Prefix(p) => p,
        KeyScope::Exact(key) => {
            let skipped = req
                .start_after
                .as_deref()
                .is_some_and(|a| a >= key.as_str());
            let (kv, read_revision) = match revision {
                Some(rev) => (store.get_at(&key, rev).await?, rev),
                None => {
                    let kv = store.get(&key).await?;
                    (kv, store.current_revision().await?)
                }
            };
            let items = match kv.filter(|_| !skipped) {
                Some(kv) => decode_all_async(vec![kv], &config.attrs, config.transform.as_ref())
                    .await?
                    .into_iter()
                    .filter(passes)
                    .collect(),
                None => Vec::new(),
            };
            return Ok(ListResult {
                items,
                revision: read_revision,
                continue_after: None,
                remaining: None,
            });
        }
    };

    let mut page_size = match limit {
        Some(l) if everything => l as i64,
        Some(l) => (l as i64).clamp(100, MAX_FILTERED_PAGE),
        None => config.list_page_size.max(1),
    };
    let mut opts = ListOptions {
        start_after: req.start_after.clone(),
        limit: Some(page_size),
        revision,
    };
    let mut items: Vec<Arc<CachedObject>> = Vec::new();
    let mut read_revision = revision.unwrap_or(0);
    loop {
        let page = store.list(&prefix, &opts).await?;
        if opts.revision.is_none() {
            read_revision = page.revision;
            opts.revision = Some(read_revision);
        }
        let (more, page_remaining) = (page.more, page.remaining);
        let Some(last_key) = page.items.last().map(|kv| kv.key.clone()) else {
            break;
        };
        let decoded =
            decode_all_async(page.items, &config.attrs, config.transform.as_ref()).await?;
        let read = decoded.len();
        for (i, obj) in decoded.into_iter().enumerate() {
            if !passes(&obj) {
                continue;
            }
            items.push(obj);
            if limit == Some(items.len()) {
                // Keys read but not returned, plus keys not read yet.
                // (Corrupt values skipped by decoding make this an
                // estimate, as upstream's count is.)
                let unread_in_page = (read - i - 1) as i64;
                let follows = unread_in_page > 0 || more;
                return Ok(ListResult {
                    continue_after: follows
                        .then(|| items.last().map(|o| o.key.clone()))
                        .flatten(),
                    remaining: (follows && everything).then_some(unread_in_page + page_remaining),
                    items,
                    revision: read_revision,
                });
            }
        }
        if !more {
            break;
        }
        opts.start_after = Some(last_key);
        if !everything {
            page_size = (page_size * 2).min(MAX_FILTERED_PAGE);
            opts.limit = Some(page_size);
        }
    }
    Ok(ListResult {
        items,
        revision: read_revision,
        continue_after: None,
        remaining: None,
    })
}
