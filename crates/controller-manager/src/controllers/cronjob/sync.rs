//! One sync of a CronJob (upstream `syncCronJob` and
//! `cleanupFinishedJobs`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{DeleteParams, PostParams, PropagationPolicy};
use kube::{Api, ResourceExt};

use super::schedule::{Schedule, load_location};
use super::times::{Missed, job_name, most_recent_schedule_time, next_schedule_time_duration};
use super::{CronJobReconciler, SCHEDULED_TIMESTAMP_ANNOTATION, SyncError, creation_skew};
use crate::framework::api_errors::{self, NAMESPACE_TERMINATING_CAUSE};
use crate::framework::controller_ref::{Owner, controller_of};
use crate::framework::events::EventType;

/// The terminal condition of a Job (`Complete` or `Failed`), if any.
pub fn finished_condition(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

fn in_active_list(cj: &CronJob, uid: &str) -> bool {
    cj.status
        .as_ref()
        .and_then(|s| s.active.as_ref())
        .is_some_and(|a| a.iter().any(|r| r.uid.as_deref() == Some(uid)))
}

fn delete_from_active_list(cj: &mut CronJob, uid: &str) {
    if let Some(active) = cj.status.as_mut().and_then(|s| s.active.as_mut()) {
        active.retain(|r| r.uid.as_deref() != Some(uid));
    }
}

/// Upstream `formatSchedule`: `spec.timeZone` as a `TZ=` prefix.
fn time_zone(cj: &CronJob) -> Option<&str> {
    cj.spec.as_ref().and_then(|s| s.time_zone.as_deref())
}

/// Upstream `getJobFromTemplate2`.
pub fn job_from_template(cj: &CronJob, scheduled: Timestamp, tz: &TimeZone) -> Job {
    let template = cj.spec.clone().unwrap_or_default().job_template;
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.to_string(),
        scheduled
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
            .replace("+00:00", "Z"),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&cj.name_any(), scheduled)),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![Owner::of(cj).controller_ref()]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

