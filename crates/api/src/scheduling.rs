//! Defaulting and validation for scheduling.
