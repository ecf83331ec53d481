//! Defaulting and validation for autoscaling.
