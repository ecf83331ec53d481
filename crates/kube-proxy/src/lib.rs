//! kube-proxy: programs Service virtual IPs from Services and EndpointSlices.
//!
//! Flow: watchers ([`app`]) feed the [`tracker::ChangeTracker`]; the
//! [`sync_loop`] takes a [`model::ProxyState`] snapshot and hands it to a
//! [`proxier::Proxier`] (nftables or iptables), which computes the whole
//! ruleset ([`nftables`], [`iptables`], both from [`plan`]) and writes what
//! changed since its last sync, atomically, through a
//! [`runner::CommandRunner`].

#![warn(missing_docs)]

pub mod app;
pub mod config;
pub mod conntrack;
pub mod conntrack_sysctl;
pub mod events;
pub mod health;
pub mod http_server;
pub mod iptables;
pub mod metrics;
pub mod model;
pub mod naming;
pub mod nftables;
pub mod options;
pub mod plan;
pub mod proxier;
pub mod runner;
pub mod service_health;
pub mod sync_loop;
pub mod topology;
pub mod tracker;

#[cfg(test)]
mod lb_rules_tests;
#[cfg(test)]
mod partial_tests;
#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod shared_ip_tests;
