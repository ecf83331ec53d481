//! The webhook configurations, read from the apiserver's own watch caches
//! and parsed once per change (not once per request).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corten_apimachinery::labels::Selector;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use serde_json::Value;

use crate::registry::Registry;

/// One rule of a webhook (`RuleWithOperations`), defaults applied.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `*`.
    pub operations: Vec<String>,
    /// API groups (`""` for core) or `*`.
    pub api_groups: Vec<String>,
    /// API versions or `*`.
    pub api_versions: Vec<String>,
    /// `pods`, `pods/status`, `*/scale`, `*`, `*/*`.
    pub resources: Vec<String>,
    /// `*`, `Cluster` or `Namespaced`.
    pub scope: String,
}

impl From<&RuleWithOperations> for Rule {
    fn from(r: &RuleWithOperations) -> Self {
        Rule {
            operations: r.operations.clone().unwrap_or_default(),
            api_groups: r.api_groups.clone().unwrap_or_default(),
            api_versions: r.api_versions.clone().unwrap_or_default(),
            resources: r.resources.clone().unwrap_or_default(),
            scope: r.scope.clone().unwrap_or_else(|| "*".into()),
        }
    }
}

/// Where a webhook is reached.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// `clientConfig.url`.
    pub url: Option<String>,
    /// `clientConfig.service`: namespace, name, path, port.
    pub service: Option<(String, String, String, i32)>,
    /// `clientConfig.caBundle` (PEM); empty: the system's trust store.
    pub ca_bundle: Vec<u8>,
}

impl From<&WebhookClientConfig> for ClientConfig {
    fn from(c: &WebhookClientConfig) -> Self {
        ClientConfig {
            url: c.url.clone(),
            service: c.service.as_ref().map(|s| {
                (
                    s.namespace.clone(),
                    s.name.clone(),
                    s.path.clone().unwrap_or_default(),
                    s.port.unwrap_or(443),
                )
            }),
            ca_bundle: c
                .ca_bundle
                .as_ref()
                .map(|b| b.0.clone())
                .unwrap_or_default(),
        }
    }
}

/// One webhook of a configuration, defaults applied.
#[derive(Debug)]
pub struct Hook {
    /// The configuration's name.
    pub configuration: String,
    /// The webhook's name (`x.example.com`).
    pub name: String,
    /// The rules; a request matching any of them is sent.
    pub rules: Vec<Rule>,
    /// `failurePolicy: Ignore`.
    pub ignore_failures: bool,
    /// `matchPolicy: Exact`.
    pub exact: bool,
    /// `namespaceSelector`.
    pub namespace_selector: Selector,
    /// `objectSelector`.
    pub object_selector: Selector,
    /// `sideEffects` is `None` or `NoneOnDryRun` (safe to call on dry runs).
    pub dry_run_safe: bool,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `clientConfig`.
    pub client: ClientConfig,
    /// `matchConditions`: (name, CEL expression).
    pub match_conditions: Vec<(String, String)>,
    /// `reinvocationPolicy: IfNeeded` (mutating webhooks).
    pub reinvoke_if_needed: bool,
}

fn selector(v: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>) -> Selector {
    let Some(s) = v else {
        return Selector::everything();
    };
    // A selector that does not parse matches nothing, so a broken
    // configuration never calls out more than it was meant to.
    serde_json::to_value(s)
        .ok()
        .and_then(|v| Selector::from_label_selector(&v).ok())
        .unwrap_or_else(Selector::nothing)
}

fn timeout(secs: Option<i32>) -> Duration {
    Duration::from_secs(secs.map_or(10, |s| s.clamp(1, 30)) as u64)
}

fn from_mutating(c: &MutatingWebhookConfiguration) -> Vec<Hook> {
    let configuration = c.metadata.name.clone().unwrap_or_default();
    c.webhooks
        .iter()
        .flatten()
        .map(|h| Hook {
            configuration: configuration.clone(),
            name: h.name.clone(),
            rules: h.rules.iter().flatten().map(Rule::from).collect(),
            ignore_failures: h.failure_policy.as_deref() == Some("Ignore"),
            exact: h.match_policy.as_deref() == Some("Exact"),
            namespace_selector: selector(h.namespace_selector.as_ref()),
            object_selector: selector(h.object_selector.as_ref()),
            dry_run_safe: matches!(h.side_effects.as_str(), "None" | "NoneOnDryRun"),
            timeout: timeout(h.timeout_seconds),
            client: ClientConfig::from(&h.client_config),
            match_conditions: h
                .match_conditions
                .iter()
                .flatten()
                .map(|m| (m.name.clone(), m.expression.clone()))
                .collect(),
            reinvoke_if_needed: h.reinvocation_policy.as_deref() == Some("IfNeeded"),
        })
        .collect()
}

