//! Health check node ports: for every LoadBalancer Service with
//! `externalTrafficPolicy: Local`, an HTTP server on its
//! `spec.healthCheckNodePort` that tells the cloud load balancer whether
//! this node has local endpoints, as upstream's service health server does:
//!
//! - 200 when the node has ready local endpoints and the proxy is healthy,
//!   503 otherwise, with the JSON body
//!   `{"service": {"namespace": .., "name": ..}, "localEndpoints": N,
//!   "serviceProxyHealthy": true}` (any path, any method);
//! - `localEndpoints` counts the distinct IPs of ready endpoints on this
//!   node over all the Service's ports;
//! - ports are opened when a Service needs one and closed when it is gone,
//!   after each successful sync; a port that cannot be bound is logged,
//!   reported with upstream's Warning event `FailedToStartServiceHealthcheck`
//!   on the Service, and tried again at the next sync;
//! - closing a port frees it at once; connections still open drain in the
//!   background, so a slow client never holds up the sync loop.
//!
//! The servers listen where NodePorts answer: the node's primary IPs
//! (`--nodeport-addresses=primary`), the local addresses inside the
//! configured CIDRs, or every address.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::FutureExt;
use http::{Method, Response, StatusCode, Uri};
use http_body_util::Full;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::events::{EventSink, FAILED_TO_START_HEALTHCHECK, ServiceEvent};
use crate::health::ProxyHealth;
use crate::http_server::{self, Handler, respond};
use crate::model::{IpFamily, ProxyState};
use crate::plan::{NodePortMatch, RuleConfig};

pub use crate::model::ServiceKey;

/// Local ready endpoint counts, shared with the handlers.
type Counts = Arc<Mutex<HashMap<ServiceKey, usize>>>;

