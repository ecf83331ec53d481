//! Defaulting and validation for storage.
