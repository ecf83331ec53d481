//! Storage metrics with upstream names, registered in the default registry.
