//! Sets of field paths (upstream's fieldpath.Set) as a trie: the paths
//! that end at this node's children (`members`) and the subtrees below
//! them (`children`). A path can be a member and have children at once
//! (a list item owned as a whole and field by field).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::path::{Path, PathElement};

/// A set of paths.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    /// Never holds an empty set.
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    /// The empty set.
    pub fn new() -> Self {
        Set::default()
    }

    /// Whether no path is in the set.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path (the empty path is ignored).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            // Clones the element only when the node is new (most inserts
            // share their prefix with earlier ones).
            [first, rest @ ..] => match self.children.get_mut(first) {
                Some(child) => child.insert(rest),
                None => self.children.entry(first.clone()).or_default().insert(rest),
            },
        }
    }

    /// Whether the path is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether `pe` is a member at the top level.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// The paths below `pe` (relative to it).
    pub fn with_prefix(&self, pe: &PathElement) -> Option<&Set> {
        self.children.get(pe)
    }

    /// Paths in either set.
    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Paths in `self` that are not in `other` (a member of `other` does
    /// not remove the paths below it; see [`Set::recursive_difference`]).
    pub fn difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                children.insert(pe.clone(), d);
            }
        }
        Set { members, children }
    }

    /// Paths in `self` that are neither in `other` nor below a member of
    /// `other`.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let d = match other.children.get(pe) {
                Some(o) => c.recursive_difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                children.insert(pe.clone(), d);
            }
        }
        Set { members, children }
    }

    /// [`Set::union`] in place, taking `other`'s nodes instead of cloning
    /// them (every write computes a few of these; cloning the tries was
    /// a visible part of a create's CPU).
    pub fn merge(&mut self, other: Set) {
        self.members.extend(other.members);
        for (pe, c) in other.children {
            match self.children.entry(pe) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(c),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(c);
                }
            }
        }
    }

    /// [`Set::difference`] in place.
    pub fn remove(&mut self, other: &Set) {
        self.members.retain(|m| !other.members.contains(m));
        self.children.retain(|pe, c| {
            if let Some(o) = other.children.get(pe) {
                c.remove(o);
            }
            !c.is_empty()
        });
    }

    /// [`Set::recursive_difference`] in place.
    pub fn remove_recursive(&mut self, other: &Set) {
        self.members.retain(|m| !other.members.contains(m));
        self.children.retain(|pe, c| {
            if other.members.contains(pe) {
                return false;
            }
            if let Some(o) = other.children.get(pe) {
                c.remove_recursive(o);
            }
            !c.is_empty()
        });
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &Set) -> Set {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    children.insert(pe.clone(), i);
                }
            }
        }
        Set { members, children }
    }

    /// Every path, members of a node before the paths below it (upstream's
    /// iteration order, which conflict messages follow).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Iterates the top-level members.
    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// Iterates the top-level children.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &Set)> {
        self.children.iter()
    }

    /// Makes `pe` a member (used to mark named fields, see
    /// `typed::ensure_named_fields_are_members`).
    pub(crate) fn insert_member(&mut self, pe: PathElement) {
        self.members.insert(pe);
    }

    /// Replaces the children below `pe`.
    pub(crate) fn set_child(&mut self, pe: PathElement, set: Set) {
        if set.is_empty() {
            self.children.remove(&pe);
        } else {
            self.children.insert(pe, set);
        }
    }

    /// The `fieldsV1` form: `{"f:spec": {"f:replicas": {}}}`, with `"."`
    /// marking a node that is itself a member and has children.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        // Members and children merged in path element order.
        let mut keys: BTreeSet<&PathElement> = self.members.iter().collect();
        keys.extend(self.children.keys());
        for pe in keys {
            let v = match self.children.get(pe) {
                Some(c) => c.emit(self.members.contains(pe)),
                None => Map::new(),
            };
            out.insert(pe.to_fields_key(), Value::Object(v));
        }
        out
    }

    /// Parses the `fieldsV1` form.
    pub fn from_fields_v1(v: &Value) -> Result<Set, String> {
        let Value::Object(m) = v else {
            return Err("fieldsV1 must be an object".into());
        };
        let mut set = Set::new();
        for (k, child) in m {
            if k == "." {
                continue;
            }
            let pe = PathElement::from_fields_key(k)?;
            let Value::Object(cm) = child else {
                return Err(format!("fieldsV1 entry {k:?} must be an object"));
            };
            if cm.is_empty() || cm.contains_key(".") {
                set.members.insert(pe.clone());
            }
            let sub = Set::from_fields_v1(child)?;
            if !sub.is_empty() {
                set.children.insert(pe, sub);
            }
        }
        Ok(set)
    }
}
