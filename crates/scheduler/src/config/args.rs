//! Plugin arguments (`pluginConfig[].args`): one type per plugin with
//! upstream's defaults and validation.

use k8s_openapi::api::core::v1::{NodeAffinity, TopologySpreadConstraint};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A resource and its weight in a scoring strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSpec {
    /// Resource name (`cpu`, `memory`, `example.com/gpu`).
    pub name: String,
    /// Weight (1..100; 0 defaults to 1).
    #[serde(default)]
    pub weight: i64,
}

fn default_resources() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec {
            name: "cpu".into(),
            weight: 1,
        },
        ResourceSpec {
            name: "memory".into(),
            weight: 1,
        },
    ]
}

/// A point of the RequestedToCapacityRatio function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UtilizationShapePoint {
    /// Utilization, 0..100.
    pub utilization: i64,
    /// Score, 0..10.
    pub score: i64,
}

/// `requestedToCapacityRatio` of a scoring strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestedToCapacityRatioParam {
    /// The function's points, by increasing utilization.
    #[serde(default)]
    pub shape: Vec<UtilizationShapePoint>,
}

/// NodeResourcesFit's `scoringStrategy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoringStrategy {
    /// `LeastAllocated` (default), `MostAllocated` or `RequestedToCapacityRatio`.
    #[serde(rename = "type", default = "least_allocated")]
    pub type_: String,
    /// Resources and weights (default cpu and memory, weight 1).
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
    /// Shape for `RequestedToCapacityRatio`.
    #[serde(default)]
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatioParam>,
}

fn least_allocated() -> String {
    "LeastAllocated".into()
}

/// NodeResourcesFitArgs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeResourcesFitArgs {
    /// Ignored (`kind` may be given in the file).
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    /// Ignored (`apiVersion` may be given in the file).
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    /// Extended resources the filter ignores.
    #[serde(default)]
    pub ignored_resources: Vec<String>,
    /// Extended resource groups (`example.com`) the filter ignores.
    #[serde(default)]
    pub ignored_resource_groups: Vec<String>,
    /// How nodes are scored.
    #[serde(default)]
    pub scoring_strategy: Option<ScoringStrategy>,
}

/// NodeResourcesBalancedAllocationArgs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeResourcesBalancedAllocationArgs {
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    /// Resources to balance (default cpu and memory).
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
}

/// InterPodAffinityArgs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InterPodAffinityArgs {
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    /// Weight of existing pods' required affinity when scoring (default 1).
    #[serde(default = "one")]
    pub hard_pod_affinity_weight: i64,
    /// Skip existing pods' preferred terms when the pod has none.
    #[serde(default)]
    pub ignore_preferred_terms_of_existing_pods: bool,
}

fn one() -> i64 {
    1
}

/// NodeAffinityArgs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeAffinityArgs {
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    /// Node affinity every pod of the profile gets in addition to its own.
    #[serde(default)]
    pub added_affinity: Option<NodeAffinity>,
}

/// PodTopologySpreadArgs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTopologySpreadArgs {
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    /// Constraints for pods that have none (with `defaultingType: List`).
    #[serde(default)]
    pub default_constraints: Vec<TopologySpreadConstraint>,
    /// `System` (default: the built-in soft constraints) or `List`.
    #[serde(default = "system")]
    pub defaulting_type: String,
}

fn system() -> String {
    "System".into()
}

/// DefaultPreemptionArgs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultPreemptionArgs {
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    /// Candidates to evaluate, as a share of the nodes (default 10).
    #[serde(default = "ten")]
    pub min_candidate_nodes_percentage: i64,
    /// ... and at least this many (default 100).
    #[serde(default = "hundred")]
    pub min_candidate_nodes_absolute: i64,
}

fn ten() -> i64 {
    10
}
fn hundred() -> i64 {
    100
}

/// VolumeBindingArgs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeBindingArgs {
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    /// Ignored.
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    /// How long PreBind waits for volumes to be bound (default 600).
    #[serde(default = "six_hundred")]
    pub bind_timeout_seconds: i64,
    /// Scoring shape (only with the StorageCapacityScoring gate; accepted
    /// and ignored).
    #[serde(default)]
    pub shape: Vec<UtilizationShapePoint>,
}

fn six_hundred() -> i64 {
    600
}

/// Decodes `args` (or `{}`) into `T` with its defaults; errors name the path.
pub fn decode<T: DeserializeOwned>(
    args: Option<&serde_json::Value>,
    path: &str,
) -> Result<T, String> {
    let value = args.cloned().unwrap_or_else(|| serde_json::json!({}));
    serde_json::from_value(value).map_err(|e| format!("{path}: {e}"))
}

