//! CronJob.

use corten_apimachinery::names::{validate_object_meta, validate_object_meta_update};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec};
use serde_json::Value;

use super::job_spec::validate_job_spec_fields;
use super::schedule::{check_time_zone, parse_standard};
use crate::pod::canonical::{canonical_template, drop_disabled_template_fields};
use crate::pod::field_rules::{opt, shown, validate_nonnegative};
use crate::pod::{canonical_typed, decode, default_pod_template_spec, mutate_typed};
use crate::strategy::{Strategy, default_prepare_for_create, default_prepare_for_update};

/// CronJob names leave room for the 11-character suffix of their Jobs.
const MAX_CRON_JOB_NAME_LENGTH: usize = 52;

/// The strategy of batch/v1 CronJob.
pub struct CronJobStrategy;

/// `SetDefaults_CronJob` plus the job template's pod template defaults
/// (the JobSpec itself is not defaulted inside a CronJob, as upstream).
fn default_cron_job(c: &mut CronJob) {
    let spec = c.spec.get_or_insert_with(Default::default);
    if opt(&spec.concurrency_policy).is_empty() {
        spec.concurrency_policy = Some("Allow".to_string());
    }
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit.get_or_insert(3);
    spec.failed_jobs_history_limit.get_or_insert(1);
    let job_spec = spec.job_template.spec.get_or_insert_with(Default::default);
    default_pod_template_spec(&mut job_spec.template);
}

/// Upstream `validateScheduleFormat`.
fn validate_schedule(
    schedule: &str,
    allow_tz: bool,
    time_zone: Option<&str>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    if let Err(e) = parse_standard(schedule) {
        errs.push(FieldError::invalid(path, schedule, &e));
    }
    let has_tz = schedule.contains("TZ");
    if allow_tz && has_tz && time_zone.is_some() {
        errs.push(FieldError::invalid(
            path,
            schedule,
            "cannot use both timeZone field and TZ or CRON_TZ in schedule",
        ));
    } else if !allow_tz && has_tz {
        errs.push(FieldError::invalid(
            path,
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    }
    errs
}

/// Upstream `validateCronJobSpec`.
fn validate_cron_job_spec(spec: &CronJobSpec, old: Option<&CronJobSpec>) -> ErrorList {
    let path = Path::new("spec");
    let mut errs = Vec::new();
    if spec.schedule.is_empty() {
        errs.push(FieldError::required(&path.child("schedule"), ""));
    } else {
        let allow_tz = old.is_some_and(|o| o.schedule.contains("TZ"));
        errs.extend(validate_schedule(
            &spec.schedule,
            allow_tz,
            spec.time_zone.as_deref(),
            &path.child("schedule"),
        ));
    }
    if let Some(s) = spec.starting_deadline_seconds {
        errs.extend(validate_nonnegative(
            s,
            &path.child("startingDeadlineSeconds"),
        ));
    }
    if old.is_none_or(|o| o.time_zone != spec.time_zone)
        && let Some(tz) = spec.time_zone.as_deref()
        && let Err(e) = check_time_zone(tz)
    {
        errs.push(FieldError::invalid(&path.child("timeZone"), tz, &e));
    }
    let cp_path = path.child("concurrencyPolicy");
    match opt(&spec.concurrency_policy) {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required(&cp_path, "")),
        p => errs.push(FieldError::not_supported(
            &cp_path,
            p,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let jt_spec_path = path.child("jobTemplate").child("spec");
    let job_spec = spec.job_template.spec.clone().unwrap_or_default();
    errs.extend(validate_job_spec_fields(&job_spec, &jt_spec_path));
    if let Some(sel) = job_spec.selector.as_ref() {
        errs.push(FieldError::invalid(
            &jt_spec_path.child("selector"),
            shown(sel),
            "`selector` will be auto-generated",
        ));
    }
    if job_spec.manual_selector == Some(true) {
        errs.push(FieldError::not_supported(
            &jt_spec_path.child("manualSelector"),
            true,
            &["nil", "false"],
        ));
    }
    for (v, name) in [
        (
            spec.successful_jobs_history_limit,
            "successfulJobsHistoryLimit",
        ),
        (spec.failed_jobs_history_limit, "failedJobsHistoryLimit"),
    ] {
        if let Some(v) = v {
            errs.extend(validate_nonnegative(i64::from(v), &path.child(name)));
        }
    }
    errs
}

impl Strategy for CronJobStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        canonical_typed::<CronJob>(obj, |c| {
            match c.spec.as_mut().and_then(|s| s.job_template.spec.as_mut()) {
                Some(js) => canonical_template(&mut js.template, "spec.jobTemplate.spec.template"),
                None => Ok(()),
            }
        })
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        default_prepare_for_create(obj, true);
        mutate_typed::<CronJob>(obj, |c| {
            if let Some(js) = c.spec.as_mut().and_then(|s| s.job_template.spec.as_mut()) {
                drop_disabled_template_fields(&mut js.template, None);
            }
        });
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_t = crate::typed::decode::<CronJob>(old)
            .ok()
            .and_then(|c| c.spec)
            .and_then(|s| s.job_template.spec)
            .map(|s| s.template);
        mutate_typed::<CronJob>(new, |c| {
            default_cron_job(c);
            if let Some(js) = c.spec.as_mut().and_then(|s| s.job_template.spec.as_mut()) {
                drop_disabled_template_fields(&mut js.template, old_t.as_ref());
            }
        });
        default_prepare_for_update(new, old, true);
    }

    fn default(&self, obj: &mut Value) {
        mutate_typed::<CronJob>(obj, default_cron_job);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs =
            validate_object_meta(obj, true, self.name_validator(), &Path::new("metadata"));
        let c = match decode::<CronJob>(obj) {
            Ok(c) => c,
            Err(e) => return e,
        };
        errs.extend(validate_cron_job_spec(&c.spec.unwrap_or_default(), None));
        let name = c.metadata.name.as_deref().unwrap_or("");
        if name.len() > MAX_CRON_JOB_NAME_LENGTH {
            errs.push(FieldError::invalid(
                &Path::new("metadata").child("name"),
                name,
                "must be no more than 52 characters",
            ));
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
        let (n, o): (CronJob, CronJob) = match (decode(new), decode(old)) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let old_spec = o.spec.unwrap_or_default();
        errs.extend(validate_cron_job_spec(
            &n.spec.unwrap_or_default(),
            Some(&old_spec),
        ));
        errs
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList {
        validate_object_meta_update(
            new,
            old,
            true,
            self.name_validator(),
            &Path::new("metadata"),
        )
    }
}
