//! API Priority and Fairness, as far as Corten implements it: the
//! configuration objects upstream's apiserver keeps in place
//! (`ensure.rs`), the classification of every request to a FlowSchema and
//! priority level with upstream's `X-Kubernetes-PF-*` response headers
//! (`classify.rs`), each priority level's seats, waiting and 429s with the
//! `apiserver_flowcontrol_*` metrics (`dispatch.rs`), and the FlowSchemas'
//! `Dangling` condition (`dangling.rs`).

pub mod classify;
mod dangling;
pub mod dispatch;
pub mod ensure;

use std::sync::Arc;
use std::time::Duration;

use crate::app::ApiServer;

pub use classify::{Classified, Classifier};

/// How often the maintenance loop looks at the configuration.
const POLL: Duration = Duration::from_secs(1);
/// How often the bootstrap objects are checked even without a change to
/// the configuration.
const ENSURE_EVERY: Duration = Duration::from_secs(30);

/// Starts the loop that keeps the bootstrap objects in place and the
/// `Dangling` conditions current. Ends when the server is dropped.
pub fn spawn(server: &Arc<ApiServer>) {
    let weak = Arc::downgrade(server);
    tokio::spawn(async move {
        let mut last = None;
        let mut last_ensure = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(POLL).await;
            let Some(server) = weak.upgrade() else { return };
            let now = server.flowcontrol.fingerprint(&server.registry);
            let changed = last != Some(now);
            // A change may be the deletion of a mandatory object: check the
            // bootstrap objects at once rather than at the next period.
            if changed || last_ensure.elapsed() >= ENSURE_EVERY {
                if let Err(e) = ensure::run(&server).await {
                    tracing::warn!(error = %e.message, "keeping the flowcontrol bootstrap objects");
                }
                last_ensure = tokio::time::Instant::now();
            }
            if changed {
                dangling::sync(&server).await;
                // The pass's own writes move the fingerprint; take it after
                // the pass so they do not trigger another one.
                last = Some(server.flowcontrol.fingerprint(&server.registry));
            }
        }
    });
}
