//! Keys that live only while their writer renews them: an etcd lease with
//! a TTL is attached to the key, and etcd deletes the key when the lease
//! expires. The apiserver's `kubernetes` endpoint reconciler keeps one such
//! key per live apiserver (upstream's `masterleases`).

use std::time::Duration;

use etcd_client::{GetOptions, PutOptions};

use super::{EtcdStore, observe};
use crate::error::{Error, Result};

impl EtcdStore {
    /// Writes `value` (as is, never transformed: these are not API
    /// objects) at `key` under a new lease of `ttl` (at least 1 s). Returns
    /// the lease ID, to revoke once a newer lease took over.
    pub async fn put_with_ttl(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<i64> {
        let full = self.full_key(key);
        let ttl = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let mut client = self.client.clone();
        observe("put", key, async move {
            let lease = client.lease_grant(ttl, None).await?.id();
            client
                .put(full, value, Some(PutOptions::new().with_lease(lease)))
                .await?;
            Ok(lease)
        })
        .await
    }

    /// Revokes a lease, deleting the keys still attached to it. A lease
    /// that already expired is not an error.
    pub async fn revoke_lease(&self, id: i64) -> Result<()> {
        let mut client = self.client.clone();
        match client.lease_revoke(id).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("requested lease not found") => Ok(()),
            Err(e) => Err(Error::from(e)),
        }
    }

    /// The relative keys starting with `prefix` (values not read).
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let full = self.full_key(prefix);
        let mut kv = self.kv();
        let resp = observe("list", prefix, async move {
            kv.get(full, Some(GetOptions::new().with_prefix().with_keys_only()))
                .await
                .map_err(Error::from)
        })
        .await?;
        Ok(resp
            .kvs()
            .iter()
            .filter_map(|kv| self.relative_key(kv.key()))
            .collect())
    }
}
