//! Defaulting and validation for certificates.
