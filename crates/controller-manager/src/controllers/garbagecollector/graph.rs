//! The ownership graph (upstream `GraphBuilder` and its `node`s).
//!
//! Every object seen by a monitor is a node keyed by UID, with its owner
//! references and the UIDs of its dependents. An owner referenced before
//! (or without) being observed is a *virtual* node: it is queued for a
//! check against the apiserver, and removed by a virtual delete event if it
//! does not exist, which in turn queues its dependents, whose owner is now
//! dangling.
//!
//! [`Graph::process`] applies one event and says which UIDs to queue:
//!
//! | event | queued for deletion checks | queued for orphaning |
//! | --- | --- | --- |
//! | new object referencing an unknown owner | the (virtual) owner | |
//! | object starts being deleted with `foregroundDeletion` | the object and all its dependents | |
//! | object starts being deleted with `orphan` | | the object |
//! | owner reference removed or unblocked while the owner deletes in foreground | the owner | |
//! | object deleted | its dependents, and owners deleting in foreground | |
//!
//! The graph only decides what to look at; every decision to delete is
//! taken by the workers on fresh reads from the apiserver, so a stale or
//! cyclic graph can delay collection but never cause a wrong deletion.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The finalizer of foreground deletion.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer of orphaning deletion.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// Which object a node is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// `group/version` (or `v1`).
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// The namespace (`""` for cluster-scoped objects, and for owners of
    /// unknown scope it is the dependent's namespace).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// The UID.
    pub uid: String,
}

impl Identity {
    /// The group of `api_version`.
    pub fn group(&self) -> &str {
        self.api_version
            .split_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The identity an owner reference of an object in `namespace` names.
    pub fn of_owner(reference: &OwnerReference, namespace: &str) -> Self {
        Self {
            api_version: reference.api_version.clone(),
            kind: reference.kind.clone(),
            namespace: namespace.to_string(),
            name: reference.name.clone(),
            uid: reference.uid.clone(),
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}/{}, namespace: {}, name: {}, uid: {}]",
            self.api_version, self.kind, self.namespace, self.name, self.uid
        )
    }
}

/// What a monitor saw of one object.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The object.
    pub identity: Identity,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// It has a deletionTimestamp.
    pub deleting: bool,
    /// Its finalizers.
    pub finalizers: Vec<String>,
}

/// A change to the graph.
#[derive(Debug, Clone)]
pub enum GraphEvent {
    /// An object was added or changed.
    Upsert(Observed),
    /// An object is gone; `virtual_` when a worker found it missing on the
    /// apiserver rather than a monitor seeing it deleted.
    Delete {
        /// The object.
        identity: Identity,
        /// Found missing by a worker.
        virtual_: bool,
    },
}

/// One object (or a virtual owner) in the graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Which object.
    pub identity: Identity,
    /// Its owner references (none for a virtual node).
    pub owners: Vec<OwnerReference>,
    /// UIDs of the objects that reference it.
    pub dependents: HashSet<String>,
    /// It has a deletionTimestamp.
    pub being_deleted: bool,
    /// It is being deleted in the foreground and waits for dependents.
    pub deleting_dependents: bool,
    /// Seen by a monitor (false: a virtual node).
    pub observed: bool,
    /// Its finalizers as last seen.
    pub finalizers: Vec<String>,
}

impl Node {
    fn waits_for(&self, finalizer: &str) -> bool {
        self.being_deleted && self.finalizers.iter().any(|f| f == finalizer)
    }
}

/// What to queue after an event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Enqueue {
    /// UIDs for the attempt-to-delete queue.
    pub delete: Vec<String>,
    /// UIDs for the attempt-to-orphan queue.
    pub orphan: Vec<String>,
}

/// The ownership graph.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
}