impl NodeResourcesFitArgs {
    /// The scoring strategy with defaults applied.
    pub fn strategy(&self) -> ScoringStrategy {
        let mut strategy = self.scoring_strategy.clone().unwrap_or(ScoringStrategy {
            type_: least_allocated(),
            resources: Vec::new(),
            requested_to_capacity_ratio: None,
        });
        if strategy.resources.is_empty() {
            strategy.resources = default_resources();
        }
        for r in &mut strategy.resources {
            if r.weight == 0 {
                r.weight = 1;
            }
        }
        strategy
    }

    /// Upstream `ValidateNodeResourcesFitArgs`.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = Vec::new();
        for (i, name) in self.ignored_resources.iter().enumerate() {
            if name.is_empty() || name.contains(' ') {
                errors.push(format!("{path}.ignoredResources[{i}]: Invalid value: {name:?}: must be a qualified name"));
            }
        }
        for (i, group) in self.ignored_resource_groups.iter().enumerate() {
            if group.is_empty() || group.contains('/') {
                errors.push(format!(
                    "{path}.ignoredResourceGroups[{i}]: Invalid value: {group:?}: resource group name can't contain '/'"
                ));
            }
        }
        let Some(strategy) = self.scoring_strategy.as_ref() else {
            return errors;
        };
        let spath = format!("{path}.scoringStrategy");
        match strategy.type_.as_str() {
            "LeastAllocated" | "MostAllocated" => {}
            "RequestedToCapacityRatio" => {
                let shape = strategy
                    .requested_to_capacity_ratio
                    .as_ref()
                    .map(|r| r.shape.as_slice())
                    .unwrap_or(&[]);
                errors.extend(validate_shape(shape, &format!("{spath}.requestedToCapacityRatio.shape"), 10));
            }
            other => errors.push(format!(
                "{spath}.type: Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""
            )),
        }
        errors.extend(validate_resources(
            &strategy.resources,
            &format!("{spath}.resources"),
            false,
        ));
        errors
    }
}

fn validate_resources(
    resources: &[ResourceSpec],
    path: &str,
    weight_must_be_one: bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    let mut seen = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        if seen.contains(&r.name.as_str()) {
            errors.push(format!("{path}[{i}].name: Duplicate value: {:?}", r.name));
        }
        seen.push(r.name.as_str());
        if weight_must_be_one {
            if r.weight != 1 && r.weight != 0 {
                errors.push(format!(
                    "{path}[{i}].weight: Invalid value: {}: must be 1",
                    r.weight
                ));
            }
        } else if !(0..=100).contains(&r.weight) {
            errors.push(format!(
                "{path}[{i}].weight: Invalid value: {}: resource weight of {} should be in a range 1-100",
                r.weight, r.name
            ));
        }
    }
    errors
}

fn validate_shape(shape: &[UtilizationShapePoint], path: &str, max_score: i64) -> Vec<String> {
    let mut errors = Vec::new();
    if shape.is_empty() {
        errors.push(format!(
            "{path}: Required value: at least one point must be specified"
        ));
    }
    for (i, point) in shape.iter().enumerate() {
        if !(0..=100).contains(&point.utilization) {
            errors.push(format!(
                "{path}[{i}].utilization: Invalid value: {}: not in valid range [0, 100]",
                point.utilization
            ));
        } else if i > 0 && point.utilization <= shape[i - 1].utilization {
            errors.push(format!("{path}[{i}].utilization: Invalid value: {}: utilization values must be sorted in increasing order", point.utilization));
        }
        if !(0..=max_score).contains(&point.score) {
            errors.push(format!(
                "{path}[{i}].score: Invalid value: {}: not in valid range [0, {max_score}]",
                point.score
            ));
        }
    }
    errors
}

impl NodeResourcesBalancedAllocationArgs {
    /// Resources with defaults applied.
    pub fn resources(&self) -> Vec<ResourceSpec> {
        let mut resources = if self.resources.is_empty() {
            default_resources()
        } else {
            self.resources.clone()
        };
        for r in &mut resources {
            if r.weight == 0 {
                r.weight = 1;
            }
        }
        resources
    }

    /// Upstream `ValidateNodeResourcesBalancedAllocationArgs`.
    pub fn validate(&self, path: &str) -> Vec<String> {
        validate_resources(&self.resources, &format!("{path}.resources"), true)
    }
}

