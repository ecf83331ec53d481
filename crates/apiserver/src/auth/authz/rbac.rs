//! RBAC evaluated from memory: a snapshot of every Role, ClusterRole and
//! binding, parsed from the watch caches and rebuilt only when one of the
//! four caches changed. Aggregated ClusterRoles (`aggregationRule`) are
//! resolved in the snapshot, so authorization sees aggregation at once;
//! [`crate::auth::aggregation`] also writes the result into the objects.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use corten_apimachinery::labels::Selector;
use corten_storage::{ListRequest, WatchCache};
use serde_json::Value;

use super::rules::PolicyRule;
use super::{Attributes, Decision};
use crate::auth::{SERVICE_ACCOUNT_USER_PREFIX, UserInfo};
use crate::registry::Registry;

/// A binding's subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (ServiceAccounts).
    pub namespace: String,
}

impl Subject {
    fn applies_to(&self, user: &UserInfo, binding_ns: &str) -> bool {
        match self.kind.as_str() {
            "User" => self.name == user.name,
            "Group" => user.in_group(&self.name),
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    binding_ns
                } else {
                    &self.namespace
                };
                // `system:serviceaccount:<ns>:<name>`, compared in place.
                !ns.is_empty()
                    && user
                        .name
                        .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
                        .and_then(|rest| rest.strip_prefix(ns))
                        .and_then(|rest| rest.strip_prefix(':'))
                        .is_some_and(|n| n == self.name)
            }
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self.kind.as_str() {
            "ServiceAccount" => format!("ServiceAccount \"{}/{}\"", self.namespace, self.name),
            k => format!("{k} {:?}", self.name),
        }
    }
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Clone, Debug)]
pub struct Binding {
    /// Binding name.
    pub name: String,
    /// "" for ClusterRoleBindings.
    pub namespace: String,
    /// `Role` or `ClusterRole`.
    pub role_kind: String,
    /// The role's name.
    pub role_name: String,
    /// Subjects.
    pub subjects: Vec<Subject>,
}

