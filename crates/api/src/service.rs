//! Defaulting and validation for service.
