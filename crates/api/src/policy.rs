//! Defaulting and validation for policy.
