//! `certificatesigningrequest-approving-controller`: approves CSRs for the
//! `kubernetes.io/kube-apiserver-client-kubelet` signer when they are
//! well-formed kubelet client requests and their requester may create them
//! (upstream's `sarapprove`): a node renewing its own certificate needs
//! `create` on `certificatesigningrequests/selfnodeclient`, anyone else
//! (a bootstrap token of `system:bootstrappers`) on
//! `certificatesigningrequests/nodeclient`, both in `certificates.k8s.io`,
//! checked with a SubjectAccessReview. Other CSRs are left for a human or
//! another approver; a recognized CSR whose requester is not allowed stays
//! pending.

use std::collections::BTreeMap;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

use super::request::{Request, parse, validate_kubelet_client};
use super::{KUBE_APISERVER_CLIENT_KUBELET, has_condition, is_issued, usages};
use crate::framework::api_errors;
use crate::framework::controller::{Controller, ControllerContext, QueueController};
use crate::framework::informer::{Change, Informer};
use crate::framework::queue::WorkQueue;
use crate::framework::worker::{Action, Reconciler};

/// Upstream name.
pub const NAME: &str = "certificatesigningrequest-approving-controller";

/// One way a CSR can be recognized and the permission it needs.
struct Recognizer {
    subresource: &'static str,
    message: &'static str,
    recognize: fn(&CertificateSigningRequest, &Request) -> bool,
}

fn is_node_client(csr: &CertificateSigningRequest, req: &Request) -> bool {
    csr.spec.signer_name == KUBE_APISERVER_CLIENT_KUBELET
        && validate_kubelet_client(req, &usages(csr)).is_ok()
}

fn is_self_node_client(csr: &CertificateSigningRequest, req: &Request) -> bool {
    is_node_client(csr, req) && csr.spec.username.as_deref() == Some(req.common_name.as_str())
}

const RECOGNIZERS: &[Recognizer] = &[
    Recognizer {
        subresource: "selfnodeclient",
        message: "Auto approving self kubelet client certificate after SubjectAccessReview.",
        recognize: is_self_node_client,
    },
    Recognizer {
        subresource: "nodeclient",
        message: "Auto approving kubelet client certificate after SubjectAccessReview.",
        recognize: is_node_client,
    },
];

/// Builds the controller.
pub fn new_controller(ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    let csrs = ctx.informers.informer::<CertificateSigningRequest>();
    let queue = WorkQueue::<String>::new("csrapproving");
    {
        let queue = queue.clone();
        csrs.add_event_handler(move |change: Change<'_, CertificateSigningRequest>| {
            if !matches!(change, Change::Deleted(_)) {
                queue.add(change.object().name_any());
            }
        });
    }
    let reconciler = Approver {
        client: ctx.client.clone(),
        csrs: csrs.clone(),
    };
    Ok(Some(Box::new(
        QueueController::new(NAME, queue, reconciler, 5, ctx).wait_for(csrs),
    )))
}

/// Approves one CSR when it should be.
pub struct Approver {
    client: Client,
    csrs: Informer<CertificateSigningRequest>,
}

impl Approver {
    async fn authorized(
        &self,
        csr: &CertificateSigningRequest,
        subresource: &str,
    ) -> Result<bool, String> {
        let extra: Option<BTreeMap<String, Vec<String>>> = csr.spec.extra.clone();
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: csr.spec.username.clone(),
                uid: csr.spec.uid.clone(),
                groups: csr.spec.groups.clone(),
                extra,
                resource_attributes: Some(ResourceAttributes {
                    group: Some("certificates.k8s.io".into()),
                    resource: Some("certificatesigningrequests".into()),
                    subresource: Some(subresource.into()),
                    verb: Some("create".into()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| format!("SubjectAccessReview: {}", api_errors::message(&e)))?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

impl Reconciler<String> for Approver {
    type Error = String;

    async fn reconcile(&self, name: &String) -> Result<Action, String> {
        let Some(csr) = self.csrs.get(None, name) else {
            return Ok(Action::await_change());
        };
        if csr.spec.signer_name != KUBE_APISERVER_CLIENT_KUBELET
            || has_condition(&csr, "Approved")
            || has_condition(&csr, "Denied")
            || is_issued(&csr)
        {
            return Ok(Action::await_change());
        }
        let request = match parse(&csr.spec.request.0) {
            Ok(request) => request,
            Err(err) => {
                // Upstream logs and leaves it; a new request is a new object.
                tracing::info!(csr = %name, error = %err, "unable to parse csr");
                return Ok(Action::await_change());
            }
        };
        let mut tried = Vec::new();
        for recognizer in RECOGNIZERS {
            if !(recognizer.recognize)(&csr, &request) {
                continue;
            }
            tried.push(recognizer.subresource);
            if !self.authorized(&csr, recognizer.subresource).await? {
                continue;
            }
            let mut approved = (*csr).clone();
            let now = Time(
                Timestamp::from_second(Timestamp::now().as_second())
                    .unwrap_or(Timestamp::UNIX_EPOCH),
            );
            approved
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new)
                .push(CertificateSigningRequestCondition {
                    type_: "Approved".into(),
                    status: "True".into(),
                    reason: Some("AutoApproved".into()),
                    message: Some(recognizer.message.into()),
                    last_update_time: Some(now.clone()),
                    last_transition_time: Some(now),
                });
            let api: Api<CertificateSigningRequest> = Api::all(self.client.clone());
            return match api
                .replace_subresource("approval", name, &PostParams::default(), &approved)
                .await
            {
                Ok(_) => {
                    tracing::info!(csr = %name, "approved");
                    Ok(Action::await_change())
                }
                Err(err) if api_errors::is_not_found(&err) => Ok(Action::await_change()),
                Err(err) => Err(format!(
                    "error updating approval for csr: {}",
                    api_errors::message(&err)
                )),
            };
        }
        if !tried.is_empty() {
            tracing::info!(csr = %name, recognized_as = ?tried, "recognized csr but subject access review was not approved");
        }
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn csr(username: &str) -> CertificateSigningRequest {
        serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {"request": "", "signerName": KUBE_APISERVER_CLIENT_KUBELET,
                     "usages": ["digital signature", "client auth"], "username": username}
        }))
        .unwrap()
    }

    #[test]
    fn self_and_bootstrap_requests_are_told_apart() {
        let req = Request {
            common_name: "system:node:a".into(),
            organizations: vec!["system:nodes".into()],
            ..Request::default()
        };
        assert!(is_self_node_client(&csr("system:node:a"), &req));
        assert!(is_node_client(&csr("system:node:a"), &req));
        assert!(!is_self_node_client(&csr("system:bootstrap:abcdef"), &req));
        assert!(is_node_client(&csr("system:bootstrap:abcdef"), &req));
        let mut other = csr("system:node:a");
        other.spec.signer_name = "kubernetes.io/kube-apiserver-client".into();
        assert!(!is_node_client(&other, &req));
    }
}
