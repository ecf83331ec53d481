//! What every Corten daemon shares.
//!
//! Each daemon (`kube-apiserver`, `kube-scheduler`, `kube-controller-manager`,
//! `kubelet`, `kube-proxy`) follows the same shape, and this crate provides the
//! common pieces so that they behave alike:
//!
//! - [`logging`]: the upstream `--logging-format` and `-v/--v` flags and the
//!   tracing subscriber behind them;
//! - [`signals`]: waiting for SIGTERM/SIGINT to begin a graceful shutdown;
//! - [`metrics`]: the Prometheus text exposition, process metrics and
//!   `kubernetes_build_info`;
//! - [`health`]: `/healthz`, `/livez` and `/readyz` with upstream output;
//! - [`server`]: a small HTTP server for `/metrics` and the health endpoints of
//!   the daemons other than the apiserver;
//! - [`secure_serving`]: the same endpoints over HTTPS with delegated
//!   authentication (client certificates, TokenReview) and authorization
//!   (SubjectAccessReview), for kube-scheduler and kube-controller-manager;
//! - [`flags`]: rejecting upstream flags that Corten does not implement yet;
//! - [`feature_gates`]: upstream's `--feature-gates` table, parsing and the
//!   `kubernetes_feature_enabled` metric;
//! - [`version`]: the version reported by `/version` and `--version`;
//! - [`leader_election`]: client-go's Lease leader election (kube-scheduler,
//!   kube-controller-manager);
//! - [`jwt`]: ServiceAccount JSON Web Tokens (the apiserver verifies and
//!   issues them, the controller-manager's token controller signs legacy ones).
//!
//! A typical `main`:
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use corten_component_base::{health::HealthRegistry, logging::LoggingOptions, metrics, server, signals};
//! # let logging = LoggingOptions { logging_format: Default::default(), verbosity: 0 };
//! logging.init("kube-proxy")?;
//! metrics::register_build_info("kube-proxy");
//! let health = HealthRegistry::new();
//! let addr = "127.0.0.1:10256".parse()?;
//! server::serve_ops(addr, health, signals::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod duration;
pub mod feature_gates;
pub mod flags;
pub mod health;
pub mod jwt;
pub mod leader_election;
pub mod logging;
pub mod metrics;
pub mod secure_serving;
pub mod server;
pub mod signals;
pub mod upstream_flags;
pub mod version;