impl InterPodAffinityArgs {
    /// Upstream `ValidateInterPodAffinityArgs`.
    pub fn validate(&self, path: &str) -> Vec<String> {
        if (0..=100).contains(&self.hard_pod_affinity_weight) {
            Vec::new()
        } else {
            vec![format!(
                "{path}.hardPodAffinityWeight: Invalid value: {}: not in valid range [0, 100]",
                self.hard_pod_affinity_weight
            )]
        }
    }
}

impl NodeAffinityArgs {
    /// Upstream `ValidateNodeAffinityArgs` (operators and value counts).
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = Vec::new();
        let Some(affinity) = self.added_affinity.as_ref() else {
            return errors;
        };
        let mut check =
            |exprs: Option<&Vec<k8s_openapi::api::core::v1::NodeSelectorRequirement>>,
             at: String| {
                for (i, e) in exprs.into_iter().flatten().enumerate() {
                    let n = e.values.as_ref().map_or(0, Vec::len);
                    let ok = match e.operator.as_str() {
                        "In" | "NotIn" => n > 0,
                        "Exists" | "DoesNotExist" => n == 0,
                        "Gt" | "Lt" => n == 1,
                        _ => false,
                    };
                    if !ok || e.key.is_empty() {
                        errors.push(format!(
                            "{at}[{i}]: Invalid value: {:?}: invalid node selector requirement",
                            e.operator
                        ));
                    }
                }
            };
        if let Some(required) = affinity
            .required_during_scheduling_ignored_during_execution
            .as_ref()
        {
            for (i, term) in required.node_selector_terms.iter().enumerate() {
                let at = format!(
                    "{path}.addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{i}]"
                );
                check(
                    term.match_expressions.as_ref(),
                    format!("{at}.matchExpressions"),
                );
            }
        }
        for (i, term) in affinity
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            let at = format!(
                "{path}.addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}].preference"
            );
            check(
                term.preference.match_expressions.as_ref(),
                format!("{at}.matchExpressions"),
            );
        }
        errors
    }
}

impl PodTopologySpreadArgs {
    /// Upstream `ValidatePodTopologySpreadArgs`.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = Vec::new();
        match self.defaulting_type.as_str() {
            "System" if !self.default_constraints.is_empty() => errors.push(format!(
                "{path}.defaultConstraints: Invalid value: \"{} constraint(s)\": when .defaultingType is \"System\"",
                self.default_constraints.len()
            )),
            "System" | "List" => {}
            other => errors.push(format!(
                "{path}.defaultingType: Unsupported value: {other:?}: supported values: \"List\", \"System\""
            )),
        }
        let mut seen: Vec<(String, String)> = Vec::new();
        for (i, c) in self.default_constraints.iter().enumerate() {
            let at = format!("{path}.defaultConstraints[{i}]");
            if c.max_skew <= 0 {
                errors.push(format!(
                    "{at}.maxSkew: Invalid value: {}: must be greater than zero",
                    c.max_skew
                ));
            }
            if c.topology_key.is_empty() {
                errors.push(format!(
                    "{at}.topologyKey: Required value: can not be empty"
                ));
            }
            if c.when_unsatisfiable != "DoNotSchedule" && c.when_unsatisfiable != "ScheduleAnyway" {
                errors.push(format!(
                    "{at}.whenUnsatisfiable: Unsupported value: {:?}: supported values: \"DoNotSchedule\", \"ScheduleAnyway\"",
                    c.when_unsatisfiable
                ));
            }
            if c.label_selector.is_some() {
                errors.push(format!(
                    "{at}.labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod"
                ));
            }
            let pair = (c.topology_key.clone(), c.when_unsatisfiable.clone());
            if seen.contains(&pair) {
                errors.push(format!(
                    "{at}: Duplicate value: {{{:?}, {:?}}}",
                    pair.0, pair.1
                ));
            }
            seen.push(pair);
        }
        errors
    }
}

impl DefaultPreemptionArgs {
    /// Upstream `ValidateDefaultPreemptionArgs`.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if !(0..=100).contains(&self.min_candidate_nodes_percentage) {
            errors.push(format!(
                "{path}.minCandidateNodesPercentage: Invalid value: {}: not in valid range [0, 100]",
                self.min_candidate_nodes_percentage
            ));
        }
        if self.min_candidate_nodes_absolute < 0 {
            errors.push(format!(
                "{path}.minCandidateNodesAbsolute: Invalid value: {}: not in valid range [0, inf)",
                self.min_candidate_nodes_absolute
            ));
        }
        if self.min_candidate_nodes_percentage == 0 && self.min_candidate_nodes_absolute == 0 {
            errors.push(format!(
                "{path}: Invalid value: \"0 and 0\": minCandidateNodesPercentage and minCandidateNodesAbsolute cannot both be zero"
            ));
        }
        errors
    }
}

