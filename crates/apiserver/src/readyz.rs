//! The apiserver's named health checks besides `ping`, `etcd` and
//! `shutdown`, with upstream's names: one `poststarthook/<name>` per start
//! step (added when the step has finished, so it is `ok` from then on; the
//! steps run before the server listens) and `autoregister-completion`
//! (every built-in group-version's APIService has become available).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::FutureExt;
use serde_json::Value;

use crate::aggregator::autoregister;
use crate::app::ApiServer;

/// Records that the start step `name` has finished.
pub fn post_start_hook_done(server: &ApiServer, name: &str) {
    server
        .health
        .add_check(format!("poststarthook/{name}"), || async { Ok(()) }.boxed());
}

/// The names in `wanted` whose APIService (looked up by `get`) is missing
/// or not `Available=True`.
pub fn unavailable(wanted: &[String], get: impl Fn(&str) -> Option<Value>) -> Vec<String> {
    wanted
        .iter()
        .filter(|name| {
            let available = get(name).is_some_and(|obj| {
                obj.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Available" && c["status"] == "True")
                    })
            });
            !available
        })
        .cloned()
        .collect()
}

/// Adds `autoregister-completion` (upstream's check of the same name): ok
/// once every built-in group-version's APIService has been `Available`,
/// and from then on (a latch, like upstream's).
pub fn add_checks(server: &Arc<ApiServer>) {
    let wanted: Arc<Vec<String>> = Arc::new(
        autoregister::builtin_group_versions()
            .into_iter()
            .map(|(g, v, _)| corten_api::apiregistration::required_name(&g, &v))
            .collect(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let weak = Arc::downgrade(server);
    server.health.add_check("autoregister-completion", move || {
        let (server, wanted, done) = (weak.upgrade(), wanted.clone(), done.clone());
        async move {
            if done.load(Ordering::Relaxed) {
                return Ok(());
            }
            let Some(cache) = server
                .as_ref()
                .and_then(|s| s.registry.cache("apiservices"))
            else {
                return Err("apiservices are not served".to_string());
            };
            let missing = unavailable(&wanted, |name| {
                cache
                    .get(&format!("apiservices/{name}"))
                    .and_then(|o| serde_json::from_slice(&o.json).ok())
            });
            if missing.is_empty() {
                done.store(true, Ordering::Relaxed);
                Ok(())
            } else {
                Err(format!("missing APIService: {missing:?}"))
            }
        }
        .boxed()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_available_apiservices_count() {
        let wanted = vec!["v1.".to_string(), "v1.apps".into(), "v1.batch".into()];
        let get = |name: &str| match name {
            "v1." => {
                Some(json!({"status": {"conditions": [{"type": "Available", "status": "True"}]}}))
            }
            "v1.apps" => {
                Some(json!({"status": {"conditions": [{"type": "Available", "status": "False"}]}}))
            }
            _ => None,
        };
        assert_eq!(unavailable(&wanted, get), ["v1.apps", "v1.batch"]);
    }
}
