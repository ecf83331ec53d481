//! Cluster DNS for Corten: answers `<service>.<namespace>.svc.<domain>` and
//! friends from Services and EndpointSlices ([`store`]), forwards other names
//! ([`forward`]) and caches those answers ([`cache`]), speaks DNS over UDP and TCP with hickory-proto's message
//! codec ([`server`]), and exposes CoreDNS-style `/health`, `/ready` and
//! `/metrics` ([`ops`], [`metrics`]).

#![warn(missing_docs)]

pub mod app;
pub mod bind;
pub mod cache;
pub mod forward;
pub mod metrics;
pub mod ops;
pub mod options;
pub mod publish;
pub mod server;
pub mod store;

#[cfg(test)]
mod store_tests;
