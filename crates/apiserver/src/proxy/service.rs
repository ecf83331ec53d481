//! `services/{[scheme:]name[:port]}/proxy/{path}`: where to send a request
//! proxied to a Service (upstream's ServiceREST.ResourceLocation). A port
//! number is turned into the name of the Service port that declares it; a
//! ready endpoint serving that port name is then picked at random from the
//! Service's EndpointSlices.

use corten_apimachinery::{Reason, StatusError};
use serde_json::Value;

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The chosen endpoint: `host:port` (IPv6 in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The IP as written in the slice.
    pub ip: String,
    /// The endpoint port.
    pub port: u16,
}

impl Endpoint {
    /// `ip:port`, with an IPv6 address in brackets.
    pub fn authority(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]:{}", self.ip, self.port)
        } else {
            format!("{}:{}", self.ip, self.port)
        }
    }
}

fn unavailable(message: String) -> StatusError {
    StatusError::new(Reason::ServiceUnavailable, message)
}

/// The Service port name a request addresses: a name as given, a number
/// mapped to the name of the Service port with that number (503 when the
/// Service has none), nothing as the unnamed port.
pub fn port_name(service: &Value, name: &str, port: &str) -> Result<String, StatusError> {
    let Ok(number) = port.parse::<i64>() else {
        return Ok(port.to_string());
    };
    service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("port").and_then(Value::as_i64) == Some(number))
        .map(|p| {
            p.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .ok_or_else(|| {
            unavailable(format!(
                "no service port {number} found for service \"{name}\""
            ))
        })
}

/// Whether an EndpointSlice endpoint may receive traffic: `ready` unset
/// counts as ready, as the EndpointSlice API documents.
fn is_ready(endpoint: &Value) -> bool {
    endpoint
        .pointer("/conditions/ready")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// Picks a ready endpoint of `service` (by name) for `port_name` from its
/// `slices` (all EndpointSlices of the namespace; those of other Services
/// are skipped). `seed` chooses where the search starts, so load spreads
/// like upstream's random pick. `id` is the name as the client wrote it,
/// for the error message.
pub fn pick(
    service: &str,
    port_name: &str,
    slices: &[Value],
    seed: usize,
    id: &str,
) -> Result<Endpoint, StatusError> {
    let mut candidates = Vec::new();
    for slice in slices {
        let owner = slice
            .pointer("/metadata/labels")
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
            .and_then(Value::as_str);
        let family = slice.get("addressType").and_then(Value::as_str);
        if owner != Some(service) || !matches!(family, Some("IPv4" | "IPv6")) {
            continue;
        }
        let port = slice
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)
            .and_then(|p| p.get("port").and_then(Value::as_u64))
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0);
        let Some(port) = port else {
            continue;
        };
        for endpoint in slice
            .get("endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|e| is_ready(e))
        {
            if let Some(ip) = endpoint.pointer("/addresses/0").and_then(Value::as_str) {
                candidates.push(Endpoint {
                    ip: ip.to_string(),
                    port,
                });
            }
        }
    }
    if candidates.is_empty() {
        return Err(unavailable(format!(
            "no endpoints available for service \"{id}\""
        )));
    }
    Ok(candidates.swap_remove(seed % candidates.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service() -> Value {
        json!({"spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "metrics", "port": 9090}
        ]}})
    }

    fn slice(service: &str, family: &str, port: Value, endpoints: Value) -> Value {
        json!({
            "metadata": {"labels": {SERVICE_NAME_LABEL: service}},
            "addressType": family,
            "ports": [port],
            "endpoints": endpoints
        })
    }

    #[test]
    fn port_numbers_map_to_port_names() {
        assert_eq!(port_name(&service(), "web", "80").unwrap(), "http");
        assert_eq!(port_name(&service(), "web", "metrics").unwrap(), "metrics");
        assert_eq!(port_name(&service(), "web", "").unwrap(), "");
        let e = port_name(&service(), "web", "81").unwrap_err();
        assert_eq!(e.code, 503);
        assert_eq!(e.message, "no service port 81 found for service \"web\"");
        let unnamed = json!({"spec": {"ports": [{"port": 80}]}});
        assert_eq!(port_name(&unnamed, "web", "80").unwrap(), "");
    }

    #[test]
    fn only_ready_endpoints_of_the_service_and_port_are_picked() {
        let slices = vec![
            slice(
                "other",
                "IPv4",
                json!({"name": "http", "port": 1}),
                json!([{"addresses": ["10.0.0.9"]}]),
            ),
            slice(
                "web",
                "IPv4",
                json!({"name": "http", "port": 8080}),
                json!([
                    {"addresses": ["10.0.0.1"], "conditions": {"ready": false}},
                    {"addresses": ["10.0.0.2"], "conditions": {"ready": true}},
                    {"addresses": ["10.0.0.3"]}
                ]),
            ),
            slice(
                "web",
                "IPv6",
                json!({"name": "metrics", "port": 9090}),
                json!([{"addresses": ["fd00::5"]}]),
            ),
        ];
        let picked: Vec<String> = (0..4)
            .map(|seed| {
                pick("web", "http", &slices, seed, "web")
                    .unwrap()
                    .authority()
            })
            .collect();
        assert!(picked.contains(&"10.0.0.2:8080".to_string()), "{picked:?}");
        assert!(picked.contains(&"10.0.0.3:8080".to_string()), "{picked:?}");
        assert!(
            !picked
                .iter()
                .any(|p| p.starts_with("10.0.0.1") || p.starts_with("10.0.0.9"))
        );
        assert_eq!(
            pick("web", "metrics", &slices, 7, "web")
                .unwrap()
                .authority(),
            "[fd00::5]:9090"
        );
        let e = pick("web", "grpc", &slices, 0, "web:grpc").unwrap_err();
        assert_eq!(e.code, 503);
        assert_eq!(e.message, "no endpoints available for service \"web:grpc\"");
        let fqdn = vec![slice(
            "web",
            "FQDN",
            json!({"name": "http", "port": 80}),
            json!([{"addresses": ["example.internal"]}]),
        )];
        assert!(pick("web", "http", &fqdn, 0, "web").is_err());
    }
}
