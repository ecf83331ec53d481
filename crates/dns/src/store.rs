//! The record store: the cluster's DNS names computed from Services and
//! EndpointSlices, answering like CoreDNS's `kubernetes` plugin.
//!
//! Names under the cluster domain (default `cluster.local`):
//!
//! | name | answer |
//! | --- | --- |
//! | `<svc>.<ns>.svc.<zone>` | A/AAAA of the cluster IPs; for a headless Service the ready endpoints; CNAME for ExternalName (followed when the target is in the zone) |
//! | `_<port>._<proto>.<svc>.<ns>.svc.<zone>` | SRV per named port (target the Service, or each endpoint if headless), A/AAAA in the additional section |
//! | `<host>.<svc>.<ns>.svc.<zone>` | an endpoint of a headless Service by its `hostname` (pod `hostname`+`subdomain`) or dashed IP |
//! | `<a-b-c-d>.<ns>.pod.<zone>` | A of that address (`pods insecure`, CoreDNS's default in kubeadm) |
//! | `d.c.b.a.in-addr.arpa` / `ip6.arpa` | PTR for Service IPs and named headless endpoints |
//!
//! A name that exists without records of the asked type is NOERROR/NODATA;
//! any other name in the zone is NXDOMAIN; both carry the zone's SOA.
//! No I/O: the watchers write, the server reads.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// How many CNAMEs of ExternalName Services in the zone are followed (as
/// CoreDNS, which stops after 8).
const MAX_CNAME_CHAIN: usize = 8;

/// The EndpointSlice label naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One named port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PortInfo {
    name: String,
    protocol: String,
    port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ServiceInfo {
    cluster_ips: Vec<IpAddr>,
    headless: bool,
    external_name: Option<String>,
    ports: Vec<PortInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct EndpointInfo {
    ip: IpAddr,
    hostname: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SliceInfo {
    service: String,
    ports: Vec<PortInfo>,
    endpoints: Vec<EndpointInfo>,
}

/// The outcome of a lookup.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// The cluster zone answers (authoritatively).
    Answer {
        /// NoError or NXDomain.
        rcode: ResponseCode,
        /// The answer section.
        answers: Vec<Record>,
        /// The additional section (A/AAAA for SRV targets).
        additionals: Vec<Record>,
        /// The authority section (SOA for NODATA/NXDOMAIN).
        authority: Vec<Record>,
    },
    /// Not a name of ours: forward it.
    NotOurs,
}

/// Services and EndpointSlices indexed for DNS.
#[derive(Debug)]
pub struct RecordStore {
    zone: Name,
    ttl: u32,
    services: HashMap<(String, String), ServiceInfo>,
    /// (namespace, service) -> slice name -> slice.
    slices: HashMap<(String, String), HashMap<String, SliceInfo>>,
    /// (namespace, slice name) -> service, to find a deleted slice.
    slice_owner: HashMap<(String, String), String>,
}

fn dashed(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string().replace('.', "-"),
        IpAddr::V6(a) => a.to_string().replace(':', "-"),
    }
}

