//! Upstream's quota evaluators as the admission plugin uses them: which
//! quota resource names a kind of object is counted under, what one object
//! uses, which operations change usage, the pod constraints and the pod
//! scopes (`Terminating`, `NotTerminating`, `BestEffort`, `NotBestEffort`,
//! `PriorityClass`, `CrossNamespacePodAffinity`).
//!
//! Kinds without a dedicated evaluator get upstream's generic object-count
//! evaluator (`count/<resource>.<group>`), created on demand as upstream's
//! admission does; scoped quotas never match them.

use serde_json::Value;

use super::amount::{Amount, ResourceList};
use crate::admission::Operation;

/// Resources upstream's quota admission never looks at
/// (`install.DefaultIgnoredResources`).
const IGNORED: &[(&str, &str)] = &[
    ("", "events"),
    ("events.k8s.io", "events"),
    ("authentication.k8s.io", "tokenreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "localsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
];

/// Core kinds whose object count is also quota'd under the bare plural
/// (`configmaps` as well as `count/configmaps`).
const LEGACY_COUNTS: &[&str] = &[
    "configmaps",
    "secrets",
    "replicationcontrollers",
    "resourcequotas",
];

/// The evaluator of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluator {
    /// Pods: counts, requests and limits; scopes apply.
    Pods,
    /// Services: counts, load balancers, node ports.
    Services,
    /// PersistentVolumeClaims: counts and storage, also per StorageClass.
    Claims,
    /// Any other kind: its object count (and the legacy bare name).
    Count {
        /// `count/<resource>[.<group>]`.
        name: String,
        /// The bare plural for the legacy core counts.
        legacy: Option<&'static str>,
    },
}

/// `count/<resource>` for core, `count/<resource>.<group>` otherwise.
pub fn count_name(group: &str, resource: &str) -> String {
    if group.is_empty() {
        format!("count/{resource}")
    } else {
        format!("count/{resource}.{group}")
    }
}

/// A native resource name: no domain, or a `kubernetes.io` one.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Upstream `IsExtendedResourceName`: a domain-prefixed, non-native name
/// that is not itself a `requests.` quota name.
fn is_extended(name: &str) -> bool {
    !is_native(name) && !name.starts_with("requests.")
}

