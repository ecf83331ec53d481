//! Writing a [`Ruleset`] as one `nft -f -` transaction.
//!
//! - [`full`] replaces the table: declares everything, flushes every rule,
//!   adds all rules and elements again and deletes what the kernel still has
//!   but the ruleset no longer needs. Used for the first sync, after a
//!   failure, when the table went missing, and periodically.
//! - [`partial`] writes only the difference to what the previous successful
//!   sync wrote: new and changed chains, added, removed and
//!   re-targeted map elements, new affinity sets, and deletions. A change to
//!   one Service therefore costs the kernel a few chains however many
//!   Services exist (a full rewrite of 2,000 Services takes seconds).
//!
//! nft resolves names as it reads, so both write in the same order:
//! declarations, rules, elements, then deletions (which only succeed once
//! nothing in the transaction refers to the object any more).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::service::{MapName, ServiceRules};
use super::{
    BASE_CHAINS, Existing, HELPER_CHAINS, PartChange, Ruleset, TABLE, collections, family_keyword,
};
use crate::model::ServicePortName;

/// Elements per `add element` line, so no line grows without bound.
const ELEMENTS_PER_LINE: usize = 1000;

struct Script {
    family: &'static str,
    out: String,
}

impl Script {
    fn new(rules: &Ruleset) -> Script {
        Script {
            family: family_keyword(rules.family),
            out: String::with_capacity(4096),
        }
    }

    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        let _ = self.out.write_fmt(args);
        self.out.push('\n');
    }

    fn add_chain(&mut self, name: &str) {
        let fam = self.family;
        self.line(format_args!("add chain {fam} {TABLE} {name}"));
    }

    fn flush_chain(&mut self, name: &str) {
        let fam = self.family;
        self.line(format_args!("flush chain {fam} {TABLE} {name}"));
    }

    fn delete(&mut self, kind: &str, name: &str) {
        let fam = self.family;
        self.line(format_args!("delete {kind} {fam} {TABLE} {name}"));
    }

    fn rules(&mut self, chain: &str, rules: &[String]) {
        let fam = self.family;
        for rule in rules {
            self.line(format_args!("add rule {fam} {TABLE} {chain} {rule}"));
        }
    }

    fn affinity_set(&mut self, name: &str, timeout: u32, rules: &Ruleset) {
        let fam = self.family;
        let addr = super::addr_type(rules.family);
        self.line(format_args!(
            "add set {fam} {TABLE} {name} {{ type {addr} ; flags dynamic,timeout ; timeout {timeout}s ; }}"
        ));
    }

    /// `add element` (or `delete element`) lines for `items`, chunked.
    fn elements(&mut self, verb: &str, collection: &str, items: &[String]) {
        let fam = self.family;
        for chunk in items.chunks(ELEMENTS_PER_LINE) {
            self.line(format_args!(
                "{verb} element {fam} {TABLE} {collection} {{ {} }}",
                chunk.join(", ")
            ));
        }
    }

    fn finish(mut self) -> String {
        // A trailing newline keeps `nft -f -` happy on every version.
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out
    }
}

/// One element as nft writes it: `key : verdict` in a map, `key` in a set
/// (empty verdict).
fn element(key: &str, value: &str) -> String {
    if value.is_empty() {
        key.to_string()
    } else {
        format!("{key} : {value}")
    }
}

