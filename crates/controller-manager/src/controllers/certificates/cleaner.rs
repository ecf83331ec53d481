//! `certificatesigningrequest-cleaner-controller`: once at start and then
//! every hour, deletes CSRs that are no longer useful (upstream's rules):
//!
//! - approved and issued, approved more than 1 hour ago;
//! - denied more than 1 hour ago;
//! - failed more than 1 hour ago;
//! - pending (no conditions) and created more than 24 hours ago;
//! - issued with a certificate that has expired.

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::jiff::Timestamp;
use kube::api::DeleteParams;
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::is_issued;
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext};
use crate::framework::informer::Informer;

/// Upstream name.
pub const NAME: &str = "certificatesigningrequest-cleaner-controller";
/// How often every CSR is looked at.
pub const POLLING_INTERVAL: Duration = Duration::from_secs(3600);
const APPROVED_EXPIRATION: i64 = 3600;
const DENIED_EXPIRATION: i64 = 3600;
const FAILED_EXPIRATION: i64 = 3600;
const PENDING_EXPIRATION: i64 = 24 * 3600;

/// Why a CSR is to be deleted, or `None`. `now` in unix seconds.
pub fn reason_to_delete(csr: &CertificateSigningRequest, now: i64) -> Option<&'static str> {
    let conditions = csr
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let older = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>, age: i64| {
        t.is_some_and(|t| now - t.0.as_second() > age)
    };
    for c in conditions {
        let updated = c.last_update_time.as_ref();
        match c.type_.as_str() {
            "Approved" if is_issued(csr) && older(updated, APPROVED_EXPIRATION) => {
                return Some("approved and issued more than 1h0m0s ago");
            }
            "Denied" if older(updated, DENIED_EXPIRATION) => {
                return Some("denied more than 1h0m0s ago");
            }
            "Failed" if older(updated, FAILED_EXPIRATION) => {
                return Some("failed more than 1h0m0s ago");
            }
            _ => {}
        }
    }
    if conditions.is_empty() && older(csr.metadata.creation_timestamp.as_ref(), PENDING_EXPIRATION)
    {
        return Some("pending for more than 24h0m0s");
    }
    if conditions.iter().any(|c| c.type_ == "Approved")
        && certificate_not_after(csr).is_some_and(|t| now > t)
    {
        return Some("its certificate has expired");
    }
    None
}

/// The `NotAfter` of the issued certificate (unix seconds).
fn certificate_not_after(csr: &CertificateSigningRequest) -> Option<i64> {
    let pem = csr.status.as_ref()?.certificate.as_ref()?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem.0).ok()?;
    let cert = block.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Builds the controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    Ok(Some(Box::new(Cleaner {
        client: ctx.client.clone(),
        csrs: ctx.informers.informer::<CertificateSigningRequest>(),
    })))
}

/// The periodic cleaner.
pub struct Cleaner {
    client: Client,
    csrs: Informer<CertificateSigningRequest>,
}

impl Cleaner {
    async fn clean_once(&self) {
        let api: Api<CertificateSigningRequest> = Api::all(self.client.clone());
        let now = Timestamp::now().as_second();
        for csr in self.csrs.list() {
            let Some(reason) = reason_to_delete(&csr, now) else {
                continue;
            };
            let name = csr.name_any();
            tracing::info!(csr = %name, reason, "Cleaning CSR");
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(err) if api_errors::is_not_found(&err) => {}
                Err(err) => {
                    tracing::warn!(csr = %name, error = %api_errors::message(&err), "unable to delete CSR");
                }
            }
        }
    }
}

impl Controller for Cleaner {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        async move {
            tracing::info!(controller = NAME, "Starting controller");
            if !self.csrs.wait_for_sync(&shutdown).await {
                return;
            }
            let mut ticker = tokio::time::interval(POLLING_INTERVAL);
            loop {
                tokio::select! {
                    _ = ticker.tick() => self.clean_once().await,
                    () = shutdown.cancelled() => break,
                }
            }
            tracing::info!(controller = NAME, "Shutting down controller");
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn csr(
        created: &str,
        conditions: serde_json::Value,
        issued: bool,
    ) -> CertificateSigningRequest {
        let mut status = json!({"conditions": conditions});
        if issued {
            status["certificate"] = json!("AAAA");
        }
        serde_json::from_value(json!({
            "metadata": {"name": "x", "creationTimestamp": created},
            "spec": {"request": "", "signerName": "s"},
            "status": status
        }))
        .unwrap()
    }

    fn cond(type_: &str, at: &str) -> serde_json::Value {
        json!([{"type": type_, "status": "True", "lastUpdateTime": at}])
    }

    #[test]
    fn upstream_deadlines() {
        // 2024-01-02T00:00:00Z
        let now = 1_704_153_600;
        let fresh = "2024-01-01T23:30:00Z";
        let old = "2024-01-01T22:00:00Z";
        let ancient = "2023-12-30T00:00:00Z";
        assert_eq!(reason_to_delete(&csr(fresh, json!([]), false), now), None);
        assert_eq!(reason_to_delete(&csr(old, json!([]), false), now), None);
        assert!(reason_to_delete(&csr(ancient, json!([]), false), now).is_some());
        assert!(reason_to_delete(&csr(fresh, cond("Denied", old), false), now).is_some());
        assert_eq!(
            reason_to_delete(&csr(fresh, cond("Denied", fresh), false), now),
            None
        );
        assert!(reason_to_delete(&csr(fresh, cond("Failed", old), false), now).is_some());
        // Approved but not issued yet: kept (the signer may still come).
        assert_eq!(
            reason_to_delete(&csr(old, cond("Approved", old), false), now),
            None
        );
        assert!(reason_to_delete(&csr(old, cond("Approved", old), true), now).is_some());
        assert_eq!(
            reason_to_delete(&csr(fresh, cond("Approved", fresh), true), now),
            None
        );
    }
}
