//! Service ClusterIP and NodePort allocation.
//!
//! Each allocated ClusterIP is an `IPAddress` object
//! (networking.k8s.io/v1, as upstream 1.33 records them) stored with
//! put-if-absent, so two apiservers can never hand out the same address and
//! allocations survive restarts. NodePorts use one key per port under
//! `nodeports/`. Allocations are released when the service is deleted, when
//! its type stops needing them, or when the write that needed them fails.

use std::net::IpAddr;

use corten_apimachinery::{FieldError, GroupKind, Path, StatusError, meta, time};
use corten_storage::EtcdStore;
use ipnet::IpNet;
use serde_json::{Value, json};

use super::{Registry, Resource};
use crate::options::Config;

/// The allocators' configuration.
pub struct Allocators {
    store: EtcdStore,
    cidr: IpNet,
    node_ports: (u16, u16),
}

/// What a create allocated (released again if the write fails).
#[derive(Debug, Default, Clone)]
pub struct Allocation {
    /// Allocated ClusterIPs.
    pub ips: Vec<IpAddr>,
    /// Allocated NodePorts.
    pub ports: Vec<u16>,
}

fn ip_key(ip: &IpAddr) -> String {
    format!("ipaddresses/{ip}")
}

fn port_key(port: u16) -> String {
    format!("nodeports/{port}")
}

/// A pseudo-random number (allocation only needs spread, not secrecy).
fn random_u64() -> u64 {
    let u = uuid::Uuid::new_v4();
    let b = u.as_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

impl Allocators {
    /// Builds the allocators from the apiserver config.
    pub fn new(store: EtcdStore, config: &Config) -> Self {
        Allocators {
            store,
            cidr: config.service_cidr,
            node_ports: config.node_port_range,
        }
    }

    /// The service CIDR.
    pub fn cidr(&self) -> IpNet {
        self.cidr
    }

    /// The `n`th address of the range (1 = the `kubernetes` service, 10 =
    /// the cluster DNS service by convention).
    pub fn nth_ip(&self, n: u128) -> Option<IpAddr> {
        match self.cidr {
            IpNet::V4(net) => {
                let base = u32::from(net.network()) as u128;
                let size = 1u128 << (32 - net.prefix_len());
                (n < size - 1).then(|| IpAddr::V4(((base + n) as u32).into()))
            }
            IpNet::V6(net) => {
                let base = u128::from(net.network());
                let bits = 128 - net.prefix_len() as u32;
                let size = if bits >= 128 {
                    u128::MAX
                } else {
                    1u128 << bits
                };
                (n < size).then(|| IpAddr::V6((base + n).into()))
            }
        }
    }

    fn usable(&self) -> u128 {
        match self.cidr {
            // network and broadcast addresses are never handed out
            IpNet::V4(net) => (1u128 << (32 - net.prefix_len())) - 2,
            IpNet::V6(net) => {
                let bits = (128 - net.prefix_len() as u32).min(64);
                (1u128 << bits) - 1
            }
        }
    }

    fn ipaddress_object(ip: &IpAddr, ns: &str, name: &str) -> Vec<u8> {
        let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
        let obj = json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IPAddress",
            "metadata": {
                "name": ip.to_string(),
                "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": time::now_rfc3339(),
                "labels": {
                    "ipaddress.kubernetes.io/ip-family": family,
                    "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
                },
            },
            "spec": {"parentRef": {"group": "", "resource": "services", "namespace": ns, "name": name}},
        });
        serde_json::to_vec(&obj).unwrap_or_default()
    }

    /// Reserves a specific address; false if it is taken.
    pub async fn reserve_ip(&self, ip: IpAddr, ns: &str, name: &str) -> Result<bool, StatusError> {
        match self
            .store
            .create(&ip_key(&ip), Self::ipaddress_object(&ip, ns, name))
            .await
        {
            Ok(_) => Ok(true),
            Err(corten_storage::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(StatusError::internal(e)),
        }
    }

    /// Allocates a free address. Like upstream, dynamic allocation prefers
    /// the upper part of the range and leaves the lower band for addresses
    /// users pick themselves.
    pub async fn allocate_ip(&self, ns: &str, name: &str) -> Result<IpAddr, StatusError> {
        let usable = self.usable();
        let static_band = (usable / 16).clamp(16.min(usable), 256);
        let dynamic = usable.saturating_sub(static_band);
        let (lo, span) = if dynamic > 0 {
            (static_band + 1, dynamic)
        } else {
            (1, usable)
        };
        let start = (random_u64() as u128) % span.max(1);
        // Probe from a random offset; bounded so a full range ends quickly.
        let tries = span.min(4096);
        for i in 0..tries {
            let n = lo + (start + i) % span;
            let Some(ip) = self.nth_ip(n) else { continue };
            if self.reserve_ip(ip, ns, name).await? {
                return Ok(ip);
            }
        }
        if dynamic > 0 {
            for n in 1..=static_band {
                if let Some(ip) = self.nth_ip(n)
                    && self.reserve_ip(ip, ns, name).await?
                {
                    return Ok(ip);
                }
            }
        }
        Err(StatusError::internal(
            "failed to allocate a serviceIP: range is full",
        ))
    }

    /// Reserves a specific node port; false if taken.
    pub async fn reserve_port(&self, port: u16, ns: &str, name: &str) -> Result<bool, StatusError> {
        let v = json!({"namespace": ns, "name": name});
        match self
            .store
            .create(&port_key(port), serde_json::to_vec(&v).unwrap_or_default())
            .await
        {
            Ok(_) => Ok(true),
            Err(corten_storage::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(StatusError::internal(e)),
        }
    }

    /// Allocates a free node port.
    pub async fn allocate_port(&self, ns: &str, name: &str) -> Result<u16, StatusError> {
        let (lo, hi) = self.node_ports;
        let span = (hi - lo) as u64 + 1;
        let start = random_u64() % span;
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            if self.reserve_port(port, ns, name).await? {
                return Ok(port);
            }
        }
        Err(StatusError::internal(
            "failed to allocate a nodePort: range is full",
        ))
    }

    /// Whether `port` is inside the node port range.
    pub fn port_in_range(&self, port: i64) -> bool {
        port >= self.node_ports.0 as i64 && port <= self.node_ports.1 as i64
    }

    /// Releases addresses and ports (best effort; logged on failure).
    pub async fn release(&self, a: &Allocation) {
        for ip in &a.ips {
            if let Err(e) = self.store.delete(&ip_key(ip), None).await
                && !matches!(e, corten_storage::Error::NotFound { .. })
            {
                tracing::warn!(%ip, error = %e, "releasing service IP");
            }
        }
        for p in &a.ports {
            if let Err(e) = self.store.delete(&port_key(*p), None).await
                && !matches!(e, corten_storage::Error::NotFound { .. })
            {
                tracing::warn!(port = p, error = %e, "releasing node port");
            }
        }
    }
}

