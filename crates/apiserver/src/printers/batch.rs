//! batch: Job and CronJob.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::access::{
    at, container_cells, format_label_selector, go_bool, int, is_deleting, list, name, opt_bool,
    opt_int, opt_text, time_since, timestamp,
};
use super::duration::{human_signed_duration, since};
use super::{AGE, CONTAINERS, Column, IMAGES, NAME, Printer};

pub(super) fn printer(kind: &str) -> Option<&'static Printer> {
    match kind {
        "Job" => Some(&JOB),
        "CronJob" => Some(&CRON_JOB),
        _ => None,
    }
}

const SELECTOR: Column = Column::wide("Selector", "string", "Label query over the job's pods.");

static JOB: Printer = Printer::new(
    &[
        NAME,
        Column::new("Status", "string", "Status of the job."),
        Column::new(
            "Completions",
            "string",
            "Succeeded pods out of the completions wanted.",
        ),
        Column::new("Duration", "string", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    job_cells,
);

/// Upstream `hasJobCondition`: the first condition of the type decides.
fn has_condition(job: &Value, type_: &str) -> bool {
    list(job, &["status", "conditions"])
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

/// The STATUS column (1.33): Complete, Failed, Terminating, Suspended,
/// FailureTarget or Running, in that precedence.
pub(super) fn job_status(job: &Value) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if is_deleting(job) {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// COMPLETIONS: `succeeded/completions`, or `succeeded/1 of parallelism`
/// for a work-queue job. Upstream defaults both counts to 1 when neither is
/// set.
fn job_completions(job: &Value) -> String {
    let succeeded = int(job, &["status", "succeeded"]);
    let completions = opt_int(job, &["spec", "completions"]);
    let parallelism = opt_int(job, &["spec", "parallelism"]);
    match (completions, parallelism) {
        (Some(c), _) => format!("{succeeded}/{c}"),
        (None, None) => format!("{succeeded}/1"),
        (None, Some(p)) if p > 1 => format!("{succeeded}/1 of {p}"),
        (None, Some(_)) => format!("{succeeded}/1"),
    }
}

fn job_duration(job: &Value, now: Timestamp) -> String {
    let Some(start) = timestamp(at(job, &["status", "startTime"])) else {
        return String::new();
    };
    match timestamp(at(job, &["status", "completionTime"])) {
        None => human_signed_duration(since(start, now)),
        Some(done) => human_signed_duration(since(start, done)),
    }
}

fn job_cells(job: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(list(job, &["spec", "template", "spec", "containers"]));
    vec![
        json!(name(job)),
        json!(job_status(job)),
        json!(job_completions(job)),
        json!(job_duration(job, now)),
        json!(super::access::age(job, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(at(job, &["spec", "selector"]))),
    ]
}

static CRON_JOB: Printer = Printer::new(
    &[
        NAME,
        Column::new("Schedule", "string", "The schedule in Cron format."),
        Column::new("Timezone", "string", "The time zone of the schedule."),
        Column::new("Suspend", "boolean", "Whether new runs are suspended."),
        Column::new("Active", "integer", "Number of running jobs."),
        Column::new(
            "Last Schedule",
            "string",
            "When a job was last successfully scheduled.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cron_job_cells,
);

fn cron_job_cells(cj: &Value, now: Timestamp) -> Vec<Value> {
    let template = at(cj, &["spec", "jobTemplate", "spec"]);
    let (names, images) = container_cells(list(template, &["template", "spec", "containers"]));
    let last_schedule = at(cj, &["status", "lastScheduleTime"]);
    let last_schedule = if last_schedule.is_null() {
        "<none>".to_string()
    } else {
        time_since(last_schedule, now)
    };
    vec![
        json!(name(cj)),
        json!(super::access::text(cj, &["spec", "schedule"])),
        json!(opt_text(cj, &["spec", "timeZone"]).unwrap_or("<none>")),
        // A string even though the column says boolean; upstream defaults
        // suspend to false.
        json!(go_bool(opt_bool(cj, &["spec", "suspend"]).unwrap_or(false))),
        json!(list(cj, &["status", "active"]).len()),
        json!(last_schedule),
        json!(super::access::age(cj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(at(template, &["selector"]))),
    ]
}
