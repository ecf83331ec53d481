//! Defaulting and validation for rbac.
