//! Defaulting and validation for networking.
