//! Which scheduled time is due (upstream `mostRecentScheduleTime`,
//! `nextScheduleTime`, `nextScheduleTimeDuration`) and the names of the
//! Jobs a CronJob creates.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::CronJob;

use super::schedule::Schedule;

/// Slack added to the requeue delay so the sync runs after the scheduled
/// time, not just before it (upstream `nextScheduleDelta`).
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

/// How many scheduled times were missed since the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// None.
    None,
    /// Some (at most 100).
    Few,
    /// More than 100: a clock problem or a long outage.
    Many,
}

/// The result of [`most_recent_schedule_time`].
#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    /// Where the search started (last schedule time or creation).
    pub earliest: Timestamp,
    /// The latest scheduled time not after `now`, if any was missed.
    pub most_recent: Option<Timestamp>,
    /// How many were missed.
    pub missed: Missed,
}

fn creation(cj: &CronJob) -> Timestamp {
    cj.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(Timestamp::now)
}

/// Upstream `mostRecentScheduleTime`.
pub fn most_recent_schedule_time(
    cj: &CronJob,
    now: Timestamp,
    schedule: &Schedule,
    include_starting_deadline: bool,
) -> Result<Recent, String> {
    let status = cj.status.as_ref();
    let mut earliest = status
        .and_then(|s| s.last_schedule_time.as_ref())
        .map(|t| t.0)
        .unwrap_or_else(|| creation(cj));
    let deadline = cj.spec.as_ref().and_then(|s| s.starting_deadline_seconds);
    if include_starting_deadline && let Some(secs) = deadline {
        let scheduling_deadline = now - SignedDuration::from_secs(secs);
        if scheduling_deadline > earliest {
            earliest = scheduling_deadline;
        }
    }
    let none = |missed| Recent {
        earliest,
        most_recent: None,
        missed,
    };
    let Some(t1) = schedule.next(earliest) else {
        return Ok(none(Missed::None));
    };
    if now < t1 {
        return Ok(none(Missed::None));
    }
    let Some(t2) = schedule.next(t1) else {
        return Ok(Recent {
            earliest,
            most_recent: Some(t1),
            missed: Missed::None,
        });
    };
    if now < t2 {
        return Ok(Recent {
            earliest,
            most_recent: Some(t1),
            missed: Missed::None,
        });
    }
    let between = t2
        .duration_since(t1)
        .round(jiff::Unit::Second)
        .unwrap_or_default()
        .as_secs();
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".to_string());
    }
    let elapsed = now.duration_since(t1).as_secs();
    let missed_count = elapsed / between + 1;
    // Jump close to `now`, then walk the schedule (irregular schedules
    // such as `30 6-16/4 * * 1-5` are not evenly spaced).
    let mut t = t1 + SignedDuration::from_secs((missed_count - 2).max(-1) * between);
    let mut most_recent = None;
    while let Some(next) = schedule.next(t) {
        if next > now {
            break;
        }
        most_recent = Some(next);
        t = next;
    }
    let missed = if missed_count > 100 {
        Missed::Many
    } else {
        Missed::Few
    };
    Ok(Recent {
        earliest,
        most_recent,
        missed,
    })
}

/// Upstream `nextScheduleTimeDuration`: how long until the next scheduled
/// time (plus [`NEXT_SCHEDULE_DELTA`]).
pub fn next_schedule_time_duration(
    cj: &CronJob,
    now: Timestamp,
    schedule: &Schedule,
) -> Option<Duration> {
    let base = match most_recent_schedule_time(cj, now, schedule, false) {
        Err(_) => now,
        Ok(Recent {
            most_recent: Some(t),
            ..
        }) => t,
        Ok(Recent {
            earliest,
            missed: Missed::None,
            ..
        }) => earliest,
        Ok(_) => now,
    };
    let next = schedule.next(base)?;
    let after = Duration::try_from(next.duration_since(now)).unwrap_or_default();
    Some(after + NEXT_SCHEDULE_DELTA)
}

/// Upstream `getJobName`: `<cronjob>-<scheduled time in minutes since the
/// epoch>`, so one scheduled time can only ever create one Job.
pub fn job_name(cj_name: &str, scheduled: Timestamp) -> String {
    format!("{cj_name}-{}", scheduled.as_second().div_euclid(60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;
    use serde_json::json;

    fn cj(created: &str, last: Option<&str>, deadline: Option<i64>) -> CronJob {
        serde_json::from_value(json!({
            "metadata": {"name": "c", "namespace": "ns", "creationTimestamp": created},
            "spec": {"schedule": "*/10 * * * *", "startingDeadlineSeconds": deadline,
                "jobTemplate": {"spec": {"template": {}}}},
            "status": {"lastScheduleTime": last}
        }))
        .unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn most_recent_and_missed() {
        let s = Schedule::parse("*/10 * * * *", &TimeZone::UTC).unwrap();
        let c = cj("2024-01-01T00:01:00Z", None, None);
        let r = most_recent_schedule_time(&c, at("2024-01-01T00:05:00Z"), &s, true).unwrap();
        assert_eq!((r.most_recent, r.missed), (None, Missed::None));
        let r = most_recent_schedule_time(&c, at("2024-01-01T00:12:00Z"), &s, true).unwrap();
        assert_eq!(r.most_recent, Some(at("2024-01-01T00:10:00Z")));
        let r = most_recent_schedule_time(&c, at("2024-01-01T00:55:00Z"), &s, true).unwrap();
        assert_eq!(
            (r.most_recent, r.missed),
            (Some(at("2024-01-01T00:50:00Z")), Missed::Few)
        );
        let r = most_recent_schedule_time(&c, at("2024-02-01T00:00:00Z"), &s, true).unwrap();
        assert_eq!(
            (r.most_recent, r.missed),
            (Some(at("2024-02-01T00:00:00Z")), Missed::Many)
        );
        // The last schedule time moves the search start.
        let c = cj("2024-01-01T00:01:00Z", Some("2024-01-01T00:50:00Z"), None);
        let r = most_recent_schedule_time(&c, at("2024-01-01T00:55:00Z"), &s, true).unwrap();
        assert_eq!(r.most_recent, None);
        // A starting deadline hides older times.
        let c = cj("2024-01-01T00:01:00Z", None, Some(60));
        let r = most_recent_schedule_time(&c, at("2024-01-01T00:35:00Z"), &s, true).unwrap();
        assert_eq!(r.most_recent, None);
        let r = most_recent_schedule_time(&c, at("2024-01-01T00:30:30Z"), &s, true).unwrap();
        assert_eq!(r.most_recent, Some(at("2024-01-01T00:30:00Z")));
    }

    #[test]
    fn requeue_until_the_next_time() {
        let s = Schedule::parse("*/10 * * * *", &TimeZone::UTC).unwrap();
        let c = cj("2024-01-01T00:01:00Z", Some("2024-01-01T00:10:00Z"), None);
        let d = next_schedule_time_duration(&c, at("2024-01-01T00:12:00Z"), &s).unwrap();
        assert_eq!(d, Duration::from_secs(480) + NEXT_SCHEDULE_DELTA);
    }

    #[test]
    fn names_use_minutes() {
        assert_eq!(
            job_name("hello", at("2024-01-01T00:10:00Z")),
            "hello-28401130"
        );
    }
}
