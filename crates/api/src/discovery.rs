//! Defaulting and validation for discovery.