fn service_type(obj: &Value) -> &str {
    obj.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn wants_node_ports(obj: &Value) -> bool {
    match service_type(obj) {
        "NodePort" => true,
        "LoadBalancer" => obj
            .pointer("/spec/allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        _ => false,
    }
}

/// A LoadBalancer with `externalTrafficPolicy: Local` gets a
/// `healthCheckNodePort` from the NodePort range (kube-proxy serves its
/// health check there).
fn wants_health_check_port(obj: &Value) -> bool {
    service_type(obj) == "LoadBalancer"
        && obj
            .pointer("/spec/externalTrafficPolicy")
            .and_then(Value::as_str)
            == Some("Local")
}

fn health_check_port(obj: &Value) -> Option<i64> {
    obj.pointer("/spec/healthCheckNodePort")
        .and_then(Value::as_i64)
        .filter(|p| *p != 0)
}

fn invalid(name: &str, path: Path, value: Value, detail: &str) -> StatusError {
    StatusError::invalid(
        &GroupKind::new("", "Service"),
        name,
        &vec![FieldError::invalid(&path, value, detail)],
    )
}

/// Allocates what a new Service needs: a ClusterIP (unless headless or
/// ExternalName) and NodePorts; fills `clusterIP(s)`, `ipFamilies`,
/// `ipFamilyPolicy`, `ports[].nodePort`. Dry runs check but do not reserve.
pub async fn allocate_for_create(
    reg: &Registry,
    res: &Resource,
    obj: &mut Value,
    dry_run: bool,
) -> Result<Allocation, StatusError> {
    let mut alloc = Allocation::default();
    if res.def.storage_resource != "services" {
        return Ok(alloc);
    }
    let a = &reg.services;
    let ns = meta::namespace(obj).unwrap_or("default").to_string();
    let name = meta::name(obj).unwrap_or_default().to_string();
    let result = allocate_inner(a, obj, &ns, &name, dry_run, &mut alloc).await;
    if let Err(e) = result {
        a.release(&alloc).await;
        return Err(e);
    }
    Ok(alloc)
}

async fn allocate_inner(
    a: &Allocators,
    obj: &mut Value,
    ns: &str,
    name: &str,
    dry_run: bool,
    alloc: &mut Allocation,
) -> Result<(), StatusError> {
    let stype = service_type(obj).to_string();
    if stype != "ExternalName" {
        let requested = obj
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| {
                obj.pointer("/spec/clusterIPs/0")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            });
        let ip_str = match requested.as_deref() {
            Some("None") => "None".to_string(),
            Some(s) => {
                let ip: IpAddr = s.parse().map_err(|_| {
                    invalid(
                        name,
                        Path::new("spec").child("clusterIPs").index(0),
                        json!(s),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    )
                })?;
                if !a.cidr.contains(&ip) || Some(ip) == a.nth_ip(0) {
                    return Err(invalid(
                        name,
                        Path::new("spec").child("clusterIPs").index(0),
                        json!(s),
                        &format!(
                            "failed to allocate IP {s}: provided IP is not in the valid range. The range of valid IPs is {}",
                            a.cidr
                        ),
                    ));
                }
                if !dry_run {
                    if !a.reserve_ip(ip, ns, name).await? {
                        return Err(invalid(
                            name,
                            Path::new("spec").child("clusterIPs").index(0),
                            json!(s),
                            &format!("failed to allocate IP {s}: provided IP is already allocated"),
                        ));
                    }
                    alloc.ips.push(ip);
                }
                ip.to_string()
            }
            None if dry_run => String::new(),
            None => {
                let ip = a.allocate_ip(ns, name).await?;
                alloc.ips.push(ip);
                ip.to_string()
            }
        };
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            if !ip_str.is_empty() {
                spec.insert("clusterIP".into(), json!(ip_str));
                spec.insert("clusterIPs".into(), json!([ip_str]));
            }
            let family = if a.cidr.addr().is_ipv4() {
                "IPv4"
            } else {
                "IPv6"
            };
            spec.entry("ipFamilies").or_insert_with(|| json!([family]));
            spec.entry("ipFamilyPolicy")
                .or_insert_with(|| json!("SingleStack"));
        }
    }
    if wants_node_ports(obj) {
        let n = obj
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        for i in 0..n {
            let path = format!("/spec/ports/{i}/nodePort");
            let requested = obj
                .pointer(&path)
                .and_then(Value::as_i64)
                .filter(|p| *p != 0);
            let port = match requested {
                Some(p) => {
                    if !a.port_in_range(p) {
                        return Err(invalid(
                            name,
                            Path::new("spec").child("ports").index(i).child("nodePort"),
                            json!(p),
                            &format!(
                                "provided port is not in the valid range. The range of valid ports is {}-{}",
                                a.node_ports.0, a.node_ports.1
                            ),
                        ));
                    }
                    let p = p as u16;
                    // The same port may serve TCP and UDP of one service.
                    if !alloc.ports.contains(&p) && !dry_run {
                        if !a.reserve_port(p, ns, name).await? {
                            return Err(invalid(
                                name,
                                Path::new("spec").child("ports").index(i).child("nodePort"),
                                json!(p),
                                "provided port is already allocated",
                            ));
                        }
                        alloc.ports.push(p);
                    }
                    p
                }
                None if dry_run => continue,
                None => {
                    let p = a.allocate_port(ns, name).await?;
                    alloc.ports.push(p);
                    p
                }
            };
            if let Some(pobj) = obj
                .pointer_mut(&format!("/spec/ports/{i}"))
                .and_then(Value::as_object_mut)
            {
                pobj.insert("nodePort".into(), json!(port));
            }
        }
    }
    if wants_health_check_port(obj) {
        let path = || Path::new("spec").child("healthCheckNodePort");
        let port = match health_check_port(obj) {
            Some(p) => {
                if !a.port_in_range(p) {
                    return Err(invalid(
                        name,
                        path(),
                        json!(p),
                        &format!(
                            "failed to allocate requested HealthCheck NodePort {p}: provided port is not in the valid range. The range of valid ports is {}-{}",
                            a.node_ports.0, a.node_ports.1
                        ),
                    ));
                }
                let p = p as u16;
                if !dry_run {
                    if alloc.ports.contains(&p) || !a.reserve_port(p, ns, name).await? {
                        return Err(invalid(
                            name,
                            path(),
                            json!(p),
                            &format!(
                                "failed to allocate requested HealthCheck NodePort {p}: provided port is already allocated"
                            ),
                        ));
                    }
                    alloc.ports.push(p);
                }
                Some(p)
            }
            None if dry_run => None,
            None => {
                let p = a.allocate_port(ns, name).await?;
                alloc.ports.push(p);
                Some(p)
            }
        };
        if let (Some(port), Some(spec)) = (port, obj.get_mut("spec").and_then(Value::as_object_mut))
        {
            spec.insert("healthCheckNodePort".into(), json!(port));
        }
    }
    Ok(())
}

