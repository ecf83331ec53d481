//! Defaulting and validation for events.
