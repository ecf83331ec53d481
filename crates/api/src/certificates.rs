//! Defaulting and validation for certificates.

use crate::strategy::TypedStrategy;

/// Strategy for CertificateSigningRequest (placeholder: typed round trip and metadata rules).
pub static CERTIFICATE_SIGNING_REQUEST_STRATEGY: TypedStrategy<
    k8s_openapi::api::certificates::v1::CertificateSigningRequest,
> = TypedStrategy::new(false, false);
