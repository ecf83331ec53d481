//! Defaulting and validation for coordination.