/// Everything a stored Service holds allocated.
pub fn allocated_by(obj: &Value) -> Allocation {
    let mut a = Allocation::default();
    if let Some(ips) = obj.pointer("/spec/clusterIPs").and_then(Value::as_array) {
        a.ips = ips
            .iter()
            .filter_map(|v| v.as_str()?.parse().ok())
            .collect();
    } else if let Some(ip) = obj
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
    {
        a.ips.push(ip);
    }
    if let Some(ports) = obj.pointer("/spec/ports").and_then(Value::as_array) {
        for p in ports {
            if let Some(n) = p.get("nodePort").and_then(Value::as_u64)
                && let Ok(n) = u16::try_from(n)
                && !a.ports.contains(&n)
            {
                a.ports.push(n);
            }
        }
    }
    if let Some(n) = health_check_port(obj).and_then(|n| u16::try_from(n).ok())
        && !a.ports.contains(&n)
    {
        a.ports.push(n);
    }
    a
}

/// Releases an allocation made for a create that failed.
pub async fn release(reg: &Registry, a: &Allocation) {
    reg.services.release(a).await;
}

/// Releases what a deleted Service held.
pub async fn release_for_deleted(reg: &Registry, res: &Resource, obj: &Value) {
    if res.def.storage_resource == "services" {
        reg.services.release(&allocated_by(obj)).await;
    }
}

