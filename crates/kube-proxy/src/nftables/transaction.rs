//! Writing a [`Ruleset`] as one `nft -f -` transaction.
//!
//! - [`full`] replaces the table: declares everything, flushes every rule,
//!   adds all rules and elements again and deletes what the kernel still has
//!   but the ruleset no longer needs. Used for the first sync, after a
//!   failure, when the table went missing, and periodically.
//! - [`partial`] writes only the difference to what the previous successful
//!   sync wrote ([`Written`]): new and changed chains, added, removed and
//!   re-targeted map elements, new affinity sets, and deletions. A change to
//!   one Service therefore costs the kernel a few chains however many
//!   Services exist (a full rewrite of 2,000 Services takes seconds).
//!
//! nft resolves names as it reads, so both write in the same order:
//! declarations, rules, elements, then deletions (which only succeed once
//! nothing in the transaction refers to the object any more).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{
    BASE_CHAINS, Collection, Existing, HELPER_CHAINS, Ruleset, TABLE, Written, family_keyword,
};

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
    for name in rules.chains.keys() {
        s.add_chain(name);
    }
    // Affinity sets are never flushed: they hold the clients' memory.
    for (name, timeout) in &rules.affinity_sets {
        s.affinity_set(name, *timeout, rules);
    }
    for c in &rules.collections {
        let (kind, name, spec) = (c.kind, c.name, &c.spec);
        s.line(format_args!("add {kind} {fam} {TABLE} {name} {{ {spec} }}"));
        s.line(format_args!("flush {kind} {fam} {TABLE} {name}"));
    }
    for (chain, rule) in &rules.fixed_rules {
        s.line(format_args!("add rule {fam} {TABLE} {chain} {rule}"));
    }
    for (chain, chain_rules) in &rules.chains {
        s.rules(chain, chain_rules);
    }
    for c in &rules.collections {
        let items: Vec<String> = c
            .elements
            .iter()
            .map(|(k, v)| Collection::element_text(k, v))
            .collect();
        s.elements("add", c.name, &items);
    }
    // Stale objects last: nothing refers to them any more in this
    // transaction (rules were flushed, maps refilled).
    let fixed: BTreeSet<&str> = BASE_CHAINS
        .iter()
        .map(|(name, _)| *name)
        .chain(HELPER_CHAINS.iter().copied())
        .collect();
    for chain in &existing.chains {
        if !fixed.contains(chain.as_str()) && !rules.chains.contains_key(chain) {
            s.delete("chain", chain);
        }
    }
    let is_collection = |kind: &str, name: &str| {
        rules
            .collections
            .iter()
            .any(|c| c.kind == kind && c.name == name)
    };
    for set in &existing.sets {
        if !rules.affinity_sets.contains_key(set) && !is_collection("set", set) {
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

/// The transaction turning `prev` (what the last successful sync wrote) into
/// `next`; empty when nothing differs. Both must be for the same family and
/// configuration (the fixed chains are not compared).
pub fn partial(prev: &Written, next: &Ruleset) -> String {
    let mut s = Script::new(next);
    // Declarations: new chains, new affinity sets (and changed timeouts:
    // `add set` updates the timeout of an existing set).
    for name in next.chains.keys() {
        if !prev.chains.contains_key(name) {
            s.add_chain(name);
        }
    }
    for (name, timeout) in &next.affinity_sets {
        if prev.affinity_sets.get(name) != Some(timeout) {
            s.affinity_set(name, *timeout, next);
        }
    }
    // Rules of new and changed chains.
    for (name, rules) in &next.chains {
        match prev.chains.get(name) {
            Some(old) if *old == crate::plan::fingerprint(rules) => {}
            Some(_) => {
                s.flush_chain(name);
                s.rules(name, rules);
            }
            None => s.rules(name, rules),
        }
    }
    // Elements: removed keys and re-targeted ones are deleted, then added
    // and re-targeted ones added (nft has no "replace element").
    for (old, new) in prev.collections.iter().zip(&next.collections) {
        debug_assert_eq!(old.name, new.name, "collections in the same order");
        let removed: Vec<String> = old
            .elements
            .iter()
            .filter(|(k, v)| new.elements.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        let added: Vec<String> = new
            .elements
            .iter()
            .filter(|(k, v)| old.elements.get(*k) != Some(*v))
            .map(|(k, v)| Collection::element_text(k, v))
            .collect();
        s.elements("delete", new.name, &removed);
        s.elements("add", new.name, &added);
    }
    // Stale chains: flushed first (they may jump to each other), then
    // deleted; stale affinity sets once no rule refers to them.
    let stale: Vec<&String> = prev
        .chains
        .keys()
        .filter(|name| !next.chains.contains_key(*name))
        .collect();
    for name in &stale {
        s.flush_chain(name);
    }
    for name in &stale {
        s.delete("chain", name);
    }
    for name in prev.affinity_sets.keys() {
        if !next.affinity_sets.contains_key(name) {
            s.delete("set", name);
        }
    }
    s.finish()
}
