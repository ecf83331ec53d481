//! `spec.podFailurePolicy` and `spec.successPolicy` (upstream
//! `matchPodFailurePolicy` and `matchSuccessPolicy`).

use k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, SuccessPolicy,
};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::ResourceExt;

use super::indexes::Intervals;

/// What a matching pod failure policy rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// The failure does not count against `backoffLimit`.
    Ignore,
    /// The whole Job fails.
    FailJob,
    /// The pod's index fails (backoffLimitPerIndex).
    FailIndex,
    /// Counted as usual.
    Count,
}

impl FailureAction {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Ignore" => FailureAction::Ignore,
            "FailJob" => FailureAction::FailJob,
            "FailIndex" => FailureAction::FailIndex,
            "Count" => FailureAction::Count,
            _ => return None,
        })
    }

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::Ignore => "Ignore",
            FailureAction::FailJob => "FailJob",
            FailureAction::FailIndex => "FailIndex",
            FailureAction::Count => "Count",
        }
    }
}

/// The outcome of matching a failed pod against the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyMatch {
    /// Whether the failure counts towards `status.failed` / the limit.
    pub count_failed: bool,
    /// The matched rule's action (`None`: no rule matched).
    pub action: Option<FailureAction>,
    /// For `FailJob`: the message of the Job's condition.
    pub message: Option<String>,
}

/// Upstream `matchPodFailurePolicy`: the first rule (in order) that
/// matches the failed pod decides; without a policy every failure counts.
pub fn match_pod_failure_policy(policy: Option<&PodFailurePolicy>, pod: &Pod) -> PolicyMatch {
    let no_match = PolicyMatch {
        count_failed: true,
        action: None,
        message: None,
    };
    let Some(policy) = policy else {
        return no_match;
    };
    let status = pod.status.clone().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let Some(action) = FailureAction::parse(&rule.action) else {
            continue;
        };
        let message = if let Some(req) = rule.on_exit_codes.as_ref() {
            let statuses = status.container_statuses.iter().flatten();
            let init = status.init_container_statuses.iter().flatten();
            let Some(matched) = statuses.chain(init).find(|c| exit_code_matches(c, req)) else {
                continue;
            };
            let code = matched
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| t.exit_code)
                .unwrap_or_default();
            format!(
                "Container {} for pod {}/{} failed with exit code {code} matching {} rule at index {index}",
                matched.name,
                pod.namespace().unwrap_or_default(),
                pod.name_any(),
                action.as_str()
            )
        } else if let Some(patterns) = rule.on_pod_conditions.as_ref() {
            let conditions = status.conditions.iter().flatten();
            let Some(matched) = conditions.clone().find(|c| {
                patterns.iter().any(|p| {
                    let want = if p.status.is_empty() {
                        "True"
                    } else {
                        p.status.as_str()
                    };
                    p.type_ == c.type_ && want == c.status
                })
            }) else {
                continue;
            };
            format!(
                "Pod {}/{} has condition {} matching {} rule at index {index}",
                pod.namespace().unwrap_or_default(),
                pod.name_any(),
                matched.type_,
                action.as_str()
            )
        } else {
            continue;
        };
        return PolicyMatch {
            count_failed: action != FailureAction::Ignore,
            action: Some(action),
            message: (action == FailureAction::FailJob).then_some(message),
        };
    }
    no_match
}

/// A terminated container with a non-zero exit code that the requirement's
/// operator accepts.
fn exit_code_matches(c: &ContainerStatus, req: &PodFailurePolicyOnExitCodesRequirement) -> bool {
    let Some(terminated) = c.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
        return false;
    };
    if req.container_name.as_ref().is_some_and(|n| *n != c.name) {
        return false;
    }
    let code = terminated.exit_code;
    if code == 0 {
        return false;
    }
    match req.operator.as_str() {
        "In" => req.values.contains(&code),
        "NotIn" => !req.values.contains(&code),
        _ => false,
    }
}

