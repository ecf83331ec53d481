//! The `corten` launcher as a library: everything `corten up/down/status`
//! does, reusable by tests and by later work (client certificates for every
//! component, more components in the start order).
//!
//! - [`state`]: the state directory layout and the saved cluster settings;
//! - [`pki`]: the cluster CA and the certificates it issues;
//! - [`kubeconfig`]: kubeconfig files;
//! - [`components`]: the ordered list of daemons (command line + readiness probe);
//! - [`process`]: starting them detached, pid files, stopping them;
//! - [`probe`]: HTTP/HTTPS readiness probes;
//! - [`up`], [`down`], [`status`]: the subcommands;
//! - [`images`]: `corten images build` (local OCI images for containerd).

#![warn(missing_docs)]

pub mod addons;
pub mod components;
pub mod down;
pub mod images;
pub mod kubeconfig;
pub mod node_cleanup;
pub mod pki;
pub mod probe;
pub mod process;
pub mod state;
pub mod status;
pub mod up;
