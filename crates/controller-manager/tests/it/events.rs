//! The event recorder writes core/v1 Events like client-go: repeats bump
//! `count` and `lastTimestamp` of one Event; kubectl shows them.

use std::time::Duration;

use corten_controller_manager::framework::events::{EventBroadcaster, EventType};
use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::support::wait_for;

#[tokio::test]
async fn repeated_events_are_counted_on_one_event() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let cm: ConfigMap =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "observed"}})).unwrap();
        let cm = cms.create(&PostParams::default(), &cm).await.unwrap();

        let stop = CancellationToken::new();
        let broadcaster = EventBroadcaster::new(client.clone());
        let writer = broadcaster.start(&stop).unwrap();
        assert!(broadcaster.start(&stop).is_none(), "one writer only");
        let recorder = broadcaster.recorder("test-controller");
        let events: Api<Event> = Api::namespaced(client.clone(), "default");
        let ours = |events: Vec<Event>| -> Vec<Event> {
            events
                .into_iter()
                .filter(|e| {
                    e.source.as_ref().and_then(|s| s.component.as_deref())
                        == Some("test-controller")
                })
                .collect()
        };

        recorder.event(
            &cm,
            EventType::Warning,
            "FailedSync",
            "could not frobnicate",
        );
        let first = wait_for("the first event", Duration::from_secs(20), || {
            let events = events.clone();
            async move {
                ours(events.list(&ListParams::default()).await.unwrap().items)
                    .into_iter()
                    .next()
            }
        })
        .await;
        assert_eq!(first.count, Some(1));
        // Whole-second timestamps: make the repeat's lastTimestamp differ.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        recorder.event(
            &cm,
            EventType::Warning,
            "FailedSync",
            "could not frobnicate",
        );
        recorder.event(
            &cm,
            EventType::Warning,
            "FailedSync",
            "could not frobnicate",
        );
        let repeated = wait_for("count 3", Duration::from_secs(40), || {
            let events = events.clone();
            async move {
                let mine = ours(events.list(&ListParams::default()).await.unwrap().items);
                mine.iter()
                    .find(|e| e.count == Some(3))
                    .cloned()
                    .map(|e| (e, mine.len()))
            }
        })
        .await;
        let (event, total) = repeated;
        assert_eq!(total, 1, "repeats must not create new Events");
        assert_eq!(event.name_any(), first.name_any());
        assert!(event.name_any().starts_with("observed."));
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.reason.as_deref(), Some("FailedSync"));
        assert_eq!(event.message.as_deref(), Some("could not frobnicate"));
        assert_eq!(
            event.reporting_component.as_deref(),
            Some("test-controller")
        );
        assert_eq!(event.first_timestamp, first.first_timestamp);
        assert!(
            event.last_timestamp.as_ref().unwrap().0 > event.first_timestamp.as_ref().unwrap().0
        );
        assert_eq!(event.involved_object.kind.as_deref(), Some("ConfigMap"));
        assert_eq!(event.involved_object.uid, cm.uid());

        // A different message is a separate Event.
        recorder.event(&cm, EventType::Normal, "Synced", "all good");
        wait_for("the second event", Duration::from_secs(20), || {
            let events = events.clone();
            async move {
                (ours(events.list(&ListParams::default()).await.unwrap().items).len() == 2)
                    .then_some(())
            }
        })
        .await;

        let table = cluster
            .kubectl_ok(&["get", "events", "-n", "default"])
            .await
            .unwrap();
        assert!(
            table.contains("FailedSync") && table.contains("configmap/observed"),
            "{table}"
        );
        let describe = cluster
            .kubectl_ok(&["describe", "configmap", "observed", "-n", "default"])
            .await
            .unwrap();
        assert!(describe.contains("Events:"), "{describe}");
        let line = describe
            .lines()
            .find(|l| l.contains("FailedSync"))
            .unwrap_or_else(|| panic!("no FailedSync in describe:\n{describe}"));
        assert!(line.contains("(x3 over"), "{line}");
        assert!(
            line.contains("test-controller") && line.contains("could not frobnicate"),
            "{line}"
        );

        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .unwrap()
            .unwrap();
    });
}
