//! Matching nodes against a pod's node selector and node affinity
//! (upstream `component-helpers/scheduling/corev1/nodeaffinity`).
//!
//! Terms are compiled once per pod: operators are resolved, `Gt`/`Lt` values
//! parsed. A term with an invalid requirement matches no node (upstream's
//! lazy-error selector), and an empty term matches no node either.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm,
};

/// An empty label map, for objects without labels.
pub static EMPTY_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// The labels of a node (empty when it has none).
pub fn node_labels(node: &Node) -> &BTreeMap<String, String> {
    node.metadata.labels.as_ref().unwrap_or(&EMPTY_LABELS)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelReq {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    Gt(String, i64),
    Lt(String, i64),
}

impl LabelReq {
    fn compile(req: &NodeSelectorRequirement) -> Option<Self> {
        let values = req.values.clone().unwrap_or_default();
        let key = req.key.clone();
        if key.is_empty() {
            return None;
        }
        let single_int = || -> Option<i64> {
            match values.as_slice() {
                [v] => v.parse::<i64>().ok(),
                _ => None,
            }
        };
        Some(match req.operator.as_str() {
            "In" if !values.is_empty() => LabelReq::In(key, values),
            "NotIn" if !values.is_empty() => LabelReq::NotIn(key, values),
            "Exists" if values.is_empty() => LabelReq::Exists(key),
            "DoesNotExist" if values.is_empty() => LabelReq::DoesNotExist(key),
            "Gt" => LabelReq::Gt(key, single_int()?),
            "Lt" => LabelReq::Lt(key, single_int()?),
            _ => return None,
        })
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelReq::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            LabelReq::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
            LabelReq::Exists(key) => labels.contains_key(key),
            LabelReq::DoesNotExist(key) => !labels.contains_key(key),
            LabelReq::Gt(key, bound) => labels
                .get(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *bound),
            LabelReq::Lt(key, bound) => labels
                .get(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *bound),
        }
    }
}

/// `metadata.name` In/NotIn: the only field selector nodes support.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FieldReq {
    NameIn(Vec<String>),
    NameNotIn(Vec<String>),
}

impl FieldReq {
    fn compile(req: &NodeSelectorRequirement) -> Option<Self> {
        if req.key != "metadata.name" {
            return None;
        }
        let values = req.values.clone().unwrap_or_default();
        match req.operator.as_str() {
            "In" if !values.is_empty() => Some(FieldReq::NameIn(values)),
            "NotIn" if !values.is_empty() => Some(FieldReq::NameNotIn(values)),
            _ => None,
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            FieldReq::NameIn(values) => values.iter().any(|v| v == name),
            FieldReq::NameNotIn(values) => !values.iter().any(|v| v == name),
        }
    }
}

/// One compiled `NodeSelectorTerm`: the AND of its requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledTerm {
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
    /// False when the term is empty or a requirement is invalid.
    valid: bool,
}

impl CompiledTerm {
    /// Compiles a term.
    pub fn new(term: &NodeSelectorTerm) -> Self {
        let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
        let fields = term.match_fields.as_deref().unwrap_or(&[]);
        let labels: Option<Vec<LabelReq>> = exprs.iter().map(LabelReq::compile).collect();
        let compiled_fields: Option<Vec<FieldReq>> = fields.iter().map(FieldReq::compile).collect();
        let valid = labels.is_some()
            && compiled_fields.is_some()
            && !(exprs.is_empty() && fields.is_empty());
        CompiledTerm {
            labels: labels.unwrap_or_default(),
            fields: compiled_fields.unwrap_or_default(),
            valid,
        }
    }

    /// Whether `node` satisfies every requirement.
    pub fn matches(&self, node: &Node) -> bool {
        self.matches_parts(
            node_labels(node),
            node.metadata.name.as_deref().unwrap_or(""),
        )
    }

    fn matches_parts(&self, labels: &BTreeMap<String, String>, name: &str) -> bool {
        self.valid
            && self.labels.iter().all(|r| r.matches(labels))
            && self.fields.iter().all(|r| r.matches(name))
    }

    /// The node names this term pins with `metadata.name In`, if it does.
    fn pinned_names(&self) -> Option<Vec<String>> {
        let mut pinned: Option<Vec<String>> = None;
        for field in &self.fields {
            if let FieldReq::NameIn(values) = field {
                pinned = Some(match pinned {
                    None => values.clone(),
                    Some(prev) => prev.into_iter().filter(|v| values.contains(v)).collect(),
                });
            }
        }
        pinned
    }
}

/// A compiled `NodeSelector`: the OR of its terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledNodeSelector {
    terms: Vec<CompiledTerm>,
}

impl CompiledNodeSelector {
    /// Compiles a node selector.
    pub fn new(selector: &NodeSelector) -> Self {
        CompiledNodeSelector {
            terms: selector
                .node_selector_terms
                .iter()
                .map(CompiledTerm::new)
                .collect(),
        }
    }

    /// Whether any term matches `node`.
    pub fn matches(&self, node: &Node) -> bool {
        self.terms.iter().any(|t| t.matches(node))
    }

