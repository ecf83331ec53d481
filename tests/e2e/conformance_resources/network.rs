//! sig-network and sig-instrumentation entries: Endpoints, Service
//! status, the kubernetes Service's slice, events in both API groups.

use super::*;
use corten_e2e::TestCluster;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};

/// "Endpoint resource lifecycle": watched from creation, labelled, patched
/// with a new address and port, deleted by label with a DELETED event.
/// "Event, delete a collection" and "New Event resource lifecycle, testing
/// a list of events": events found by label across namespaces, deleted by
/// collection.
#[tokio::test]
async fn endpoints_and_event_collections() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::Endpoints;
        let eps: Api<Endpoints> = Api::default_namespaced(client.clone());
        let rv = eps
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        eps.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "testservice", "labels": {"test-endpoint-static": "true"}},
                "subsets": [{"addresses": [{"ip": "10.0.0.24"}], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]}))
            .unwrap(),
        )
        .await
        .unwrap();
        let mut cur = eps.get("testservice").await.unwrap();
        cur.metadata
            .labels
            .get_or_insert_default()
            .insert("test-service".into(), "updated".into());
        eps.replace("testservice", &PostParams::default(), &cur)
            .await
            .unwrap();
        let patched = eps
            .patch(
                "testservice",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"test-service": "patched"}},
                    "subsets": [{"addresses": [{"ip": "10.0.0.25"}], "ports": [{"name": "http-test", "port": 8080}]}]})),
            )
            .await
            .unwrap();
        let subset = &patched.subsets.unwrap()[0];
        assert_eq!(subset.addresses.as_ref().unwrap()[0].ip, "10.0.0.25");
        assert_eq!(subset.ports.as_ref().unwrap()[0].port, 8080);
        assert_eq!(
            subset.ports.as_ref().unwrap()[0].protocol.as_deref(),
            Some("TCP")
        );
        eps.delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("test-endpoint-static=true"),
        )
        .await
        .unwrap();
        let mut deleted = false;
        watch_until(&eps, "test-endpoint-static=true", &rv, |ev| {
            if let WatchEvent::Deleted(e) = ev {
                deleted = e.metadata.labels.as_ref().unwrap()["test-service"] == "patched";
            }
            deleted
        })
        .await;

        // Events in two namespaces, listed by label across namespaces.
        c.kubectl_ok(&["create", "namespace", "other"])
            .await
            .unwrap();
        use k8s_openapi::api::events::v1::Event;
        for ns in ["default", "other"] {
            let api: Api<Event> = Api::namespaced(client.clone(), ns);
            for i in 0..2 {
                api.create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({"metadata": {"name": format!("ev-{i}"), "labels": {"testevent-set": "true"}},
                        "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "e2e.io/test",
                        "reportingInstance": "i", "action": "Do", "reason": "Test", "type": "Normal",
                        "regarding": {"kind": "Pod", "name": "p", "namespace": ns}, "note": "n"}))
                    .unwrap(),
                )
                .await
                .unwrap();
            }
        }
        let lp = ListParams::default().labels("testevent-set=true");
        let all: Api<Event> = Api::all(client.clone());
        assert_eq!(all.list(&lp).await.unwrap().items.len(), 4);
        let core_all: Api<k8s_openapi::api::core::v1::Event> = Api::all(client.clone());
        assert_eq!(core_all.list(&lp).await.unwrap().items.len(), 4);
        let default_events: Api<k8s_openapi::api::core::v1::Event> =
            Api::default_namespaced(client.clone());
        default_events
            .delete_collection(&DeleteParams::default(), &lp)
            .await
            .unwrap();
        assert_eq!(all.list(&lp).await.unwrap().items.len(), 2);
    });
}

/// "Service, complete ServiceStatus lifecycle": a LoadBalancer Service
/// watched by label while its `/status` is read, patched (with an
/// annotation in the same patch), updated with a condition that has no
/// transition time (the Go client sends `null`), then strategic-merge
/// patched and deleted.
#[tokio::test]
async fn service_status_lifecycle() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::Service;
        let svcs: Api<Service> = Api::default_namespaced(client.clone());
        let rv = Api::<Service>::all(client.clone())
            .list(&ListParams::default().labels("test-service-static=true"))
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        svcs.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "test-service", "labels": {"test-service-static": "true"}},
                "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 80}]}}))
            .unwrap(),
        )
        .await
        .unwrap();
        let status = svcs.get_status("test-service").await.unwrap();
        assert_eq!(status.metadata.name.as_deref(), Some("test-service"));
        let patched = svcs
            .patch_status(
                "test-service",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"patchedstatus": "true"}},
                    "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            patched.metadata.annotations.as_ref().unwrap()["patchedstatus"],
            "true"
        );
        let ingress = &patched
            .status
            .as_ref()
            .unwrap()
            .load_balancer
            .as_ref()
            .unwrap()
            .ingress
            .as_ref()
            .unwrap()[0];
        assert_eq!(ingress.ip.as_deref(), Some("203.0.113.1"));

        let mut cur = serde_json::to_value(svcs.get("test-service").await.unwrap()).unwrap();
        cur["status"]["conditions"] = json!([{"type": "StatusUpdate", "status": "True",
            "reason": "E2E", "message": "Set from e2e test", "lastTransitionTime": null}]);
        let req = http::Request::put("/api/v1/namespaces/default/services/test-service/status")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&cur).unwrap())
            .unwrap();
        let updated: Value = client.request(req).await.unwrap();
        assert_eq!(updated["status"]["conditions"][0]["type"], "StatusUpdate");

        svcs.patch(
            "test-service",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"test-service": "patched"}}})),
        )
        .await
        .unwrap();
        svcs.delete("test-service", &DeleteParams::default())
            .await
            .unwrap();

        let (mut annotated, mut conditioned, mut labelled, mut deleted) =
            (false, false, false, false);
        watch_until(&svcs, "test-service-static=true", &rv, |ev| {
            match ev {
                WatchEvent::Modified(s) => {
                    let a = s.metadata.annotations.clone().unwrap_or_default();
                    annotated |= a.get("patchedstatus").is_some_and(|v| v == "true");
                    conditioned |= s
                        .status
                        .as_ref()
                        .and_then(|st| st.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| {
                                c.type_ == "StatusUpdate" && c.message == "Set from e2e test"
                            })
                        });
                    labelled |= s
                        .metadata
                        .labels
                        .as_ref()
                        .unwrap()
                        .get("test-service")
                        .is_some_and(|v| v == "patched");
                }
                WatchEvent::Deleted(_) => deleted = true,
                _ => {}
            }
            annotated && conditioned && labelled && deleted
        })
        .await;
    });
}