fn job_reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".to_string()),
        kind: Some("Job".to_string()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

impl CronJobReconciler {
    fn jobs_api(&self, namespace: &str) -> Api<Job> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Upstream `sync`: the schedule step, the status, then the history
    /// cleanup; returns when to look again.
    pub(super) async fn sync(
        &self,
        cached: &CronJob,
        jobs: &[Arc<Job>],
    ) -> Result<Option<Duration>, SyncError> {
        let mut cj = cached.clone();
        let (requeue, mut update_status) = self.sync_cron_job(&mut cj, jobs).await?;
        if update_status {
            self.update_status(&mut cj).await?;
            update_status = false;
        }
        if self.cleanup_finished_jobs(&mut cj, jobs).await {
            update_status = true;
        }
        if update_status {
            self.update_status(&mut cj).await?;
        }
        Ok(requeue)
    }

    async fn update_status(&self, cj: &mut CronJob) -> Result<(), SyncError> {
        let api: Api<CronJob> =
            Api::namespaced(self.client.clone(), &cj.namespace().unwrap_or_default());
        match api
            .replace_status(&cj.name_any(), &PostParams::default(), cj)
            .await
        {
            Ok(updated) => {
                cj.metadata.resource_version = updated.metadata.resource_version;
                Ok(())
            }
            Err(err) if api_errors::is_not_found(&err) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Upstream `syncCronJob`: returns (requeue delay, status changed).
    async fn sync_cron_job(
        &self,
        cj: &mut CronJob,
        jobs: &[Arc<Job>],
    ) -> Result<(Option<Duration>, bool), SyncError> {
        let now = Timestamp::now();
        let namespace = cj.namespace().unwrap_or_default();
        let mut update_status = false;
        let mut children = HashSet::new();
        for job in jobs {
            let uid = job.uid().unwrap_or_default();
            children.insert(uid.clone());
            let found = in_active_list(cj, &uid);
            let finished = finished_condition(job);
            if !found && finished.is_none() {
                self.recorder.event(
                    cj,
                    EventType::Warning,
                    "UnexpectedJob",
                    &format!(
                        "Saw a job that the controller did not create or forgot: {}",
                        job.name_any()
                    ),
                );
            } else if let (true, Some(condition)) = (found, finished) {
                delete_from_active_list(cj, &uid);
                self.recorder.event(
                    cj,
                    EventType::Normal,
                    "SawCompletedJob",
                    &format!(
                        "Saw completed job: {}, condition: {condition}",
                        job.name_any()
                    ),
                );
                update_status = true;
            }
            if finished == Some("Complete") {
                let completion = job.status.as_ref().and_then(|s| s.completion_time.clone());
                let status = cj.status.get_or_insert_with(Default::default);
                if let Some(completion) = completion
                    && status
                        .last_successful_time
                        .as_ref()
                        .is_none_or(|t| completion.0 > t.0)
                {
                    status.last_successful_time = Some(completion);
                    update_status = true;
                }
            }
        }
        // Active Jobs that are gone (checked against the apiserver, the
        // cache may be behind).
        let active: Vec<ObjectReference> = cj
            .status
            .as_ref()
            .and_then(|s| s.active.clone())
            .unwrap_or_default();
        for reference in active {
            let uid = reference.uid.clone().unwrap_or_default();
            if children.contains(&uid) {
                continue;
            }
            let name = reference.name.clone().unwrap_or_default();
            match self.jobs_api(&namespace).get(&name).await {
                Err(err) if api_errors::is_not_found(&err) => {
                    self.recorder.event(
                        cj,
                        EventType::Normal,
                        "MissingJob",
                        &format!("Active job went missing: {name}"),
                    );
                    delete_from_active_list(cj, &uid);
                    update_status = true;
                }
                Err(err) => return Err(err.into()),
                Ok(_) => {}
            }
        }
        if cj.metadata.deletion_timestamp.is_some() {
            return Ok((None, update_status));
        }
        let tz = match time_zone(cj).map(load_location) {
            None => TimeZone::UTC,
            Some(Ok(tz)) => tz,
            Some(Err(err)) => {
                self.recorder.event(
                    cj,
                    EventType::Warning,
                    "UnknownTimeZone",
                    &format!("invalid timeZone: {:?}: {err}", time_zone(cj).unwrap_or("")),
                );
                return Ok((None, update_status));
            }
        };
        let spec = cj.spec.clone().unwrap_or_default();
        if spec.suspend == Some(true) {
            return Ok((None, update_status));
        }
        if time_zone(cj).is_some()
            && (spec.schedule.contains("TZ=") || spec.schedule.contains("CRON_TZ="))
        {
            self.recorder.event(
                cj,
                EventType::Warning,
                "UnsupportedSchedule",
                &format!(
                    "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                    spec.schedule
                ),
            );
        }
        let schedule = match Schedule::parse(&spec.schedule, &tz) {
            Ok(s) => s,
            Err(err) => {
                // A user error: reported, not retried until the spec changes.
                self.recorder.event(
                    cj,
                    EventType::Warning,
                    "UnparseableSchedule",
                    &format!("unparseable schedule: {:?} : {err}", spec.schedule),
                );
                return Ok((None, update_status));
            }
        };
        let recent = match most_recent_schedule_time(cj, now, &schedule, true) {
            Ok(r) => r,
            Err(err) => {
                self.recorder.event(
                    cj,
                    EventType::Warning,
                    "InvalidSchedule",
                    &format!("invalid schedule: {} : {err}", spec.schedule),
                );
                return Ok((None, update_status));
            }
        };
        let next = next_schedule_time_duration(cj, now, &schedule);
        let Some(scheduled) = recent.most_recent.filter(|t| *t <= now) else {
            return Ok((next, update_status));
        };
        if recent.missed == Missed::Many {
            self.recorder.event(
                cj,
                EventType::Warning,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            );
        }
        if let Some(deadline) = spec.starting_deadline_seconds
            && scheduled + jiff::SignedDuration::from_secs(deadline) < now
        {
            self.recorder.event(
                cj,
                EventType::Warning,
                "MissSchedule",
                &format!(
                    "Missed scheduled time to start a job: {}",
                    scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000")
                ),
            );
            return Ok((next, update_status));
        }
        let name = job_name(&cj.name_any(), scheduled);
        let already = cj
            .status
            .as_ref()
            .and_then(|s| s.active.as_ref())
            .is_some_and(|a| a.iter().any(|r| r.name.as_deref() == Some(name.as_str())))
            || cj
                .status
                .as_ref()
                .and_then(|s| s.last_schedule_time.as_ref())
                .is_some_and(|t| t.0 == scheduled);
        if already {
            return Ok((next, update_status));
        }
        let has_active = cj
            .status
            .as_ref()
            .and_then(|s| s.active.as_ref())
            .is_some_and(|a| !a.is_empty());
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        if policy == "Forbid" && has_active {
            self.recorder.event(
                cj,
                EventType::Normal,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            );
            return Ok((next, update_status));
        }
        if policy == "Replace" {
            let active = cj
                .status
                .as_ref()
                .and_then(|s| s.active.clone())
                .unwrap_or_default();
            for reference in active {
                let name = reference.name.clone().unwrap_or_default();
                let job = match self.jobs_api(&namespace).get(&name).await {
                    Ok(job) => job,
                    Err(err) => {
                        self.recorder.event(
                            cj,
                            EventType::Warning,
                            "FailedGet",
                            &format!("Get job: {}", api_errors::message(&err)),
                        );
                        return Err(err.into());
                    }
                };
                if !self.delete_job(cj, &job).await {
                    return Err(SyncError::Other(format!(
                        "could not replace job {namespace}/{name}"
                    )));
                }
                update_status = true;
            }
        }
        let request = job_from_template(cj, scheduled, &tz);
        let created = match self
            .jobs_api(&namespace)
            .create(&PostParams::default(), &request)
            .await
        {
            Ok(job) => {
                let skew = job
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.duration_since(scheduled).as_secs_f64())
                    .unwrap_or(0.0);
                creation_skew().observe(skew.max(0.0));
                self.recorder.event(
                    cj,
                    EventType::Normal,
                    "SuccessfulCreate",
                    &format!("Created job {}", job.name_any()),
                );
                job
            }
            Err(err) if api_errors::has_status_cause(&err, NAMESPACE_TERMINATING_CAUSE) => {
                return Err(err.into());
            }
            Err(err) if api_errors::is_already_exists(&err) => {
                // Created before, but the status update was lost?
                let existing = self.jobs_api(&namespace).get(&name).await?;
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|r| Some(&r.uid) == cj.metadata.uid.as_ref());
                if !ours || in_active_list(cj, existing.metadata.uid.as_deref().unwrap_or("")) {
                    return Ok((None, update_status));
                }
                existing
            }
            Err(err) => {
                self.recorder.event(
                    cj,
                    EventType::Warning,
                    "FailedCreate",
                    &format!("Error creating job: {}", api_errors::message(&err)),
                );
                return Err(err.into());
            }
        };
        let status = cj.status.get_or_insert_with(Default::default);
        status
            .active
            .get_or_insert_with(Vec::new)
            .push(job_reference(&created));
        status.last_schedule_time = Some(Time(scheduled));
        update_status = true;
        Ok((
            next_schedule_time_duration(cj, now, &schedule),
            update_status,
        ))
    }

    /// Upstream `deleteJob`: background deletion, events, out of `active`.
    async fn delete_job(&self, cj: &mut CronJob, job: &Job) -> bool {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        let name = job.name_any();
        match self
            .jobs_api(&job.namespace().unwrap_or_default())
            .delete(&name, &params)
            .await
        {
            Ok(_) => {}
            Err(err) if api_errors::is_not_found(&err) => {}
            Err(err) => {
                self.recorder.event(
                    cj,
                    EventType::Warning,
                    "FailedDelete",
                    &format!("Deleted job: {}", api_errors::message(&err)),
                );
                return false;
            }
        }
        delete_from_active_list(cj, job.metadata.uid.as_deref().unwrap_or(""));
        self.recorder.event(
            cj,
            EventType::Normal,
            "SuccessfulDelete",
            &format!("Deleted job {name}"),
        );
        true
    }

    /// Upstream `cleanupFinishedJobs`: the oldest finished Jobs beyond the
    /// history limits are deleted; returns whether the status changed.
    async fn cleanup_finished_jobs(&self, cj: &mut CronJob, jobs: &[Arc<Job>]) -> bool {
        let spec = cj.spec.clone().unwrap_or_default();
        if spec.successful_jobs_history_limit.is_none() && spec.failed_jobs_history_limit.is_none()
        {
            return false;
        }
        let mut changed = false;
        for (kind, limit) in [
            ("Complete", spec.successful_jobs_history_limit),
            ("Failed", spec.failed_jobs_history_limit),
        ] {
            let Some(limit) = limit else {
                continue;
            };
            let mut finished: Vec<&Arc<Job>> = jobs
                .iter()
                .filter(|j| finished_condition(j) == Some(kind))
                .collect();
            let extra = finished
                .len()
                .saturating_sub(usize::try_from(limit).unwrap_or(0));
            if extra == 0 {
                continue;
            }
            sort_by_start_time(&mut finished);
            for job in finished.into_iter().take(extra) {
                if self.delete_job(cj, job).await {
                    changed = true;
                }
            }
        }
        changed
    }
}

/// Upstream `byJobStartTime`: Jobs that started first come first; Jobs
/// that never started after those that did; then by name.
fn sort_by_start_time(jobs: &mut [&Arc<Job>]) {
    jobs.sort_by(|a, b| {
        let start = |j: &Job| {
            j.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0)
        };
        match (start(a), start(b)) {
            (Some(x), Some(y)) if x != y => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            _ => a.name_any().cmp(&b.name_any()),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jobs_come_from_the_template() {
        let cj: CronJob = serde_json::from_value(json!({
            "metadata": {"name": "hello", "namespace": "ns", "uid": "cj-uid"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {
                "metadata": {"labels": {"app": "x"}, "annotations": {"a": "b"}},
                "spec": {"backoffLimit": 2, "template": {"spec": {"containers": []}}}
            }}
        }))
        .unwrap();
        let at: Timestamp = "2024-01-01T10:00:00Z".parse().unwrap();
        let job = job_from_template(&cj, at, &TimeZone::UTC);
        assert_eq!(job.metadata.name.as_deref(), Some("hello-28401720"));
        let annotations = job.metadata.annotations.unwrap();
        assert_eq!(
            annotations[SCHEDULED_TIMESTAMP_ANNOTATION],
            "2024-01-01T10:00:00Z"
        );
        assert_eq!(annotations["a"], "b");
        assert_eq!(job.metadata.labels.unwrap()["app"], "x");
        let owner = &job.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("CronJob", "cj-uid")
        );
        assert_eq!(job.spec.unwrap().backoff_limit, Some(2));
        let berlin = load_location("Europe/Berlin").unwrap();
        let job = job_from_template(&cj, at, &berlin);
        assert_eq!(
            job.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION],
            "2024-01-01T11:00:00+01:00"
        );
    }

    #[test]
    fn history_order() {
        let job = |name: &str, start: Option<&str>| {
            Arc::new(
                serde_json::from_value::<Job>(json!({
                    "metadata": {"name": name},
                    "status": {"startTime": start}
                }))
                .unwrap(),
            )
        };
        let (a, b, c, d) = (
            job("a", Some("2024-01-01T00:02:00Z")),
            job("b", None),
            job("c", Some("2024-01-01T00:01:00Z")),
            job("d", None),
        );
        let mut list = vec![&a, &b, &c, &d];
        sort_by_start_time(&mut list);
        let names: Vec<String> = list.iter().map(|j| j.name_any()).collect();
        assert_eq!(names, ["c", "a", "b", "d"]);
    }
}
