//! Leader election: with two managers only the Lease holder runs
//! controllers; a crashed leader is replaced once its Lease expires; a
//! leader that shuts down releases the Lease so the standby takes over at
//! once.

use std::time::Duration;

use corten_controller_manager::app::ControllerManager;
use corten_e2e::TestCluster;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Namespace, ServiceAccount};
use kube::Api;
use kube::api::{ListParams, PostParams};

use crate::support::{namespace, start_manager, wait_for};

async fn holder(leases: &Api<Lease>) -> Option<(String, i32)> {
    let lease = leases.get_opt("kube-controller-manager").await.unwrap()?;
    let spec = lease.spec?;
    Some((
        spec.holder_identity.unwrap_or_default(),
        spec.lease_transitions.unwrap_or(0),
    ))
}

async fn wait_leading(manager: &ControllerManager, what: &str) {
    wait_for(what, Duration::from_secs(60), || async {
        (manager.is_leader() && !manager.running_controllers().is_empty()).then_some(())
    })
    .await;
}

async fn wait_for_sa(client: &kube::Client, ns: &str) {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    wait_for(
        &format!("serviceaccount {ns}/default"),
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move { api.get_opt("default").await.unwrap() }
        },
    )
    .await;
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_crashed_leader_is_replaced() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let timings = [
            "--leader-elect=true",
            "--leader-elect-lease-duration=4s",
            "--leader-elect-renew-deadline=3s",
            "--leader-elect-retry-period=1s",
        ];
        let first = start_manager(&cluster, &timings).await;
        wait_leading(&first, "the first manager to lead").await;
        let second = start_manager(&cluster, &timings).await;

        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        let (holder_id, transitions) = holder(&leases).await.unwrap();
        assert_eq!(holder_id, first.identity());
        let lease = leases.get("kube-controller-manager").await.unwrap();
        assert_eq!(lease.spec.as_ref().unwrap().lease_duration_seconds, Some(4));

        // The standby never starts controllers, even across renewals.
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(&PostParams::default(), &namespace("led"))
            .await
            .unwrap();
        wait_for_sa(&client, "led").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!second.is_leader());
        assert!(second.running_controllers().is_empty());
        assert_eq!(second.reconciles(), 0);
        assert!(first.reconciles() > 0);
        assert_eq!(holder(&leases).await.unwrap().0, first.identity());

        // A crash leaves the Lease held; the standby takes it once it expires.
        let first_id = first.identity().to_string();
        first.crash().await;
        assert_eq!(holder(&leases).await.unwrap().0, first_id);
        wait_leading(&second, "the standby to take over").await;
        let (holder_id, new_transitions) = holder(&leases).await.unwrap();
        assert_eq!(holder_id, second.identity());
        assert_eq!(new_transitions, transitions + 1);
        namespaces
            .create(&PostParams::default(), &namespace("after"))
            .await
            .unwrap();
        wait_for_sa(&client, "after").await;
        assert!(second.reconciles() > 0);
        second.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn shutdown_releases_the_lease_for_a_fast_handover() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        // A long lease: only a release explains a quick handover.
        let timings = [
            "--leader-elect=true",
            "--leader-elect-lease-duration=60s",
            "--leader-elect-renew-deadline=20s",
            "--leader-elect-retry-period=1s",
        ];
        let first = start_manager(&cluster, &timings).await;
        wait_leading(&first, "the first manager to lead").await;
        let second = start_manager(&cluster, &timings).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!second.is_leader());

        let first_id = first.identity().to_string();
        first.shutdown().await.unwrap();
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        wait_for(
            "the standby to take over",
            Duration::from_secs(15),
            || async {
                let (holder_id, _) = holder(&leases).await?;
                (holder_id == second.identity()).then_some(())
            },
        )
        .await;
        wait_leading(&second, "the standby's controllers").await;

        // Both transitions were recorded as events on the Lease.
        let events: Api<Event> = Api::namespaced(client.clone(), "kube-system");
        let messages = wait_for("LeaderElection events", Duration::from_secs(15), || {
            let events = events.clone();
            let first_id = first_id.clone();
            let second_id = second.identity().to_string();
            async move {
                let messages: Vec<String> = events
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .filter(|e| e.reason.as_deref() == Some("LeaderElection"))
                    .filter_map(|e| e.message)
                    .collect();
                let wanted = [
                    format!("{first_id} became leader"),
                    format!("{first_id} stopped leading"),
                    format!("{second_id} became leader"),
                ];
                wanted
                    .iter()
                    .all(|w| messages.contains(w))
                    .then_some(messages)
            }
        })
        .await;
        assert!(messages.len() >= 3);
        let event = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("LeaderElection"))
            .unwrap();
        assert_eq!(event.involved_object.kind.as_deref(), Some("Lease"));
        assert_eq!(
            event.involved_object.name.as_deref(),
            Some("kube-controller-manager")
        );
        assert_eq!(
            event.source.unwrap().component.as_deref(),
            Some("kube-controller-manager")
        );
        second.shutdown().await.unwrap();
    });
}
