//! The `--pv-recycler-*` flags of the persistent-volume controller's
//! recyclers (upstream's `PersistentVolumeRecyclerConfiguration`).

use std::path::PathBuf;

use crate::controllers::persistentvolume::recycle::{self, RecyclerConfig, RecyclerPlugin};

/// Recycler flags, flattened into the command line.
#[derive(clap::Args, Debug, Clone)]
pub struct RecyclerOptions {
    /// The file path to a pod definition used as a template for HostPath persistent volume recycling. This is for development and testing only and will not work in a multi-node cluster.
    #[arg(long)]
    pub pv_recycler_pod_template_filepath_hostpath: Option<PathBuf>,

    /// The minimum ActiveDeadlineSeconds to use for a HostPath Recycler pod. This is for development and testing only and will not work in a multi-node cluster.
    #[arg(long, default_value_t = 60, allow_negative_numbers = true)]
    pub pv_recycler_minimum_timeout_hostpath: i32,

    /// the increment of time added per Gi to ActiveDeadlineSeconds for a HostPath scrubber pod. This is for development and testing only and will not work in a multi-node cluster.
    #[arg(long, default_value_t = 30, allow_negative_numbers = true)]
    pub pv_recycler_timeout_increment_hostpath: i32,

    /// The file path to a pod definition used as a template for NFS persistent volume recycling
    #[arg(long)]
    pub pv_recycler_pod_template_filepath_nfs: Option<PathBuf>,

    /// The minimum ActiveDeadlineSeconds to use for an NFS Recycler pod
    #[arg(long, default_value_t = 300, allow_negative_numbers = true)]
    pub pv_recycler_minimum_timeout_nfs: i32,

    /// the increment of time added per Gi to ActiveDeadlineSeconds for an NFS scrubber pod
    #[arg(long, default_value_t = 30, allow_negative_numbers = true)]
    pub pv_recycler_increment_timeout_nfs: i32,
}

impl RecyclerOptions {
    /// The recycler settings; a template file that cannot be read, or has
    /// no volume, is an error at start (upstream exits too).
    pub fn config(&self) -> Result<RecyclerConfig, Vec<String>> {
        let mut errors = Vec::new();
        let mut plugin = |path: &Option<PathBuf>, minimum: i32, increment: i32, kind: &str| {
            let template = match path {
                Some(path) => recycle::load_template(path).unwrap_or_else(|err| {
                    errors.push(format!(
                        "could not create {kind} recycler pod from file: {err}"
                    ));
                    recycle::default_template()
                }),
                None => recycle::default_template(),
            };
            RecyclerPlugin {
                template,
                minimum_timeout: i64::from(minimum),
                timeout_increment: i64::from(increment),
            }
        };
        let config = RecyclerConfig {
            hostpath: plugin(
                &self.pv_recycler_pod_template_filepath_hostpath,
                self.pv_recycler_minimum_timeout_hostpath,
                self.pv_recycler_timeout_increment_hostpath,
                "hostpath",
            ),
            nfs: plugin(
                &self.pv_recycler_pod_template_filepath_nfs,
                self.pv_recycler_minimum_timeout_nfs,
                self.pv_recycler_increment_timeout_nfs,
                "nfs",
            ),
        };
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }
}
