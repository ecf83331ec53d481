//! cronjob-controller and ttl-after-finished-controller against the real
//! apiserver, with the job-controller running the Jobs (pod phases patched
//! as a kubelet would).

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::job::{finish_pod, job, job_pods, wait_active, wait_condition};
use crate::support::{
    events_for, object, start_manager, wait_for, wait_for_default_service_account,
};

fn cron_job(name: &str, spec: serde_json::Value) -> CronJob {
    let mut base = json!({
        "schedule": "*/1 * * * *",
        "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]
        }}}}
    });
    for (k, v) in spec.as_object().unwrap() {
        base[k] = v.clone();
    }
    object(json!({"metadata": {"name": name}, "spec": base}))
}

/// Pretends the CronJob last ran `minutes` ago, so its most recent
/// scheduled time is already due (upstream's missed-schedule handling).
async fn backdate(api: &Api<CronJob>, name: &str, minutes: i64) {
    let then = Timestamp::from_second(Timestamp::now().as_second()).unwrap()
        - SignedDuration::from_mins(minutes);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"lastScheduleTime": then.to_string()}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn cronjob_runs_missed_schedule_tracks_and_cleans_up() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<CronJob> = Api::namespaced(client.clone(), "default");
        api.create(
            &PostParams::default(),
            &cron_job(
                "hello",
                json!({"suspend": true, "successfulJobsHistoryLimit": 0, "timeZone": "Etc/UTC"}),
            ),
        )
        .await
        .unwrap();
        backdate(&api, "hello", 5).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        assert!(
            jobs.list(&Default::default())
                .await
                .unwrap()
                .items
                .is_empty(),
            "a suspended CronJob starts nothing"
        );

        cluster
            .kubectl_ok(&[
                "patch",
                "cronjob",
                "hello",
                "-p",
                r#"{"spec":{"suspend":false}}"#,
            ])
            .await
            .unwrap();
        // The most recent missed time runs at once, named by its minute.
        let cj = wait_for("an active job", Duration::from_secs(30), || async {
            let cj = api.get("hello").await.unwrap();
            let active = cj.status.as_ref()?.active.clone()?;
            (active.len() == 1).then_some(cj)
        })
        .await;
        let status = cj.status.unwrap();
        let scheduled = status.last_schedule_time.unwrap().0;
        assert_eq!(scheduled.as_second() % 60, 0);
        let name = format!("hello-{}", scheduled.as_second() / 60);
        assert_eq!(
            status.active.unwrap()[0].name.as_deref(),
            Some(name.as_str())
        );
        let created = jobs.get(&name).await.unwrap();
        assert_eq!(created.owner_references()[0].kind, "CronJob");
        assert_eq!(
            created.annotations()["batch.kubernetes.io/cronjob-scheduled-timestamp"],
            scheduled.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
        );

        // The Job runs; the CronJob sees it complete, records the success
        // and (history limit 0) deletes it.
        let pods = wait_active(&client, "default", &name, 1).await;
        finish_pod(&client, &pods[0], "Succeeded", 0).await;
        let cj = wait_for("lastSuccessfulTime", Duration::from_secs(60), || async {
            let cj = api.get("hello").await.unwrap();
            let s = cj.status.clone()?;
            (s.last_successful_time.is_some() && s.active.as_ref().is_none_or(|a| a.is_empty()))
                .then_some(cj)
        })
        .await;
        assert!(cj.status.unwrap().last_successful_time.is_some());
        wait_for(
            "the finished job deleted",
            Duration::from_secs(30),
            || async { jobs.get_opt(&name).await.unwrap().is_none().then_some(()) },
        )
        .await;
        let events = events_for(&client, "default", "hello").await;
        for (reason, message) in [
            ("SuccessfulCreate", format!("Created job {name}")),
            (
                "SawCompletedJob",
                format!("Saw completed job: {name}, condition: Complete"),
            ),
            ("SuccessfulDelete", format!("Deleted job {name}")),
        ] {
            assert!(
                events
                    .iter()
                    .any(|(r, m, s)| *r == reason && *m == message && s == "cronjob-controller"),
                "{reason} {message} not in {events:?}"
            );
        }

        // kubectl create job --from=cronjob/x makes a Job that runs.
        let out = cluster
            .kubectl_ok(&["create", "job", "manual", "--from=cronjob/hello"])
            .await
            .unwrap();
        assert!(out.contains("job.batch/manual created"), "{out}");
        let manual = wait_active(&client, "default", "manual", 1).await;
        assert_eq!(
            jobs.get("manual").await.unwrap().annotations()["cronjob.kubernetes.io/instantiate"],
            "manual"
        );
        finish_pod(&client, &manual[0], "Succeeded", 0).await;
        // It is the CronJob's (not in `active`: upstream warns), so the
        // history limit removes it once it completed.
        wait_for(
            "manual completed and cleaned up",
            Duration::from_secs(30),
            || async {
                jobs.get_opt("manual")
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(())
            },
        )
        .await;
        let events = events_for(&client, "default", "hello").await;
        assert!(
            events.iter().any(|(r, m, _)| r == "UnexpectedJob"
                && m == "Saw a job that the controller did not create or forgot: manual"),
            "{events:?}"
        );

        let table = cluster
            .kubectl_ok(&["get", "cronjob", "hello"])
            .await
            .unwrap();
        assert!(
            table.contains("*/1 * * * *") && table.contains("False"),
            "{table}"
        );
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn forbid_replace_and_allow_concurrency() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<CronJob> = Api::namespaced(client.clone(), "default");
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        for (name, policy) in [
            ("forbid", "Forbid"),
            ("replace", "Replace"),
            ("allow", "Allow"),
        ] {
            api.create(
                &PostParams::default(),
                &cron_job(name, json!({"suspend": true, "concurrencyPolicy": policy})),
            )
            .await
            .unwrap();
            backdate(&api, name, 5).await;
            cluster
                .kubectl_ok(&[
                    "patch",
                    "cronjob",
                    name,
                    "-p",
                    r#"{"spec":{"suspend":false}}"#,
                ])
                .await
                .unwrap();
        }
        let first = |name: &'static str| {
            let api = api.clone();
            async move {
                wait_for("a first job", Duration::from_secs(30), || async {
                    let cj = api.get(name).await.unwrap();
                    cj.status.as_ref()?.active.as_ref()?.first()?.name.clone()
                })
                .await
            }
        };
        let forbid_first = first("forbid").await;
        let replace_first = first("replace").await;
        let allow_first = first("allow").await;
        // The next minute comes while the first Jobs still run.
        wait_for(
            "the next scheduled time",
            Duration::from_secs(70),
            || async {
                let cj = api.get("replace").await.unwrap();
                let active = cj.status.as_ref()?.active.clone()?;
                (active.len() == 1 && active[0].name.as_deref() != Some(replace_first.as_str()))
                    .then_some(())
            },
        )
        .await;
        // Replace: the old Job was deleted for the new one.
        wait_for("the replaced job gone", Duration::from_secs(30), || async {
            jobs.get_opt(&replace_first)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
        // Allow: the new Job runs next to the first.
        wait_for("two allowed jobs", Duration::from_secs(30), || async {
            let cj = api.get("allow").await.unwrap();
            let active = cj.status.as_ref()?.active.clone()?;
            (active.len() == 2
                && active
                    .iter()
                    .any(|a| a.name.as_deref() == Some(allow_first.as_str())))
            .then_some(())
        })
        .await;
        // Forbid: nothing new while the first runs.
        let cj = api.get("forbid").await.unwrap();
        let active = cj.status.unwrap().active.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].name.as_deref(), Some(forbid_first.as_str()));
        let events = wait_for("JobAlreadyActive", Duration::from_secs(10), || async {
            let events = events_for(&client, "default", "forbid").await;
            events
                .iter()
                .any(|(r, _, _)| r == "JobAlreadyActive")
                .then_some(events)
        })
        .await;
        assert!(events.iter().any(|(_, m, _)| m
            == "Not starting job because prior execution is running and concurrency policy is Forbid"));
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn finished_jobs_are_deleted_after_their_ttl() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        jobs.create(
            &PostParams::default(),
            &job("short", json!({"ttlSecondsAfterFinished": 2})),
        )
        .await
        .unwrap();
        jobs.create(&PostParams::default(), &job("kept", json!({})))
            .await
            .unwrap();
        for name in ["short", "kept"] {
            let pods = wait_active(&client, "default", name, 1).await;
            finish_pod(&client, &pods[0], "Succeeded", 0).await;
        }
        let done = wait_condition(&jobs, "short", "Complete").await;
        let finished_at = done.status.unwrap().completion_time.unwrap().0;
        wait_for("short deleted", Duration::from_secs(30), || async {
            jobs.get_opt("short").await.unwrap().is_none().then_some(())
        })
        .await;
        assert!(
            Timestamp::now().duration_since(finished_at) >= SignedDuration::from_secs(2),
            "not before the TTL"
        );
        // Foreground deletion: the pods went with it.
        wait_for("short's pods gone", Duration::from_secs(30), || async {
            job_pods(&client, "default", "short")
                .await
                .is_empty()
                .then_some(())
        })
        .await;
        wait_condition(&jobs, "kept", "Complete").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            jobs.get_opt("kept").await.unwrap().is_some(),
            "no TTL, kept"
        );
        manager.shutdown().await.unwrap();
    });
}
