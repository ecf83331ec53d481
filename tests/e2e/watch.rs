//! Watches: `kubectl get -w`, resuming from a resourceVersion, 410 Gone
//! for versions outside the window, bookmarks.

use std::time::Duration;

use corten_e2e::{KUBECTL, TestCluster};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{PostParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
    )
    .unwrap()
}

#[tokio::test]
async fn kubectl_get_watch_streams_changes() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        cms.create(&PostParams::default(), &cm("first"))
            .await
            .unwrap();
        let mut child = tokio::process::Command::new(KUBECTL)
            .arg(format!("--kubeconfig={}", c.kubeconfig.display()))
            .arg(format!(
                "--cache-dir={}",
                c.dir().join("watch-cache").display()
            ))
            .args(["get", "configmaps", "-w", "-o", "name"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(first, "configmap/first");
        cms.create(&PostParams::default(), &cm("second"))
            .await
            .unwrap();
        let mut seen = false;
        for _ in 0..5 {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if line == "configmap/second" {
                seen = true;
                break;
            }
        }
        assert!(seen);
        child.kill().await.unwrap();
    });
}

#[tokio::test]
async fn resume_gone_and_bookmarks() {
    crate::with_timeout!(async {
        let c = TestCluster::start_with(&["--watch-cache-window=10"])
            .await
            .unwrap();
        let client = c.client().await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let first = cms
            .create(&PostParams::default(), &cm("w-0"))
            .await
            .unwrap();
        let rv0 = first.resource_version().unwrap();
        let second = cms
            .create(&PostParams::default(), &cm("w-1"))
            .await
            .unwrap();

        // Resuming from rv0 replays exactly what came after it.
        let mut s = Box::pin(
            cms.watch(&WatchParams::default().timeout(5), &rv0)
                .await
                .unwrap(),
        );
        match futures::StreamExt::next(&mut s).await.unwrap().unwrap() {
            WatchEvent::Added(o) => {
                assert_eq!(o.name_any(), "w-1");
                assert_eq!(o.resource_version(), second.resource_version());
            }
            other => panic!("unexpected {other:?}"),
        }
        drop(s);

        // Push rv0 out of the 10-event window: 410 Gone ("too old resource version").
        for i in 2..30 {
            cms.create(&PostParams::default(), &cm(&format!("w-{i}")))
                .await
                .unwrap();
        }
        let mut s = Box::pin(
            cms.watch(&WatchParams::default().timeout(5), &rv0)
                .await
                .unwrap(),
        );
        match futures::StreamExt::next(&mut s).await {
            Some(Ok(WatchEvent::Error(e))) => {
                assert_eq!(e.code, 410);
                assert!(
                    e.message.contains("too old resource version"),
                    "{}",
                    e.message
                );
            }
            Some(Err(kube::Error::Api(e))) => assert_eq!(e.code, 410),
            other => panic!("expected 410, got {other:?}"),
        }
        drop(s);

        // sendInitialEvents: initial state, then the initial-events-end bookmark.
        let wp = WatchParams::streaming_lists().timeout(5);
        let mut s = Box::pin(cms.watch(&wp, "0").await.unwrap());
        let mut added = 0;
        loop {
            match futures::StreamExt::next(&mut s).await.unwrap().unwrap() {
                WatchEvent::Added(_) => added += 1,
                WatchEvent::Bookmark(b) => {
                    assert_eq!(
                        b.metadata
                            .annotations
                            .get("k8s.io/initial-events-end")
                            .map(String::as_str),
                        Some("true")
                    );
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(added, 30);
    });
}
