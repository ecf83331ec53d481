//! Classification of requests to a FlowSchema and priority level
//! (upstream's `WithPriorityAndFairness` matching): the FlowSchemas whose
//! priority level exists, in order of `matchingPrecedence` then name; the
//! first whose rules match the request's user and attributes wins.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::flowcontrol::v1::{
    FlowSchema, NonResourcePolicyRule, PolicyRulesWithSubjects, PriorityLevelConfiguration,
    ResourcePolicyRule, Subject,
};

use super::dispatch::{FlowMetrics, Level};

use crate::auth::authz::Attributes;
use crate::registry::Registry;

/// Response header naming the matched FlowSchema's UID.
pub const FLOW_SCHEMA_UID_HEADER: &str = "X-Kubernetes-PF-FlowSchema-UID";
/// Response header naming the matched priority level's UID.
pub const PRIORITY_LEVEL_UID_HEADER: &str = "X-Kubernetes-PF-PriorityLevel-UID";

const SA_PREFIX: &str = "system:serviceaccount:";

/// Upstream's default server concurrency limit (400 + 200 in flight).
const DEFAULT_SERVER_LIMIT: usize = 600;

/// Where a request was classified: what the response headers name and
/// the priority level whose seats it takes. Built once per configuration
/// snapshot and shared, so classifying a request allocates nothing.
#[derive(Debug)]
pub struct Classified {
    /// The matched FlowSchema's UID.
    pub flow_schema_uid: String,
    /// Its priority level's UID.
    pub priority_level_uid: String,
    /// The flow's metric series.
    pub metrics: FlowMetrics,
    /// The priority level, kept across configuration changes.
    pub level: Arc<Level>,
}

/// The configuration in matching order, as of one fingerprint.
struct Snapshot {
    fingerprint: (i64, i64, usize, usize),
    /// Each schema with where it classifies, sorted for matching.
    schemas: Vec<(FlowSchema, Arc<Classified>)>,
}

/// Classifies requests from the watch caches; rebuilds its decoded
/// snapshot only when the FlowSchemas or priority levels changed.
#[derive(Default)]
pub struct Classifier {
    snapshot: Mutex<Option<Arc<Snapshot>>>,
    /// Every priority level seen, by name: its seats and waiters outlive
    /// snapshots.
    levels: Mutex<HashMap<String, Arc<Level>>>,
    /// The server's concurrency limit (`--max-requests-inflight` plus
    /// `--max-mutating-requests-inflight`).
    server_limit: AtomicUsize,
}

fn items(reg: &Registry, resource: &str) -> Vec<serde_json::Value> {
    reg.cached_values(resource, None)
}

impl Classifier {
    /// A value that changes whenever the configuration may have changed.
    pub fn fingerprint(&self, reg: &Registry) -> (i64, i64, usize, usize) {
        let part = |r: &str| {
            reg.cache(r)
                .map(|c| (c.revision(), c.len()))
                .unwrap_or((0, 0))
        };
        let (fr, fl) = part("flowschemas");
        let (pr, pl) = part("prioritylevelconfigurations");
        (fr, pr, fl, pl)
    }

