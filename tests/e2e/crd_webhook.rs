//! `conversion: Webhook`: the apiserver converts custom resources between
//! versions by calling an HTTPS conversion webhook it trusts through the
//! CRD's `caBundle`. The webhook here renames `spec.cronSpec` (v1, the
//! storage version) to `spec.schedule` (v2) and back.

use std::sync::atomic::Ordering;

use corten_e2e::TestCluster;
use corten_e2e::fixtures::{self, crds, create_ok, get_raw, install_crd, stderr};
use corten_e2e::webhook_server::TestWebhook;
use serde_json::{Value, json};

/// Starts the test webhook (its certificate also valid for `dns`) and a
/// cluster with the conversion CRD calling it by URL, established.
async fn setup(dns: &[&str]) -> (TestWebhook, TestCluster) {
    let hook = TestWebhook::start(dns).await.unwrap();
    let c = TestCluster::start().await.unwrap();
    let crd = crds::conversion_crd(&crds::url_client_config(&hook, "/convert"));
    install_crd(&c, &crd, crds::CONVERSION_CRD).await;
    (hook, c)
}

/// The objects of every ConversionReview the webhook received.
fn review_sizes(hook: &TestWebhook) -> Vec<usize> {
    hook.received("/convert")
        .iter()
        .map(|r| r["request"]["objects"].as_array().map_or(0, Vec::len))
        .collect()
}

// Multi-threaded: the apiserver blocks a thread during a conversion call
// while the test webhook answers on this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_conversion_between_versions() {
    crate::with_timeout!(async {
        let (hook, c) = setup(&[]).await;
        // Created in v2: stored in v1 (converted by the webhook).
        create_ok(&c, &crds::conversion_crontab_v2("w", "*/5 * * * *")).await;
        let store = c.etcd.store("/registry").await.unwrap();
        let kv = store
            .get("conv.example.com/crontabs/default/w")
            .await
            .unwrap()
            .unwrap();
        let stored: Value = serde_json::from_slice(&kv.value).unwrap();
        assert_eq!(stored["apiVersion"], "conv.example.com/v1");
        assert_eq!(stored["spec"], json!({"cronSpec": "*/5 * * * *"}));
        // Read in either version.
        let v2 = get_raw(
            &c,
            "/apis/conv.example.com/v2/namespaces/default/crontabs/w",
        )
        .await;
        assert_eq!(v2["apiVersion"], "conv.example.com/v2");
        assert_eq!(v2["spec"], json!({"schedule": "*/5 * * * *"}));
        assert_eq!(v2["metadata"]["name"], "w");
        let v1 = get_raw(
            &c,
            "/apis/conv.example.com/v1/namespaces/default/crontabs/w",
        )
        .await;
        assert_eq!(v1["spec"], json!({"cronSpec": "*/5 * * * *"}));
        let list = get_raw(&c, "/apis/conv.example.com/v2/namespaces/default/crontabs").await;
        assert_eq!(list["items"][0]["spec"]["schedule"], "*/5 * * * *");
        // A merge patch in v2 goes through both conversions.
        c.kubectl_ok(&[
            "patch",
            "crontabs.v2.conv.example.com",
            "w",
            "--type=merge",
            "-p",
            r#"{"spec":{"schedule":"0 * * * *"}}"#,
        ])
        .await
        .unwrap();
        let kv = store
            .get("conv.example.com/crontabs/default/w")
            .await
            .unwrap()
            .unwrap();
        let stored: Value = serde_json::from_slice(&kv.value).unwrap();
        assert_eq!(stored["spec"], json!({"cronSpec": "0 * * * *"}));
        assert!(review_sizes(&hook).len() >= 5);
    });
}

