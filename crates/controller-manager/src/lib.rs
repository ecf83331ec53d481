//! Corten's kube-controller-manager: the control loops that move the
//! cluster towards its desired state, with upstream's flags, controller
//! names, leader election, events and metrics.
//!
//! - [`options`] (flags) -> [`config`] (validated) -> [`app`] (run);
//! - [`registry`]: every upstream controller by name, and `--controllers`;
//! - [`framework`]: shared informers, rate-limited work queues,
//!   level-triggered workers, the event recorder, metrics, discovery;
//! - [`controllers`]: one module per controller;
//! - [`leader_election`]: the Lease-based election.
//!
//! In-process use (tests):
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use clap::Parser;
//! use corten_controller_manager::{app, options::Options};
//!
//! let config = Options::try_parse_from([
//!     "kube-controller-manager",
//!     "--kubeconfig=/etc/kubernetes/controller-manager.conf",
//!     "--secure-port=0",
//! ])?
//! .complete()
//! .map_err(anyhow::Error::msg)?;
//! let manager = app::start(config).await?;
//! // ... manager.is_leader(), manager.running_controllers() ...
//! manager.shutdown().await?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod app;
pub mod config;
pub mod controllers;
pub use corten_component_base::duration;
pub mod framework;
pub mod leader_election;
pub mod options;
pub mod recycler_options;
pub mod registry;
pub mod service_account_clients;
