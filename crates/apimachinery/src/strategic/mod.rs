//! Strategic merge patch (`application/strategic-merge-patch+json`).
