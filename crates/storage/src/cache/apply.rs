//! How the reflector's input changes the cache: etcd events, progress
//! notifications and relists are applied to the index and the event
//! window under the index lock, then fanned out to the watchers.

use super::*;

impl Shared {
    /// Applies one message's events: decodes outside the lock, updates the
    /// index and window under it, then fans out.
    pub(super) fn apply_events(&self, events: Vec<EtcdEvent>) {
        if events.is_empty() {
            return;
        }
        self.metrics.received.inc_by(events.len() as u64);
        let attrs = &self.config.attrs;
        let transform = self.config.transform.as_ref();
        let mut prepared: Vec<Arc<CacheEvent>> = Vec::with_capacity(events.len());
        // State of keys already changed earlier in this batch.
        let mut batch: HashMap<String, Option<Arc<CachedObject>>> = HashMap::new();
        let several = events.len() > 1;
        let mut last_revision = 0;
        let mut removals: Vec<String> = Vec::new();
        for ev in events {
            let revision = ev.revision();
            last_revision = last_revision.max(revision);
            let key = ev.kv.key.clone();
            let cached_prev = match batch.get(&key) {
                Some(state) => state.clone(),
                None => self.lookup(&key),
            };
            let prev = cached_prev.or_else(|| {
                // Not in the cache (e.g. it was corrupt): fall back to etcd's
                // previous value.
                let p = ev.prev.as_ref()?;
                CachedObject::from_key_value_transformed(p, attrs, transform)
                    .ok()
                    .map(Arc::new)
            });
            let primed = match ev.kind {
                _ if self.primed.is_empty() => None,
                EtcdEventKind::Put => self.primed.take(&key, &ev.kv.value),
                EtcdEventKind::Delete => {
                    self.primed.remove(&key);
                    None
                }
            };
            let current = match (ev.kind, primed) {
                (EtcdEventKind::Put, Some(primed)) => {
                    Some(Arc::new(primed.into_cached(key.clone(), revision)))
                }
                (EtcdEventKind::Put, None) => {
                    match CachedObject::from_key_value_transformed(&ev.kv, attrs, transform) {
                        Ok(obj) => Some(Arc::new(obj)),
                        Err(e) => {
                            // An unreadable object is treated as absent: it
                            // leaves the cache and watchers see it deleted.
                            tracing::warn!(key = %key, error = %e, "skipping corrupt object");
                            None
                        }
                    }
                }
                (EtcdEventKind::Delete, _) => None,
            };
            if several {
                batch.insert(key.clone(), current.clone());
            }
            if prev.is_none() && current.is_none() {
                removals.push(key);
                continue;
            }
            prepared.push(Arc::new(CacheEvent::new(revision, prev, current)));
        }

        let (len, revision) = {
            let mut index = self.index_mut();
            for key in &removals {
                index.objects.remove(key);
            }
            for ev in &prepared {
                match &ev.current {
                    Some(obj) => {
                        index.objects.insert(obj.key.clone(), obj.clone());
                    }
                    None => {
                        index.objects.remove(ev.key());
                    }
                }
            }
            index.revision = index.revision.max(last_revision);
            let window = self.config.window;
            if window == 0 {
                index.oldest = index.revision;
            } else {
                index.window.extend(prepared.iter().cloned());
                while index.window.len() > window {
                    if let Some(dropped) = index.window.pop_front() {
                        index.oldest = index.oldest.max(dropped.revision);
                    }
                }
            }
            (index.objects.len(), index.revision)
        };
        self.publish(len, revision);

        let terminated = self.registry().dispatch(&prepared);
        self.metrics.dispatched.inc_by(prepared.len() as u64);
        if terminated > 0 {
            self.metrics.terminated.inc_by(terminated);
        }
        // Progress made without visible events still lets bookmarks move on.
        if prepared.is_empty() {
            let mut registry = self.registry();
            registry.dispatched_revision = registry.dispatched_revision.max(last_revision);
        }
    }

    /// All events up to `revision` were delivered: the cache is at
    /// `revision` even though it saw no event for it.
    pub(super) fn apply_progress(&self, revision: i64) {
        let len = {
            let mut index = self.index_mut();
            if revision <= index.revision {
                return;
            }
            index.revision = revision;
            if self.config.window == 0 {
                index.oldest = revision;
            }
            index.objects.len()
        };
        self.publish(len, revision);
        let mut registry = self.registry();
        registry.dispatched_revision = registry.dispatched_revision.max(revision);
    }

    /// Replaces the whole state after a (re)list at `revision` and ends
    /// every watch: their positions may no longer be servable.
    pub(super) fn replace(&self, objects: BTreeMap<String, Arc<CachedObject>>, revision: i64) {
        self.primed.clear();
        let len = objects.len();
        // The old state is freed after the lock is released.
        let _old = {
            let mut index = self.index_mut();
            index.oldest = revision;
            index.revision = revision;
            (
                std::mem::replace(&mut index.objects, objects),
                std::mem::take(&mut index.window),
            )
        };
        self.publish(len, revision);
        let mut registry = self.registry();
        let ended = registry.terminate_all();
        registry.dispatched_revision = revision;
        if ended > 0 {
            tracing::info!(
                resource = %self.config.prefix,
                watchers = ended,
                "relisted; ended all watches"
            );
        }
    }

    pub(super) fn publish(&self, len: usize, revision: i64) {
        self.revision_tx.send_if_modified(|r| {
            if *r < revision {
                *r = revision;
                true
            } else {
                false
            }
        });
        self.metrics.objects.set(len as i64);
        self.metrics.resource_version.set(revision);
    }

    pub(super) fn send_bookmarks(&self) {
        self.registry()
            .send_bookmarks(&self.config.api_version, &self.config.kind);
    }
}
