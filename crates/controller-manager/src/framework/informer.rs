//! Shared informers: one list+watch per resource type for the whole process,
//! feeding a read-only cache and the event handlers of every controller that
//! asked for that type.
//!
//! An [`Informer`] is a kube-runtime reflector ([`watcher()`] into a
//! [`Writer`]) plus a list of handlers called with each [`Change`]. Handlers
//! run on the informer's task and must be cheap: they enqueue keys into work
//! queues and return. After a relist (the watcher's `Init..InitDone`), the
//! handlers see the difference to the previous cache: adds, updates (when
//! the resourceVersion moved) and deletes of objects that disappeared while
//! the watch was down.
//!
//! ```no_run
//! # async fn demo(client: kube::Client) {
//! use corten_controller_manager::framework::informer::{Change, InformerFactory};
//! use k8s_openapi::api::core::v1::Namespace;
//! use tokio_util::sync::CancellationToken;
//!
//! let factory = InformerFactory::new(client);
//! let namespaces = factory.informer::<Namespace>();
//! namespaces.add_event_handler(|change: Change<'_, Namespace>| {
//!     println!("{:?}", change.object().metadata.name);
//! });
//! let shutdown = CancellationToken::new();
//! factory.start(&shutdown);
//! namespaces.wait_for_sync(&shutdown).await;
//! # }
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What an informer can watch: a typed, statically known API resource.
pub trait InformerResource:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

impl<K> InformerResource for K where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

/// One change seen by an informer.
#[derive(Debug)]
pub enum Change<'a, K> {
    /// A new object (also every object of the first list).
    Added(&'a K),
    /// An object changed.
    Updated {
        /// The previous state in the cache.
        old: &'a K,
        /// The new state.
        new: &'a K,
    },
    /// An object was deleted (its last known state).
    Deleted(&'a K),
}

impl<K> Clone for Change<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Change<'_, K> {}

impl<'a, K> Change<'a, K> {
    /// The object as it is now (the last known state for deletions).
    pub fn object(&self) -> &'a K {
        match self {
            Change::Added(obj) | Change::Deleted(obj) => obj,
            Change::Updated { new, .. } => new,
        }
    }
}

