//! `serviceaccount-controller`: every active namespace has a `default`
//! ServiceAccount; one that is deleted is created again.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use crate::framework::api_errors::{self, NAMESPACE_TERMINATING_CAUSE};
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "serviceaccount-controller";
/// Work queue name.
pub const QUEUE_NAME: &str = "serviceaccount";
/// The ServiceAccounts ensured in every namespace (upstream's default).
pub const SERVICE_ACCOUNTS_TO_ENSURE: &[&str] = &["default"];

/// Builds the controller (one worker, as upstream).
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let namespaces = ctx.informers.informer::<Namespace>();
    let service_accounts = ctx.informers.informer::<ServiceAccount>();
    let queue = WorkQueue::<String>::new(QUEUE_NAME);
    {
        let queue = queue.clone();
        service_accounts.add_event_handler(move |change: Change<'_, ServiceAccount>| {
            if let Change::Deleted(sa) = change
                && let Some(ns) = sa.namespace()
            {
                queue.add(ns);
            }
        });
    }
    {
        let queue = queue.clone();
        namespaces.add_event_handler(move |change: Change<'_, Namespace>| match change {
            Change::Added(ns) | Change::Updated { new: ns, .. } => queue.add(ns.name_any()),
            Change::Deleted(_) => {}
        });
    }
    let reconciler = ServiceAccountReconciler {
        client: ctx.client.clone(),
        namespaces: namespaces.clone(),
        service_accounts: service_accounts.clone(),
    };
    let controller = QueueController::new(NAME, queue, reconciler, 1, ctx)
        .wait_for(namespaces)
        .wait_for(service_accounts);
    Ok(Some(Box::new(controller)))
}

/// Ensures the ServiceAccounts of one namespace.
pub struct ServiceAccountReconciler {
    client: Client,
    namespaces: Informer<Namespace>,
    service_accounts: Informer<ServiceAccount>,
}

impl Reconciler<String> for ServiceAccountReconciler {
    type Error = String;

    async fn reconcile(&self, namespace: &String) -> Result<Action, String> {
        let Some(ns) = self.namespaces.get(None, namespace) else {
            return Ok(Action::await_change());
        };
        if ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Active") {
            // Nothing is created in a namespace that is going away.
            return Ok(Action::await_change());
        }
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let mut failures = Vec::new();
        for name in SERVICE_ACCOUNTS_TO_ENSURE {
            if self.service_accounts.get(Some(namespace), name).is_some() {
                continue;
            }
            let sa = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some((*name).to_string()),
                    namespace: Some(namespace.clone()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            };
            match api.create(&PostParams::default(), &sa).await {
                Ok(_) => tracing::debug!(serviceaccount = name, "created service account"),
                Err(err)
                    if api_errors::is_already_exists(&err)
                        || api_errors::has_status_cause(&err, NAMESPACE_TERMINATING_CAUSE) => {}
                Err(err) => failures.push(api_errors::message(&err)),
            }
        }
        if failures.is_empty() {
            Ok(Action::await_change())
        } else {
            Err(failures.join(", "))
        }
    }
}
