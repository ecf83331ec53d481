//! job-controller against the real apiserver: pods are created with the
//! tracking finalizer, finished pods (status patched as a kubelet would)
//! are counted once and released, Indexed Jobs name their pods by index,
//! and the terminal conditions, events and kubectl columns are upstream's.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::support::{
    events_for, object, start_manager, wait_for, wait_for_default_service_account,
};

pub(crate) const TRACKING: &str = "batch.kubernetes.io/job-tracking";

pub(crate) fn job(name: &str, spec: serde_json::Value) -> Job {
    let mut base = json!({
        "template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
        }
    });
    for (k, v) in spec.as_object().unwrap() {
        base[k] = v.clone();
    }
    object(json!({"metadata": {"name": name}, "spec": base}))
}

/// The pods of Job `name` (any state).
pub(crate) async fn job_pods(client: &Client, ns: &str, name: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}")))
        .await
        .unwrap()
        .items
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Active (not finished, not deleting) pods of Job `name`, waiting for `n`.
pub(crate) async fn wait_active(client: &Client, ns: &str, name: &str, n: usize) -> Vec<Pod> {
    wait_for(
        &format!("{n} active pods of {name}"),
        Duration::from_secs(60),
        || async {
            let pods: Vec<Pod> = job_pods(client, ns, name)
                .await
                .into_iter()
                .filter(|p| {
                    p.metadata.deletion_timestamp.is_none()
                        && !matches!(phase(p), "Succeeded" | "Failed")
                })
                .collect();
            (pods.len() == n).then_some(pods)
        },
    )
    .await
}

/// Patches the pod's status as a kubelet reports a finished pod.
pub(crate) async fn finish_pod(client: &Client, pod: &Pod, phase: &str, exit_code: i32) {
    let now = Timestamp::from_second(Timestamp::now().as_second())
        .unwrap()
        .to_string();
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap());
    let patch = json!({"status": {
        "phase": phase,
        "startTime": now,
        "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}],
        "containerStatuses": [{
            "name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": exit_code, "finishedAt": now, "startedAt": now,
                "reason": if exit_code == 0 { "Completed" } else { "Error" }}}
        }]
    }});
    api.patch_status(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await
    .unwrap();
}

fn condition<'a>(
    job: &'a Job,
    type_: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

pub(crate) async fn wait_condition(api: &Api<Job>, name: &str, type_: &str) -> Job {
    wait_for(
        &format!("{name} {type_}"),
        Duration::from_secs(90),
        || async {
            let job = api.get(name).await.unwrap();
            condition(&job, type_).is_some().then_some(job)
        },
    )
    .await
}

