//! One cluster CIDR cut into node-sized subnets (upstream `cidrset`):
//! allocate the next free subnet, occupy ones already in use, release.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// More subnets than this is refused (upstream `ErrCIDRSetSubNetTooBig`).
pub const MAX_SUBNET_BITS: u8 = 16;

/// Why a CIDR set cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrSetError {
    /// The node mask is not longer than the cluster prefix, or too long.
    #[error("node CIDR mask size /{mask} does not fit cluster CIDR {cluster}")]
    BadMask {
        /// The cluster CIDR.
        cluster: IpNet,
        /// The node mask size.
        mask: u8,
    },
    /// More than 2^16 subnets.
    #[error("New CIDR set failed; the node CIDR size is too big")]
    TooBig,
    /// Every subnet is taken.
    #[error(
        "CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range"
    )]
    Full,
    /// A CIDR that is not a subnet of this set.
    #[error("CIDR {0} is outside the cluster CIDR")]
    Outside(IpNet),
}

/// The subnets of one cluster CIDR.
#[derive(Debug, Clone)]
pub struct CidrSet {
    cluster: IpNet,
    mask: u8,
    used: BTreeSet<u128>,
    next: u128,
}

fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl CidrSet {
    /// Node subnets of `/mask` inside `cluster`.
    pub fn new(cluster: IpNet, mask: u8) -> Result<Self, CidrSetError> {
        let cluster = cluster.trunc();
        if mask < cluster.prefix_len() || mask > cluster.max_prefix_len() {
            return Err(CidrSetError::BadMask { cluster, mask });
        }
        if mask - cluster.prefix_len() > MAX_SUBNET_BITS {
            return Err(CidrSetError::TooBig);
        }
        Ok(Self {
            cluster,
            mask,
            used: BTreeSet::new(),
            next: 0,
        })
    }

    /// The cluster CIDR.
    pub fn cluster(&self) -> IpNet {
        self.cluster
    }

    fn count(&self) -> u128 {
        1u128 << (self.mask - self.cluster.prefix_len())
    }

    fn subnet(&self, index: u128) -> IpNet {
        let host_bits = u32::from(self.cluster.max_prefix_len() - self.mask);
        let base = to_bits(self.cluster.network()) + (index << host_bits);
        let addr = match self.cluster {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(base).unwrap_or(0))),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(base)),
        };
        IpNet::new(addr, self.mask).unwrap_or(self.cluster)
    }

    fn index_of(&self, cidr: &IpNet) -> Result<u128, CidrSetError> {
        let same_family = matches!(
            (cidr, self.cluster),
            (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
        );
        if !same_family || !self.cluster.contains(&cidr.network()) {
            return Err(CidrSetError::Outside(*cidr));
        }
        let host_bits = u32::from(self.cluster.max_prefix_len() - self.mask);
        Ok((to_bits(cidr.network()) - to_bits(self.cluster.network())) >> host_bits)
    }

    /// Takes the next free subnet (round robin from the last one given).
    pub fn allocate(&mut self) -> Result<IpNet, CidrSetError> {
        let count = self.count();
        for step in 0..count {
            let index = (self.next + step) % count;
            if self.used.insert(index) {
                self.next = (index + 1) % count;
                return Ok(self.subnet(index));
            }
        }
        Err(CidrSetError::Full)
    }

    /// Marks `cidr` (a node's existing pod CIDR) as used.
    pub fn occupy(&mut self, cidr: &IpNet) -> Result<(), CidrSetError> {
        let index = self.index_of(cidr)?;
        self.used.insert(index);
        Ok(())
    }

    /// Frees `cidr`.
    pub fn release(&mut self, cidr: &IpNet) -> Result<(), CidrSetError> {
        let index = self.index_of(cidr)?;
        self.used.remove(&index);
        Ok(())
    }

    /// Whether `cidr` belongs to this set's family and range.
    pub fn contains(&self, cidr: &IpNet) -> bool {
        self.index_of(cidr).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn allocates_in_order_and_reuses_released() {
        let mut set = CidrSet::new(net("10.244.0.0/22"), 24).unwrap();
        set.occupy(&net("10.244.1.0/24")).unwrap();
        assert_eq!(set.allocate().unwrap(), net("10.244.0.0/24"));
        assert_eq!(set.allocate().unwrap(), net("10.244.2.0/24"));
        assert_eq!(set.allocate().unwrap(), net("10.244.3.0/24"));
        assert_eq!(set.allocate(), Err(CidrSetError::Full));
        set.release(&net("10.244.2.0/24")).unwrap();
        assert_eq!(set.allocate().unwrap(), net("10.244.2.0/24"));
        assert!(set.occupy(&net("10.245.0.0/24")).is_err());
        assert!(set.occupy(&net("fd00::/64")).is_err());
    }

    #[test]
    fn ipv6_and_bad_masks() {
        let mut set = CidrSet::new(net("fd00:10::/56"), 64).unwrap();
        assert_eq!(set.allocate().unwrap(), net("fd00:10::/64"));
        assert_eq!(set.allocate().unwrap(), net("fd00:10:0:1::/64"));
        assert!(matches!(
            CidrSet::new(net("10.0.0.0/24"), 16),
            Err(CidrSetError::BadMask { .. })
        ));
        assert_eq!(
            CidrSet::new(net("10.0.0.0/8"), 26).unwrap_err(),
            CidrSetError::TooBig
        );
    }
}