impl Binding {
    fn from_json(v: &Value) -> Self {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let md = v.get("metadata").cloned().unwrap_or(Value::Null);
        let role = v.get("roleRef").cloned().unwrap_or(Value::Null);
        Binding {
            name: s(&md, "name"),
            namespace: s(&md, "namespace"),
            role_kind: s(&role, "kind"),
            role_name: s(&role, "name"),
            subjects: v
                .get("subjects")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|x| Subject {
                            kind: s(x, "kind"),
                            name: s(x, "name"),
                            namespace: s(x, "namespace"),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn subject_for(&self, user: &UserInfo) -> Option<&Subject> {
        self.subjects
            .iter()
            .find(|s| s.applies_to(user, &self.namespace))
    }
}

/// A parsed ClusterRole.
#[derive(Clone, Debug, Default)]
pub struct ClusterRoleEntry {
    /// Its own `rules`.
    pub rules: Vec<PolicyRule>,
    /// Labels (for aggregation selectors).
    pub labels: BTreeMap<String, String>,
    /// `aggregationRule.clusterRoleSelectors`, if any.
    pub aggregation: Option<Vec<Selector>>,
}

/// Everything RBAC needs, parsed once per change.
#[derive(Debug, Default)]
pub struct Snapshot {
    fingerprint: [(usize, i64); 4],
    revisions: [i64; 4],
    /// ClusterRoles by name.
    pub cluster_roles: HashMap<String, ClusterRoleEntry>,
    /// Effective rules of each ClusterRole (aggregation resolved).
    pub effective: HashMap<String, Arc<Vec<PolicyRule>>>,
    /// Roles by namespace, then name (looked up without building a key).
    pub roles: HashMap<String, HashMap<String, Arc<Vec<PolicyRule>>>>,
    /// ClusterRoleBindings.
    pub cluster_bindings: Vec<Binding>,
    /// RoleBindings by namespace.
    pub bindings: HashMap<String, Vec<Binding>>,
}

const CACHES: [&str; 4] = [
    "clusterroles",
    "roles",
    "clusterrolebindings",
    "rolebindings",
];

fn items(cache: &WatchCache, resource: &str) -> Vec<Arc<corten_storage::CachedObject>> {
    cache
        .list(&ListRequest {
            prefix: format!("{resource}/"),
            filter: Default::default(),
            start_after: None,
            limit: None,
        })
        .items
}

fn parse(o: &corten_storage::CachedObject) -> Value {
    serde_json::from_slice(&o.json).unwrap_or(Value::Null)
}

/// Resolves aggregation: an aggregated role's rules are the union of the
/// effective rules of the roles its selectors match.
fn resolve(
    name: &str,
    roles: &HashMap<String, ClusterRoleEntry>,
    visiting: &mut HashSet<String>,
    out: &mut HashMap<String, Arc<Vec<PolicyRule>>>,
) -> Arc<Vec<PolicyRule>> {
    if let Some(r) = out.get(name) {
        return r.clone();
    }
    let Some(entry) = roles.get(name) else {
        return Arc::new(Vec::new());
    };
    let Some(selectors) = &entry.aggregation else {
        let r = Arc::new(entry.rules.clone());
        out.insert(name.to_string(), r.clone());
        return r;
    };
    if !visiting.insert(name.to_string()) {
        return Arc::new(entry.rules.clone());
    }
    let mut rules: Vec<PolicyRule> = Vec::new();
    let mut names: Vec<&String> = roles.keys().collect();
    names.sort();
    for other in names {
        if other == name {
            continue;
        }
        let labels = &roles[other].labels;
        if selectors.iter().any(|s| !s.is_empty() && s.matches(labels)) {
            for r in resolve(other, roles, visiting, out).iter() {
                if !rules.contains(r) {
                    rules.push(r.clone());
                }
            }
        }
    }
    visiting.remove(name);
    let r = Arc::new(rules);
    out.insert(name.to_string(), r.clone());
    r
}

impl Snapshot {
    fn build(reg: &Registry, revisions: [i64; 4], fingerprint: [(usize, i64); 4]) -> Self {
        let mut s = Snapshot {
            fingerprint,
            revisions,
            ..Default::default()
        };
        if let Some(c) = reg.cache("clusterroles") {
            for o in items(c, "clusterroles") {
                let v = parse(&o);
                let aggregation = v
                    .pointer("/aggregationRule/clusterRoleSelectors")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|sel| Selector::from_label_selector(sel).ok())
                            .collect()
                    });
                s.cluster_roles.insert(
                    o.name.clone(),
                    ClusterRoleEntry {
                        rules: PolicyRule::list_from(&v),
                        labels: o.labels.clone(),
                        aggregation,
                    },
                );
            }
        }
        let mut effective = HashMap::new();
        let names: Vec<String> = s.cluster_roles.keys().cloned().collect();
        for n in names {
            resolve(&n, &s.cluster_roles, &mut HashSet::new(), &mut effective);
        }
        s.effective = effective;
        if let Some(c) = reg.cache("roles") {
            for o in items(c, "roles") {
                let v = parse(&o);
                s.roles
                    .entry(o.namespace.clone())
                    .or_default()
                    .insert(o.name.clone(), Arc::new(PolicyRule::list_from(&v)));
            }
        }
        if let Some(c) = reg.cache("clusterrolebindings") {
            for o in items(c, "clusterrolebindings") {
                s.cluster_bindings.push(Binding::from_json(&parse(&o)));
            }
        }
        if let Some(c) = reg.cache("rolebindings") {
            for o in items(c, "rolebindings") {
                let b = Binding::from_json(&parse(&o));
                s.bindings.entry(b.namespace.clone()).or_default().push(b);
            }
        }
        s
    }

    /// The rules of a namespace's Role, if it exists.
    pub fn role(&self, namespace: &str, name: &str) -> Option<&Arc<Vec<PolicyRule>>> {
        self.roles.get(namespace)?.get(name)
    }

    fn role_rules(&self, b: &Binding) -> &[PolicyRule] {
        match b.role_kind.as_str() {
            "ClusterRole" => self.effective.get(&b.role_name),
            "Role" => self.role(&b.namespace, &b.role_name),
            _ => None,
        }
        .map_or(&[], |r| r.as_slice())
    }

    /// Visits each (binding, rules) that applies to `user` in `namespace`
    /// (cluster bindings first); stops when `f` returns true.
    pub fn visit(
        &self,
        user: &UserInfo,
        namespace: &str,
        mut f: impl FnMut(&Binding, &Subject, &[PolicyRule]) -> bool,
    ) {
        for b in &self.cluster_bindings {
            if let Some(s) = b.subject_for(user)
                && f(b, s, self.role_rules(b))
            {
                return;
            }
        }
        if namespace.is_empty() {
            return;
        }
        for b in self.bindings.get(namespace).into_iter().flatten() {
            if let Some(s) = b.subject_for(user)
                && f(b, s, self.role_rules(b))
            {
                return;
            }
        }
    }

