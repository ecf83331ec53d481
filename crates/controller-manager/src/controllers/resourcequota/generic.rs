//! Upstream's generic object-count evaluator for the controller: any
//! `count/<resource>.<group>` a quota names (custom resources too) is
//! counted from a metadata-only watch of that resource, started the first
//! time a quota names it. Each change requeues the quotas of the object's
//! namespace, so deletions are given back as promptly as for pods.
//!
//! A resource discovery does not (yet) serve cannot be counted: the quota's
//! previous `used` value for it is kept, never replaced by a made-up 0.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::DynamicObject;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::framework::discovery::{self, DiscoveredResource};
use crate::framework::informer::Informer;
use crate::framework::key::ObjectKey;
use crate::framework::queue::WorkQueue;

/// How long an unknown resource is not looked up again.
const REDISCOVER_AFTER: Duration = Duration::from_secs(10);

/// `count/<resource>.<group>` -> (group, resource); `count/<resource>` is
/// core. `None` for names that are not object counts.
pub fn parse_count_name(name: &str) -> Option<(String, String)> {
    let rest = name.strip_prefix("count/")?;
    if rest.is_empty() {
        return None;
    }
    Some(match rest.split_once('.') {
        Some((resource, group)) => (group.to_string(), resource.to_string()),
        None => (String::new(), rest.to_string()),
    })
}

/// Names of objects by namespace, as one monitor saw them.
type Members = HashMap<String, HashSet<String>>;

struct Monitor {
    members: Arc<RwLock<Members>>,
    synced: tokio::sync::watch::Receiver<bool>,
}

/// Object counts for resources the typed informers do not cover.
pub struct GenericCounts {
    client: Client,
    quotas: Informer<ResourceQuota>,
    queue: WorkQueue<ObjectKey>,
    monitors: Mutex<HashMap<(String, String), Monitor>>,
    /// Discovery as last fetched, and when.
    discovered: Mutex<Option<(Instant, Vec<DiscoveredResource>)>>,
    stop: CancellationToken,
}

impl Drop for GenericCounts {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What counting one resource gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// The number of objects in the namespace.
    Known(usize),
    /// The watch has not listed yet: try again shortly.
    Pending,
    /// Discovery does not serve the resource (or it cannot be listed).
    Unknown,
}

impl GenericCounts {
    /// Counts that requeue `quotas` of a namespace on `queue` when objects
    /// there change.
    pub fn new(
        client: Client,
        quotas: Informer<ResourceQuota>,
        queue: WorkQueue<ObjectKey>,
    ) -> Self {
        GenericCounts {
            client,
            quotas,
            queue,
            monitors: Mutex::default(),
            discovered: Mutex::default(),
            stop: CancellationToken::new(),
        }
    }

    /// The number of `group/resource` objects in `namespace`, starting the
    /// resource's watch on first use.
    pub async fn count(&self, group: &str, resource: &str, namespace: &str) -> Count {
        let key = (group.to_string(), resource.to_string());
        if let Some(count) = self.read(&key, namespace) {
            return count;
        }
        let Some(found) = self.discover(group, resource).await else {
            return Count::Unknown;
        };
        let mut monitors = self.monitors.lock().unwrap_or_else(|e| e.into_inner());
        if !monitors.contains_key(&key) {
            monitors.insert(key.clone(), self.start(found));
        }
        drop(monitors);
        self.read(&key, namespace).unwrap_or(Count::Pending)
    }

    fn read(&self, key: &(String, String), namespace: &str) -> Option<Count> {
        let monitors = self.monitors.lock().unwrap_or_else(|e| e.into_inner());
        let m = monitors.get(key)?;
        if !*m.synced.borrow() {
            return Some(Count::Pending);
        }
        let members = m.members.read().unwrap_or_else(|e| e.into_inner());
        Some(Count::Known(members.get(namespace).map_or(0, HashSet::len)))
    }

