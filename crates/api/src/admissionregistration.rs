//! Defaulting and validation for admissionregistration.