    /// If every term pins node names (`metadata.name In`), their union.
    pub fn pinned_names(&self) -> Option<Vec<String>> {
        let mut all = Vec::new();
        for term in &self.terms {
            all.extend(term.pinned_names()?);
        }
        all.sort();
        all.dedup();
        Some(all)
    }
}

/// A pod's hard node constraints: `spec.nodeSelector` AND the required
/// node affinity (upstream `RequiredNodeAffinity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequiredNodeAffinity {
    label_selector: Vec<(String, String)>,
    required: Option<CompiledNodeSelector>,
}

impl RequiredNodeAffinity {
    /// The pod's required node affinity.
    pub fn of_pod(pod: &Pod) -> Self {
        let spec = pod.spec.as_ref();
        let label_selector = spec
            .and_then(|s| s.node_selector.as_ref())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let required = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(CompiledNodeSelector::new);
        RequiredNodeAffinity {
            label_selector,
            required,
        }
    }

    /// Whether the pod has no node constraint at all.
    pub fn is_empty(&self) -> bool {
        self.label_selector.is_empty() && self.required.is_none()
    }

    /// Whether `node` satisfies the node selector and the required terms.
    pub fn matches(&self, node: &Node) -> bool {
        let labels = node_labels(node);
        self.label_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.required.as_ref().is_none_or(|r| r.matches(node))
    }

    /// The required terms, if any.
    pub fn required(&self) -> Option<&CompiledNodeSelector> {
        self.required.as_ref()
    }
}

/// Compiled preferred scheduling terms: (weight, term).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferredTerms {
    terms: Vec<(i64, CompiledTerm)>,
}

impl PreferredTerms {
    /// Compiles terms, skipping weight-0 ones like upstream.
    pub fn new(terms: &[PreferredSchedulingTerm]) -> Self {
        PreferredTerms {
            terms: terms
                .iter()
                .filter(|t| t.weight != 0)
                .map(|t| (i64::from(t.weight), CompiledTerm::new(&t.preference)))
                .collect(),
        }
    }

    /// Whether there are no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The sum of the weights of the terms `node` matches.
    pub fn score(&self, node: &Node) -> i64 {
        let labels = node_labels(node);
        let name = node.metadata.name.as_deref().unwrap_or("");
        self.terms
            .iter()
            .filter(|(_, term)| term.matches_parts(labels, name))
            .map(|(weight, _)| *weight)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    fn selector(terms: serde_json::Value) -> CompiledNodeSelector {
        CompiledNodeSelector::new(
            &serde_json::from_value(json!({"nodeSelectorTerms": terms})).unwrap(),
        )
    }

    #[test]
    fn operators_match_like_upstream() {
        let n = node("n1", json!({"zone": "a", "gen": "5"}));
        let cases = [
            (
                json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]),
                true,
            ),
            (
                json!([{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}]),
                false,
            ),
            (
                json!([{"matchExpressions": [{"key": "other", "operator": "NotIn", "values": ["a"]}]}]),
                true,
            ),
            (
                json!([{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]),
                true,
            ),
            (
                json!([{"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}]),
                false,
            ),
            (
                json!([{"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]}]}]),
                true,
            ),
            (
                json!([{"matchExpressions": [{"key": "gen", "operator": "Lt", "values": ["4"]}]}]),
                false,
            ),
            (
                json!([{"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["x"]}]}]),
                false,
            ),
            (
                json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": []}]}]),
                false,
            ),
            (json!([{}]), false),
            (json!([]), false),
            (
                json!([{}, {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]),
                true,
            ),
            (
                json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]),
                true,
            ),
            (
                json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}]),
                false,
            ),
            (
                json!([{"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["n1"]}]}]),
                false,
            ),
        ];
        for (terms, want) in cases {
            assert_eq!(selector(terms.clone()).matches(&n), want, "{terms}");
        }
    }

    #[test]
    fn pinned_names_need_every_term_to_pin() {
        let pinned = selector(json!([
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b", "a"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["c"]}]}
        ]));
        assert_eq!(
            pinned.pinned_names(),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        let mixed = selector(json!([
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]}]},
            {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}
        ]));
        assert_eq!(mixed.pinned_names(), None);
    }

    #[test]
    fn required_affinity_ands_node_selector_and_terms() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "nodeSelector": {"disk": "ssd"},
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}
        }))
        .unwrap();
        let req = RequiredNodeAffinity::of_pod(&pod);
        assert!(req.matches(&node("x", json!({"disk": "ssd", "zone": "a"}))));
        assert!(!req.matches(&node("x", json!({"disk": "hdd", "zone": "a"}))));
        assert!(!req.matches(&node("x", json!({"disk": "ssd"}))));
        assert!(RequiredNodeAffinity::of_pod(&Pod::default()).is_empty());
    }

    #[test]
    fn preferred_terms_sum_weights() {
        let terms: Vec<PreferredSchedulingTerm> = serde_json::from_value(json!([
            {"weight": 5, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
            {"weight": 3, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
            {"weight": 0, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}
        ]))
        .unwrap();
        let preferred = PreferredTerms::new(&terms);
        assert_eq!(
            preferred.score(&node("x", json!({"zone": "a", "disk": "1"}))),
            8
        );
        assert_eq!(preferred.score(&node("x", json!({"zone": "b"}))), 0);
    }
}