struct Instance {
    port: u16,
    addresses: Vec<IpAddr>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Instance {
    async fn close(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The health check servers of every Service that needs one.
pub struct ServiceHealthServers {
    health: ProxyHealth,
    config: RuleConfig,
    families: Vec<IpFamily>,
    counts: Counts,
    instances: BTreeMap<ServiceKey, Instance>,
    /// This node's name (in event messages).
    node_name: String,
    events: Option<EventSink>,
}

/// The health check node port per Service (the first port that has one).
pub fn wanted_ports(state: &ProxyState) -> BTreeMap<ServiceKey, u16> {
    let mut out = BTreeMap::new();
    for service in state.services.values() {
        if let Some(port) = service.health_check_node_port {
            out.entry((service.name.namespace.clone(), service.name.name.clone()))
                .or_insert(port);
        }
    }
    out
}

/// Distinct IPs of ready endpoints on this node, per Service (upstream's
/// `LocalReadyEndpoints`: 10.0.0.1:80 and 10.0.0.1:443 are one endpoint).
pub fn local_ready_counts(state: &ProxyState) -> HashMap<ServiceKey, usize> {
    let mut ips: HashMap<ServiceKey, BTreeSet<IpAddr>> = HashMap::new();
    for (name, endpoints) in &state.endpoints {
        for ep in endpoints.iter().filter(|ep| ep.local && ep.ready) {
            ips.entry((name.namespace.clone(), name.name.clone()))
                .or_default()
                .insert(ep.ip);
        }
    }
    ips.into_iter().map(|(k, v)| (k, v.len())).collect()
}

/// Upstream's event message for a port that cannot be opened: `node N
/// failed to start healthcheck "ns/name" on port P: listen tcp A: bind:
/// address already in use` (the error as Go's net.Listen words it).
pub fn failed_message(
    node: &str,
    service: &ServiceKey,
    port: u16,
    address: SocketAddr,
    err: &std::io::Error,
) -> String {
    let cause = match err.kind() {
        std::io::ErrorKind::AddrInUse => "bind: address already in use".to_string(),
        std::io::ErrorKind::AddrNotAvailable => "bind: cannot assign requested address".to_string(),
        std::io::ErrorKind::PermissionDenied => "bind: permission denied".to_string(),
        _ => err.to_string(),
    };
    format!(
        "node {node} failed to start healthcheck \"{}/{}\" on port {port}: listen tcp {address}: {cause}",
        service.0, service.1
    )
}

/// The response for `service` with `count` local endpoints.
pub fn response(
    namespace: &str,
    name: &str,
    count: usize,
    proxy_healthy: bool,
) -> Response<Full<Bytes>> {
    let code = if count != 0 && proxy_healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // Upstream's layout (tab-indented, no trailing newline); names are
    // JSON-quoted.
    let quoted = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let body = format!(
        "{{\n\t\"service\": {{\n\t\t\"namespace\": {},\n\t\t\"name\": {}\n\t}},\n\t\"localEndpoints\": {count},\n\t\"serviceProxyHealthy\": {proxy_healthy}\n}}",
        quoted(namespace),
        quoted(name),
    );
    respond(code, "application/json", body)
}

fn handler(key: ServiceKey, counts: Counts, health: ProxyHealth) -> Handler {
    Arc::new(move |_method: Method, _uri: Uri| {
        let count = counts
            .lock()
            .ok()
            .and_then(|c| c.get(&key).copied())
            .unwrap_or(0);
        let healthy = health.status().0;
        let response = response(&key.0, &key.1, count, healthy);
        async move { response }.boxed()
    })
}

/// Local addresses inside `nets` (from the interfaces of this host).
fn local_addresses_in(nets: &[ipnet::IpNet]) -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ifaddr in addrs {
        let Some(address) = ifaddr.address else {
            continue;
        };
        let ip = if let Some(v4) = address.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = address.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if nets.iter().any(|n| n.contains(&ip)) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

impl ServiceHealthServers {
    /// Servers answering from `health`, listening where NodePorts of
    /// `config` answer.
    pub fn new(health: ProxyHealth, config: RuleConfig, families: Vec<IpFamily>) -> Self {
        ServiceHealthServers {
            health,
            config,
            families,
            counts: Arc::new(Mutex::new(HashMap::new())),
            instances: BTreeMap::new(),
            node_name: String::new(),
            events: None,
        }
    }

    /// Reports ports that cannot be opened as events through `sink`, naming
    /// `node_name` as upstream's message does.
    pub fn with_events(mut self, node_name: &str, sink: EventSink) -> Self {
        self.node_name = node_name.to_string();
        self.events = Some(sink);
        self
    }

    /// Where the servers listen for a node described by `state`.
    pub fn addresses(&self, state: &ProxyState) -> Vec<IpAddr> {
        let mut out = Vec::new();
        let mut all = false;
        for family in &self.families {
            match self.config.nodeport_match(*family, &state.node) {
                NodePortMatch::AllLocal => all = true,
                NodePortMatch::Only(nets) if self.config.nodeport_primary => {
                    out.extend(nets.iter().map(|n| n.addr()));
                }
                NodePortMatch::Only(nets) => {
                    let found = local_addresses_in(&nets);
                    if found.is_empty() {
                        tracing::error!(
                            cidrs = ?nets,
                            "no local address matches --nodeport-addresses; health check ports listen on every address"
                        );
                        all = true;
                    }
                    out.extend(found);
                }
                NodePortMatch::Nowhere => {}
            }
        }
        if all || (out.is_empty() && !self.config.nodeport_primary) {
            // One dual-stack socket covers both families.
            let any = if self.families.contains(&IpFamily::V6) {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            return vec![any];
        }
        if out.is_empty() {
            // `primary` without a node IP: upstream assumes loopback.
            out.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        out.sort();
        out.dedup();
        out
    }

    /// The ports open now, per Service.
    pub fn open_ports(&self) -> BTreeMap<ServiceKey, u16> {
        self.instances
            .iter()
            .map(|(k, i)| (k.clone(), i.port))
            .collect()
    }

    /// Opens and closes servers for `state` (after a successful sync) and
    /// updates the endpoint counts they report.
    pub async fn sync(&mut self, state: &ProxyState) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts = local_ready_counts(state);
        }
        let wanted = wanted_ports(state);
        let addresses = if wanted.is_empty() {
            Vec::new()
        } else {
            self.addresses(state)
        };
        let stale: Vec<ServiceKey> = self
            .instances
            .iter()
            .filter(|(key, i)| wanted.get(*key) != Some(&i.port) || i.addresses != addresses)
            .map(|(key, _)| key.clone())
            .collect();
        for key in stale {
            if let Some(instance) = self.instances.remove(&key) {
                tracing::info!(service = %format!("{}/{}", key.0, key.1), port = instance.port, "closing health check node port");
                instance.close().await;
            }
        }
        for (key, port) in wanted {
            if self.instances.contains_key(&key) {
                continue;
            }
            match self.open(&key, port, &addresses).await {
                Ok(instance) => {
                    tracing::info!(service = %format!("{}/{}", key.0, key.1), port, "opened health check node port");
                    self.instances.insert(key, instance);
                }
                Err((address, err)) => {
                    let message = failed_message(&self.node_name, &key, port, address, &err);
                    tracing::error!(
                        service = %format!("{}/{}", key.0, key.1),
                        port,
                        error = %err,
                        "{message}; retrying at the next sync"
                    );
                    if let Some(events) = &self.events {
                        events.record(ServiceEvent {
                            service: key,
                            reason: FAILED_TO_START_HEALTHCHECK,
                            action: "Listen",
                            message,
                        });
                    }
                }
            }
        }
    }

    async fn open(
        &self,
        key: &ServiceKey,
        port: u16,
        addresses: &[IpAddr],
    ) -> Result<Instance, (SocketAddr, std::io::Error)> {
        let mut listeners = Vec::new();
        for ip in addresses {
            // All or nothing: a port taken on one address closes the rest.
            let address = SocketAddr::new(*ip, port);
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|err| (address, err))?;
            listeners.push(listener);
        }
        let stop = CancellationToken::new();
        let tasks = listeners
            .into_iter()
            .map(|listener| {
                let stop = stop.clone();
                tokio::spawn(http_server::serve_detached_drain(
                    listener,
                    handler(key.clone(), self.counts.clone(), self.health.clone()),
                    async move { stop.cancelled().await },
                ))
            })
            .collect();
        Ok(Instance {
            port,
            addresses: addresses.to_vec(),
            stop,
            tasks,
        })
    }

    /// Closes every server.
    pub async fn shutdown(&mut self) {
        for (_, instance) in std::mem::take(&mut self.instances) {
            instance.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, Protocol, ServicePort, ServicePortName};
    use http_body_util::BodyExt;
    use std::time::Duration;

    fn state(port: Option<u16>, local_ready: &[&str]) -> ProxyState {
        let mut st = ProxyState::default();
        for (port_name, number) in [("http", 80), ("https", 443)] {
            let name = ServicePortName {
                namespace: "ns".into(),
                name: "lb".into(),
                port_name: port_name.into(),
                protocol: Protocol::Tcp,
            };
            st.services.insert(
                name.clone(),
                ServicePort {
                    name: name.clone(),
                    cluster_ips: vec!["10.96.0.5".parse().unwrap()],
                    port: number,
                    health_check_node_port: port,
                    ..ServicePort::default()
                },
            );
            let mut eps: Vec<Endpoint> = local_ready
                .iter()
                .map(|ip| Endpoint {
                    ip: ip.parse().unwrap(),
                    port: number,
                    ready: true,
                    serving: true,
                    terminating: false,
                    local: true,
                    zone_hints: Vec::new(),
                })
                .collect();
            eps.push(Endpoint {
                ip: "10.244.9.9".parse().unwrap(),
                port: number,
                ready: true,
                serving: true,
                terminating: false,
                local: false,
                zone_hints: Vec::new(),
            });
            st.endpoints.insert(name, eps);
        }
        st
    }

    #[test]
    fn counts_distinct_local_ready_ips_across_ports() {
        let counts = local_ready_counts(&state(Some(30500), &["10.244.1.2", "10.244.1.3"]));
        assert_eq!(counts[&("ns".to_string(), "lb".to_string())], 2);
        assert_eq!(
            wanted_ports(&state(Some(30500), &[])),
            BTreeMap::from([(("ns".to_string(), "lb".to_string()), 30500)])
        );
    }

    #[tokio::test]
    async fn body_and_status_are_upstreams() {
        let r = response("ns", "lb", 2, true);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(
            text,
            "{\n\t\"service\": {\n\t\t\"namespace\": \"ns\",\n\t\t\"name\": \"lb\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["localEndpoints"], 2);
        assert_eq!(
            response("ns", "lb", 0, true).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            response("ns", "lb", 3, false).status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "an unhealthy proxy fails every health check"
        );
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn get(port: u16) -> Result<String, std::io::Error> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut out = String::new();
        stream.read_to_string(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn ports_open_answer_and_close_with_the_services() {
        let port = free_port();
        let config = RuleConfig {
            nodeport_addresses: vec!["127.0.0.0/8".parse().unwrap()],
            ..RuleConfig::default()
        };
        let health = ProxyHealth::new(Duration::from_secs(60));
        let mut servers = ServiceHealthServers::new(health, config, vec![IpFamily::V4]);
        assert_eq!(
            servers.addresses(&ProxyState::default()),
            vec![IpAddr::from([127, 0, 0, 1])]
        );

        servers.sync(&state(Some(port), &["10.244.1.2"])).await;
        let answer = tokio::time::timeout(Duration::from_secs(5), get(port))
            .await
            .unwrap()
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\"localEndpoints\": 1"), "{answer}");

        // The local endpoint goes: 503, same port.
        servers.sync(&state(Some(port), &[])).await;
        let answer = get(port).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("\"localEndpoints\": 0"), "{answer}");

        // The Service no longer needs a health check: the port closes.
        servers.sync(&state(None, &[])).await;
        assert!(servers.open_ports().is_empty());
        assert!(get(port).await.is_err(), "the port is closed");
        servers.shutdown().await;
    }

    #[tokio::test]
    async fn a_taken_port_is_reported_with_upstreams_event_and_retried() {
        // Someone else holds the port on loopback.
        let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = squatter.local_addr().unwrap().port();
        let config = RuleConfig {
            nodeport_addresses: vec!["127.0.0.0/8".parse().unwrap()],
            ..RuleConfig::default()
        };
        let health = ProxyHealth::new(Duration::from_secs(60));
        let (sink, mut events) = EventSink::channel();
        let mut servers = ServiceHealthServers::new(health, config, vec![IpFamily::V4])
            .with_events("node-1", sink);

        servers.sync(&state(Some(port), &["10.244.1.2"])).await;
        assert!(
            servers.open_ports().is_empty(),
            "the port could not be opened"
        );
        let event = events.try_recv().expect("an event");
        assert_eq!(event.reason, "FailedToStartServiceHealthcheck");
        assert_eq!(event.action, "Listen");
        assert_eq!(event.service, ("ns".to_string(), "lb".to_string()));
        assert_eq!(
            event.message,
            format!(
                "node node-1 failed to start healthcheck \"ns/lb\" on port {port}: listen tcp 127.0.0.1:{port}: bind: address already in use"
            )
        );
        assert!(events.try_recv().is_err(), "one event per attempt");

        // Every sync tries again (and says so again) until the port is free.
        servers.sync(&state(Some(port), &["10.244.1.2"])).await;
        assert!(events.try_recv().is_ok());
        drop(squatter);
        servers.sync(&state(Some(port), &["10.244.1.2"])).await;
        assert_eq!(
            servers.open_ports().values().copied().collect::<Vec<_>>(),
            vec![port]
        );
        assert!(events.try_recv().is_err());
        let answer = get(port).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        servers.shutdown().await;
        assert!(get(port).await.is_err(), "closed at shutdown");
    }

    // Paused time: had the close waited for the 5 s drain, the clock would
    // have been advanced past it.
    #[tokio::test(start_paused = true)]
    async fn closing_a_port_does_not_wait_for_slow_clients() {
        use tokio::io::AsyncWriteExt;
        let port = free_port();
        let config = RuleConfig {
            nodeport_addresses: vec!["127.0.0.0/8".parse().unwrap()],
            ..RuleConfig::default()
        };
        let health = ProxyHealth::new(Duration::from_secs(60));
        let mut servers = ServiceHealthServers::new(health, config, vec![IpFamily::V4]);
        servers.sync(&state(Some(port), &["10.244.1.2"])).await;
        // A client that never finishes its request.
        let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // Let the server accept it and start reading.
        std::thread::sleep(Duration::from_millis(20));
        tokio::time::sleep(Duration::from_millis(1)).await;
        let started = tokio::time::Instant::now();
        servers.sync(&state(None, &[])).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the sync waited {:?} for the slow client",
            started.elapsed()
        );
        assert!(get(port).await.is_err(), "the port is closed");
        // The same port opens again right away.
        servers.sync(&state(Some(port), &["10.244.1.2"])).await;
        assert_eq!(servers.open_ports().len(), 1);
        servers.shutdown().await;
    }
}