const POD_NAMES: &[&str] = &[
    "pods",
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

impl Evaluator {
    /// The evaluator for `group/resource`; `None` for ignored resources.
    pub fn for_resource(group: &str, resource: &str) -> Option<Self> {
        if IGNORED.contains(&(group, resource)) {
            return None;
        }
        Some(match (group, resource) {
            ("", "pods") => Evaluator::Pods,
            ("", "services") => Evaluator::Services,
            ("", "persistentvolumeclaims") => Evaluator::Claims,
            _ => Evaluator::Count {
                name: count_name(group, resource),
                legacy: if group.is_empty() {
                    LEGACY_COUNTS.iter().copied().find(|r| *r == resource)
                } else {
                    None
                },
            },
        })
    }

    /// Whether `op` can change usage (upstream `Handles`): object counts
    /// and pods change on create only; Services (type, ports) and claims
    /// (resizes) on update too.
    pub fn handles(&self, op: Operation) -> bool {
        match self {
            Evaluator::Services | Evaluator::Claims => {
                matches!(op, Operation::Create | Operation::Update)
            }
            Evaluator::Pods | Evaluator::Count { .. } => op == Operation::Create,
        }
    }

    /// Whether this evaluator tracks the quota resource `name`.
    pub fn tracks(&self, name: &str) -> bool {
        match self {
            Evaluator::Pods => {
                POD_NAMES.contains(&name)
                    || name.starts_with("hugepages-")
                    || name.starts_with("requests.hugepages-")
                    || name.strip_prefix("requests.").is_some_and(is_extended)
            }
            Evaluator::Services => matches!(
                name,
                "services" | "count/services" | "services.nodeports" | "services.loadbalancers"
            ),
            Evaluator::Claims => {
                matches!(
                    name,
                    "persistentvolumeclaims" | "count/persistentvolumeclaims" | "requests.storage"
                ) || name.split_once(STORAGE_CLASS_SUFFIX).is_some_and(|(_, r)| {
                    matches!(r, "persistentvolumeclaims" | "requests.storage")
                })
            }
            Evaluator::Count { name: n, legacy } => name == n || Some(name) == *legacy,
        }
    }

    /// The names among `names` this evaluator tracks (upstream
    /// `MatchingResources`), sorted.
    pub fn matching<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let mut out: Vec<String> = names
            .into_iter()
            .filter(|n| self.tracks(n))
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// What `obj` uses.
    pub fn usage(&self, obj: &Value) -> ResourceList {
        match self {
            Evaluator::Pods => pod_usage(obj),
            Evaluator::Services => service_usage(obj),
            Evaluator::Claims => claim_usage(obj),
            Evaluator::Count { name, legacy } => {
                let mut u = ResourceList::new();
                u.insert(name.clone(), Amount::count(1));
                if let Some(l) = legacy {
                    u.insert(l.to_string(), Amount::count(1));
                }
                u
            }
        }
    }

    /// Whether `obj` falls within every scope selector (upstream
    /// `Matches`' scope half). Only pods have scopes; a scoped quota never
    /// matches another kind. An unknown scope or operator is an error.
    pub fn matches_scopes(&self, scopes: &[ScopeSelector], obj: &Value) -> Result<bool, String> {
        if scopes.is_empty() {
            return Ok(true);
        }
        if *self != Evaluator::Pods {
            return Ok(false);
        }
        for s in scopes {
            if !pod_matches_scope(s, obj)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Upstream's pod `Constraints`: when a quota constrains cpu or memory,
    /// every container must state the request or limit it counts.
    pub fn constraints(&self, required: &[String], obj: &Value) -> Result<(), String> {
        if *self != Evaluator::Pods {
            return Ok(());
        }
        let checked: Vec<&String> = required
            .iter()
            .filter(|r| {
                matches!(
                    r.as_str(),
                    "cpu"
                        | "memory"
                        | "requests.cpu"
                        | "requests.memory"
                        | "limits.cpu"
                        | "limits.memory"
                )
            })
            .collect();
        if checked.is_empty() {
            return Ok(());
        }
        let mut missing: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
            Default::default();
        for c in containers(obj, "containers").chain(containers(obj, "initContainers")) {
            let has = compute_usage(
                c.pointer("/resources/requests"),
                c.pointer("/resources/limits"),
            );
            for r in &checked {
                if !has.contains_key(*r) {
                    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                    missing.entry(r.as_str()).or_default().insert(name);
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = missing
            .iter()
            .map(|(r, names)| {
                format!(
                    "{r} for: {}",
                    names.iter().copied().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        Err(format!("must specify {}", parts.join("; ")))
    }
}

/// One scope requirement of a quota: `spec.scopes` entries (as `Exists`)
/// and `spec.scopeSelector.matchExpressions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSelector {
    /// `Terminating`, `PriorityClass`, ...
    pub scope: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// For `In` / `NotIn`.
    pub values: Vec<String>,
}

/// The scope selectors of a quota.
pub fn quota_scopes(quota: &Value) -> Vec<ScopeSelector> {
    let mut out: Vec<ScopeSelector> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| ScopeSelector {
            scope: s.to_string(),
            operator: "Exists".into(),
            values: Vec::new(),
        })
        .collect();
    for e in quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        out.push(ScopeSelector {
            scope: text("scopeName"),
            operator: text("operator"),
            values: e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        });
    }
    out
}

fn pod_matches_scope(s: &ScopeSelector, pod: &Value) -> Result<bool, String> {
    let plain = |v: bool| match s.operator.as_str() {
        "Exists" => Ok(v),
        op => Err(format!(
            "unsupported operator {op:?} for scope {:?}",
            s.scope
        )),
    };
    match s.scope.as_str() {
        "Terminating" => plain(is_terminating(pod)),
        "NotTerminating" => plain(!is_terminating(pod)),
        "BestEffort" => plain(is_best_effort(pod)),
        "NotBestEffort" => plain(!is_best_effort(pod)),
        "CrossNamespacePodAffinity" => plain(uses_cross_namespace_affinity(pod)),
        "PriorityClass" => {
            // Upstream matches a label selector against
            // {PriorityClass: <spec.priorityClassName>}; the key is always
            // there, except that Exists asks for a non-empty class.
            let class = pod
                .pointer("/spec/priorityClassName")
                .and_then(Value::as_str)
                .unwrap_or("");
            match s.operator.as_str() {
                "Exists" => Ok(!class.is_empty()),
                "DoesNotExist" => Ok(false),
                "In" => Ok(s.values.iter().any(|v| v == class)),
                "NotIn" => Ok(!s.values.iter().any(|v| v == class)),
                op => Err(format!("{op:?} is not a valid scope selector operator")),
            }
        }
        other => Err(format!("unsupported scope {other:?}")),
    }
}

fn containers<'a>(pod: &'a Value, list: &str) -> impl Iterator<Item = &'a Value> {
    pod.get("spec")
        .and_then(|s| s.get(list))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The Terminating scope: `activeDeadlineSeconds` >= 0.
pub fn is_terminating(pod: &Value) -> bool {
    pod.pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|d| d >= 0)
}

/// QoS class BestEffort: no container asks for or limits cpu or memory.
pub fn is_best_effort(pod: &Value) -> bool {
    containers(pod, "containers")
        .chain(containers(pod, "initContainers"))
        .all(|c| {
            ["requests", "limits"].iter().all(|kind| {
                ["cpu", "memory"].iter().all(|r| {
                    c.get("resources")
                        .and_then(|x| x.get(*kind))
                        .and_then(|x| x.get(*r))
                        .and_then(Value::as_str)
                        .and_then(Amount::parse)
                        .is_none_or(|a| a.milli <= 0)
                })
            })
        })
}

/// Whether a pod (anti-)affinity term names other namespaces.
fn uses_cross_namespace_affinity(pod: &Value) -> bool {
    let Some(affinity) = pod.pointer("/spec/affinity") else {
        return false;
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
        let Some(a) = affinity.get(*kind) else {
            return false;
        };
        let required = a
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        let preferred = a
            .get("preferredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| w.get("podAffinityTerm"));
        required.chain(preferred).any(|t| {
            t.get("namespaces")
                .and_then(Value::as_array)
                .is_some_and(|n| !n.is_empty())
                || t.get("namespaceSelector").is_some_and(|s| !s.is_null())
        })
    })
}

fn resource_map(v: Option<&Value>) -> ResourceList {
    super::amount::from_json(v)
}

fn add_into(sum: &mut ResourceList, more: &ResourceList) {
    *sum = super::amount::add(sum, more);
}

fn max_into(acc: &mut ResourceList, other: &ResourceList) {
    for (k, v) in other {
        let e = acc.entry(k.clone()).or_insert(*v);
        if v.milli > e.milli {
            *e = *v;
        }
    }
}

/// Requests or limits of a pod as upstream's `PodRequests`/`PodLimits`
/// count them: regular containers and sidecars (restartable init
/// containers) add up, a plain init container needs its own amount plus
/// the sidecars started before it, the pod needs the larger; overhead is
/// added (to limits only where a limit is set).
fn pod_resources(pod: &Value, kind: &str) -> ResourceList {
    let of = |c: &Value| resource_map(c.get("resources").and_then(|r| r.get(kind)));
    let mut sum = ResourceList::new();
    for c in containers(pod, "containers") {
        add_into(&mut sum, &of(c));
    }
    let mut sidecars = ResourceList::new();
    let mut init_max = ResourceList::new();
    for c in containers(pod, "initContainers") {
        let r = of(c);
        if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            add_into(&mut sum, &r);
            add_into(&mut sidecars, &r);
            max_into(&mut init_max, &sidecars);
        } else {
            let mut need = r;
            add_into(&mut need, &sidecars);
            max_into(&mut init_max, &need);
        }
    }
    max_into(&mut sum, &init_max);
    let overhead = resource_map(pod.pointer("/spec/overhead"));
    if kind == "requests" {
        add_into(&mut sum, &overhead);
    } else {
        for (k, v) in overhead {
            if let Some(e) = sum.get_mut(&k) {
                e.milli += v.milli;
            }
        }
    }
    sum
}

/// Upstream `podComputeUsageHelper`: the quota names requests and limits
/// are counted under.
fn compute_usage(requests: Option<&Value>, limits: Option<&Value>) -> ResourceList {
    compute_usage_of(&resource_map(requests), &resource_map(limits))
}

fn compute_usage_of(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut u = ResourceList::new();
    u.insert("pods".into(), Amount::count(1));
    for r in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(q) = requests.get(r) {
            u.insert(r.to_string(), *q);
            u.insert(format!("requests.{r}"), *q);
        }
        if let Some(q) = limits.get(r) {
            u.insert(format!("limits.{r}"), *q);
        }
    }
    for (r, q) in requests {
        if r.starts_with("hugepages-") {
            u.insert(r.clone(), *q);
            u.insert(format!("requests.{r}"), *q);
        } else if is_extended(r) {
            u.insert(format!("requests.{r}"), *q);
        }
    }
    u
}

/// A pod always counts under `count/pods`; a finished one uses nothing
/// else.
fn pod_usage(pod: &Value) -> ResourceList {
    let mut u = ResourceList::new();
    u.insert("count/pods".into(), Amount::count(1));
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") {
        return u;
    }
    let requests = pod_resources(pod, "requests");
    let limits = pod_resources(pod, "limits");
    u.extend(compute_usage_of(&requests, &limits));
    u
}

fn service_usage(svc: &Value) -> ResourceList {
    let mut u = ResourceList::new();
    u.insert("count/services".into(), Amount::count(1));
    u.insert("services".into(), Amount::count(1));
    u.insert("services.loadbalancers".into(), Amount::count(0));
    u.insert("services.nodeports".into(), Amount::count(0));
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    match svc.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => {
            u.insert(
                "services.nodeports".into(),
                Amount::count(ports.len() as i128),
            );
        }
        Some("LoadBalancer") => {
            // Without node-port allocation only explicitly set node ports
            // are used.
            let allocate = svc
                .pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let n = if allocate {
                ports.len()
            } else {
                ports
                    .iter()
                    .filter(|p| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0)
                    .count()
            };
            u.insert("services.nodeports".into(), Amount::count(n as i128));
            u.insert("services.loadbalancers".into(), Amount::count(1));
        }
        _ => {}
    }
    u
}