fn from_validating(c: &ValidatingWebhookConfiguration) -> Vec<Hook> {
    let configuration = c.metadata.name.clone().unwrap_or_default();
    c.webhooks
        .iter()
        .flatten()
        .map(|h| Hook {
            configuration: configuration.clone(),
            name: h.name.clone(),
            rules: h.rules.iter().flatten().map(Rule::from).collect(),
            ignore_failures: h.failure_policy.as_deref() == Some("Ignore"),
            exact: h.match_policy.as_deref() == Some("Exact"),
            namespace_selector: selector(h.namespace_selector.as_ref()),
            object_selector: selector(h.object_selector.as_ref()),
            dry_run_safe: matches!(h.side_effects.as_str(), "None" | "NoneOnDryRun"),
            timeout: timeout(h.timeout_seconds),
            client: ClientConfig::from(&h.client_config),
            match_conditions: h
                .match_conditions
                .iter()
                .flatten()
                .map(|m| (m.name.clone(), m.expression.clone()))
                .collect(),
            reinvoke_if_needed: false,
        })
        .collect()
}

/// Which configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// MutatingWebhookConfigurations.
    Mutating,
    /// ValidatingWebhookConfigurations.
    Validating,
}

impl Kind {
    fn storage_resource(self) -> &'static str {
        match self {
            Kind::Mutating => "mutatingwebhookconfigurations",
            Kind::Validating => "validatingwebhookconfigurations",
        }
    }
}

/// The webhooks of all configurations, in call order.
pub type Hooks = Arc<Vec<Arc<Hook>>>;

/// The parsed webhooks of one kind of configuration, rebuilt when the
/// cached objects change. Configurations are sorted by name, webhooks keep
/// their order within a configuration, as upstream calls them.
#[derive(Debug)]
pub struct HookCache {
    kind: Kind,
    /// (name, resourceVersion) of each configuration parsed, and the result.
    state: Mutex<(Vec<(String, i64)>, Hooks)>,
}

impl HookCache {
    /// An empty cache for `kind`.
    pub fn new(kind: Kind) -> Self {
        HookCache {
            kind,
            state: Mutex::new((Vec::new(), Arc::new(Vec::new()))),
        }
    }

    /// The current webhooks.
    pub fn hooks(&self, reg: &Registry) -> Hooks {
        let Some(cache) = reg.cache(self.kind.storage_resource()) else {
            return Arc::new(Vec::new());
        };
        let listed = cache.list(&corten_storage::ListRequest {
            prefix: format!("{}/", self.kind.storage_resource()),
            filter: Default::default(),
            start_after: None,
            limit: None,
        });
        let mut versions: Vec<(String, i64)> = listed
            .items
            .iter()
            .map(|o| (o.name.clone(), o.resource_version))
            .collect();
        versions.sort();
        let Ok(mut state) = self.state.lock() else {
            return Arc::new(Vec::new());
        };
        if state.0 == versions {
            return state.1.clone();
        }
        let mut configs: Vec<(String, Vec<Hook>)> = Vec::new();
        for item in &listed.items {
            let Ok(v) = serde_json::from_slice::<Value>(&item.json) else {
                continue;
            };
            let hooks = match self.kind {
                Kind::Mutating => serde_json::from_value::<MutatingWebhookConfiguration>(v)
                    .map(|c| from_mutating(&c)),
                Kind::Validating => serde_json::from_value::<ValidatingWebhookConfiguration>(v)
                    .map(|c| from_validating(&c)),
            };
            match hooks {
                Ok(h) => configs.push((item.name.clone(), h)),
                Err(e) => {
                    tracing::warn!(name = %item.name, error = %e, "skipping undecodable webhook configuration")
                }
            }
        }
        configs.sort_by(|a, b| a.0.cmp(&b.0));
        let hooks: Vec<Arc<Hook>> = configs
            .into_iter()
            .flat_map(|(_, h)| h)
            .map(Arc::new)
            .collect();
        *state = (versions, Arc::new(hooks));
        state.1.clone()
    }
}
