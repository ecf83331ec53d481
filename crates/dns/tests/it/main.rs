//! corten-dns end to end: a real apiserver (etcd + kube-apiserver from the
//! e2e harness), Services and EndpointSlices created with kube-rs, and
//! queries sent with the real `dig` to a loopback port.

mod resolve;