/// The transaction replacing the whole table with `rules`; `existing` lists
/// what the kernel has now, so stale chains and sets are deleted.
pub fn full(rules: &Ruleset, existing: &Existing) -> String {
    let mut s = Script::new(rules);
    let fam = s.family;
    s.line(format_args!(
        "add table {fam} {TABLE} {{ comment \"rules for kube-proxy\" ; }}"
    ));
    s.line(format_args!("flush table {fam} {TABLE}"));
    for (name, hook) in BASE_CHAINS {
        s.line(format_args!("add chain {fam} {TABLE} {name} {{ {hook} }}"));
    }
    for name in HELPER_CHAINS {
        s.add_chain(name);
    }
    let parts: Vec<&ServiceRules> = rules.services.values().map(|r| &r.rules).collect();
    let mut chains = BTreeSet::new();
    for (name, _) in parts.iter().flat_map(|p| &p.chains) {
        if chains.insert(name.as_str()) {
            s.add_chain(name);
        }
    }
    // Affinity sets are never flushed: they hold the clients' memory.
    let mut affinity = BTreeSet::new();
    for (name, timeout) in parts.iter().flat_map(|p| &p.affinity_sets) {
        if affinity.insert(name.as_str()) {
            s.affinity_set(name, *timeout, rules);
        }
    }
    let collections = collections(rules.family);
    for (kind, name, spec) in &collections {
        s.line(format_args!("add {kind} {fam} {TABLE} {name} {{ {spec} }}"));
        s.line(format_args!("flush {kind} {fam} {TABLE} {name}"));
    }
    for (chain, rule) in &rules.fixed_rules {
        s.line(format_args!("add rule {fam} {TABLE} {chain} {rule}"));
    }
    for (chain, chain_rules) in parts.iter().flat_map(|p| &p.chains) {
        s.rules(chain, chain_rules);
    }
    let cluster_ips: Vec<String> = rules.cluster_ips().into_iter().map(String::from).collect();
    s.elements("add", "cluster-ips", &cluster_ips);
    // Only the owner's elements of each key (see `Ruleset::owner`), keyed
    // per map, so a key claimed twice is written once.
    let mut elements: BTreeMap<MapName, BTreeMap<&str, &str>> = BTreeMap::new();
    for (name, part) in &rules.services {
        for (map, key, value) in &part.rules.elements {
            if rules.owner(key) == Some(name) {
                elements.entry(map).or_default().insert(key, value);
            }
        }
    }
    for (map, entries) in &elements {
        let items: Vec<String> = entries.iter().map(|(k, v)| element(k, v)).collect();
        s.elements("add", map, &items);
    }
    // Stale objects last: nothing refers to them any more in this
    // transaction (rules were flushed, maps refilled).
    let fixed: BTreeSet<&str> = BASE_CHAINS
        .iter()
        .map(|(name, _)| *name)
        .chain(HELPER_CHAINS.iter().copied())
        .collect();
    for chain in &existing.chains {
        if !fixed.contains(chain.as_str()) && !chains.contains(chain.as_str()) {
            s.delete("chain", chain);
        }
    }
    let is_collection =
        |kind: &str, name: &str| collections.iter().any(|(k, n, _)| *k == kind && *n == name);
    for set in &existing.sets {
        if !affinity.contains(set.as_str()) && !is_collection("set", set) {
            s.delete("set", set);
        }
    }
    for map in &existing.maps {
        if !is_collection("map", map) {
            s.delete("map", map);
        }
    }
    s.finish()
}

/// The sections of a partial transaction, filled Service by Service and
/// written in an order nft accepts.
#[derive(Default)]
struct Delta<'a> {
    new_chains: Vec<&'a str>,
    new_sets: Vec<(&'a str, u32)>,
    /// Chains to (re)write: (name, rules, whether to flush first).
    chains: Vec<(&'a str, &'a [String], bool)>,
    /// Keys to delete, per map.
    removed_elements: BTreeMap<MapName, BTreeSet<String>>,
    /// Key -> verdict to add, per map; a key claimed twice is written once.
    added_elements: BTreeMap<MapName, BTreeMap<String, String>>,
    stale_chains: Vec<&'a str>,
    stale_sets: Vec<&'a str>,
}

impl<'a> Delta<'a> {
    /// Adds what turns `old` into `new` (either may be empty).
    fn service(&mut self, old: &'a ServiceRules, new: &'a ServiceRules) {
        for (name, rules) in &new.chains {
            match old.chain(name) {
                Some(before) if before == rules => {}
                Some(_) => self.chains.push((name, rules, true)),
                None => {
                    self.new_chains.push(name);
                    self.chains.push((name, rules, false));
                }
            }
        }
        for (name, _) in &old.chains {
            if new.chain(name).is_none() {
                self.stale_chains.push(name);
            }
        }
        for (name, timeout) in &new.affinity_sets {
            // Re-declaring a set with another timeout updates it in place.
            if old.affinity_set(name) != Some(*timeout) {
                self.new_sets.push((name, *timeout));
            }
        }
        for (name, _) in &old.affinity_sets {
            if new.affinity_set(name).is_none() {
                self.stale_sets.push(name);
            }
        }
    }

