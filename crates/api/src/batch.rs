//! Defaulting and validation for batch.
