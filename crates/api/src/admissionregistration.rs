//! Defaulting and validation for admissionregistration.

use crate::strategy::TypedStrategy;

/// Strategy for ValidatingWebhookConfiguration (placeholder: typed round trip and metadata rules).
pub static VALIDATING_WEBHOOK_CONFIGURATION_STRATEGY: TypedStrategy<
    k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration,
> = TypedStrategy::new(false, true);

/// Strategy for MutatingWebhookConfiguration (placeholder: typed round trip and metadata rules).
pub static MUTATING_WEBHOOK_CONFIGURATION_STRATEGY: TypedStrategy<
    k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
> = TypedStrategy::new(false, true);