fn blocks(reference: &OwnerReference) -> bool {
    reference.block_owner_deletion == Some(true)
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node of `uid`.
    pub fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// How many nodes the graph has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The dependents of `uid` whose reference to it blocks its deletion,
    /// with whether each is itself deleting dependents.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<(String, bool)> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .filter_map(|dep| self.nodes.get(dep))
            .filter(|dep| dep.owners.iter().any(|o| o.uid == uid && blocks(o)))
            .map(|dep| (dep.identity.uid.clone(), dep.deleting_dependents))
            .collect()
    }

    /// The identities of `uid`'s dependents.
    pub fn dependents(&self, uid: &str) -> Vec<Identity> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .filter_map(|dep| self.nodes.get(dep))
            .map(|dep| dep.identity.clone())
            .collect()
    }

    /// Applies one event; returns what to queue.
    pub fn process(&mut self, event: GraphEvent) -> Enqueue {
        let mut out = Enqueue::default();
        match event {
            GraphEvent::Upsert(observed) => self.upsert(observed, &mut out),
            GraphEvent::Delete { identity, virtual_ } => self.delete(&identity, virtual_, &mut out),
        }
        out
    }

    fn upsert(&mut self, observed: Observed, out: &mut Enqueue) {
        let uid = observed.identity.uid.clone();
        let Some(existing) = self.nodes.get_mut(&uid) else {
            let node = Node {
                identity: observed.identity,
                owners: observed.owners.clone(),
                dependents: HashSet::new(),
                being_deleted: observed.deleting,
                deleting_dependents: false,
                observed: true,
                finalizers: observed.finalizers,
            };
            let namespace = node.identity.namespace.clone();
            self.nodes.insert(uid.clone(), node);
            self.add_to_owners(&uid, &namespace, &observed.owners, out);
            self.transitions(&uid, false, false, out);
            return;
        };
        let was_orphaning = existing.waits_for(ORPHAN_FINALIZER);
        let was_foreground = existing.waits_for(FOREGROUND_FINALIZER);
        if !existing.observed || existing.identity != observed.identity {
            // The owner's real coordinates replace the ones a dependent
            // guessed; dependents are checked again against the API.
            if existing.observed || existing.identity.kind != observed.identity.kind {
                out.delete.extend(existing.dependents.iter().cloned());
            }
            existing.observed = true;
            existing.identity = observed.identity.clone();
        }
        existing.being_deleted = observed.deleting;
        existing.finalizers = observed.finalizers;
        let old_owners = std::mem::replace(&mut existing.owners, observed.owners.clone());
        let namespace = existing.identity.namespace.clone();
        let added: Vec<OwnerReference> = observed
            .owners
            .iter()
            .filter(|n| !old_owners.iter().any(|o| o.uid == n.uid))
            .cloned()
            .collect();
        for old in &old_owners {
            let now = observed.owners.iter().find(|n| n.uid == old.uid);
            let unblocked = blocks(old) && now.is_none_or(|n| !blocks(n));
            if now.is_none()
                && let Some(owner) = self.nodes.get_mut(&old.uid)
            {
                owner.dependents.remove(&uid);
            }
            if unblocked
                && self
                    .nodes
                    .get(&old.uid)
                    .is_some_and(|owner| owner.deleting_dependents)
            {
                out.delete.push(old.uid.clone());
            }
        }
        self.add_to_owners(&uid, &namespace, &added, out);
        self.transitions(&uid, was_orphaning, was_foreground, out);
    }

    fn add_to_owners(
        &mut self,
        uid: &str,
        namespace: &str,
        owners: &[OwnerReference],
        out: &mut Enqueue,
    ) {
        for reference in owners {
            match self.nodes.get_mut(&reference.uid) {
                Some(owner) => {
                    owner.dependents.insert(uid.to_string());
                }
                None => {
                    let owner = Node {
                        identity: Identity::of_owner(reference, namespace),
                        owners: Vec::new(),
                        dependents: HashSet::from([uid.to_string()]),
                        being_deleted: false,
                        deleting_dependents: false,
                        observed: false,
                        finalizers: Vec::new(),
                    };
                    self.nodes.insert(reference.uid.clone(), owner);
                    out.delete.push(reference.uid.clone());
                }
            }
        }
    }

    /// Upstream `processTransitions`.
    fn transitions(
        &mut self,
        uid: &str,
        was_orphaning: bool,
        was_foreground: bool,
        out: &mut Enqueue,
    ) {
        let Some(node) = self.nodes.get_mut(uid) else {
            return;
        };
        if node.waits_for(ORPHAN_FINALIZER) && !was_orphaning {
            out.orphan.push(uid.to_string());
            return;
        }
        if node.waits_for(FOREGROUND_FINALIZER) && !was_foreground {
            node.deleting_dependents = true;
            out.delete.extend(node.dependents.iter().cloned());
            out.delete.push(uid.to_string());
        }
    }

    fn delete(&mut self, identity: &Identity, virtual_: bool, out: &mut Enqueue) {
        let Some(existing) = self.nodes.get(&identity.uid) else {
            return;
        };
        if virtual_ && existing.observed && existing.identity.kind != identity.kind {
            // A dependent named this UID with other coordinates; the object
            // that exists stays, its dependents are checked again.
            out.delete.extend(existing.dependents.iter().cloned());
            return;
        }
        let Some(node) = self.nodes.remove(&identity.uid) else {
            return;
        };
        for reference in &node.owners {
            if let Some(owner) = self.nodes.get_mut(&reference.uid) {
                owner.dependents.remove(&identity.uid);
                if owner.deleting_dependents {
                    out.delete.push(reference.uid.clone());
                }
            }
        }
        out.delete.extend(node.dependents);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, name: &str, uid: &str) -> Identity {
        Identity {
            api_version: if kind == "Pod" { "v1" } else { "apps/v1" }.into(),
            kind: kind.into(),
            namespace: "ns".into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    fn owner_ref(kind: &str, name: &str, uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: name.into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn seen(
        identity: Identity,
        owners: Vec<OwnerReference>,
        deleting: bool,
        finalizers: &[&str],
    ) -> GraphEvent {
        GraphEvent::Upsert(Observed {
            identity,
            owners,
            deleting,
            finalizers: finalizers.iter().map(|f| f.to_string()).collect(),
        })
    }

    #[test]
    fn unknown_owners_become_virtual_and_are_checked() {
        let mut g = Graph::new();
        let out = g.process(seen(
            id("Pod", "p", "p1"),
            vec![owner_ref("ReplicaSet", "rs", "rs1", true)],
            false,
            &[],
        ));
        assert_eq!(out.delete, ["rs1"]);
        assert!(!g.node("rs1").unwrap().observed);
        assert_eq!(g.node("rs1").unwrap().identity.namespace, "ns");
        // The owner shows up: no longer virtual, nothing to check.
        let out = g.process(seen(id("ReplicaSet", "rs", "rs1"), vec![], false, &[]));
        assert_eq!(out, Enqueue::default());
        assert!(g.node("rs1").unwrap().observed);
        assert_eq!(g.dependents("rs1"), [id("Pod", "p", "p1")]);
    }

    #[test]
    fn deleting_an_owner_queues_its_dependents() {
        let mut g = Graph::new();
        g.process(seen(id("ReplicaSet", "rs", "rs1"), vec![], false, &[]));
        g.process(seen(
            id("Pod", "p", "p1"),
            vec![owner_ref("ReplicaSet", "rs", "rs1", true)],
            false,
            &[],
        ));
        let out = g.process(GraphEvent::Delete {
            identity: id("ReplicaSet", "rs", "rs1"),
            virtual_: false,
        });
        assert_eq!(out.delete, ["p1"]);
        assert!(g.node("rs1").is_none());
        // A virtual delete of something unknown is ignored.
        let out = g.process(GraphEvent::Delete {
            identity: id("ReplicaSet", "x", "nope"),
            virtual_: true,
        });
        assert_eq!(out, Enqueue::default());
    }

    #[test]
    fn foreground_and_orphan_transitions_fire_once() {
        let mut g = Graph::new();
        g.process(seen(id("Deployment", "d", "d1"), vec![], false, &[]));
        g.process(seen(
            id("ReplicaSet", "rs", "rs1"),
            vec![owner_ref("Deployment", "d", "d1", true)],
            false,
            &[],
        ));
        let out = g.process(seen(
            id("Deployment", "d", "d1"),
            vec![],
            true,
            &[FOREGROUND_FINALIZER],
        ));
        assert_eq!(out.delete, ["rs1", "d1"]);
        assert!(g.node("d1").unwrap().deleting_dependents);
        assert_eq!(g.blocking_dependents("d1"), [("rs1".to_string(), false)]);
        let again = g.process(seen(
            id("Deployment", "d", "d1"),
            vec![],
            true,
            &[FOREGROUND_FINALIZER],
        ));
        assert_eq!(again, Enqueue::default());
        // The dependent goes: the waiting owner is checked again.
        let out = g.process(GraphEvent::Delete {
            identity: id("ReplicaSet", "rs", "rs1"),
            virtual_: false,
        });
        assert_eq!(out.delete, ["d1"]);

        g.process(seen(id("Deployment", "e", "e1"), vec![], false, &[]));
        let out = g.process(seen(
            id("Deployment", "e", "e1"),
            vec![],
            true,
            &[ORPHAN_FINALIZER],
        ));
        assert_eq!(out.orphan, ["e1"]);
    }

    #[test]
    fn removed_or_unblocked_references_wake_a_waiting_owner() {
        let mut g = Graph::new();
        g.process(seen(
            id("Deployment", "d", "d1"),
            vec![],
            true,
            &[FOREGROUND_FINALIZER],
        ));
        g.process(seen(
            id("ReplicaSet", "rs", "rs1"),
            vec![owner_ref("Deployment", "d", "d1", true)],
            false,
            &[],
        ));
        let out = g.process(seen(
            id("ReplicaSet", "rs", "rs1"),
            vec![owner_ref("Deployment", "d", "d1", false)],
            false,
            &[],
        ));
        assert_eq!(out.delete, ["d1"]);
        assert!(g.blocking_dependents("d1").is_empty());
        let out = g.process(seen(id("ReplicaSet", "rs", "rs1"), vec![], false, &[]));
        assert!(out.delete.is_empty());
        assert!(g.dependents("d1").is_empty());
    }

    #[test]
    fn cycles_do_not_loop() {
        let mut g = Graph::new();
        g.process(seen(
            id("ConfigMap", "a", "a"),
            vec![owner_ref("ConfigMap", "b", "b", true)],
            false,
            &[],
        ));
        g.process(seen(
            id("ConfigMap", "b", "b"),
            vec![owner_ref("ConfigMap", "a", "a", true)],
            false,
            &[],
        ));
        let out = g.process(seen(
            id("ConfigMap", "a", "a"),
            vec![owner_ref("ConfigMap", "b", "b", true)],
            true,
            &[FOREGROUND_FINALIZER],
        ));
        assert_eq!(out.delete, ["b", "a"]);
        assert_eq!(g.blocking_dependents("a"), [("b".to_string(), false)]);
        assert_eq!(g.len(), 2);
    }
}
