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
use crate::auth::{UserInfo, service_account_user};
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
                !ns.is_empty() && user.name == service_account_user(ns, &self.name)
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
    fingerprint: Vec<(usize, i64)>,
    revisions: Vec<i64>,
    /// ClusterRoles by name.
    pub cluster_roles: HashMap<String, ClusterRoleEntry>,
    /// Effective rules of each ClusterRole (aggregation resolved).
    pub effective: HashMap<String, Arc<Vec<PolicyRule>>>,
    /// Roles by (namespace, name).
    pub roles: HashMap<(String, String), Arc<Vec<PolicyRule>>>,
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
    fn build(reg: &Registry, revisions: Vec<i64>, fingerprint: Vec<(usize, i64)>) -> Self {
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
                s.roles.insert(
                    (o.namespace.clone(), o.name.clone()),
                    Arc::new(PolicyRule::list_from(&v)),
                );
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

    fn role_rules(&self, b: &Binding) -> Arc<Vec<PolicyRule>> {
        match b.role_kind.as_str() {
            "ClusterRole" => self.effective.get(&b.role_name).cloned(),
            "Role" => self
                .roles
                .get(&(b.namespace.clone(), b.role_name.clone()))
                .cloned(),
            _ => None,
        }
        .unwrap_or_default()
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
                && f(b, s, &self.role_rules(b))
            {
                return;
            }
        }
        if namespace.is_empty() {
            return;
        }
        for b in self.bindings.get(namespace).into_iter().flatten() {
            if let Some(s) = b.subject_for(user)
                && f(b, s, &self.role_rules(b))
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
        let caches: Vec<Option<&Arc<WatchCache>>> = CACHES.iter().map(|c| reg.cache(c)).collect();
        let revisions: Vec<i64> = caches
            .iter()
            .map(|c| c.map(|c| c.revision()).unwrap_or(0))
            .collect();
        let current = self.snapshot.lock().ok().and_then(|s| s.clone());
        if let Some(s) = &current
            && s.revisions == revisions
        {
            return s.clone();
        }
        // A revision moved (possibly only a progress notification): compare
        // what the caches hold before re-parsing anything.
        let fingerprint: Vec<(usize, i64)> = caches
            .iter()
            .zip(CACHES)
            .map(|(c, name)| match c {
                Some(c) => {
                    let list = items(c, name);
                    (list.len(), list.iter().map(|o| o.resource_version).sum())
                }
                None => (0, 0),
            })
            .collect();
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
