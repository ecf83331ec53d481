//! NodeResourcesFit and NodeResourcesBalancedAllocation: pods must fit the
//! node's allocatable resources; nodes are scored by how full they would
//! be (LeastAllocated, MostAllocated, RequestedToCapacityRatio) and by how
//! balanced CPU and memory use would be.

pub mod balanced_allocation;
pub mod fit;
pub mod scorer;

pub use self::balanced_allocation::BalancedAllocation;
pub use self::fit::Fit;
