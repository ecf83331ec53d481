//! Defaulting and validation for apps.