    /// Adds what turns the elements of `key` in `before` into those in
    /// `after` (each: map -> verdict). A re-targeted element is deleted and
    /// added again: nft has no "replace element".
    fn key(
        &mut self,
        key: &str,
        before: &BTreeMap<MapName, &str>,
        after: &BTreeMap<MapName, &str>,
    ) {
        for (map, value) in before {
            if after.get(map) != Some(value) {
                self.removed_elements
                    .entry(map)
                    .or_default()
                    .insert(key.to_string());
            }
        }
        for (map, value) in after {
            if before.get(map) != Some(value) {
                self.added_elements
                    .entry(map)
                    .or_default()
                    .insert(key.to_string(), value.to_string());
            }
        }
    }
}

/// The elements of `key` that `owner` (the key's owning part, if any)
/// puts into the table: map -> verdict, the last of a map winning (one
/// port listing an external IP twice gives one element, not a transaction
/// nft refuses).
fn elements_of<'a>(owner: Option<&'a ServiceRules>, key: &str) -> BTreeMap<MapName, &'a str> {
    let mut out = BTreeMap::new();
    for (map, k, value) in owner.map(|o| o.elements.as_slice()).unwrap_or_default() {
        if k == key {
            out.insert(*map, value.as_str());
        }
    }
    out
}

/// The fixed chains whose rules differ between `prev` and `next` (the
/// NodePort match follows the node's IPs), with `next`'s rules.
fn changed_fixed_chains(prev: &Ruleset, next: &Ruleset) -> Vec<(&'static str, Vec<String>)> {
    let by_chain = |rules: &Ruleset| {
        let mut out: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for (chain, rule) in &rules.fixed_rules {
            out.entry(chain).or_default().push(rule.clone());
        }
        out
    };
    let (old, new) = (by_chain(prev), by_chain(next));
    let names: BTreeSet<&'static str> = old.keys().chain(new.keys()).copied().collect();
    names
        .into_iter()
        .filter(|name| old.get(name) != new.get(name))
        .map(|name| (name, new.get(name).cloned().unwrap_or_default()))
        .collect()
}

/// The transaction turning `prev` (what the last successful sync wrote) into
/// `next`; empty when nothing differs. Both must be for the same family.
/// Service ports whose part `next` reused from `prev` are skipped without
/// looking at them; fixed chains whose rules changed are rewritten.
pub fn partial<'a>(prev: &'a Ruleset, next: &'a Ruleset) -> String {
    static NOTHING: std::sync::LazyLock<ServiceRules> =
        std::sync::LazyLock::new(ServiceRules::default);
    let mut delta = Delta::default();
    let fixed = changed_fixed_chains(prev, next);
    let mut changed = !fixed.is_empty();
    // Map keys a changed part claims (or claimed): their owner may have
    // changed, or its elements.
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for (name, part) in &next.services {
        match prev.services.get(name) {
            Some(before) if std::sync::Arc::ptr_eq(before, part) => {}
            Some(before) => {
                changed = true;
                delta.service(&before.rules, &part.rules);
                keys.extend(before.rules.elements.iter().map(|(_, k, _)| k.as_str()));
                keys.extend(part.rules.elements.iter().map(|(_, k, _)| k.as_str()));
            }
            None => {
                changed = true;
                delta.service(&NOTHING, &part.rules);
                keys.extend(part.rules.elements.iter().map(|(_, k, _)| k.as_str()));
            }
        }
    }
    for (name, before) in &prev.services {
        if !next.services.contains_key(name) {
            changed = true;
            delta.service(&before.rules, &NOTHING);
            keys.extend(before.rules.elements.iter().map(|(_, k, _)| k.as_str()));
        }
    }
    if !changed {
        return String::new();
    }
    let owned = |rules: &'a Ruleset, key: &str| {
        let owner = rules.owner(key).and_then(|n| rules.services.get(n));
        elements_of(owner.map(|r| &r.rules), key)
    };
    for key in keys {
        delta.key(key, &owned(prev, key), &owned(next, key));
    }
    let (old_ips, new_ips) = (prev.cluster_ips(), next.cluster_ips());
    write_delta(next, &fixed, &delta, &old_ips, &new_ips)
}

