//! Defaulting and validation for pod.
