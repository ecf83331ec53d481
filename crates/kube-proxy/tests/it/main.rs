//! Integration tests of kube-proxy against the real kernel, inside network
//! namespaces the tests create (never the host's own rules or addresses).

mod binary;
mod hairpin;
mod lb;
mod netns;
mod proxy_e2e;
mod rules;
mod shared_ip;
