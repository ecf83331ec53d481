//! Defaulting and validation for core/v1 kinds other than pods and services (namespaces, configmaps, secrets, nodes, ...).
