//! Which keys a request covers: everything under a prefix ending in `/`,
//! or exactly one key.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use super::object::CachedObject;

/// The keys a LIST or WATCH covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyScope {
    /// Every key starting with this prefix (empty or ending in `/`).
    Prefix(String),
    /// Exactly this key (a request prefix not ending in `/`).
    Exact(String),
}

impl KeyScope {
    /// `pods/` and `pods/default/` are prefixes; `pods/default/web` is one key.
    pub fn new(prefix: &str) -> KeyScope {
        if prefix.is_empty() || prefix.ends_with('/') {
            KeyScope::Prefix(prefix.to_string())
        } else {
            KeyScope::Exact(prefix.to_string())
        }
    }

    /// Whether `key` is covered.
    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeyScope::Prefix(p) => key.starts_with(p.as_str()),
            KeyScope::Exact(k) => key == k,
        }
    }

    /// The covered objects of `map` in key order, strictly after
    /// `start_after` if given.
    pub fn range<'a>(
        &'a self,
        map: &'a BTreeMap<String, Arc<CachedObject>>,
        start_after: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a Arc<CachedObject>> + 'a> {
        match self {
            KeyScope::Prefix(p) => {
                let lower = match start_after {
                    Some(after) if after >= p.as_str() => Bound::Excluded(after),
                    _ => Bound::Included(p.as_str()),
                };
                Box::new(
                    map.range::<str, _>((lower, Bound::Unbounded))
                        .take_while(move |(k, _)| k.starts_with(p.as_str()))
                        .map(|(_, v)| v),
                )
            }
            KeyScope::Exact(k) => {
                let skipped = start_after.is_some_and(|after| after >= k.as_str());
                Box::new(map.get(k.as_str()).filter(|_| !skipped).into_iter())
            }
        }
    }
}