impl VolumeBindingArgs {
    /// Upstream `ValidateVolumeBindingArgs`.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if self.bind_timeout_seconds < 0 {
            errors.push(format!(
                "{path}.bindTimeoutSeconds: Invalid value: {}: invalid BindTimeoutSeconds, should not be a negative value",
                self.bind_timeout_seconds
            ));
        }
        if !self.shape.is_empty() {
            errors.extend(validate_shape(&self.shape, &format!("{path}.shape"), 10));
        }
        errors
    }
}

/// Decodes and validates the args of plugin `name` (plugins without args
/// accept none). Returns the errors, each with its field path.
pub fn validate_plugin_args(
    name: &str,
    args: Option<&serde_json::Value>,
    path: &str,
) -> Vec<String> {
    fn check<T: DeserializeOwned>(
        args: Option<&serde_json::Value>,
        path: &str,
        validate: impl Fn(&T, &str) -> Vec<String>,
    ) -> Vec<String> {
        match decode::<T>(args, path) {
            Ok(decoded) => validate(&decoded, path),
            Err(err) => vec![err],
        }
    }
    match name {
        "NodeResourcesFit" => check(args, path, NodeResourcesFitArgs::validate),
        "NodeResourcesBalancedAllocation" => {
            check(args, path, NodeResourcesBalancedAllocationArgs::validate)
        }
        "InterPodAffinity" => check(args, path, InterPodAffinityArgs::validate),
        "NodeAffinity" => check(args, path, NodeAffinityArgs::validate),
        "PodTopologySpread" => check(args, path, PodTopologySpreadArgs::validate),
        "DefaultPreemption" => check(args, path, DefaultPreemptionArgs::validate),
        "VolumeBinding" => check(args, path, VolumeBindingArgs::validate),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_apply() {
        let fit: NodeResourcesFitArgs = decode(None, "args").unwrap();
        let s = fit.strategy();
        assert_eq!(s.type_, "LeastAllocated");
        assert_eq!(s.resources, default_resources());
        let ipa: InterPodAffinityArgs = decode(None, "args").unwrap();
        assert_eq!(ipa.hard_pod_affinity_weight, 1);
        let dp: DefaultPreemptionArgs = decode(None, "args").unwrap();
        assert_eq!(
            (
                dp.min_candidate_nodes_percentage,
                dp.min_candidate_nodes_absolute
            ),
            (10, 100)
        );
        let pts: PodTopologySpreadArgs = decode(None, "args").unwrap();
        assert_eq!(pts.defaulting_type, "System");
        let vb: VolumeBindingArgs =
            decode(Some(&json!({"kind": "VolumeBindingArgs"})), "args").unwrap();
        assert_eq!(vb.bind_timeout_seconds, 600);
    }

    #[test]
    fn validation_names_fields() {
        let errs = validate_plugin_args(
            "NodeResourcesFit",
            Some(
                &json!({"scoringStrategy": {"type": "Nope", "resources": [{"name": "cpu", "weight": 101}]}}),
            ),
            "profiles[0].pluginConfig[0].args",
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with(
            "profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value"
        ));
        assert!(errs[1].contains("resources[0].weight"));
        let errs = validate_plugin_args("NodeResourcesFit", Some(&json!({"bogus": 1})), "p");
        assert!(errs[0].contains("unknown field `bogus`"), "{errs:?}");
        let errs = validate_plugin_args(
            "NodeResourcesFit",
            Some(
                &json!({"scoringStrategy": {"type": "RequestedToCapacityRatio",
                "requestedToCapacityRatio": {"shape": [{"utilization": 50, "score": 5}, {"utilization": 40, "score": 11}]}}}),
            ),
            "p",
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        let errs = validate_plugin_args(
            "PodTopologySpread",
            Some(
                &json!({"defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}),
            ),
            "p",
        );
        assert!(
            errs[0].contains("when .defaultingType is \"System\""),
            "{errs:?}"
        );
        let errs = validate_plugin_args(
            "DefaultPreemption",
            Some(&json!({"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0})),
            "p",
        );
        assert_eq!(errs.len(), 1);
        assert!(
            validate_plugin_args(
                "InterPodAffinity",
                Some(&json!({"hardPodAffinityWeight": 101})),
                "p"
            )
            .len()
                == 1
        );
        assert!(
            validate_plugin_args(
                "NodeResourcesBalancedAllocation",
                Some(&json!({"resources": [{"name": "cpu", "weight": 2}]})),
                "p"
            )
            .len()
                == 1
        );
    }
}
