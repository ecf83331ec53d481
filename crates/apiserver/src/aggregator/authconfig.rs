//! `kube-system/extension-apiserver-authentication`: what an extension
//! apiserver needs to authenticate the requests the aggregator forwards
//! (upstream's ClusterAuthenticationTrustController): the client CA, the
//! request-header CA, the allowed proxy names and the header names (lists
//! as JSON strings).

use serde_json::{Map, Value, json};

use crate::app::ApiServer;
use crate::registry::store::{self, UpdateTarget, WriteOptions};

/// The ConfigMap's namespace.
pub const NAMESPACE: &str = "kube-system";
/// The ConfigMap's name.
pub const NAME: &str = "extension-apiserver-authentication";

fn read(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// The ConfigMap's `data` for this server's flags.
pub fn data(server: &ApiServer) -> Result<Map<String, Value>, String> {
    let mut data = Map::new();
    if let Some(ca) = &server.config.authn.client_ca_file {
        data.insert("client-ca-file".into(), json!(read(ca)?));
    }
    if let Some(rh) = &server.config.aggregator.request_header {
        let list = |v: &Vec<String>| json!(serde_json::to_string(v).unwrap_or_default());
        data.insert(
            "requestheader-client-ca-file".into(),
            json!(read(&rh.client_ca_file)?),
        );
        data.insert(
            "requestheader-allowed-names".into(),
            list(&rh.allowed_names),
        );
        data.insert(
            "requestheader-username-headers".into(),
            list(&rh.username_headers),
        );
        data.insert(
            "requestheader-group-headers".into(),
            list(&rh.group_headers),
        );
        data.insert("requestheader-uid-headers".into(), list(&rh.uid_headers));
        data.insert(
            "requestheader-extra-headers-prefix".into(),
            list(&rh.extra_headers_prefix),
        );
    }
    Ok(data)
}

/// Creates or updates the ConfigMap (nothing to publish: left alone).
pub async fn publish(server: &ApiServer) {
    let data = match data(server) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "not publishing {NAMESPACE}/{NAME}");
            return;
        }
    };
    if data.is_empty() {
        return;
    }
    let reg = &server.registry;
    let Some(res) = reg.resource("", "v1", "configmaps") else {
        return;
    };
    let opts = WriteOptions::default();
    let result = match store::get(reg, &res, Some(NAMESPACE), NAME, None).await {
        Ok(bytes) => {
            let Ok(mut cm) = serde_json::from_slice::<Value>(&bytes) else {
                return;
            };
            if cm["data"] == Value::Object(data.clone()) {
                return;
            }
            cm["data"] = Value::Object(data);
            store::update(
                reg,
                &res,
                Some(NAMESPACE),
                NAME,
                cm,
                UpdateTarget::Main,
                &opts,
            )
            .await
            .map(|_| ())
        }
        Err(e) if e.code == 404 => {
            let cm = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": NAME, "namespace": NAMESPACE},
                "data": data,
            });
            store::create(reg, &res, Some(NAMESPACE), cm, &opts)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result
        && e.code != 409
    {
        tracing::warn!(error = %e.message, "publishing {NAMESPACE}/{NAME}");
    }
}