/// Keeps allocated values a client omitted on update (upstream
/// `patchAllocatedValues`): clusterIP(s), ipFamilies/ipFamilyPolicy and
/// nodePorts of ports that still exist (matched by port and protocol).
pub fn carry_over_allocations(new: &mut Value, old: &Value) {
    let same_type = service_type(new) == service_type(old);
    let Some(old_spec) = old.get("spec") else {
        return;
    };
    let new_type = service_type(new).to_string();
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if new_type != "ExternalName" {
        for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            let empty = match spec.get(f) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            };
            if empty && let Some(v) = old_spec.get(f) {
                spec.insert(f.into(), v.clone());
            }
        }
    }
    if same_type {
        let old_ports = old_spec
            .get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut() {
                let has = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0;
                if has {
                    continue;
                }
                let port = p.get("port").cloned();
                let proto = p
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_string();
                if let Some(op) = old_ports.iter().find(|op| {
                    op.get("port") == port.as_ref()
                        && op.get("protocol").and_then(Value::as_str).unwrap_or("TCP") == proto
                }) && let (Some(np), Some(map)) = (op.get("nodePort"), p.as_object_mut())
                {
                    map.insert("nodePort".into(), np.clone());
                }
            }
        }
    }
}

/// Addresses and ports allocated ahead of an update's compare-and-swap
/// (allocation is async; the CAS callback is not), plus what the callback
/// found missing.
#[derive(Debug, Default)]
pub struct UpdatePool {
    /// Free addresses to hand out.
    pub ips: Vec<IpAddr>,
    /// Free node ports to hand out.
    pub ports: Vec<u16>,
    /// Addresses the callback needed but the pool lacked.
    pub wanted_ips: usize,
    /// Ports the callback needed but the pool lacked.
    pub wanted_ports: usize,
}

/// During an update, gives a Service what its new type needs and it does
/// not have yet: a ClusterIP (e.g. ExternalName -> ClusterIP) and NodePorts
/// (e.g. ClusterIP -> NodePort, or a new port), taking them from `pool`.
pub fn fill_on_update(new: &mut Value, pool: &mut UpdatePool, cidr_is_v4: bool) {
    let stype = service_type(new).to_string();
    if stype != "ExternalName" {
        let has_ip = new
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if !has_ip {
            match pool.ips.pop() {
                Some(ip) => {
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.insert("clusterIP".into(), json!(ip.to_string()));
                        spec.insert("clusterIPs".into(), json!([ip.to_string()]));
                        let family = if cidr_is_v4 { "IPv4" } else { "IPv6" };
                        spec.entry("ipFamilies").or_insert_with(|| json!([family]));
                        spec.entry("ipFamilyPolicy")
                            .or_insert_with(|| json!("SingleStack"));
                    }
                }
                None => pool.wanted_ips += 1,
            }
        }
    }
    if wants_node_ports(new)
        && let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut)
    {
        for p in ports.iter_mut() {
            let has = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0;
            if has {
                continue;
            }
            match pool.ports.pop() {
                Some(port) => {
                    if let Some(m) = p.as_object_mut() {
                        m.insert("nodePort".into(), json!(port));
                    }
                }
                None => pool.wanted_ports += 1,
            }
        }
    }
    if wants_health_check_port(new) && health_check_port(new).is_none() {
        match pool.ports.pop() {
            Some(port) => {
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("healthCheckNodePort".into(), json!(port));
                }
            }
            None => pool.wanted_ports += 1,
        }
    }
}