/// The transaction for the Service parts that changed (from
/// [`super::update_services`]) of the table `rules` (after the change):
/// only those parts are looked at. Empty when nothing differs.
pub fn partial_services(rules: &Ruleset, changes: &[PartChange]) -> String {
    static NOTHING: std::sync::LazyLock<ServiceRules> =
        std::sync::LazyLock::new(ServiceRules::default);
    let mut delta = Delta::default();
    // Ports of one Service share its cluster IP, and the changed Services
    // are compared as a whole, so an IP moving between ports stays.
    let (mut old_ips, mut new_ips) = (BTreeSet::new(), BTreeSet::new());
    let mut changed = false;
    // The changed ports as they were, and the map keys they claim(ed).
    let mut was: BTreeMap<&ServicePortName, &ServiceRules> = BTreeMap::new();
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for (before, after) in changes {
        let old = before.as_ref().map_or(&*NOTHING, |r| &r.rules);
        let new = after.as_ref().map_or(&*NOTHING, |r| &r.rules);
        if let Some(b) = before {
            old_ips.insert(old.cluster_ip.as_str());
            was.insert(&b.service.name, old);
        }
        if let Some(a) = after {
            new_ips.insert(new.cluster_ip.as_str());
            // A port that is new: it had no claims before.
            was.entry(&a.service.name).or_insert(&*NOTHING);
        }
        match (before, after) {
            (Some(b), Some(a)) if std::sync::Arc::ptr_eq(b, a) => {}
            _ => {
                changed = true;
                delta.service(old, new);
                keys.extend(old.elements.iter().map(|(_, k, _)| k.as_str()));
                keys.extend(new.elements.iter().map(|(_, k, _)| k.as_str()));
            }
        }
    }
    if !changed {
        return String::new();
    }
    // Each touched key's owner before the change: the claimants now, with
    // the changed ports as they were; an unchanged claimant's part is the
    // same before and after.
    let mut was_claims: BTreeMap<&str, Vec<super::Claim>> = BTreeMap::new();
    for (name, part) in &was {
        for (key, claim) in super::claims_of(name, part) {
            was_claims.entry(key).or_default().push(claim);
        }
    }
    for key in keys {
        let unchanged = rules
            .claims
            .get(key)
            .into_iter()
            .flatten()
            .filter(|(_, n)| !was.contains_key(n))
            .cloned();
        let changed_then = was_claims.get(key).into_iter().flatten().cloned();
        let old_owner = unchanged.chain(changed_then).min().map(|(_, n)| n);
        let old_rules = old_owner.as_ref().and_then(|n| {
            was.get(n)
                .copied()
                .or_else(|| rules.services.get(n).map(|r| &r.rules))
        });
        let new_rules = rules
            .owner(key)
            .and_then(|n| rules.services.get(n))
            .map(|r| &r.rules);
        delta.key(
            key,
            &elements_of(old_rules, key),
            &elements_of(new_rules, key),
        );
    }
    write_delta(rules, &[], &delta, &old_ips, &new_ips)
}

/// Writes a partial transaction in an order nft accepts.
fn write_delta(
    next: &Ruleset,
    fixed: &[(&'static str, Vec<String>)],
    delta: &Delta<'_>,
    old_ips: &BTreeSet<&str>,
    new_ips: &BTreeSet<&str>,
) -> String {
    let removed_ips: Vec<String> = old_ips
        .difference(new_ips)
        .map(|ip| ip.to_string())
        .collect();
    let added_ips: Vec<String> = new_ips
        .difference(old_ips)
        .map(|ip| ip.to_string())
        .collect();

    let mut s = Script::new(next);
    for name in &delta.new_chains {
        s.add_chain(name);
    }
    for (name, timeout) in &delta.new_sets {
        s.affinity_set(name, *timeout, next);
    }
    for (name, rules) in fixed {
        s.flush_chain(name);
        s.rules(name, rules);
    }
    for (name, rules, flush) in &delta.chains {
        if *flush {
            s.flush_chain(name);
        }
        s.rules(name, rules);
    }
    s.elements("delete", "cluster-ips", &removed_ips);
    for (map, keys) in &delta.removed_elements {
        let keys: Vec<String> = keys.iter().cloned().collect();
        s.elements("delete", map, &keys);
    }
    s.elements("add", "cluster-ips", &added_ips);
    for (map, items) in &delta.added_elements {
        let items: Vec<String> = items.iter().map(|(k, v)| element(k, v)).collect();
        s.elements("add", map, &items);
    }
    // Stale chains: flushed first (they may jump to each other), then
    // deleted; stale affinity sets once no rule refers to them.
    for name in &delta.stale_chains {
        s.flush_chain(name);
    }
    for name in &delta.stale_chains {
        s.delete("chain", name);
    }
    for name in &delta.stale_sets {
        s.delete("set", name);
    }
    s.finish()
}