    /// Every rule that applies to `user` in `namespace`.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
        let mut out: Vec<PolicyRule> = Vec::new();
        self.visit(user, namespace, |_, _, rules| {
            for r in rules {
                if !out.contains(r) {
                    out.push(r.clone());
                }
            }
            false
        });
        out
    }
}

/// The RBAC authorizer.
#[derive(Debug, Default)]
pub struct Rbac {
    snapshot: Mutex<Option<Arc<Snapshot>>>,
}

impl Rbac {
    /// The current snapshot, rebuilt if a cache changed.
    pub fn snapshot(&self, reg: &Registry) -> Arc<Snapshot> {
        // Asked on every request: fixed-size, no allocation.
        let caches: [Option<&Arc<WatchCache>>; 4] = CACHES.map(|c| reg.cache(c));
        let revisions: [i64; 4] = caches.map(|c| c.map_or(0, |c| c.revision()));
        let current = self.snapshot.lock().ok().and_then(|s| s.clone());
        if let Some(s) = &current
            && s.revisions == revisions
        {
            return s.clone();
        }
        // A revision moved (possibly only a progress notification): compare
        // what the caches hold before re-parsing anything.
        let mut fingerprint = [(0usize, 0i64); 4];
        for ((slot, c), name) in fingerprint.iter_mut().zip(caches).zip(CACHES) {
            if let Some(c) = c {
                let list = items(c, name);
                *slot = (list.len(), list.iter().map(|o| o.resource_version).sum());
            }
        }
        let snap = match current {
            Some(s) if s.fingerprint == fingerprint => Arc::new(Snapshot {
                fingerprint,
                revisions,
                cluster_roles: s.cluster_roles.clone(),
                effective: s.effective.clone(),
                roles: s.roles.clone(),
                cluster_bindings: s.cluster_bindings.clone(),
                bindings: s.bindings.clone(),
            }),
            _ => Arc::new(Snapshot::build(reg, revisions, fingerprint)),
        };
        if let Ok(mut g) = self.snapshot.lock() {
            *g = Some(snap.clone());
        }
        snap
    }

    /// Allows if any bound rule allows; otherwise no opinion.
    pub fn authorize(&self, reg: &Registry, attrs: &Attributes) -> Decision {
        let snap = self.snapshot(reg);
        let mut reason = None;
        snap.visit(&attrs.user, &attrs.namespace, |b, s, rules| {
            if rules.iter().any(|r| r.allows(attrs)) {
                let (kind, role) = (&b.role_kind, &b.role_name);
                reason = Some(if b.namespace.is_empty() {
                    format!(
                        "RBAC: allowed by ClusterRoleBinding {:?} of {kind} {role:?} to {}",
                        b.name,
                        s.describe()
                    )
                } else {
                    format!(
                        "RBAC: allowed by RoleBinding \"{}/{}\" of {kind} {role:?} to {}",
                        b.name,
                        b.namespace,
                        s.describe()
                    )
                });
                return true;
            }
            false
        });
        match reason {
            Some(r) => Decision::Allow(r),
            None => Decision::NoOpinion(String::new()),
        }
    }

    /// The rules that apply to `user` in `namespace` (SelfSubjectRulesReview,
    /// escalation checks).
    pub fn rules_for(&self, reg: &Registry, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
        self.snapshot(reg).rules_for(user, namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_subjects_match_the_user_name() {
        let subject = |ns: &str| Subject {
            kind: "ServiceAccount".into(),
            name: "builder".into(),
            namespace: ns.into(),
        };
        let user = |name: &str| UserInfo {
            name: name.into(),
            ..Default::default()
        };
        let sa = user("system:serviceaccount:ci:builder");
        assert!(subject("ci").applies_to(&sa, ""));
        assert!(subject("").applies_to(&sa, "ci"));
        assert!(!subject("").applies_to(&sa, ""));
        assert!(!subject("c").applies_to(&sa, ""));
        assert!(!subject("ci").applies_to(&user("system:serviceaccount:ci:builder2"), ""));
        assert!(!subject("ci").applies_to(&user("system:serviceaccount:ci-builder"), ""));
        assert!(!subject("ci").applies_to(&user("builder"), ""));
    }
}
