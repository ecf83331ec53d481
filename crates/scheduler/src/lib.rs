//! kube-scheduler for Corten: binds pending pods to nodes with upstream's
//! plugins, queue semantics, preemption, events and metrics.
//!
//! - [`config`] holds `KubeSchedulerConfiguration` (kubescheduler.config.k8s.io/v1);
//! - [`framework`], the plugin interface and the data plugins read;
//! - [`plugins`], the in-tree plugins by their upstream names;
//! - [`cache`], node infos and the other objects plugins read;
//! - [`queue`], the active/backoff/unschedulable queues;
//! - [`scheduler`], the loop that schedules, assumes and binds;
//! - [`app`] runs it all: client, health/metrics, leader election, informers.

#![warn(missing_docs)]

pub mod api_client;
pub mod app;
pub mod cache;
pub mod config;
pub use corten_component_base::duration;
pub mod framework;
pub mod fxhash;
pub mod informers;
pub mod leader_election;
pub mod metrics;
pub mod options;
pub mod plugins;
pub mod queue;
pub mod rng;
pub mod scheduler;