#[tokio::test]
async fn job_runs_to_completion_and_counts_each_pod_once() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<Job> = Api::namespaced(client.clone(), "default");
        api.create(
            &PostParams::default(),
            &job("pi", json!({"completions": 3, "parallelism": 2})),
        )
        .await
        .unwrap();
        let first = wait_active(&client, "default", "pi", 2).await;
        for pod in &first {
            assert!(pod.finalizers().iter().any(|f| f == TRACKING), "{pod:?}");
            assert!(pod.name_any().starts_with("pi-"));
            let owner = &pod.owner_references()[0];
            assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));
        }
        let running = wait_for("active=2 ready=0", Duration::from_secs(30), || async {
            let j = api.get("pi").await.unwrap();
            let s = j.status.clone()?;
            (s.active == Some(2) && s.ready == Some(0) && s.start_time.is_some()).then_some(s)
        })
        .await;
        assert_eq!(running.terminating, Some(0));
        assert!(running.uncounted_terminated_pods.is_some());

        finish_pod(&client, &first[0], "Succeeded", 0).await;
        finish_pod(&client, &first[1], "Succeeded", 0).await;
        // Two done, one to go: exactly one new pod.
        let last = wait_active(&client, "default", "pi", 1).await;
        wait_for("succeeded=2", Duration::from_secs(30), || async {
            let j = api.get("pi").await.unwrap();
            (j.status.as_ref()?.succeeded == Some(2)).then_some(())
        })
        .await;
        // Counted pods are released.
        wait_for("finalizers removed", Duration::from_secs(30), || async {
            let pods = job_pods(&client, "default", "pi").await;
            pods.iter()
                .filter(|p| phase(p) == "Succeeded")
                .all(|p| p.finalizers().is_empty())
                .then_some(())
        })
        .await;
        finish_pod(&client, &last[0], "Succeeded", 0).await;
        let done = wait_condition(&api, "pi", "Complete").await;
        let s = done.status.clone().unwrap();
        assert_eq!(
            (s.succeeded, s.failed.unwrap_or(0), s.active.unwrap_or(0)),
            (Some(3), 0, 0)
        );
        assert!(s.completion_time.is_some());
        let met = condition(&done, "SuccessCriteriaMet").expect("SuccessCriteriaMet");
        assert_eq!(met.reason.as_deref(), Some("CompletionsReached"));
        assert_eq!(
            condition(&done, "Complete").unwrap().message.as_deref(),
            Some("Reached expected number of succeeded pods")
        );
        assert_eq!(job_pods(&client, "default", "pi").await.len(), 3);
        let events = events_for(&client, "default", "pi").await;
        assert!(
            events
                .iter()
                .any(|(r, m, s)| r == "Completed" && m == "Job completed" && s == "job-controller"),
            "{events:?}"
        );
        assert_eq!(
            events
                .iter()
                .filter(|(r, _, _)| r == "SuccessfulCreate")
                .count(),
            3,
            "{events:?}"
        );
        let table = cluster.kubectl_ok(&["get", "job", "pi"]).await.unwrap();
        assert!(
            table.contains("Complete") && table.contains("3/3"),
            "{table}"
        );
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn indexed_job_backoff_limit_and_failure_policy() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<Job> = Api::namespaced(client.clone(), "default");

        // Indexed: one pod per index, named and labelled by it.
        api.create(
            &PostParams::default(),
            &job(
                "idx",
                json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed", "backoffLimit": 0}),
            ),
        )
        .await
        .unwrap();
        let pods = wait_active(&client, "default", "idx", 3).await;
        let mut indexes: Vec<String> = pods
            .iter()
            .map(|p| p.annotations()["batch.kubernetes.io/job-completion-index"].clone())
            .collect();
        indexes.sort();
        assert_eq!(indexes, ["0", "1", "2"]);
        for pod in &pods {
            let ix = &pod.labels()["batch.kubernetes.io/job-completion-index"];
            assert!(
                pod.name_any().starts_with(&format!("idx-{ix}-")),
                "{}",
                pod.name_any()
            );
            let spec = pod.spec.as_ref().unwrap();
            assert_eq!(spec.hostname.as_deref(), Some(format!("idx-{ix}").as_str()));
            let env = spec.containers[0].env.clone().unwrap();
            assert!(env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX"));
        }
        let by_index = |ix: &str| {
            pods.iter()
                .find(|p| p.annotations()["batch.kubernetes.io/job-completion-index"] == ix)
                .unwrap()
                .clone()
        };
        finish_pod(&client, &by_index("0"), "Succeeded", 0).await;
        wait_for("completedIndexes 0", Duration::from_secs(30), || async {
            let j = api.get("idx").await.unwrap();
            (j.status.as_ref()?.completed_indexes.as_deref() == Some("0")).then_some(())
        })
        .await;
        // backoffLimit 0: one failure fails the Job; the others are removed.
        finish_pod(&client, &by_index("1"), "Failed", 1).await;
        let failed = wait_condition(&api, "idx", "Failed").await;
        let c = condition(&failed, "Failed").unwrap();
        assert_eq!(c.reason.as_deref(), Some("BackoffLimitExceeded"));
        assert_eq!(
            c.message.as_deref(),
            Some("Job has reached the specified backoff limit")
        );
        assert!(condition(&failed, "FailureTarget").is_some());
        let s = failed.status.unwrap();
        assert_eq!(
            s.failed,
            Some(2),
            "the failed pod and the deleted active one"
        );
        assert_eq!(s.succeeded, Some(1));
        assert_eq!(s.active.unwrap_or(0), 0);
        wait_for(
            "no pod of idx left running",
            Duration::from_secs(30),
            || async {
                let pods = job_pods(&client, "default", "idx").await;
                pods.iter()
                    .all(|p| {
                        matches!(phase(p), "Succeeded" | "Failed") && p.finalizers().is_empty()
                    })
                    .then_some(())
            },
        )
        .await;
        let events = events_for(&client, "default", "idx").await;
        assert!(
            events.iter().any(|(r, m, _)| r == "BackoffLimitExceeded"
                && m == "Job has reached the specified backoff limit"),
            "{events:?}"
        );

        // A FailJob rule fails the Job at once with its message.
        api.create(
            &PostParams::default(),
            &job(
                "pfp",
                json!({"backoffLimit": 6, "podFailurePolicy": {"rules": [
                    {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
                    {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [42]}}
                ]}}),
            ),
        )
        .await
        .unwrap();
        let first = wait_active(&client, "default", "pfp", 1).await;
        // Exit code 3 is ignored: not counted, the pod is replaced.
        finish_pod(&client, &first[0], "Failed", 3).await;
        let second = wait_for("a replacement pod", Duration::from_secs(30), || async {
            let pods = wait_active(&client, "default", "pfp", 1).await;
            (pods[0].name_any() != first[0].name_any()).then(|| pods[0].clone())
        })
        .await;
        let j = api.get("pfp").await.unwrap();
        assert_eq!(j.status.unwrap().failed.unwrap_or(0), 0);
        finish_pod(&client, &second, "Failed", 42).await;
        let failed = wait_condition(&api, "pfp", "Failed").await;
        let c = condition(&failed, "Failed").unwrap();
        assert_eq!(c.reason.as_deref(), Some("PodFailurePolicy"));
        assert_eq!(
            c.message.clone().unwrap(),
            format!(
                "Container c for pod default/{} failed with exit code 42 matching FailJob rule at index 1",
                second.name_any()
            )
        );
        assert_eq!(failed.status.unwrap().failed, Some(1));
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn suspended_jobs_delete_their_pods_and_resume() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<Job> = Api::namespaced(client.clone(), "default");
        api.create(
            &PostParams::default(),
            &job(
                "sus",
                json!({"suspend": true, "parallelism": 2, "completions": 4}),
            ),
        )
        .await
        .unwrap();
        let suspended = wait_condition(&api, "sus", "Suspended").await;
        let c = condition(&suspended, "Suspended").unwrap();
        assert_eq!(c.reason.as_deref(), Some("JobSuspended"));
        assert!(suspended.status.unwrap().start_time.is_none());
        assert!(job_pods(&client, "default", "sus").await.is_empty());

        cluster
            .kubectl_ok(&["patch", "job", "sus", "-p", r#"{"spec":{"suspend":false}}"#])
            .await
            .unwrap();
        wait_active(&client, "default", "sus", 2).await;
        let resumed = wait_for("Suspended=False", Duration::from_secs(30), || async {
            let j = api.get("sus").await.unwrap();
            let c = j
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "Suspended")?
                .clone();
            (c.status == "False").then_some((j, c))
        })
        .await;
        assert_eq!(resumed.1.reason.as_deref(), Some("JobResumed"));
        assert!(resumed.0.status.unwrap().start_time.is_some());

        // Suspending again deletes the running pods (not counted as failed).
        cluster
            .kubectl_ok(&["patch", "job", "sus", "-p", r#"{"spec":{"suspend":true}}"#])
            .await
            .unwrap();
        wait_active(&client, "default", "sus", 0).await;
        let j = wait_condition(&api, "sus", "Suspended").await;
        assert_eq!(j.status.unwrap().failed.unwrap_or(0), 0);
        let events = events_for(&client, "default", "sus").await;
        for reason in ["Suspended", "Resumed", "SuccessfulDelete"] {
            assert!(
                events.iter().any(|(r, _, _)| r == reason),
                "{reason} not in {events:?}"
            );
        }
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn per_index_limits_success_policy_and_deadline() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<Job> = Api::namespaced(client.clone(), "default");
        let index_of =
            |p: &Pod| p.annotations()["batch.kubernetes.io/job-completion-index"].clone();

        // backoffLimitPerIndex 1: index 1 may fail once, then it is failed;
        // the other index still runs; the Job fails with FailedIndexes.
        api.create(
            &PostParams::default(),
            &job(
                "perindex",
                json!({"completions": 2, "parallelism": 2, "completionMode": "Indexed", "backoffLimitPerIndex": 1}),
            ),
        )
        .await
        .unwrap();
        let pods = wait_active(&client, "default", "perindex", 2).await;
        let one = pods.iter().find(|p| index_of(p) == "1").unwrap().clone();
        let zero = pods.iter().find(|p| index_of(p) == "0").unwrap().clone();
        assert_eq!(
            one.annotations()["batch.kubernetes.io/job-index-failure-count"],
            "0"
        );
        finish_pod(&client, &one, "Failed", 1).await;
        // The retry of index 1 (after the 10 s backoff) carries the count.
        let retry = wait_for("index 1 retried", Duration::from_secs(40), || async {
            job_pods(&client, "default", "perindex")
                .await
                .into_iter()
                .find(|p| {
                    index_of(p) == "1" && p.name_any() != one.name_any() && phase(p) != "Failed"
                })
        })
        .await;
        assert_eq!(
            retry.annotations()["batch.kubernetes.io/job-index-failure-count"],
            "1"
        );
        finish_pod(&client, &retry, "Failed", 1).await;
        wait_for("failedIndexes 1", Duration::from_secs(30), || async {
            let j = api.get("perindex").await.unwrap();
            (j.status.as_ref()?.failed_indexes.as_deref() == Some("1")).then_some(())
        })
        .await;
        finish_pod(&client, &zero, "Succeeded", 0).await;
        let failed = wait_condition(&api, "perindex", "Failed").await;
        let c = condition(&failed, "Failed").unwrap();
        assert_eq!(c.reason.as_deref(), Some("FailedIndexes"));
        let s = failed.status.unwrap();
        assert_eq!(
            (s.completed_indexes.as_deref(), s.failed),
            (Some("0"), Some(2))
        );

        // A success policy ends the Job early; the other pods are removed.
        api.create(
            &PostParams::default(),
            &job(
                "leader",
                json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
                    "successPolicy": {"rules": [{"succeededIndexes": "0"}]}}),
            ),
        )
        .await
        .unwrap();
        let pods = wait_active(&client, "default", "leader", 3).await;
        let leader = pods.iter().find(|p| index_of(p) == "0").unwrap();
        finish_pod(&client, leader, "Succeeded", 0).await;
        let done = wait_condition(&api, "leader", "Complete").await;
        let met = condition(&done, "SuccessCriteriaMet").unwrap();
        assert_eq!(met.reason.as_deref(), Some("SuccessPolicy"));
        assert_eq!(met.message.as_deref(), Some("Matched rules at index 0"));
        assert_eq!(done.status.unwrap().succeeded, Some(1));
        wait_active(&client, "default", "leader", 0).await;

        // activeDeadlineSeconds.
        api.create(
            &PostParams::default(),
            &job("slow", json!({"activeDeadlineSeconds": 2})),
        )
        .await
        .unwrap();
        let failed = wait_condition(&api, "slow", "Failed").await;
        let c = condition(&failed, "Failed").unwrap();
        assert_eq!(c.reason.as_deref(), Some("DeadlineExceeded"));
        assert_eq!(
            c.message.as_deref(),
            Some("Job was active longer than specified deadline")
        );
        wait_active(&client, "default", "slow", 0).await;
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn a_restarted_manager_counts_pods_once() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<Job> = Api::namespaced(client.clone(), "default");
        api.create(
            &PostParams::default(),
            &job("restart", json!({"completions": 3, "parallelism": 2})),
        )
        .await
        .unwrap();
        let pods = wait_active(&client, "default", "restart", 2).await;
        finish_pod(&client, &pods[0], "Succeeded", 0).await;
        wait_for("one counted", Duration::from_secs(30), || async {
            let j = api.get("restart").await.unwrap();
            (j.status.as_ref()?.succeeded == Some(1)).then_some(())
        })
        .await;
        manager.shutdown().await.unwrap();

        // While no controller runs, the other pod finishes; the finalizer
        // keeps it until a new manager counts it.
        finish_pod(&client, &pods[1], "Succeeded", 0).await;
        let manager = start_manager(&cluster, &[]).await;
        let last = wait_for("the third pod", Duration::from_secs(30), || async {
            let active = job_pods(&client, "default", "restart")
                .await
                .into_iter()
                .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
                .collect::<Vec<_>>();
            (active.len() == 1).then(|| active[0].clone())
        })
        .await;
        finish_pod(&client, &last, "Succeeded", 0).await;
        let done = wait_condition(&api, "restart", "Complete").await;
        assert_eq!(done.status.unwrap().succeeded, Some(3));
        assert_eq!(job_pods(&client, "default", "restart").await.len(), 3);
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn adopted_pods_get_the_tracking_finalizer_and_released_ones_lose_it() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(&cluster, &["--controllers=job,serviceaccount"]).await;
        wait_for_default_service_account(&client, "default").await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        pods.create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "stray", "labels": {"app": "adopt"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
            })),
        )
        .await
        .unwrap();
        // Let the manager's cache see the orphan before the Job's first sync.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        let mut manual = job(
            "adopter",
            json!({"completions": 2, "parallelism": 2, "manualSelector": true,
                   "selector": {"matchLabels": {"app": "adopt"}}}),
        );
        manual.spec.as_mut().unwrap().template.metadata =
            Some(object(json!({"labels": {"app": "adopt"}})));
        let created = jobs.create(&PostParams::default(), &manual).await.unwrap();
        let adopted = wait_for("the orphan adopted", Duration::from_secs(30), || async {
            let pod = pods.get("stray").await.unwrap();
            (!pod.owner_references().is_empty()).then_some(pod)
        })
        .await;
        let owner = &adopted.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("Job", created.uid().unwrap().as_str(), Some(true))
        );
        assert_eq!(adopted.finalizers(), [TRACKING]);
        // One pod of its own beside the adopted one: parallelism 2.
        wait_for("active=2", Duration::from_secs(30), || async {
            let j = jobs.get("adopter").await.unwrap();
            (j.status.as_ref()?.active == Some(2)).then_some(())
        })
        .await;

        // Relabelled out of the selector: released, finalizer and all.
        pods.patch(
            "stray",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "elsewhere"}}})),
        )
        .await
        .unwrap();
        let released = wait_for("the pod released", Duration::from_secs(30), || async {
            let pod = pods.get("stray").await.unwrap();
            pod.owner_references().is_empty().then_some(pod)
        })
        .await;
        assert!(released.finalizers().is_empty(), "{released:?}");
        assert!(released.metadata.deletion_timestamp.is_none());
    });
}