/// Upstream `matchSuccessPolicy`: the message of the first rule the
/// succeeded indexes satisfy (`Matched rules at index 0`).
pub fn match_success_policy(
    policy: Option<&SuccessPolicy>,
    completions: usize,
    succeeded: &Intervals,
) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    for (index, rule) in policy.rules.iter().enumerate() {
        let count = rule
            .succeeded_count
            .map(|c| usize::try_from(c).unwrap_or(0));
        let matched = if let Some(spec) = rule.succeeded_indexes.as_deref() {
            let required = Intervals::parse(spec, completions);
            if required.is_empty() {
                continue;
            }
            let done = (0..completions)
                .filter(|ix| required.has(*ix) && succeeded.has(*ix))
                .count();
            match count {
                None => done == required.total(),
                Some(c) => done >= c,
            }
        } else {
            count.is_some_and(|c| succeeded.total() >= c)
        };
        if matched {
            return Some(format!("Matched rules at index {index}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed_pod(exit: i32, conditions: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {
                "phase": "Failed",
                "conditions": conditions,
                "containerStatuses": [
                    {"name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"terminated": {"exitCode": exit}}}
                ]
            }
        }))
        .unwrap()
    }

    fn policy(rules: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(json!({"rules": rules})).unwrap()
    }

    #[test]
    fn exit_code_rules_decide_in_order() {
        let p = policy(json!([
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Ignore", "onExitCodes": {"operator": "NotIn", "values": [1]}},
        ]));
        let m = match_pod_failure_policy(Some(&p), &failed_pod(42, json!([])));
        assert_eq!(m.action, Some(FailureAction::FailJob));
        assert_eq!(
            m.message.as_deref(),
            Some(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0"
            )
        );
        let m = match_pod_failure_policy(Some(&p), &failed_pod(7, json!([])));
        assert_eq!(
            (m.action, m.count_failed),
            (Some(FailureAction::Ignore), false)
        );
        let m = match_pod_failure_policy(Some(&p), &failed_pod(1, json!([])));
        assert_eq!((m.action, m.count_failed), (None, true));
        let m = match_pod_failure_policy(None, &failed_pod(42, json!([])));
        assert_eq!((m.action, m.count_failed), (None, true));
    }

    #[test]
    fn condition_rules_match_type_and_status() {
        let p = policy(json!([
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]));
        let disrupted = failed_pod(1, json!([{"type": "DisruptionTarget", "status": "True"}]));
        let m = match_pod_failure_policy(Some(&p), &disrupted);
        assert_eq!(
            (m.action, m.count_failed),
            (Some(FailureAction::Ignore), false)
        );
        let not = failed_pod(1, json!([{"type": "DisruptionTarget", "status": "False"}]));
        assert_eq!(match_pod_failure_policy(Some(&p), &not).action, None);
    }

    #[test]
    fn success_policy_rules() {
        let p: SuccessPolicy = serde_json::from_value(json!({"rules": [
            {"succeededIndexes": "0-2", "succeededCount": 2},
            {"succeededCount": 4},
        ]}))
        .unwrap();
        let done = Intervals::parse("0,5", 10);
        assert_eq!(match_success_policy(Some(&p), 10, &done), None);
        let done = Intervals::parse("0,2", 10);
        assert_eq!(
            match_success_policy(Some(&p), 10, &done).as_deref(),
            Some("Matched rules at index 0")
        );
        let done = Intervals::parse("5-8", 10);
        assert_eq!(
            match_success_policy(Some(&p), 10, &done).as_deref(),
            Some("Matched rules at index 1")
        );
        let all: SuccessPolicy =
            serde_json::from_value(json!({"rules": [{"succeededIndexes": "1,3"}]})).unwrap();
        assert!(match_success_policy(Some(&all), 5, &Intervals::parse("1", 5)).is_none());
        assert!(match_success_policy(Some(&all), 5, &Intervals::parse("1,3", 5)).is_some());
    }
}