    async fn discover(&self, group: &str, resource: &str) -> Option<DiscoveredResource> {
        let find = |all: &[DiscoveredResource]| {
            all.iter()
                .find(|r| r.group == group && r.resource == resource && r.namespaced)
                .filter(|r| r.supports("list") && r.supports("watch"))
                .cloned()
        };
        {
            let cached = self.discovered.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, all)) = cached.as_ref() {
                let hit = find(all);
                if hit.is_some() || at.elapsed() < REDISCOVER_AFTER {
                    return hit;
                }
            }
        }
        match discovery::server_preferred_resources(&self.client).await {
            Ok(d) => {
                let hit = find(&d.resources);
                *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), d.resources));
                hit
            }
            Err(err) => {
                tracing::debug!(error = %err, "resourcequota: discovery failed");
                None
            }
        }
    }

    fn start(&self, resource: DiscoveredResource) -> Monitor {
        let members: Arc<RwLock<Members>> = Arc::default();
        let (synced_tx, synced) = tokio::sync::watch::channel(false);
        let api: Api<PartialObjectMeta<DynamicObject>> =
            Api::all_with(self.client.clone(), &resource.api_resource());
        let task = MonitorTask {
            members: members.clone(),
            quotas: self.quotas.clone(),
            queue: self.queue.clone(),
            synced: synced_tx,
        };
        let stop = self.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = task.run(api) => {}
            }
        });
        Monitor { members, synced }
    }
}

struct MonitorTask {
    members: Arc<RwLock<Members>>,
    quotas: Informer<ResourceQuota>,
    queue: WorkQueue<ObjectKey>,
    synced: tokio::sync::watch::Sender<bool>,
}

impl MonitorTask {
    fn requeue(&self, namespace: &str) {
        for quota in self.quotas.list_namespace(namespace) {
            self.queue.add(ObjectKey::of(quota.as_ref()));
        }
    }

    async fn run(self, api: Api<PartialObjectMeta<DynamicObject>>) {
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        // A relist builds a fresh view, swapped in when it is complete.
        let mut relisting: Option<Members> = None;
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(err) => {
                    tracing::debug!(error = %err, "resourcequota monitor: list/watch failed; retrying");
                    continue;
                }
            };
            let ident = |o: &PartialObjectMeta<DynamicObject>| {
                Some((o.metadata.namespace.clone()?, o.metadata.name.clone()?))
            };
            match event {
                watcher::Event::Init => relisting = Some(Members::new()),
                watcher::Event::InitApply(o) => {
                    if let (Some(view), Some((ns, name))) = (relisting.as_mut(), ident(&o)) {
                        view.entry(ns).or_default().insert(name);
                    }
                }
                watcher::Event::InitDone => {
                    let view = relisting.take().unwrap_or_default();
                    let changed: HashSet<String> = {
                        let mut members = self.members.write().unwrap_or_else(|e| e.into_inner());
                        let changed = members
                            .keys()
                            .chain(view.keys())
                            .filter(|ns| members.get(*ns) != view.get(*ns))
                            .cloned()
                            .collect();
                        *members = view;
                        changed
                    };
                    let _ = self.synced.send(true);
                    for ns in changed {
                        self.requeue(&ns);
                    }
                }
                watcher::Event::Apply(o) => {
                    if let Some((ns, name)) = ident(&o) {
                        let added = self
                            .members
                            .write()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(ns.clone())
                            .or_default()
                            .insert(name);
                        if added {
                            self.requeue(&ns);
                        }
                    }
                }
                watcher::Event::Delete(o) => {
                    if let Some((ns, name)) = ident(&o) {
                        let removed = self
                            .members
                            .write()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_mut(&ns)
                            .is_some_and(|set| set.remove(&name));
                        if removed {
                            self.requeue(&ns);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_names_parse() {
        assert_eq!(
            parse_count_name("count/deployments.apps"),
            Some(("apps".into(), "deployments".into()))
        );
        assert_eq!(
            parse_count_name("count/widgets.example.com"),
            Some(("example.com".into(), "widgets".into()))
        );
        assert_eq!(
            parse_count_name("count/pods"),
            Some((String::new(), "pods".into()))
        );
        assert_eq!(parse_count_name("pods"), None);
        assert_eq!(parse_count_name("count/"), None);
    }
}