// Multi-threaded: the apiserver blocks a thread during a conversion call
// while the test webhook answers on this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversion_webhook_calls_keep_their_connection_and_lists_convert_in_one_review() {
    crate::with_timeout!(async {
        let (hook, c) = setup(&[]).await;
        for i in 0..5 {
            let yaml = crds::conversion_crontab_v2(&format!("t{i}"), &format!("{i} * * * *"));
            create_ok(&c, &yaml).await;
        }
        let before = review_sizes(&hook).len();
        assert!(before >= 5, "creates in v2 are converted: {before}");
        // A LIST in v2: the five stored objects go to the webhook in one review.
        let list = get_raw(&c, "/apis/conv.example.com/v2/namespaces/default/crontabs").await;
        let schedules: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["spec"]["schedule"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(schedules.len(), 5, "{list}");
        assert!(schedules.contains(&"3 * * * *"), "{list}");
        assert_eq!(list["items"][0]["apiVersion"], "conv.example.com/v2");
        let sizes = review_sizes(&hook);
        assert_eq!(&sizes[before..], &[5], "one review for the list: {sizes:?}");
        // A watch from "0" in v2: its initial events are converted together.
        let before = sizes.len();
        let events = c
            .kubectl_ok(&[
                "get",
                "--raw",
                "/apis/conv.example.com/v2/namespaces/default/crontabs?watch=true&resourceVersion=0&timeoutSeconds=1",
            ])
            .await
            .unwrap();
        let added: Vec<Value> = events
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == "ADDED")
            .collect();
        assert_eq!(added.len(), 5, "{events}");
        assert!(
            added
                .iter()
                .all(|e| e["object"]["spec"]["schedule"].is_string()
                    && e["object"]["apiVersion"] == "conv.example.com/v2"),
            "{events}"
        );
        let sizes = review_sizes(&hook);
        assert_eq!(
            &sizes[before..],
            &[5],
            "one review for the initial events: {sizes:?}"
        );
        // Every call went over one kept HTTPS connection.
        assert_eq!(
            hook.connections.load(Ordering::SeqCst),
            1,
            "{} reviews",
            sizes.len()
        );
        let metrics = c.kubectl_ok(&["get", "--raw", "/metrics"]).await.unwrap();
        assert!(
            metrics.contains(r#"apiserver_crd_conversion_webhook_duration_seconds_count{crd_name="crontabs.conv.example.com",from_version="v1",succeeded="true",to_version="v2"}"#),
            "{metrics}"
        );

        // A webhook that fails: the LIST fails with upstream's message.
        let patch = format!(
            r#"{{"spec":{{"conversion":{{"webhook":{{"clientConfig":{{"url":"https://127.0.0.1:{}/convert-fail"}}}}}}}}}}"#,
            hook.port
        );
        c.kubectl_ok(&[
            "patch",
            "crd",
            "crontabs.conv.example.com",
            "--type=merge",
            "-p",
            &patch,
        ])
        .await
        .unwrap();
        let mut last = String::new();
        for _ in 0..50 {
            let out = c
                .kubectl(&[
                    "get",
                    "--raw",
                    "/apis/conv.example.com/v2/namespaces/default/crontabs",
                ])
                .await
                .unwrap();
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !out.status.success() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(
            last.contains("conversion webhook for conv.example.com/v1, Kind=CronTab failed: conversion is not possible"),
            "{last}"
        );
        let metrics = c.kubectl_ok(&["get", "--raw", "/metrics"]).await.unwrap();
        assert!(
            metrics.contains(r#"apiserver_conversion_webhook_request_total{failure_type="conversion_webhook_malformed_response_failure",result="failure"}"#),
            "{metrics}"
        );
    });
}

async fn ssa(c: &TestCluster, manager: &str, yaml: &str, force: bool) -> std::process::Output {
    let flag = format!("--field-manager={manager}");
    let mut args = vec!["apply", "--server-side", flag.as_str(), "-f", "-"];
    if force {
        args.push("--force-conflicts");
    }
    c.kubectl_stdin(&args, Some(yaml)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_in_one_version_conflicts_with_owners_in_another() {
    crate::with_timeout!(async {
        let (_hook, c) = setup(&[]).await;
        let v1 = "apiVersion: conv.example.com/v1\nkind: CronTab\nmetadata:\n  name: m\nspec:\n  cronSpec: \"1 * * * *\"\n";
        let out = ssa(&c, "a", v1, false).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // b applies the same field as v2 names it: compared in a's
        // version (converted by the webhook), it is a's field.
        let v2 = "apiVersion: conv.example.com/v2\nkind: CronTab\nmetadata:\n  name: m\nspec:\n  schedule: \"2 * * * *\"\n";
        let out = ssa(&c, "b", v2, false).await;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(r#"Apply failed with 1 conflict: conflict with "a": .spec.cronSpec"#),
            "{err}"
        );
        let out = ssa(&c, "b", v2, true).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = "/apis/conv.example.com/v2/namespaces/default/crontabs/m";
        let obj = get_raw(&c, path).await;
        assert_eq!(obj["spec"], json!({"schedule": "2 * * * *"}));
        let entries = obj["metadata"]["managedFields"].as_array().unwrap();
        let b = entries.iter().find(|e| e["manager"] == "b").unwrap();
        assert_eq!(b["apiVersion"], "conv.example.com/v2");
        assert_eq!(b["operation"], "Apply");
        assert!(b["fieldsV1"]["f:spec"]["f:schedule"].is_object(), "{b}");
        // a lost the field (and with it its entry).
        assert!(
            entries
                .iter()
                .filter(|e| e["manager"] == "a")
                .all(|e| e["fieldsV1"]["f:spec"].get("f:cronSpec").is_none()),
            "{entries:?}"
        );
    });
}

/// The reviews received since `from`: (desired apiVersion, the schedule
/// of the one object sent, in whichever field its version has it).
fn reviews_since(hook: &TestWebhook, from: usize) -> Vec<(String, String)> {
    hook.received("/convert")[from..]
        .iter()
        .map(|r| {
            let req = &r["request"];
            assert_eq!(req["objects"].as_array().map(Vec::len), Some(1), "{r}");
            let spec = &req["objects"][0]["spec"];
            let schedule = spec.get("cronSpec").or_else(|| spec.get("schedule"));
            (
                req["desiredAPIVersion"].as_str().unwrap_or("").to_string(),
                schedule.and_then(Value::as_str).unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Checks the reviews of one write from `old` to `new` through v2: the
/// request to the storage version and the written object back exactly
/// once each, the stored object to v2 at most once (a read just before
/// may have converted the same content).
fn assert_converted_once_each_way(hook: &TestWebhook, from: usize, old: &str, new: &str) {
    let got = reviews_since(hook, from);
    let count = |desired: &str, schedule: &str| {
        got.iter()
            .filter(|(d, s)| d == desired && s == schedule)
            .count()
    };
    assert_eq!(
        count("conv.example.com/v1", new),
        1,
        "request to v1: {got:?}"
    );
    assert_eq!(
        count("conv.example.com/v2", new),
        1,
        "result to v2: {got:?}"
    );
    assert!(
        count("conv.example.com/v2", old) <= 1,
        "stored to v2: {got:?}"
    );
    assert!(got.len() <= 3, "nothing else: {got:?}");
}

/// A write through `v2` converts the stored object to `v2` once (for
/// validation and managedFields in the version of the request), the
/// request to the storage version once, and the written object back once
/// (for managedFields and the response alike), for PUT and PATCH.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_through_a_non_storage_version_convert_once_each_way() {
    crate::with_timeout!(async {
        let (hook, c) = setup(&[]).await;
        create_ok(&c, &crds::conversion_crontab_v2("u", "1 * * * *")).await;
        let client = c.client().await.unwrap();
        let path = "/apis/conv.example.com/v2/namespaces/default/crontabs/u";

        // PUT in v2.
        let mut obj = get_raw(&c, path).await;
        obj["spec"]["schedule"] = json!("2 * * * *");
        let before = review_sizes(&hook).len();
        let req = http::Request::put(path)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&obj).unwrap())
            .unwrap();
        let put: Value = client.request(req).await.unwrap();
        assert_eq!(put["spec"], json!({"schedule": "2 * * * *"}));
        assert_eq!(put["apiVersion"], "conv.example.com/v2");
        assert_converted_once_each_way(&hook, before, "1 * * * *", "2 * * * *");

        // A merge patch in v2.
        let before = review_sizes(&hook).len();
        let req = http::Request::patch(path)
            .header("Content-Type", "application/merge-patch+json")
            .body(br#"{"spec":{"schedule":"3 * * * *"}}"#.to_vec())
            .unwrap();
        let patched: Value = client.request(req).await.unwrap();
        assert_eq!(patched["spec"], json!({"schedule": "3 * * * *"}));
        assert_converted_once_each_way(&hook, before, "2 * * * *", "3 * * * *");
        // The result is what a read shows (managedFields in v2 included).
        let read = get_raw(&c, path).await;
        assert_eq!(read["spec"], patched["spec"]);
        assert_eq!(
            read["metadata"]["managedFields"],
            patched["metadata"]["managedFields"]
        );
        assert_eq!(
            read["metadata"]["resourceVersion"],
            patched["metadata"]["resourceVersion"]
        );
    });
}

/// `kubectl get -w` of a webhook-converted version: every event's row
/// has the version's printer columns (ADDED, MODIFIED and DELETED), the
/// events ready together are converted in one review, and the storage
/// version's rows need no webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_watches_of_a_converted_version_show_its_columns() {
    crate::with_timeout!(async {
        let (hook, c) = setup(&[]).await;
        for i in 0..3 {
            create_ok(
                &c,
                &crds::conversion_crontab_v2(&format!("w{i}"), &format!("{i} * * * *")),
            )
            .await;
        }
        let cluster = &c;
        let table_watch = move |version: &'static str| {
            let path = format!(
                "/apis/conv.example.com/{version}/namespaces/default/crontabs?watch=true&resourceVersion=0&timeoutSeconds=6"
            );
            async move {
                // kubectl's Accept for `get -w` (server-side printing).
                let client = cluster.client().await.unwrap();
                let req = http::Request::get(path)
                    .header(
                        "Accept",
                        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
                    )
                    .body(Vec::new())
                    .unwrap();
                client.request_text(req).await.unwrap()
            }
        };
        let events = |text: &str| -> Vec<Value> {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        };
        // The initial events of v2: one review for the three.
        let before = review_sizes(&hook).len();
        let changes = async {
            tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
            c.kubectl_ok(&[
                "patch",
                "crontabs.v2.conv.example.com",
                "w1",
                "--type=merge",
                "-p",
                r#"{"spec":{"schedule":"9 9 * * *"}}"#,
            ])
            .await
            .unwrap();
            c.kubectl_ok(&["delete", "crontabs.v2.conv.example.com", "w2"])
                .await
                .unwrap();
        };
        let (text, ()) = tokio::join!(table_watch("v2"), changes);
        let got = events(&text);
        let rows: Vec<(String, String, String)> = got
            .iter()
            .map(|e| {
                let t = &e["object"];
                assert_eq!(t["kind"], "Table", "{e}");
                (
                    e["type"].as_str().unwrap_or("").to_string(),
                    t["rows"][0]["cells"][0].as_str().unwrap_or("").to_string(),
                    t["rows"][0]["cells"][1].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let row = |t: &str, n: &str, s: &str| (t.to_string(), n.to_string(), s.to_string());
        assert_eq!(
            rows,
            [
                row("ADDED", "w0", "0 * * * *"),
                row("ADDED", "w1", "1 * * * *"),
                row("ADDED", "w2", "2 * * * *"),
                row("MODIFIED", "w1", "9 9 * * *"),
                row("DELETED", "w2", "2 * * * *"),
            ],
            "{got:?}"
        );
        // Column definitions in the first event only, with v2's column.
        let names: Vec<&str> = got[0]["object"]["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        assert_eq!(names, ["Name", "Schedule"]);
        assert!(got[1]["object"]["columnDefinitions"].is_null());
        let sizes = review_sizes(&hook);
        assert_eq!(
            sizes[before], 3,
            "the initial events in one review: {sizes:?}"
        );

        // The storage version's rows come without the webhook.
        let before = review_sizes(&hook).len();
        let got = events(&table_watch("v1").await);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1]["object"]["rows"][0]["cells"][1], "9 9 * * *");
        assert_eq!(review_sizes(&hook).len(), before);
    });
}

/// `clientConfig.service` resolves like upstream's ClusterIP resolver:
/// `port` is honoured (443 when unset), an ExternalName Service is reached
/// at its external name, a ClusterIP Service must have the port, a
/// headless one cannot be routed to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_addressed_conversion_webhooks_honour_the_port() {
    crate::with_timeout!(async {
        let (hook, c) = setup(&["hook.conv.svc"]).await;
        fixtures::apply_ok(
            &c,
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: conv}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {name: hook, namespace: conv}\nspec: {type: ExternalName, externalName: localhost}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {name: cip, namespace: conv}\nspec: {ports: [{port: 8443}]}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {name: headless, namespace: conv}\nspec: {clusterIP: None, ports: [{port: 443}]}\n",
        )
        .await;
        create_ok(&c, &crds::conversion_crontab_v2("s", "5 * * * *")).await;
        let list = "/apis/conv.example.com/v2/namespaces/default/crontabs";
        // Points the CRD at a service (the CRD is re-served asynchronously)
        // and returns what a v2 LIST answers once it takes effect.
        let switch = |name: &'static str, port: Option<u16>, wanted: &'static str| {
            let c = &c;
            let hook = &hook;
            async move {
                let cc = crds::service_client_config(hook, "conv", name, "/convert", port);
                fixtures::apply_ok(c, &crds::conversion_crd(&cc)).await;
                let mut last = String::new();
                for _ in 0..100 {
                    let out = c.kubectl(&["get", "--raw", list]).await.unwrap();
                    last = if out.status.success() {
                        String::from_utf8_lossy(&out.stdout).into_owned()
                    } else {
                        stderr(&out)
                    };
                    if last.contains(wanted) {
                        return last;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                panic!("never saw {wanted:?}: {last}");
            }
        };
        // The ExternalName Service at the webhook's port: converted.
        let before = review_sizes(&hook).len();
        switch("hook", Some(hook.port), "\"schedule\":\"5 * * * *\"").await;
        assert!(review_sizes(&hook).len() > before);
        // No port: 443, where nothing listens.
        switch("hook", None, "hook.conv.svc:443").await;
        // A ClusterIP Service without the port, a headless Service.
        switch(
            "cip",
            Some(9999),
            "conversion webhook for conv.example.com/v1, Kind=CronTab failed: no service port 9999 found for service \"cip\"",
        )
        .await;
        switch(
            "headless",
            None,
            "cannot route to service with ClusterIP \"None\"",
        )
        .await;
    });
}