fn claim_usage(pvc: &Value) -> ResourceList {
    let mut u = ResourceList::new();
    u.insert("count/persistentvolumeclaims".into(), Amount::count(1));
    u.insert("persistentvolumeclaims".into(), Amount::count(1));
    let class = pvc
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .or_else(|| pvc.pointer("/spec/storageClassName"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty());
    if let Some(c) = class {
        u.insert(
            format!("{c}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            Amount::count(1),
        );
    }
    // The larger of what is asked for and what a resize already allocated.
    let storage = [
        "/spec/resources/requests/storage",
        "/status/allocatedResources/storage",
    ]
    .iter()
    .filter_map(|p| {
        pvc.pointer(p)
            .and_then(Value::as_str)
            .and_then(Amount::parse)
    })
    .max_by_key(|a| a.milli);
    if let Some(s) = storage {
        u.insert("requests.storage".into(), s);
        if let Some(c) = class {
            u.insert(format!("{c}{STORAGE_CLASS_SUFFIX}requests.storage"), s);
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::super::amount::pretty;
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_count_requests_limits_sidecars_and_overhead() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m", "example.com/gpu": "1"}}},
            ],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"name": "i", "resources": {"requests": {"cpu": "500m"}}},
            ],
            "overhead": {"cpu": "10m"},
        }});
        let u = Evaluator::Pods.usage(&pod);
        // max(100+200+50, 500+50) + 10 overhead; the set cpu limit gets
        // the overhead too.
        assert_eq!(
            pretty(&u),
            "count/pods=1,cpu=560m,limits.cpu=1010m,memory=64Mi,pods=1,requests.cpu=560m,requests.example.com/gpu=1,requests.memory=64Mi"
        );
        let done = json!({"status": {"phase": "Succeeded"}});
        assert_eq!(pretty(&Evaluator::Pods.usage(&done)), "count/pods=1");
        let req = vec!["limits.cpu".to_string(), "pods".to_string()];
        assert_eq!(
            Evaluator::Pods.constraints(&req, &pod).unwrap_err(),
            "must specify limits.cpu for: b,i,side"
        );
    }

    #[test]
    fn other_kinds_and_matching_names() {
        let deploy = Evaluator::for_resource("apps", "deployments").unwrap();
        assert_eq!(
            pretty(&deploy.usage(&json!({}))),
            "count/deployments.apps=1"
        );
        assert!(!deploy.handles(Operation::Update));
        let cm = Evaluator::for_resource("", "configmaps").unwrap();
        assert_eq!(
            pretty(&cm.usage(&json!({}))),
            "configmaps=1,count/configmaps=1"
        );
        assert!(Evaluator::for_resource("", "events").is_none());
        let svc = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 1}, {"port": 2}]}});
        assert_eq!(
            pretty(&Evaluator::Services.usage(&svc)),
            "count/services=1,services=1,services.loadbalancers=1,services.nodeports=2"
        );
        let pvc = json!({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}});
        assert_eq!(
            pretty(&Evaluator::Claims.usage(&pvc)),
            "count/persistentvolumeclaims=1,fast.storageclass.storage.k8s.io/persistentvolumeclaims=1,fast.storageclass.storage.k8s.io/requests.storage=1Gi,persistentvolumeclaims=1,requests.storage=1Gi"
        );
        let names: Vec<String> = ["pods", "services", "requests.nvidia.com/gpu", "count/pods"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            Evaluator::Pods.matching(&names),
            ["count/pods", "pods", "requests.nvidia.com/gpu"]
        );
    }

    #[test]
    fn pod_scopes() {
        let q = json!({"spec": {"scopes": ["NotBestEffort"], "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}});
        let scopes = quota_scopes(&q);
        assert_eq!(scopes.len(), 2);
        let high = json!({"spec": {"priorityClassName": "high",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}});
        let best = json!({"spec": {"priorityClassName": "high", "containers": [{"name": "c"}]}});
        assert!(Evaluator::Pods.matches_scopes(&scopes, &high).unwrap());
        assert!(!Evaluator::Pods.matches_scopes(&scopes, &best).unwrap());
        assert!(!Evaluator::Services.matches_scopes(&scopes, &high).unwrap());
        let term = quota_scopes(&json!({"spec": {"scopes": ["Terminating"]}}));
        let deadline = json!({"spec": {"activeDeadlineSeconds": 30}});
        assert!(Evaluator::Pods.matches_scopes(&term, &deadline).unwrap());
        assert!(!Evaluator::Pods.matches_scopes(&term, &best).unwrap());
        let bad = quota_scopes(&json!({"spec": {"scopes": ["Nope"]}}));
        assert!(Evaluator::Pods.matches_scopes(&bad, &best).is_err());
        let cross = json!({"spec": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "k", "namespaceSelector": {}}]}}}});
        let cross_scope = quota_scopes(&json!({"spec": {"scopes": ["CrossNamespacePodAffinity"]}}));
        assert!(
            Evaluator::Pods
                .matches_scopes(&cross_scope, &cross)
                .unwrap()
        );
    }
}
