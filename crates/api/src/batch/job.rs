//! Job.

use std::collections::{BTreeMap, BTreeSet};

use corten_apimachinery::names::{
    is_dns1123_label, validate_object_meta, validate_object_meta_update,
};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::batch::v1::{Job, JobSpec, JobStatus};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::job_spec::validate_job_spec_fields;
use super::{
    CONTROLLER_UID_LABEL, JOB_NAME_LABEL, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL,
};
use crate::pod::canonical::{canonical_template, drop_disabled_template_fields};
use crate::pod::field_rules::{opt, shown, validate_immutable, validate_nonnegative};
use crate::pod::metadata::{selector_matches, validate_label_selector};
use crate::pod::{canonical_typed, decode, default_pod_template_spec, mutate_typed};
use crate::strategy::{Strategy, default_prepare_for_create, default_prepare_for_update};
/// The strategy of batch/v1 Job.
pub struct JobStrategy;

/// `SetDefaults_Job` plus template defaults.
fn default_job(job: &mut Job) {
    let spec = job.spec.get_or_insert_with(Default::default);
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    if spec.backoff_limit.is_none() {
        spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            6
        });
    }
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone());
    if let Some(labels) = template_labels
        && job.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
    {
        job.metadata.labels = Some(labels);
    }
    if opt(&spec.completion_mode).is_empty() {
        spec.completion_mode = Some("NonIndexed".to_string());
    }
    spec.suspend.get_or_insert(false);
    if let Some(pfp) = spec.pod_failure_policy.as_mut() {
        for rule in pfp.rules.iter_mut() {
            for pattern in rule.on_pod_conditions.iter_mut().flatten() {
                if pattern.status.is_empty() {
                    pattern.status = "True".to_string();
                }
            }
        }
    }
    if spec.pod_replacement_policy.is_none() {
        let policy = if spec.pod_failure_policy.is_some() {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        spec.pod_replacement_policy = Some(policy.to_string());
    }
    spec.manual_selector.get_or_insert(false);
    default_pod_template_spec(&mut spec.template);
}

/// Upstream `generateSelector`: the job-name and controller-uid labels on
/// the template (unless the client set them) and a selector on the uid.
fn generate_selector(job: &mut Job) {
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let spec = job.spec.get_or_insert_with(Default::default);
    let labels = spec
        .template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default);
    for key in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
        labels
            .entry(key.to_string())
            .or_insert_with(|| name.clone());
    }
    for key in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
        labels.entry(key.to_string()).or_insert_with(|| uid.clone());
    }
    let selector = spec.selector.get_or_insert_with(Default::default);
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .entry(CONTROLLER_UID_LABEL.to_string())
        .or_insert(uid);
}

/// Upstream `ValidateHasLabel` on the template metadata.
fn validate_has_label(
    template: &PodTemplateSpec,
    key: &str,
    expected: &str,
    path: &Path,
) -> ErrorList {
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    let msg = format!("must be '{expected}'");
    match labels.and_then(|l| l.get(key)) {
        None => vec![FieldError::required(&path.child("labels").key(key), &msg)],
        Some(v) if v != expected => vec![FieldError::invalid(
            &path.child("labels").key(key),
            shown(&labels),
            &msg,
        )],
        Some(_) => Vec::new(),
    }
}