/// "New Event resource lifecycle, testing a single event" (events.k8s.io)
/// and "Event, manage lifecycle of an Event" (core/v1): found by field
/// selectors `source` / `reportingController`, a patched note or message
/// changes nothing else, an unconditional update adds a series, the
/// deleted event is gone.
#[tokio::test]
async fn event_lifecycles() {
    crate::with_timeout!(async {
        let c = TestCluster::start().await.unwrap();
        let client = c.client().await.unwrap();
        use k8s_openapi::api::core::v1::Event as CoreEvent;
        use k8s_openapi::api::events::v1::Event;
        let events: Api<Event> = Api::default_namespaced(client.clone());
        let core: Api<CoreEvent> = Api::default_namespaced(client.clone());
        events
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "event-test", "labels": {"testevent-constant": "true"}},
                    "regarding": {"namespace": "default"}, "eventTime": "2017-09-19T13:49:16.000000Z",
                    "note": "This is event-test", "action": "Do", "reason": "Test", "type": "Normal",
                    "reportingController": "test-controller", "reportingInstance": "test-node"}))
                .unwrap(),
            )
            .await
            .unwrap();
        let by_source = core
            .list(&ListParams::default().fields("source=test-controller"))
            .await
            .unwrap();
        assert_eq!(names(&by_source.items), vec!["event-test"]);
        let by_controller = events
            .list(&ListParams::default().fields("reportingController=test-controller"))
            .await
            .unwrap();
        assert_eq!(names(&by_controller.items), vec!["event-test"]);

        let mut expected = events.get("event-test").await.unwrap();
        events
            .patch(
                "event-test",
                &PatchParams::default(),
                &Patch::Strategic(json!({"note": "This is a test event - patched"})),
            )
            .await
            .unwrap();
        expected.note = Some("This is a test event - patched".into());
        let got = events.get("event-test").await.unwrap();
        assert_eq!(without_write_meta(&got), without_write_meta(&expected));

        expected.series = Some(
            serde_json::from_value(
                json!({"count": 100, "lastObservedTime": "2017-09-19T13:49:16.000000Z"}),
            )
            .unwrap(),
        );
        expected.metadata.resource_version = None;
        events
            .replace("event-test", &PostParams::default(), &expected)
            .await
            .unwrap();
        let got = events.get("event-test").await.unwrap();
        assert_eq!(without_write_meta(&got), without_write_meta(&expected));
        events
            .delete("event-test", &DeleteParams::default())
            .await
            .unwrap();
        let lp = ListParams::default().labels("testevent-constant=true");
        assert!(
            Api::<Event>::all(client.clone())
                .list(&lp)
                .await
                .unwrap()
                .items
                .is_empty()
        );

        // core/v1: the same walk with `message` and a core series.
        core.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "event-test", "labels": {"testevent-constant": "true"}},
                "message": "This is a test event", "reason": "Test", "type": "Normal", "count": 1,
                "involvedObject": {"namespace": "default"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        let all_core: Api<CoreEvent> = Api::all(client.clone());
        assert_eq!(all_core.list(&lp).await.unwrap().items.len(), 1);
        let mut expected = core.get("event-test").await.unwrap();
        core.patch(
            "event-test",
            &PatchParams::default(),
            &Patch::Strategic(json!({"message": "This is a test event - patched"})),
        )
        .await
        .unwrap();
        expected.message = Some("This is a test event - patched".into());
        let got = core.get("event-test").await.unwrap();
        assert_eq!(without_write_meta(&got), without_write_meta(&expected));
        expected.series = Some(
            serde_json::from_value(
                json!({"count": 100, "lastObservedTime": "2017-09-19T13:49:16.000000Z"}),
            )
            .unwrap(),
        );
        expected.metadata.resource_version = None;
        core.replace("event-test", &PostParams::default(), &expected)
            .await
            .unwrap();
        let got = core.get("event-test").await.unwrap();
        assert_eq!(without_write_meta(&got), without_write_meta(&expected));
        core.delete("event-test", &DeleteParams::default())
            .await
            .unwrap();
        assert!(all_core.list(&lp).await.unwrap().items.is_empty());
    });
}