/// Reserves the values a user set explicitly on update that the stored
/// Service does not hold yet, and the pool the update needs.
pub async fn prepare_update(
    reg: &Registry,
    old: &Value,
    planned: Option<&Value>,
    wanted_ips: usize,
    wanted_ports: usize,
) -> Result<(Allocation, UpdatePool), StatusError> {
    let a = &reg.services;
    let ns = meta::namespace(old).unwrap_or("default").to_string();
    let name = meta::name(old).unwrap_or_default().to_string();
    let held = allocated_by(old);
    let mut explicit = Allocation::default();
    let mut pool = UpdatePool::default();
    let result: Result<(), StatusError> = async {
        if let Some(new) = planned {
            let wanted = allocated_by(new);
            for ip in wanted.ips.iter().filter(|ip| !held.ips.contains(ip)) {
                if !a.cidr.contains(ip) {
                    continue; // validation reports it
                }
                if !a.reserve_ip(*ip, &ns, &name).await? {
                    return Err(invalid(
                        &name,
                        Path::new("spec").child("clusterIPs").index(0),
                        json!(ip.to_string()),
                        &format!("failed to allocate IP {ip}: provided IP is already allocated"),
                    ));
                }
                explicit.ips.push(*ip);
            }
            for (i, port) in wanted.ports.iter().enumerate() {
                if held.ports.contains(port) || !a.port_in_range(*port as i64) {
                    continue;
                }
                if !a.reserve_port(*port, &ns, &name).await? {
                    let is_node_port = new
                        .pointer("/spec/ports")
                        .and_then(Value::as_array)
                        .is_some_and(|ps| {
                            ps.iter().any(|p| {
                                p.get("nodePort").and_then(Value::as_i64) == Some(i64::from(*port))
                            })
                        });
                    if !is_node_port {
                        return Err(invalid(
                            &name,
                            Path::new("spec").child("healthCheckNodePort"),
                            json!(port),
                            &format!(
                                "failed to allocate requested HealthCheck NodePort {port}: provided port is already allocated"
                            ),
                        ));
                    }
                    return Err(invalid(
                        &name,
                        Path::new("spec").child("ports").index(i).child("nodePort"),
                        json!(port),
                        "provided port is already allocated",
                    ));
                }
                explicit.ports.push(*port);
            }
        }
        for _ in 0..wanted_ips {
            pool.ips.push(a.allocate_ip(&ns, &name).await?);
        }
        for _ in 0..wanted_ports {
            pool.ports.push(a.allocate_port(&ns, &name).await?);
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        a.release(&explicit).await;
        a.release(&Allocation {
            ips: pool.ips,
            ports: pool.ports,
        })
        .await;
        return Err(e);
    }
    Ok((explicit, pool))
}

/// After an update: releases what the old object held and the new one does
/// not, and what was reserved but not used.
pub async fn finish_update(
    reg: &Registry,
    old: Option<&Value>,
    new: Option<&Value>,
    reserved: &Allocation,
    pool: UpdatePool,
) {
    let kept = new.map(allocated_by).unwrap_or_default();
    let mut release = Allocation::default();
    if let Some(old) = old {
        let held = allocated_by(old);
        release
            .ips
            .extend(held.ips.into_iter().filter(|ip| !kept.ips.contains(ip)));
        release
            .ports
            .extend(held.ports.into_iter().filter(|p| !kept.ports.contains(p)));
    }
    release
        .ips
        .extend(reserved.ips.iter().filter(|ip| !kept.ips.contains(ip)));
    release
        .ports
        .extend(reserved.ports.iter().filter(|p| !kept.ports.contains(p)));
    release.ips.extend(pool.ips);
    release.ports.extend(pool.ports);
    reg.services.release(&release).await;
}