/// Upstream `validateGeneratedSelector`.
fn validate_generated_selector(job: &Job, require_prefixed: bool) -> ErrorList {
    let Some(spec) = job.spec.as_ref() else {
        return Vec::new();
    };
    if spec.manual_selector == Some(true) {
        return Vec::new();
    }
    let Some(selector) = spec.selector.as_ref() else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let uid = job.metadata.uid.as_deref().unwrap_or("");
    let name = job.metadata.name.as_deref().unwrap_or("");
    if uid.is_empty() {
        errs.push(FieldError::required(
            &Path::new("metadata").child("uid"),
            "",
        ));
    }
    let meta_path = Path::new("spec").child("template").child("metadata");
    errs.extend(validate_has_label(
        &spec.template,
        LEGACY_CONTROLLER_UID_LABEL,
        uid,
        &meta_path,
    ));
    errs.extend(validate_has_label(
        &spec.template,
        LEGACY_JOB_NAME_LABEL,
        name,
        &meta_path,
    ));
    let mut expected = BTreeMap::new();
    if require_prefixed {
        errs.extend(validate_has_label(
            &spec.template,
            CONTROLLER_UID_LABEL,
            uid,
            &meta_path,
        ));
        errs.extend(validate_has_label(
            &spec.template,
            JOB_NAME_LABEL,
            name,
            &meta_path,
        ));
        expected.insert(CONTROLLER_UID_LABEL.to_string(), uid.to_string());
        expected.insert(JOB_NAME_LABEL.to_string(), name.to_string());
    }
    expected.insert(LEGACY_CONTROLLER_UID_LABEL.to_string(), uid.to_string());
    expected.insert(LEGACY_JOB_NAME_LABEL.to_string(), name.to_string());
    if selector_matches(selector, &expected) == Some(false) {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("selector"),
            shown(selector),
            "`selector` not auto-generated",
        ));
    }
    errs
}