type Handler<K> = Arc<dyn Fn(Change<'_, K>) + Send + Sync>;

/// The values an object is filed under in one index (client-go's
/// `IndexFunc`).
type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// The name of the built-in index by namespace (`""` for cluster-scoped
/// objects).
pub const NAMESPACE_INDEX: &str = "namespace";

/// namespace and name of a cached object.
type ObjKey = (String, String);

/// One secondary index: value -> objects, and object -> values (to move
/// an object when it changes).
struct Index<K> {
    func: IndexFn<K>,
    by_value: HashMap<String, HashMap<ObjKey, Arc<K>>>,
    values_of: HashMap<ObjKey, Vec<String>>,
}

impl<K> Index<K> {
    fn new(func: IndexFn<K>) -> Self {
        Self {
            func,
            by_value: HashMap::new(),
            values_of: HashMap::new(),
        }
    }

    fn insert(&mut self, key: &ObjKey, obj: &Arc<K>) {
        let values = (self.func)(obj);
        if self.values_of.get(key) == Some(&values) {
            // Same buckets: only the stored object changes.
            for value in &values {
                if let Some(bucket) = self.by_value.get_mut(value) {
                    bucket.insert(key.clone(), obj.clone());
                }
            }
            return;
        }
        self.remove(key);
        for value in &values {
            self.by_value
                .entry(value.clone())
                .or_default()
                .insert(key.clone(), obj.clone());
        }
        self.values_of.insert(key.clone(), values);
    }

    fn remove(&mut self, key: &ObjKey) {
        let Some(values) = self.values_of.remove(key) else {
            return;
        };
        for value in values {
            if let Some(bucket) = self.by_value.get_mut(&value) {
                bucket.remove(key);
                if bucket.is_empty() {
                    self.by_value.remove(&value);
                }
            }
        }
    }

    fn get(&self, value: &str) -> Vec<Arc<K>> {
        self.by_value
            .get(value)
            .map(|bucket| bucket.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn obj_key<K: InformerResource>(obj: &K) -> ObjKey {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

struct Shared<K> {
    handlers: RwLock<Vec<Handler<K>>>,
    synced: watch::Sender<bool>,
    indexes: RwLock<HashMap<String, Index<K>>>,
}

impl<K: InformerResource> Shared<K> {
    fn indexes_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Index<K>>> {
        self.indexes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn indexes_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Index<K>>> {
        self.indexes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn index_insert(&self, obj: &Arc<K>) {
        let key = obj_key(obj.as_ref());
        for index in self.indexes_write().values_mut() {
            index.insert(&key, obj);
        }
    }

    fn index_remove(&self, obj: &K) {
        let key = obj_key(obj);
        for index in self.indexes_write().values_mut() {
            index.remove(&key);
        }
    }

    fn index_rebuild(&self, objects: Vec<Arc<K>>) {
        let mut indexes = self.indexes_write();
        for index in indexes.values_mut() {
            let mut rebuilt = Index::new(index.func.clone());
            for obj in &objects {
                rebuilt.insert(&obj_key(obj.as_ref()), obj);
            }
            *index = rebuilt;
        }
    }
}

/// A shared cache of one resource type plus its event handlers. Cheap to
/// clone.
pub struct Informer<K: InformerResource> {
    store: Store<K>,
    shared: Arc<Shared<K>>,
}

impl<K: InformerResource> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<K: InformerResource> Debug for Informer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Informer")
            .field("resource", &K::plural(&()))
            .field("objects", &self.store.len())
            .field("synced", &self.has_synced())
            .finish()
    }
}

impl<K: InformerResource> Informer<K> {
    /// An informer not connected to any watch, and the writer of its cache
    /// (the factory connects it; tests feed it through [`TestFeed`]).
    fn detached() -> (Self, Writer<K>) {
        let writer: Writer<K> = Writer::default();
        let (synced, _) = watch::channel(false);
        let namespace_index: IndexFn<K> =
            Arc::new(|obj: &K| vec![obj.namespace().unwrap_or_default()]);
        let informer = Informer {
            store: writer.as_reader(),
            shared: Arc::new(Shared {
                handlers: RwLock::new(Vec::new()),
                synced,
                indexes: RwLock::new(HashMap::from([(
                    NAMESPACE_INDEX.to_string(),
                    Index::new(namespace_index),
                )])),
            }),
        };
        (informer, writer)
    }

    /// The read-only cache (a "lister").
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// The cached object `namespace/name` (`namespace` `None` for
    /// cluster-scoped objects).
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        let mut key = ObjectRef::<K>::new(name);
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        self.store.get(&key)
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.store.state()
    }

    /// The cached objects of one namespace (upstream's namespace index;
    /// `""` for cluster-scoped objects).
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.by_index(NAMESPACE_INDEX, namespace)
    }

    /// Adds the index `name` (client-go's `AddIndexers`): every object is
    /// filed under the values `func` gives for it, and [`Informer::by_index`]
    /// finds them without a scan of the whole cache. An index of that name
    /// that already exists is kept (informers are shared: several
    /// controllers ask for the same index).
    pub fn add_index(&self, name: &str, func: impl Fn(&K) -> Vec<String> + Send + Sync + 'static) {
        let mut indexes = self.shared.indexes_write();
        if indexes.contains_key(name) {
            return;
        }
        let mut index = Index::new(Arc::new(func));
        for obj in self.store.state() {
            index.insert(&obj_key(obj.as_ref()), &obj);
        }
        indexes.insert(name.to_string(), index);
    }

    /// The cached objects filed under `value` in the index `name` (none if
    /// there is no such index).
    pub fn by_index(&self, name: &str, value: &str) -> Vec<Arc<K>> {
        self.shared
            .indexes_read()
            .get(name)
            .map(|index| index.get(value))
            .unwrap_or_default()
    }

    /// How many cached objects are filed under `value` in the index `name`
    /// (to pick the smallest of several buckets before copying one).
    pub fn count_by_index(&self, name: &str, value: &str) -> usize {
        self.shared
            .indexes_read()
            .get(name)
            .and_then(|index| index.by_value.get(value))
            .map_or(0, HashMap::len)
    }

    /// Registers a handler. A handler added after the first list is called
    /// with [`Change::Added`] for every cached object first.
    pub fn add_event_handler(&self, handler: impl Fn(Change<'_, K>) + Send + Sync + 'static) {
        let handler: Handler<K> = Arc::new(handler);
        let mut handlers = self
            .shared
            .handlers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        handlers.push(handler.clone());
        if self.has_synced() {
            for obj in self.store.state() {
                handler(Change::Added(&obj));
            }
        }
    }

    /// Whether the first list has been loaded into the cache.
    pub fn has_synced(&self) -> bool {
        *self.shared.synced.borrow()
    }

    /// Waits until the first list is in the cache; `false` if `shutdown`
    /// fired first.
    pub async fn wait_for_sync(&self, shutdown: &CancellationToken) -> bool {
        let mut synced = self.shared.synced.subscribe();
        tokio::select! {
            result = synced.wait_for(|s| *s) => result.is_ok(),
            () = shutdown.cancelled() => false,
        }
    }

    /// A watched add, update (`Apply`) or deletion (`Delete`): the cache,
    /// then the indexes, then the handlers. Other events are ignored.
    fn apply_change(&self, writer: &mut Writer<K>, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(obj) => {
                let key = ObjectRef::from_obj(obj);
                let old = self.store.get(&key);
                writer.apply_watcher_event(event);
                let current = self.store.get(&key);
                if let Some(new) = &current {
                    self.shared.index_insert(new);
                }
                match (old, current) {
                    (Some(old), Some(new)) => self.dispatch(Change::Updated {
                        old: &old,
                        new: &new,
                    }),
                    (None, Some(new)) => self.dispatch(Change::Added(&new)),
                    _ => {}
                }
            }
            watcher::Event::Delete(obj) => {
                writer.apply_watcher_event(event);
                self.shared.index_remove(obj);
                self.dispatch(Change::Deleted(obj));
            }
            _ => {}
        }
    }

    fn dispatch(&self, change: Change<'_, K>) {
        let handlers = self
            .shared
            .handlers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for handler in handlers.iter() {
            handler(change);
        }
    }
}

/// An informer fed by hand, for unit tests of what reads caches and
/// indexes: each call does what a watch event does.
#[cfg(test)]
pub(crate) struct TestFeed<K: InformerResource> {
    /// The informer the feed writes to.
    pub(crate) informer: Informer<K>,
    writer: Writer<K>,
}

#[cfg(test)]
impl<K: InformerResource> TestFeed<K> {
    /// An empty informer.
    pub(crate) fn new() -> Self {
        let (informer, writer) = Informer::detached();
        Self { informer, writer }
    }

    /// An object added or updated.
    pub(crate) fn apply(&mut self, obj: K) {
        self.informer
            .apply_change(&mut self.writer, &watcher::Event::Apply(obj));
    }

    /// An object deleted.
    pub(crate) fn delete(&mut self, obj: K) {
        self.informer
            .apply_change(&mut self.writer, &watcher::Event::Delete(obj));
    }
}

type Starter = Box<dyn FnOnce(&CancellationToken) + Send>;

#[derive(Default)]
struct FactoryState {
    informers: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    pending: Vec<Starter>,
    started: Option<CancellationToken>,
}

/// Hands out one [`Informer`] per resource type and starts them. Cheap to
/// clone; clones share the informers.
#[derive(Clone)]
pub struct InformerFactory {
    client: Client,
    state: Arc<Mutex<FactoryState>>,
}

impl Debug for InformerFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("InformerFactory")
            .field("informers", &state.informers.len())
            .field("started", &state.started.is_some())
            .finish()
    }
}

impl InformerFactory {
    /// A factory whose informers list and watch through `client` (all
    /// namespaces).
    pub fn new(client: Client) -> Self {
        Self {
            client,
            state: Arc::new(Mutex::new(FactoryState::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FactoryState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The shared informer for `K`, created on first use. It starts with
    /// [`InformerFactory::start`] (at once if the factory already started).
    pub fn informer<K: InformerResource>(&self) -> Informer<K> {
        let mut state = self.lock();
        if let Some(existing) = state
            .informers
            .get(&TypeId::of::<K>())
            .and_then(|any| any.downcast_ref::<Informer<K>>())
        {
            return existing.clone();
        }
        let (informer, writer) = Informer::detached();
        state
            .informers
            .insert(TypeId::of::<K>(), Box::new(informer.clone()));
        let api: Api<K> = Api::all(self.client.clone());
        let reflected = informer.clone();
        let starter: Starter = Box::new(move |shutdown: &CancellationToken| {
            tokio::spawn(run_reflector(api, writer, reflected, shutdown.clone()));
        });
        match state.started.clone() {
            Some(shutdown) => starter(&shutdown),
            None => state.pending.push(starter),
        }
        informer
    }

    /// Starts every informer created so far (and later ones as they are
    /// created); they stop when `shutdown` fires.
    pub fn start(&self, shutdown: &CancellationToken) {
        let pending = {
            let mut state = self.lock();
            if state.started.is_none() {
                state.started = Some(shutdown.clone());
            }
            std::mem::take(&mut state.pending)
        };
        for starter in pending {
            starter(shutdown);
        }
    }
}

async fn run_reflector<K: InformerResource>(
    api: Api<K>,
    mut writer: Writer<K>,
    informer: Informer<K>,
    shutdown: CancellationToken,
) {
    let resource = K::plural(&()).to_string();
    tracing::debug!(%resource, "starting informer");
    // managedFields are never read by controllers: do not keep them in
    // memory (upstream's informers trim them too).
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|obj: &mut K| obj.managed_fields_mut().clear());
    futures::pin_mut!(stream);
    let mut listed: Vec<ObjectRef<K>> = Vec::new();
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = stream.next() => event,
        };
        let event = match event {
            None => break,
            Some(Err(err)) => {
                tracing::warn!(%resource, error = %err, "list/watch failed; retrying with backoff");
                continue;
            }
            Some(Ok(event)) => event,
        };
        match &event {
            watcher::Event::Apply(_) | watcher::Event::Delete(_) => {
                informer.apply_change(&mut writer, &event);
            }
            watcher::Event::Init => {
                listed.clear();
                writer.apply_watcher_event(&event);
            }
            watcher::Event::InitApply(obj) => {
                listed.push(ObjectRef::from_obj(obj));
                writer.apply_watcher_event(&event);
            }
            watcher::Event::InitDone => {
                let mut previous: HashMap<ObjectRef<K>, Arc<K>> = informer
                    .store
                    .state()
                    .into_iter()
                    .map(|obj| (ObjectRef::from_obj(&*obj), obj))
                    .collect();
                writer.apply_watcher_event(&event);
                informer.shared.index_rebuild(informer.store.state());
                for key in listed.drain(..) {
                    let Some(new) = informer.store.get(&key) else {
                        continue;
                    };
                    match previous.remove(&key) {
                        Some(old) if old.resource_version() == new.resource_version() => {}
                        Some(old) => informer.dispatch(Change::Updated {
                            old: &old,
                            new: &new,
                        }),
                        None => informer.dispatch(Change::Added(&new)),
                    }
                }
                for gone in previous.into_values() {
                    informer.dispatch(Change::Deleted(&gone));
                }
                if !informer.has_synced() {
                    tracing::debug!(%resource, objects = informer.store.len(), "informer synced");
                }
                informer.shared.synced.send_replace(true);
            }
        }
    }
    tracing::debug!(%resource, "informer stopped");
}