    fn current(&self, reg: &Registry) -> Arc<Snapshot> {
        let fingerprint = self.fingerprint(reg);
        let mut guard = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = guard.as_ref()
            && s.fingerprint == fingerprint
        {
            return s.clone();
        }
        let levels = self.configure_levels(reg);
        let mut schemas: Vec<(FlowSchema, Arc<Classified>)> = items(reg, "flowschemas")
            .into_iter()
            .filter_map(|o| serde_json::from_value::<FlowSchema>(o).ok())
            .filter_map(|fs| {
                let level_name = &fs.spec.as_ref()?.priority_level_configuration.name;
                // A dangling schema classifies nothing.
                let (uid, level) = levels.get(level_name)?;
                let classified = Classified {
                    flow_schema_uid: fs.metadata.uid.clone().unwrap_or_default(),
                    priority_level_uid: uid.clone(),
                    metrics: FlowMetrics::new(
                        fs.metadata.name.as_deref().unwrap_or_default(),
                        level_name,
                    ),
                    level: level.clone(),
                };
                Some((fs, Arc::new(classified)))
            })
            .collect();
        schemas.sort_by(|(a, _), (b, _)| {
            let p = |f: &FlowSchema| f.spec.as_ref().and_then(|s| s.matching_precedence);
            p(a).cmp(&p(b))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
        let s = Arc::new(Snapshot {
            fingerprint,
            schemas,
        });
        *guard = Some(s.clone());
        s
    }

    /// Sets the server's concurrency limit (before serving).
    pub fn set_server_limit(&self, limit: usize) {
        self.server_limit.store(limit, Ordering::Relaxed);
    }

    /// The priority levels by name, with their UIDs, each configured with
    /// its nominal seats.
    fn configure_levels(&self, reg: &Registry) -> HashMap<String, (String, Arc<Level>)> {
        let plcs: Vec<PriorityLevelConfiguration> = items(reg, "prioritylevelconfigurations")
            .into_iter()
            .filter_map(|o| serde_json::from_value(o).ok())
            .collect();
        let shares = |p: &PriorityLevelConfiguration| {
            let spec = p.spec.as_ref();
            let n = match (
                spec.and_then(|s| s.limited.as_ref()),
                spec.and_then(|s| s.exempt.as_ref()),
            ) {
                (Some(l), _) => l.nominal_concurrency_shares.unwrap_or(30),
                (None, Some(e)) => e.nominal_concurrency_shares.unwrap_or(0),
                (None, None) => 0,
            };
            u64::try_from(n).unwrap_or(0)
        };
        let total: u64 = plcs.iter().map(shares).sum();
        let limit = match self.server_limit.load(Ordering::Relaxed) {
            0 => DEFAULT_SERVER_LIMIT,
            n => n,
        };
        let mut known = self.levels.lock().unwrap_or_else(|p| p.into_inner());
        plcs.iter()
            .filter_map(|p| {
                let name = p.metadata.name.clone()?;
                let level = known
                    .entry(name.clone())
                    .or_insert_with(|| Arc::new(Level::new(&name)))
                    .clone();
                level.configure(p, limit, total);
                let uid = p.metadata.uid.clone().unwrap_or_default();
                Some((name, (uid, level)))
            })
            .collect()
    }

    /// The FlowSchema and priority level of a request, or None when no
    /// schema matches (only possible while the mandatory objects are
    /// missing).
    pub fn classify(&self, reg: &Registry, attrs: &Attributes) -> Option<Arc<Classified>> {
        let snapshot = self.current(reg);
        snapshot
            .schemas
            .iter()
            .find(|(fs, _)| matches_schema(fs, attrs))
            .map(|(_, classified)| classified.clone())
    }
}

/// Whether any rule of the schema matches.
pub fn matches_schema(fs: &FlowSchema, attrs: &Attributes) -> bool {
    fs.spec
        .as_ref()
        .and_then(|s| s.rules.as_ref())
        .is_some_and(|rules| rules.iter().any(|r| matches_rule(r, attrs)))
}

fn matches_rule(rule: &PolicyRulesWithSubjects, attrs: &Attributes) -> bool {
    if !rule.subjects.iter().any(|s| matches_subject(s, attrs)) {
        return false;
    }
    if attrs.resource_request {
        rule.resource_rules
            .iter()
            .flatten()
            .any(|r| matches_resource_rule(r, attrs))
    } else {
        rule.non_resource_rules
            .iter()
            .flatten()
            .any(|r| matches_non_resource_rule(r, attrs))
    }
}

fn matches_subject(s: &Subject, attrs: &Attributes) -> bool {
    let user = &attrs.user;
    match s.kind.as_str() {
        "User" => s
            .user
            .as_ref()
            .is_some_and(|u| u.name == "*" || u.name == user.name),
        "Group" => s
            .group
            .as_ref()
            .is_some_and(|g| g.name == "*" || user.groups.contains(&g.name)),
        "ServiceAccount" => s.service_account.as_ref().is_some_and(|sa| {
            let Some(rest) = user.name.strip_prefix(SA_PREFIX) else {
                return false;
            };
            let Some((ns, name)) = rest.split_once(':') else {
                return false;
            };
            ns == sa.namespace && (sa.name == "*" || sa.name == name)
        }),
        _ => false,
    }
}

fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

fn matches_resource_rule(r: &ResourcePolicyRule, attrs: &Attributes) -> bool {
    let resource = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    if !has(&r.verbs, &attrs.verb)
        || !has(&r.api_groups, &attrs.api_group)
        || !has(&r.resources, &resource)
    {
        return false;
    }
    if attrs.namespace.is_empty() {
        r.cluster_scope.unwrap_or(false)
    } else {
        has(
            r.namespaces.as_deref().unwrap_or_default(),
            &attrs.namespace,
        )
    }
}

fn matches_non_resource_rule(r: &NonResourcePolicyRule, attrs: &Attributes) -> bool {
    has(&r.verbs, &attrs.verb)
        && r.non_resource_urls.iter().any(|u| {
            if u == "*" || *u == attrs.path {
                return true;
            }
            // "/apis/*" also matches "/apis".
            u.strip_suffix('*').is_some_and(|prefix| {
                attrs.path.starts_with(prefix) || attrs.path == prefix.trim_end_matches('/')
            })
        })
}

#[cfg(test)]
mod tests {
    use corten_api::flowcontrol::bootstrap;

    use super::*;
    use crate::auth::UserInfo;

    fn schema(name: &str) -> FlowSchema {
        let all = bootstrap::mandatory_flow_schemas()
            .into_iter()
            .chain(bootstrap::suggested_flow_schemas());
        serde_json::from_value(
            all.into_iter()
                .find(|o| o["metadata"]["name"] == name)
                .unwrap(),
        )
        .unwrap()
    }

    fn attrs(
        user: &str,
        groups: &[&str],
        verb: &str,
        path_or_resource: &str,
        ns: &str,
    ) -> Attributes {
        let mut a = Attributes {
            user: UserInfo {
                name: user.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                ..Default::default()
            },
            verb: verb.into(),
            ..Default::default()
        };
        if path_or_resource.starts_with('/') {
            a.path = path_or_resource.into();
        } else {
            a.resource_request = true;
            let (g, r) = path_or_resource
                .split_once(' ')
                .unwrap_or(("", path_or_resource));
            a.api_group = g.into();
            let (r, sub) = r.split_once('/').unwrap_or((r, ""));
            a.resource = r.into();
            a.subresource = sub.into();
            a.namespace = ns.into();
        }
        a
    }

    #[test]
    fn bootstrap_schemas_match_like_upstream() {
        let masters = attrs("admin", &["system:masters"], "get", "pods", "default");
        assert!(matches_schema(&schema("exempt"), &masters));
        let probe = attrs("x", &["system:unauthenticated"], "get", "/readyz", "");
        assert!(matches_schema(&schema("probes"), &probe));
        assert!(!matches_schema(
            &schema("probes"),
            &attrs("x", &["system:authenticated"], "post", "/readyz", "")
        ));
        let node = attrs(
            "system:node:n1",
            &["system:nodes", "system:authenticated"],
            "update",
            "nodes/status",
            "",
        );
        assert!(matches_schema(&schema("system-node-high"), &node));
        let lease = attrs(
            "system:node:n1",
            &["system:nodes"],
            "update",
            "coordination.k8s.io leases",
            "kube-node-lease",
        );
        assert!(matches_schema(&schema("system-node-high"), &lease));
        let sa = attrs(
            "system:serviceaccount:kube-system:foo",
            &["system:serviceaccounts"],
            "list",
            "pods",
            "",
        );
        assert!(matches_schema(&schema("kube-system-service-accounts"), &sa));
        let other_sa = attrs(
            "system:serviceaccount:default:foo",
            &["system:serviceaccounts"],
            "list",
            "pods",
            "",
        );
        assert!(!matches_schema(
            &schema("kube-system-service-accounts"),
            &other_sa
        ));
        assert!(matches_schema(&schema("service-accounts"), &other_sa));
        let le = attrs(
            "system:kube-scheduler",
            &[],
            "get",
            "coordination.k8s.io leases",
            "kube-system",
        );
        assert!(matches_schema(&schema("system-leader-election"), &le));
        assert!(!matches_schema(
            &schema("system-leader-election"),
            &attrs(
                "system:kube-scheduler",
                &[],
                "list",
                "coordination.k8s.io leases",
                "kube-system"
            )
        ));
        // Cluster-scoped requests need clusterScope.
        let mut fs = schema("workload-leader-election");
        assert!(!matches_schema(
            &fs,
            &attrs(
                "system:serviceaccount:kube-system:x",
                &[],
                "get",
                "configmaps",
                ""
            )
        ));
        fs.spec.as_mut().unwrap().rules.as_mut().unwrap()[0]
            .resource_rules
            .as_mut()
            .unwrap()[0]
            .cluster_scope = Some(true);
        assert!(matches_schema(
            &fs,
            &attrs(
                "system:serviceaccount:kube-system:x",
                &[],
                "get",
                "configmaps",
                ""
            )
        ));
    }

    #[test]
    fn non_resource_wildcards_are_suffix_globs() {
        let rule = |u: &str| NonResourcePolicyRule {
            verbs: vec!["*".into()],
            non_resource_urls: vec![u.into()],
        };
        let a = |p: &str| attrs("u", &[], "get", p, "");
        assert!(matches_non_resource_rule(
            &rule("/apis/*"),
            &a("/apis/apps/v1")
        ));
        assert!(matches_non_resource_rule(&rule("/apis/*"), &a("/apis")));
        assert!(!matches_non_resource_rule(&rule("/apis/*"), &a("/api")));
        assert!(matches_non_resource_rule(&rule("/healthz"), &a("/healthz")));
        assert!(!matches_non_resource_rule(
            &rule("/healthz"),
            &a("/healthz/etcd")
        ));
    }
}