/// Upstream `ValidateJobSpec`: the fields plus the selector rules.
fn validate_job_spec(spec: &JobSpec, path: &Path) -> ErrorList {
    let mut errs = validate_job_spec_fields(spec, path);
    let sel_path = path.child("selector");
    match spec.selector.as_ref() {
        None => errs.push(FieldError::required(&sel_path, "")),
        Some(s) => errs.extend(validate_label_selector(Some(s), false, &sel_path)),
    }
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let matches = match spec.selector.as_ref() {
        None => Some(false),
        Some(s) => selector_matches(s, &labels),
    };
    if matches == Some(false) {
        errs.push(FieldError::invalid(
            &path.child("template").child("metadata").child("labels"),
            shown(&labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs
}

/// Upstream `ValidateJob` minus `ValidateObjectMeta`.
fn validate_job(job: &Job, require_prefixed: bool) -> ErrorList {
    let mut errs = validate_generated_selector(job, require_prefixed);
    let spec = job.spec.clone().unwrap_or_default();
    errs.extend(validate_job_spec(&spec, &Path::new("spec")));
    if spec.completion_mode.as_deref() == Some("Indexed")
        && let Some(c) = spec.completions.filter(|c| *c > 0)
    {
        let name = job.metadata.name.as_deref().unwrap_or("");
        let hostname = format!("{name}-{}", c - 1);
        if !is_dns1123_label(&hostname).is_empty() {
            errs.push(FieldError::invalid(
                &Path::new("metadata").child("name"),
                name,
                &format!("will not able to create pod with invalid DNS label: {hostname}"),
            ));
        }
    }
    errs
}

/// Upstream `validatePodTemplateUpdate`: the template is immutable, except
/// scheduling directives of suspended jobs that never started.
fn validate_template_update(
    new: &JobSpec,
    old: &JobSpec,
    mutable_scheduling: bool,
    path: &Path,
) -> ErrorList {
    let mut old_t = old.template.clone();
    if mutable_scheduling {
        let new_spec = new.template.spec.clone().unwrap_or_default();
        let os = old_t.spec.get_or_insert_with(Default::default);
        match (new_spec.affinity.as_ref(), os.affinity.as_mut()) {
            (None, Some(a)) => {
                a.node_affinity = None;
                if *a == Default::default() {
                    os.affinity = None;
                }
            }
            (Some(n), None) => {
                os.affinity = Some(k8s_openapi::api::core::v1::Affinity {
                    node_affinity: n.node_affinity.clone(),
                    ..Default::default()
                });
            }
            (Some(n), Some(a)) => a.node_affinity = n.node_affinity.clone(),
            (None, None) => {}
        }
        os.node_selector = new_spec.node_selector.clone();
        os.tolerations = new_spec.tolerations.clone();
        os.scheduling_gates = new_spec.scheduling_gates.clone();
        let nm = new.template.metadata.clone().unwrap_or_default();
        let om = old_t.metadata.get_or_insert_with(Default::default);
        om.annotations = nm.annotations;
        om.labels = nm.labels;
    }
    validate_immutable(&new.template, &old_t, &path.child("template"))
}

/// Upstream `validateCompletions` with ElasticIndexedJob (GA): completions
/// may change only for Indexed jobs, together with parallelism.
fn validate_completions(new: &JobSpec, old: &JobSpec, path: &Path) -> ErrorList {
    let indexed = new.completion_mode.as_deref() == Some("Indexed");
    if !indexed {
        return validate_immutable(&new.completions, &old.completions, path);
    }
    match new.completions {
        Some(c) if new.completions != old.completions && Some(c) != new.parallelism => {
            vec![FieldError::invalid(
                path,
                c,
                "can only be modified in tandem with spec.parallelism",
            )]
        }
        _ => Vec::new(),
    }
}

/// Upstream `ValidateJobSpecUpdate` minus re-validating the spec.
fn validate_job_spec_update(new: &JobSpec, old: &JobSpec, mutable_scheduling: bool) -> ErrorList {
    let path = Path::new("spec");
    let mut errs = validate_completions(new, old, &path.child("completions"));
    errs.extend(validate_immutable(
        &new.selector,
        &old.selector,
        &path.child("selector"),
    ));
    errs.extend(validate_template_update(
        new,
        old,
        mutable_scheduling,
        &path,
    ));
    errs.extend(validate_immutable(
        &new.completion_mode,
        &old.completion_mode,
        &path.child("completionMode"),
    ));
    errs.extend(validate_immutable(
        &new.pod_failure_policy,
        &old.pod_failure_policy,
        &path.child("podFailurePolicy"),
    ));
    errs.extend(validate_immutable(
        &new.backoff_limit_per_index,
        &old.backoff_limit_per_index,
        &path.child("backoffLimitPerIndex"),
    ));
    errs.extend(validate_immutable(
        &new.managed_by,
        &old.managed_by,
        &path.child("managedBy"),
    ));
    errs.extend(validate_immutable(
        &new.success_policy,
        &old.success_policy,
        &path.child("successPolicy"),
    ));
    errs
}

fn condition_true(status: &JobStatus, kind: &str) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == kind && c.status == "True")
}

fn is_finished(status: &JobStatus) -> bool {
    condition_true(status, "Complete") || condition_true(status, "Failed")
}

/// The core of upstream `ValidateJobStatusUpdate` with the JobManagedBy
/// (beta, on) rules for counters and terminal conditions.
fn validate_job_status_update(job: &Job, old: &Job) -> ErrorList {
    let p = Path::new("status");
    let (s, os) = (
        job.status.clone().unwrap_or_default(),
        old.status.clone().unwrap_or_default(),
    );
    let mut errs = Vec::new();
    for (v, name) in [
        (s.active, "active"),
        (s.succeeded, "succeeded"),
        (s.failed, "failed"),
        (s.ready, "ready"),
        (s.terminating, "terminating"),
    ] {
        if let Some(v) = v {
            errs.extend(validate_nonnegative(i64::from(v), &p.child(name)));
        }
    }
    if let Some(u) = s.uncounted_terminated_pods.as_ref() {
        let up = p.child("uncountedTerminatedPods");
        let mut seen = BTreeSet::new();
        for (list, name) in [(&u.succeeded, "succeeded"), (&u.failed, "failed")] {
            for (i, uid) in list.iter().flatten().enumerate() {
                let ip = up.child(name).index(i);
                if uid.is_empty() {
                    errs.push(FieldError::invalid(&ip, uid.as_str(), "must not be empty"));
                } else if !seen.insert(uid.clone()) {
                    errs.push(FieldError::duplicate(&ip, uid.as_str()));
                }
            }
        }
    }
    let omitted = Value::String(String::new());
    let (complete, failed) = (condition_true(&s, "Complete"), condition_true(&s, "Failed"));
    let complete_changed = complete != condition_true(&os, "Complete");
    if (complete_changed || failed != condition_true(&os, "Failed")) && complete && failed {
        errs.push(FieldError::invalid(
            &p.child("conditions"),
            omitted.clone(),
            "cannot set Complete=True and Failed=true conditions",
        ));
    }
    let finished_changed = is_finished(&s) != is_finished(&os);
    if (finished_changed || s.active != os.active) && s.active.unwrap_or(0) > 0 && is_finished(&s) {
        errs.push(FieldError::invalid(
            &p.child("active"),
            s.active.unwrap_or(0),
            "active>0 is invalid for finished job",
        ));
    }
    for kind in ["Failed", "Complete", "FailureTarget"] {
        if condition_true(&os, kind) && !condition_true(&s, kind) {
            errs.push(FieldError::invalid(
                &p.child("conditions"),
                omitted.clone(),
                &format!("cannot disable the terminal {kind}=True condition"),
            ));
        }
    }
    if s.failed.unwrap_or(0) < os.failed.unwrap_or(0) {
        errs.push(FieldError::invalid(
            &p.child("failed"),
            s.failed.unwrap_or(0),
            "cannot decrease the failed counter",
        ));
    }
    let spec = job.spec.clone().unwrap_or_default();
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let reject_succeeded = !indexed || spec.completions != spec.parallelism;
    if reject_succeeded && s.succeeded.unwrap_or(0) < os.succeeded.unwrap_or(0) {
        errs.push(FieldError::invalid(
            &p.child("succeeded"),
            s.succeeded.unwrap_or(0),
            "cannot decrease the succeeded counter",
        ));
    }
    errs
}

/// Whether updating the old job must keep the prefixed labels (it has them).
fn old_has_prefixed_labels(old: &Job) -> bool {
    let labels = old
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref());
    labels.is_some_and(|l| l.contains_key(JOB_NAME_LABEL) && l.contains_key(CONTROLLER_UID_LABEL))
}

impl Strategy for JobStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        canonical_typed::<Job>(obj, |job| match job.spec.as_mut() {
            Some(spec) => canonical_template(&mut spec.template, "spec.template"),
            None => Ok(()),
        })
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        default_prepare_for_create(obj, true);
        mutate_typed::<Job>(obj, |job| {
            let manual = job
                .spec
                .as_ref()
                .and_then(|s| s.manual_selector)
                .unwrap_or(false);
            if !manual {
                generate_selector(job);
            }
            if let Some(spec) = job.spec.as_mut() {
                drop_disabled_template_fields(&mut spec.template, None);
            }
        });
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_t = crate::typed::decode::<Job>(old)
            .ok()
            .and_then(|j| j.spec)
            .map(|s| s.template);
        mutate_typed::<Job>(new, |job| {
            default_job(job);
            if let Some(spec) = job.spec.as_mut() {
                drop_disabled_template_fields(&mut spec.template, old_t.as_ref());
            }
        });
        default_prepare_for_update(new, old, true);
    }

    fn default(&self, obj: &mut Value) {
        mutate_typed::<Job>(obj, default_job);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        match decode::<Job>(obj) {
            Ok(job) => errs.extend(validate_job(&job, true)),
            Err(e) => errs.extend(e),
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = validate_object_meta_update(
            new,
            old,
            true,
            self.name_validator(),
            &Path::new("metadata"),
        );
        let (n, o): (Job, Job) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        errs.extend(validate_job(&n, old_has_prefixed_labels(&o)));
        let (ns, os) = (
            n.spec.clone().unwrap_or_default(),
            o.spec.clone().unwrap_or_default(),
        );
        let suspended = os.suspend == Some(true);
        let never_started = o.status.as_ref().is_none_or(|s| s.start_time.is_none());
        errs.extend(validate_job_spec_update(
            &ns,
            &os,
            suspended && never_started,
        ));
        errs
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = validate_object_meta_update(
            new,
            old,
            true,
            self.name_validator(),
            &Path::new("metadata"),
        );
        match (decode::<Job>(new), decode::<Job>(old)) {
            (Ok(n), Ok(o)) => errs.extend(validate_job_status_update(&n, &o)),
            (Err(e), _) | (_, Err(e)) => errs.extend(e),
        }
        errs
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["status.successful"]
    }

    fn field_attrs(&self, obj: &Value) -> Vec<(String, String)> {
        let succeeded = obj
            .pointer("/status/succeeded")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        vec![("status.successful".to_string(), succeeded.to_string())]
    }
}
