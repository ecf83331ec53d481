//! Defaulting and validation for node.
