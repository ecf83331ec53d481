//! Job spec validation shared by Jobs and CronJob job templates (upstream
//! `validateJobSpec` and the policies it checks).

use std::collections::BTreeSet;

use corten_apimachinery::names::is_dns1123_subdomain;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::batch::v1::{JobSpec, PodFailurePolicyRule};
use serde_json::Value;

use crate::pod::field_rules::{opt, shown, validate_nonnegative};
use crate::pod::validate_pod_template_spec;

const MAX_PARALLELISM_FOR_INDEXED_JOB: i32 = 100_000;
const MAX_FAILED_INDEXES_FOR_INDEXED_JOB: i32 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i32 = 100_000;
const PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
const MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS: i32 = 10_000;
const MAX_POD_FAILURE_POLICY_RULES: usize = 20;
const MAX_ON_EXIT_CODES_VALUES: usize = 255;
const MAX_ON_POD_CONDITIONS_PATTERNS: usize = 20;
const MAX_MANAGED_BY_LENGTH: usize = 63;
const MAX_SUCCESS_POLICY_RULES: usize = 20;

/// Upstream `IsDomainPrefixedPath`.
fn validate_domain_prefixed_path(value: &str, path: &Path) -> ErrorList {
    if value.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let Some((host, rest)) = value
        .split_once('/')
        .filter(|(h, r)| !h.is_empty() && !r.is_empty())
    else {
        return vec![FieldError::invalid(
            path,
            value,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )];
    };
    let mut errs: ErrorList = is_dns1123_subdomain(host)
        .into_iter()
        .map(|m| FieldError::invalid(path, host, &m))
        .collect();
    let ok = rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c));
    if !ok {
        errs.push(FieldError::invalid(
            path,
            rest,
            "Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ));
    }
    errs
}

fn validate_pod_failure_rule(
    spec: &JobSpec,
    rule: &PodFailurePolicyRule,
    path: &Path,
    names: &BTreeSet<&str>,
) -> ErrorList {
    let mut errs = Vec::new();
    const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
    let action_path = path.child("action");
    match rule.action.as_str() {
        "" => errs.push(FieldError::required(
            &action_path,
            "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
        )),
        "FailIndex" if spec.backoff_limit_per_index.is_none() => {
            errs.push(FieldError::invalid(
                &action_path,
                "FailIndex",
                "requires the backoffLimitPerIndex to be set",
            ));
        }
        a if !ACTIONS.contains(&a) => {
            errs.push(FieldError::not_supported(&action_path, a, ACTIONS))
        }
        _ => {}
    }
    if let Some(oec) = rule.on_exit_codes.as_ref() {
        let p = path.child("onExitCodes");
        match oec.operator.as_str() {
            "" => errs.push(FieldError::required(
                &p.child("operator"),
                "valid values: [\"In\" \"NotIn\"]",
            )),
            "In" | "NotIn" => {}
            o => errs.push(FieldError::not_supported(
                &p.child("operator"),
                o,
                &["In", "NotIn"],
            )),
        }
        if let Some(c) = oec.container_name.as_deref()
            && !names.contains(c)
        {
            errs.push(FieldError::invalid(
                &p.child("containerName"),
                c,
                "must be one of the container or initContainer names in the pod template",
            ));
        }
        let vp = p.child("values");
        if oec.values.is_empty() {
            errs.push(FieldError::invalid(
                &vp,
                shown(&oec.values),
                "at least one value is required",
            ));
        } else if oec.values.len() > MAX_ON_EXIT_CODES_VALUES {
            errs.push(FieldError::too_many(
                &vp,
                oec.values.len(),
                MAX_ON_EXIT_CODES_VALUES,
            ));
        }
        let mut seen = BTreeSet::new();
        for (j, v) in oec.values.iter().enumerate() {
            if oec.operator == "In" && *v == 0 {
                errs.push(FieldError::invalid(
                    &vp.index(j),
                    *v,
                    "must not be 0 for the In operator",
                ));
            }
            if !seen.insert(*v) {
                errs.push(FieldError::duplicate(&vp.index(j), *v));
            }
        }
        if oec.values.windows(2).any(|w| w[0] > w[1]) {
            errs.push(FieldError::invalid(
                &vp,
                shown(&oec.values),
                "must be ordered",
            ));
        }
    }
    let patterns = rule.on_pod_conditions.as_deref().unwrap_or_default();
    if !patterns.is_empty() {
        let p = path.child("onPodConditions");
        if patterns.len() > MAX_ON_POD_CONDITIONS_PATTERNS {
            errs.push(FieldError::too_many(
                &p,
                patterns.len(),
                MAX_ON_POD_CONDITIONS_PATTERNS,
            ));
        }
        for (j, pat) in patterns.iter().enumerate() {
            errs.extend(crate::pod::metadata::validate_qualified(
                &pat.type_,
                &p.index(j).child("type"),
            ));
            let sp = p.index(j).child("status");
            match pat.status.as_str() {
                "" => errs.push(FieldError::required(
                    &sp,
                    "valid values: [\"False\" \"True\" \"Unknown\"]",
                )),
                "True" | "False" | "Unknown" => {}
                s => errs.push(FieldError::not_supported(
                    &sp,
                    s,
                    &["False", "True", "Unknown"],
                )),
            }
        }
    }
    let omitted = Value::String(String::new());
    if rule.on_exit_codes.is_some() && !patterns.is_empty() {
        errs.push(FieldError::invalid(
            path,
            omitted.clone(),
            "specifying both OnExitCodes and OnPodConditions is not supported",
        ));
    }
    if rule.on_exit_codes.is_none() && patterns.is_empty() {
        errs.push(FieldError::invalid(
            path,
            omitted,
            "specifying one of OnExitCodes and OnPodConditions is required",
        ));
    }
    errs
}

/// Upstream `validateJobSpec` (everything but the selector): counts,
/// completion mode, failure/success/replacement policies, the pod template
/// and its restart policy. Shared with CronJob job templates.
pub fn validate_job_spec_fields(spec: &JobSpec, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (v, name) in [
        (spec.parallelism.map(i64::from), "parallelism"),
        (spec.completions.map(i64::from), "completions"),
        (spec.active_deadline_seconds, "activeDeadlineSeconds"),
        (spec.backoff_limit.map(i64::from), "backoffLimit"),
        (
            spec.ttl_seconds_after_finished.map(i64::from),
            "ttlSecondsAfterFinished",
        ),
        (
            spec.backoff_limit_per_index.map(i64::from),
            "backoffLimitPerIndex",
        ),
        (spec.max_failed_indexes.map(i64::from), "maxFailedIndexes"),
    ] {
        if let Some(v) = v {
            errs.extend(validate_nonnegative(v, &path.child(name)));
        }
    }
    if spec.max_failed_indexes.is_some() && spec.backoff_limit_per_index.is_none() {
        errs.push(FieldError::required(
            &path.child("backoffLimitPerIndex"),
            "when maxFailedIndexes is specified",
        ));
    }
    if let Some(m) = spec.managed_by.as_deref() {
        errs.extend(validate_domain_prefixed_path(m, &path.child("managedBy")));
        if m.len() > MAX_MANAGED_BY_LENGTH {
            errs.push(FieldError::too_long(
                &path.child("managedBy"),
                MAX_MANAGED_BY_LENGTH,
            ));
        }
    }
    let mode = spec.completion_mode.as_deref();
    if let Some(m) = mode {
        if m != "NonIndexed" && m != "Indexed" {
            errs.push(FieldError::not_supported(
                &path.child("completionMode"),
                m,
                &["NonIndexed", "Indexed"],
            ));
        }
        if m == "Indexed" {
            if spec.completions.is_none() {
                errs.push(FieldError::required(
                    &path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = spec
                .parallelism
                .filter(|p| *p > MAX_PARALLELISM_FOR_INDEXED_JOB)
            {
                errs.push(FieldError::invalid(
                    &path.child("parallelism"),
                    p,
                    &format!("must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is Indexed"),
                ));
            }
            if let (Some(c), Some(m)) = (spec.completions, spec.max_failed_indexes)
                && m > c
            {
                errs.push(FieldError::invalid(
                    &path.child("maxFailedIndexes"),
                    m,
                    "must be less than or equal to completions",
                ));
            }
            if let Some(m) = spec
                .max_failed_indexes
                .filter(|m| *m > MAX_FAILED_INDEXES_FOR_INDEXED_JOB)
            {
                errs.push(FieldError::invalid(
                    &path.child("maxFailedIndexes"),
                    m,
                    &format!("must be less than or equal to {MAX_FAILED_INDEXES_FOR_INDEXED_JOB}"),
                ));
            }
            if spec.completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT)
                && spec.backoff_limit_per_index.is_some()
            {
                if spec.max_failed_indexes.is_none() {
                    errs.push(FieldError::required(
                        &path.child("maxFailedIndexes"),
                        &format!(
                            "must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"
                        ),
                    ));
                }
                if let Some(p) = spec
                    .parallelism
                    .filter(|p| *p > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS)
                {
                    errs.push(FieldError::invalid(
                        &path.child("parallelism"),
                        p,
                        &format!("must be less than or equal to {PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"),
                    ));
                }
                if let Some(m) = spec
                    .max_failed_indexes
                    .filter(|m| *m > MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS)
                {
                    errs.push(FieldError::invalid(
                        &path.child("maxFailedIndexes"),
                        m,
                        &format!("must be less than or equal to {MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS} when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"),
                    ));
                }
            }
        }
    }
    let indexed = mode == Some("Indexed");
    if !indexed {
        if let Some(b) = spec.backoff_limit_per_index {
            errs.push(FieldError::invalid(
                &path.child("backoffLimitPerIndex"),
                b,
                "requires indexed completion mode",
            ));
        }
        if let Some(m) = spec.max_failed_indexes {
            errs.push(FieldError::invalid(
                &path.child("maxFailedIndexes"),
                m,
                "requires indexed completion mode",
            ));
        }
    }
    if let Some(pfp) = spec.pod_failure_policy.as_ref() {
        let rules_path = path.child("podFailurePolicy").child("rules");
        if pfp.rules.len() > MAX_POD_FAILURE_POLICY_RULES {
            errs.push(FieldError::too_many(
                &rules_path,
                pfp.rules.len(),
                MAX_POD_FAILURE_POLICY_RULES,
            ));
        }
        let pod_spec = spec.template.spec.as_ref();
        let names: BTreeSet<&str> = pod_spec
            .map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
                    .map(|c| c.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        for (i, rule) in pfp.rules.iter().enumerate() {
            errs.extend(validate_pod_failure_rule(
                spec,
                rule,
                &rules_path.index(i),
                &names,
            ));
        }
    }
    if let Some(sp) = spec.success_policy.as_ref() {
        let sp_path = path.child("successPolicy");
        if !indexed {
            errs.push(FieldError::invalid(
                &sp_path,
                shown(sp),
                "requires indexed completion mode",
            ));
        } else {
            let rules_path = sp_path.child("rules");
            if sp.rules.is_empty() {
                errs.push(FieldError::required(
                    &rules_path,
                    "at least one rules must be specified when the successPolicy is specified",
                ));
            }
            if sp.rules.len() > MAX_SUCCESS_POLICY_RULES {
                errs.push(FieldError::too_many(
                    &rules_path,
                    sp.rules.len(),
                    MAX_SUCCESS_POLICY_RULES,
                ));
            }
            let completions = spec.completions.unwrap_or(0);
            for (i, rule) in sp.rules.iter().enumerate() {
                let rp = rules_path.index(i);
                if rule.succeeded_count.is_none() && rule.succeeded_indexes.is_none() {
                    errs.push(FieldError::required(
                        &rp,
                        "at least one of succeededCount or succeededIndexes must be specified",
                    ));
                }
                if let Some(c) = rule.succeeded_count {
                    errs.extend(validate_nonnegative(
                        i64::from(c),
                        &rp.child("succeededCount"),
                    ));
                    if c > completions {
                        errs.push(FieldError::invalid(
                            &rp.child("succeededCount"),
                            c,
                            &format!("must be less than or equal to {completions} (the number of specified completions)"),
                        ));
                    }
                }
            }
        }
    }
    if let Some(p) = spec.pod_replacement_policy.as_deref() {
        let pp = path.child("podReplacementPolicy");
        if spec.pod_failure_policy.is_some() {
            if p != "Failed" {
                errs.push(FieldError::not_supported(&pp, p, &["Failed"]));
            }
        } else if p != "Failed" && p != "TerminatingOrFailed" {
            errs.push(FieldError::not_supported(
                &pp,
                p,
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    errs.extend(validate_pod_template_spec(
        &spec.template,
        &path.child("template"),
    ));
    let restart = spec
        .template
        .spec
        .as_ref()
        .map(|s| opt(&s.restart_policy))
        .unwrap_or("");
    let rp = path.child("template").child("spec").child("restartPolicy");
    match restart {
        "Always" | "" => errs.push(FieldError::required(
            &rp,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" | "Never" => {
            if spec.pod_failure_policy.is_some() && restart != "Never" {
                errs.push(FieldError::invalid(
                    &rp,
                    restart,
                    "only \"Never\" is supported when podFailurePolicy is specified",
                ));
            }
        }
        r => errs.push(FieldError::not_supported(&rp, r, &["OnFailure", "Never"])),
    }
    errs
}