fn parse_dashed(label: &str) -> Option<IpAddr> {
    if let Ok(ip) = label.replace('-', ".").parse::<std::net::Ipv4Addr>() {
        return Some(IpAddr::V4(ip));
    }
    label
        .replace('-', ":")
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

fn ports_of(
    ports: impl Iterator<Item = (Option<String>, Option<String>, Option<i32>)>,
) -> Vec<PortInfo> {
    ports
        .filter_map(|(name, protocol, port)| {
            Some(PortInfo {
                name: name.unwrap_or_default().to_lowercase(),
                protocol: protocol.unwrap_or_else(|| "TCP".into()).to_lowercase(),
                port: u16::try_from(port?).ok()?,
            })
        })
        .collect()
}

impl RecordStore {
    /// A store for `domain` (e.g. `cluster.local`) answering with `ttl`.
    pub fn new(domain: &str, ttl: u32) -> Result<RecordStore, String> {
        let zone = Name::from_ascii(format!("{}.", domain.trim_end_matches('.')))
            .map_err(|e| format!("invalid cluster domain {domain:?}: {e}"))?
            .to_lowercase();
        Ok(RecordStore {
            zone,
            ttl,
            services: HashMap::new(),
            slices: HashMap::new(),
            slice_owner: HashMap::new(),
        })
    }

    /// The cluster zone (fully qualified, lower case).
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// Number of Services known (for logs and readiness).
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Adds or replaces a Service.
    pub fn apply_service(&mut self, service: &Service) {
        let (Some(ns), Some(name)) = (&service.metadata.namespace, &service.metadata.name) else {
            return;
        };
        let Some(spec) = &service.spec else {
            return;
        };
        let mut ips: Vec<&String> = spec.cluster_ips.iter().flatten().collect();
        if ips.is_empty()
            && let Some(ip) = &spec.cluster_ip
        {
            ips.push(ip);
        }
        let headless = ips.iter().any(|ip| ip.as_str() == "None");
        let external_name = (spec.type_.as_deref() == Some("ExternalName"))
            .then(|| spec.external_name.clone())
            .flatten();
        let info = ServiceInfo {
            cluster_ips: ips.iter().filter_map(|ip| ip.parse().ok()).collect(),
            headless,
            external_name,
            ports: ports_of(
                spec.ports
                    .iter()
                    .flatten()
                    .map(|p| (p.name.clone(), p.protocol.clone(), Some(p.port))),
            ),
        };
        self.services.insert((ns.clone(), name.clone()), info);
    }

    /// Removes a Service.
    pub fn delete_service(&mut self, namespace: &str, name: &str) {
        self.services
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Adds or replaces an EndpointSlice.
    pub fn apply_slice(&mut self, slice: &EndpointSlice) {
        let (Some(ns), Some(name)) = (&slice.metadata.namespace, &slice.metadata.name) else {
            return;
        };
        self.delete_slice(ns, name);
        let Some(service) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            return;
        };
        let endpoints = slice
            .endpoints
            .iter()
            // Not-ready endpoints are not published (the controller marks
            // them ready when publishNotReadyAddresses is set).
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
            .filter_map(|e| {
                let ip = e.addresses.first()?.parse().ok()?;
                Some(EndpointInfo {
                    ip,
                    hostname: e.hostname.as_ref().map(|h| h.to_lowercase()),
                })
            })
            .collect();
        let info = SliceInfo {
            service: service.clone(),
            ports: ports_of(
                slice
                    .ports
                    .iter()
                    .flatten()
                    .map(|p| (p.name.clone(), p.protocol.clone(), p.port)),
            ),
            endpoints,
        };
        self.slice_owner
            .insert((ns.clone(), name.clone()), service.clone());
        self.slices
            .entry((ns.clone(), service.clone()))
            .or_default()
            .insert(name.clone(), info);
    }

    /// Removes an EndpointSlice.
    pub fn delete_slice(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        if let Some(service) = self.slice_owner.remove(&key) {
            let group = (namespace.to_string(), service);
            if let Some(slices) = self.slices.get_mut(&group) {
                slices.remove(name);
                if slices.is_empty() {
                    self.slices.remove(&group);
                }
            }
        }
    }

    /// Replaces every Service.
    pub fn reset_services(&mut self, services: &[Service]) {
        self.services.clear();
        for s in services {
            self.apply_service(s);
        }
    }

    /// Replaces every EndpointSlice.
    pub fn reset_slices(&mut self, slices: &[EndpointSlice]) {
        self.slices.clear();
        self.slice_owner.clear();
        for s in slices {
            self.apply_slice(s);
        }
    }

    fn soa(&self) -> Record {
        let mname = Name::from_ascii("ns.dns")
            .and_then(|n| n.append_domain(&self.zone))
            .unwrap_or_else(|_| self.zone.clone());
        let rname = Name::from_ascii("hostmaster")
            .and_then(|n| n.append_domain(&self.zone))
            .unwrap_or_else(|_| self.zone.clone());
        // CoreDNS's values: refresh 2h, retry 30m, expire 1d, minimum = TTL.
        let serial = u32::try_from(jiff::Timestamp::now().as_second()).unwrap_or(1);
        Record::from_rdata(
            self.zone.clone(),
            self.ttl,
            RData::SOA(SOA::new(mname, rname, serial, 7200, 1800, 86400, self.ttl)),
        )
    }

    fn address_record(&self, name: &Name, ip: IpAddr) -> Record {
        let rdata = match ip {
            IpAddr::V4(a) => RData::A(A(a)),
            IpAddr::V6(a) => RData::AAAA(AAAA(a)),
        };
        Record::from_rdata(name.clone(), self.ttl, rdata)
    }

    fn endpoints_of(&self, ns: &str, svc: &str) -> Vec<(&SliceInfo, &EndpointInfo)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        if let Some(slices) = self.slices.get(&(ns.to_string(), svc.to_string())) {
            let mut names: Vec<&String> = slices.keys().collect();
            names.sort();
            for name in names {
                let slice = &slices[name];
                for ep in &slice.endpoints {
                    if seen.insert(ep.ip) {
                        out.push((slice, ep));
                    }
                }
            }
        }
        out
    }

    fn host_label(ep: &EndpointInfo) -> String {
        ep.hostname.clone().unwrap_or_else(|| dashed(&ep.ip))
    }

    fn name(&self, labels: &[&str]) -> Option<Name> {
        Name::from_ascii(labels.join("."))
            .ok()?
            .append_domain(&self.zone)
            .ok()
    }

    fn nodata(&self) -> Lookup {
        Lookup::Answer {
            rcode: ResponseCode::NoError,
            answers: vec![],
            additionals: vec![],
            authority: vec![self.soa()],
        }
    }

    fn nxdomain(&self) -> Lookup {
        Lookup::Answer {
            rcode: ResponseCode::NXDomain,
            answers: vec![],
            additionals: vec![],
            authority: vec![self.soa()],
        }
    }

    fn answer(&self, answers: Vec<Record>, additionals: Vec<Record>) -> Lookup {
        if answers.is_empty() {
            return self.nodata();
        }
        Lookup::Answer {
            rcode: ResponseCode::NoError,
            answers,
            additionals,
            authority: vec![],
        }
    }

    fn addresses(&self, qname: &Name, qtype: RecordType, ips: &[IpAddr]) -> Vec<Record> {
        ips.iter()
            .filter(|ip| match qtype {
                RecordType::A => ip.is_ipv4(),
                RecordType::AAAA => ip.is_ipv6(),
                RecordType::ANY => true,
                _ => false,
            })
            .map(|ip| self.address_record(qname, *ip))
            .collect()
    }

    /// Answers `qname`/`qtype`.
    pub fn lookup(&self, qname: &Name, qtype: RecordType) -> Lookup {
        self.lookup_at(qname, qtype, 0)
    }

    /// [`RecordStore::lookup`], `depth` CNAMEs into a chain.
    fn lookup_at(&self, qname: &Name, qtype: RecordType, depth: usize) -> Lookup {
        let qname = qname.to_lowercase();
        if qtype == RecordType::PTR {
            return self.lookup_ptr(&qname);
        }
        if !self.zone.zone_of(&qname) {
            return Lookup::NotOurs;
        }
        let all: Vec<String> = qname
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let relative = &all[..all.len() - usize::from(self.zone.num_labels())];
        let labels: Vec<&str> = relative.iter().map(String::as_str).collect();
        match labels.as_slice() {
            [] => match qtype {
                RecordType::SOA => self.answer(vec![self.soa()], vec![]),
                _ => self.nodata(),
            },
            ["svc"] | ["pod"] => self.nodata(),
            [ns, "svc"] => {
                if self.services.keys().any(|(n, _)| n == ns) {
                    self.nodata()
                } else {
                    self.nxdomain()
                }
            }
            [svc, ns, "svc"] => self.lookup_service(&qname, qtype, ns, svc, depth),
            [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
                self.lookup_srv(&qname, qtype, ns, svc, &port[1..], &proto[1..])
            }
            [host, svc, ns, "svc"] => self.lookup_endpoint(&qname, qtype, ns, svc, host),
            [ip, _ns, "pod"] => match parse_dashed(ip) {
                Some(ip) => {
                    let records = self.addresses(&qname, qtype, &[ip]);
                    self.answer(records, vec![])
                }
                None => self.nxdomain(),
            },
            _ => self.nxdomain(),
        }
    }

    fn lookup_service(
        &self,
        qname: &Name,
        qtype: RecordType,
        ns: &str,
        svc: &str,
        depth: usize,
    ) -> Lookup {
        let Some(info) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return self.nxdomain();
        };
        if let Some(target) = &info.external_name {
            let Ok(target) = Name::from_ascii(format!("{}.", target.trim_end_matches('.'))) else {
                return self.nodata();
            };
            let mut answers = vec![Record::from_rdata(
                qname.clone(),
                self.ttl,
                RData::CNAME(CNAME(target.clone())),
            )];
            // Like CoreDNS, a target inside the cluster zone is followed
            // here (an ExternalName naming another Service answers with
            // that Service's addresses too); a chain of ExternalNames is
            // followed a few steps only, which also ends loops.
            let target = target.to_lowercase();
            if qtype != RecordType::CNAME
                && depth < MAX_CNAME_CHAIN
                && self.zone.zone_of(&target)
                && let Lookup::Answer {
                    rcode: ResponseCode::NoError,
                    answers: chased,
                    ..
                } = self.lookup_at(&target, qtype, depth + 1)
            {
                answers.extend(chased);
            }
            return self.answer(answers, vec![]);
        }
        if qtype == RecordType::SRV {
            // SRV on the service name: every named port.
            let mut answers = Vec::new();
            let mut additionals = Vec::new();
            for port in info.ports.iter().filter(|p| !p.name.is_empty()) {
                let (a, b) = self.srv_records(qname, ns, svc, info, &port.name, &port.protocol);
                answers.extend(a);
                additionals.extend(b);
            }
            return self.answer(answers, additionals);
        }
        let ips: Vec<IpAddr> = if info.headless {
            self.endpoints_of(ns, svc)
                .iter()
                .map(|(_, e)| e.ip)
                .collect()
        } else {
            info.cluster_ips.clone()
        };
        let records = self.addresses(qname, qtype, &ips);
        self.answer(records, vec![])
    }

    fn srv_records(
        &self,
        qname: &Name,
        ns: &str,
        svc: &str,
        info: &ServiceInfo,
        port_name: &str,
        protocol: &str,
    ) -> (Vec<Record>, Vec<Record>) {
        let mut answers = Vec::new();
        let mut additionals = Vec::new();
        if info.headless {
            let endpoints = self.endpoints_of(ns, svc);
            let weight = if endpoints.is_empty() {
                0
            } else {
                u16::try_from(100 / endpoints.len()).unwrap_or(1).max(1)
            };
            for (slice, ep) in endpoints {
                let Some(port) = slice
                    .ports
                    .iter()
                    .find(|p| p.name == port_name && p.protocol == protocol)
                else {
                    continue;
                };
                let host = Self::host_label(ep);
                let Some(target) = self.name(&[&host, svc, ns, "svc"]) else {
                    continue;
                };
                answers.push(Record::from_rdata(
                    qname.clone(),
                    self.ttl,
                    RData::SRV(SRV::new(0, weight, port.port, target.clone())),
                ));
                additionals.push(self.address_record(&target, ep.ip));
            }
        } else if let Some(port) = info
            .ports
            .iter()
            .find(|p| p.name == port_name && p.protocol == protocol)
            && let Some(target) = self.name(&[svc, ns, "svc"])
        {
            answers.push(Record::from_rdata(
                qname.clone(),
                self.ttl,
                RData::SRV(SRV::new(0, 100, port.port, target.clone())),
            ));
            for ip in &info.cluster_ips {
                additionals.push(self.address_record(&target, *ip));
            }
        }
        (answers, additionals)
    }

    fn lookup_srv(
        &self,
        qname: &Name,
        qtype: RecordType,
        ns: &str,
        svc: &str,
        port: &str,
        proto: &str,
    ) -> Lookup {
        let Some(info) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return self.nxdomain();
        };
        let (answers, additionals) = self.srv_records(qname, ns, svc, info, port, proto);
        if answers.is_empty() {
            return self.nxdomain();
        }
        if qtype != RecordType::SRV && qtype != RecordType::ANY {
            return self.nodata();
        }
        self.answer(answers, additionals)
    }

    fn lookup_endpoint(
        &self,
        qname: &Name,
        qtype: RecordType,
        ns: &str,
        svc: &str,
        host: &str,
    ) -> Lookup {
        let Some(info) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return self.nxdomain();
        };
        if !info.headless {
            return self.nxdomain();
        }
        let ips: Vec<IpAddr> = self
            .endpoints_of(ns, svc)
            .into_iter()
            .filter(|(_, ep)| Self::host_label(ep) == host)
            .map(|(_, ep)| ep.ip)
            .collect();
        if ips.is_empty() {
            return self.nxdomain();
        }
        let records = self.addresses(qname, qtype, &ips);
        self.answer(records, vec![])
    }

    fn lookup_ptr(&self, qname: &Name) -> Lookup {
        let Some(ip) = reverse_ip(qname) else {
            return Lookup::NotOurs;
        };
        let mut targets = BTreeSet::new();
        for ((ns, svc), info) in &self.services {
            if info.cluster_ips.contains(&ip)
                && let Some(name) = self.name(&[svc, ns, "svc"])
            {
                targets.insert(name);
            }
            if info.headless {
                for (_, ep) in self.endpoints_of(ns, svc) {
                    if ep.ip == ip
                        && let Some(host) = &ep.hostname
                        && let Some(name) = self.name(&[host, svc, ns, "svc"])
                    {
                        targets.insert(name);
                    }
                }
            }
        }
        if targets.is_empty() {
            return Lookup::NotOurs;
        }
        let answers = targets
            .into_iter()
            .map(|t| Record::from_rdata(qname.clone(), self.ttl, RData::PTR(PTR(t))))
            .collect();
        self.answer(answers, vec![])
    }
}

/// The address of a reverse name (`4.3.2.1.in-addr.arpa.` or a nibble
/// `ip6.arpa.` name), if it names a whole address.
pub fn reverse_ip(name: &Name) -> Option<IpAddr> {
    let labels: Vec<String> = name
        .iter()
        .map(|l| String::from_utf8_lossy(l).to_lowercase())
        .collect();
    match labels.as_slice() {
        [d, c, b, a, in_addr, arpa] if in_addr == "in-addr" && arpa == "arpa" => {
            format!("{a}.{b}.{c}.{d}").parse().ok()
        }
        [nibbles @ .., ip6, arpa] if ip6 == "ip6" && arpa == "arpa" && nibbles.len() == 32 => {
            let hex: String = nibbles.iter().rev().map(String::as_str).collect();
            if hex.len() != 32 {
                return None;
            }
            let groups: Vec<&str> = (0..8).map(|i| &hex[i * 4..i * 4 + 4]).collect();
            groups.join(":").parse().ok()
        }
        _ => None,
    }
}
