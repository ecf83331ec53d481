//! The whole kube-proxy (watchers, sync loop, nftables) against a real
//! apiserver, programming a test network namespace.
