//! `root-ca-certificate-publisher-controller`: every namespace has the
//! ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster's CA bundle
//! (from `--root-ca-file`, else the CA the controller-manager's kubeconfig
//! trusts, as upstream). A changed or deleted copy is put back.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

use crate::framework::api_errors::{self, NAMESPACE_TERMINATING_CAUSE};
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "root-ca-certificate-publisher-controller";
/// Work queue name.
pub const QUEUE_NAME: &str = "root_ca_cert_publisher";
/// The ConfigMap published in every namespace.
pub const CONFIG_MAP_NAME: &str = "kube-root-ca.crt";
/// Its data key.
pub const DATA_KEY: &str = "ca.crt";
/// The annotation describing it.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// Upstream's description.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

struct PublisherMetrics {
    sync_total: IntCounterVec,
    sync_duration: HistogramVec,
}

fn publisher_metrics() -> &'static PublisherMetrics {
    static METRICS: OnceLock<PublisherMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let metrics = PublisherMetrics {
            sync_total: IntCounterVec::new(
                Opts::new(
                    "root_ca_cert_publisher_sync_total",
                    "Number of namespace syncs happened in root ca cert publisher.",
                ),
                &["code"],
            )
            .expect("valid metric"),
            sync_duration: HistogramVec::new(
                HistogramOpts::new(
                    "root_ca_cert_publisher_sync_duration_seconds",
                    "Number of namespace syncs happened in root ca cert publisher.",
                )
                .buckets(prometheus::exponential_buckets(0.001, 2.0, 15).unwrap_or_default()),
                &["code"],
            )
            .expect("valid metric"),
        };
        for collector in [
            Box::new(metrics.sync_total.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.sync_duration.clone()),
        ] {
            if let Err(err) = prometheus::register(collector) {
                tracing::warn!(error = %err, "registering root_ca_cert_publisher metrics");
            }
        }
        metrics
    })
}

/// Builds the controller (one worker, as upstream); disabled without a CA.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let root_ca = match (&ctx.config.root_ca, &ctx.kubeconfig_ca) {
        (Some(root_ca), _) => root_ca.pem.clone(),
        (None, Some(ca)) => ca.clone(),
        (None, None) => {
            tracing::info!(
                controller = NAME,
                "no --root-ca-file and no CA in the kubeconfig: not publishing kube-root-ca.crt"
            );
            return Ok(None);
        }
    };
    let root_ca = String::from_utf8(root_ca)
        .map_err(|_| anyhow::anyhow!("the root CA bundle is not UTF-8 PEM"))?;
    let namespaces = ctx.informers.informer::<Namespace>();
    let config_maps = ctx.informers.informer::<ConfigMap>();
    let queue = WorkQueue::<String>::new(QUEUE_NAME);
    {
        let queue = queue.clone();
        config_maps.add_event_handler(move |change: Change<'_, ConfigMap>| {
            let cm = match change {
                Change::Updated { new, .. } => new,
                Change::Deleted(cm) => cm,
                Change::Added(_) => return,
            };
            if cm.metadata.name.as_deref() == Some(CONFIG_MAP_NAME)
                && let Some(ns) = cm.namespace()
            {
                queue.add(ns);
            }
        });
    }
    {
        let queue = queue.clone();
        namespaces.add_event_handler(move |change: Change<'_, Namespace>| match change {
            Change::Added(ns) => queue.add(ns.name_any()),
            Change::Updated { new, .. } => {
                if new.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Active") {
                    queue.add(new.name_any());
                }
            }
            Change::Deleted(_) => {}
        });
    }
    let reconciler = RootCaReconciler {
        client: ctx.client.clone(),
        config_maps: config_maps.clone(),
        root_ca,
    };
    let controller = QueueController::new(NAME, queue, reconciler, 1, ctx)
        .wait_for(namespaces)
        .wait_for(config_maps);
    Ok(Some(Box::new(controller)))
}

/// Publishes the CA into one namespace.
pub struct RootCaReconciler {
    client: Client,
    config_maps: Informer<ConfigMap>,
    root_ca: String,
}

impl RootCaReconciler {
    async fn sync(&self, namespace: &str) -> kube::Result<()> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let data = BTreeMap::from([(DATA_KEY.to_string(), self.root_ca.clone())]);
        let Some(existing) = self.config_maps.get(Some(namespace), CONFIG_MAP_NAME) else {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(CONFIG_MAP_NAME.to_string()),
                    annotations: Some(BTreeMap::from([(
                        DESCRIPTION_ANNOTATION.to_string(),
                        DESCRIPTION.to_string(),
                    )])),
                    ..ObjectMeta::default()
                },
                data: Some(data),
                ..ConfigMap::default()
            };
            return match api.create(&PostParams::default(), &cm).await {
                Ok(_) => Ok(()),
                // Nothing to publish into a namespace that is gone or going.
                Err(err)
                    if api_errors::is_not_found(&err)
                        || api_errors::has_status_cause(&err, NAMESPACE_TERMINATING_CAUSE) =>
                {
                    Ok(())
                }
                Err(err) => Err(err),
            };
        };
        let described = existing
            .annotations()
            .get(DESCRIPTION_ANNOTATION)
            .is_some_and(|d| !d.is_empty());
        if existing.data.as_ref() == Some(&data) && described {
            return Ok(());
        }
        let mut updated = (*existing).clone();
        updated.data = Some(data);
        updated
            .annotations_mut()
            .insert(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string());
        api.replace(CONFIG_MAP_NAME, &PostParams::default(), &updated)
            .await
            .map(|_| ())
    }
}

impl Reconciler<String> for RootCaReconciler {
    type Error = String;

    async fn reconcile(&self, namespace: &String) -> Result<Action, String> {
        let started = Instant::now();
        let result = self.sync(namespace).await;
        let code = match &result {
            Ok(()) => "200".to_string(),
            Err(err) => {
                api_errors::status_code(err).map_or_else(|| "500".to_string(), |c| c.to_string())
            }
        };
        let metrics = publisher_metrics();
        metrics.sync_total.with_label_values(&[code.as_str()]).inc();
        metrics
            .sync_duration
            .with_label_values(&[code.as_str()])
            .observe(started.elapsed().as_secs_f64());
        result
            .map(|()| Action::await_change())
            .map_err(|err| api_errors::message(&err))
    }
}
