//! Network interface counters of a network namespace, from
//! `/proc/<pid>/net/dev` of a process in it (what cAdvisor reads).

/// Counters of one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    /// Interface name (`eth0`).
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Packets dropped while receiving.
    pub rx_dropped: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Packets dropped while transmitting.
    pub tx_dropped: u64,
}

/// Interfaces cAdvisor leaves out: loopback, the host ends of veth pairs
/// and container bridges.
const IGNORED_PREFIXES: [&str; 4] = ["lo", "veth", "docker", "nerdctl"];

/// Parses the text of `/proc/net/dev`, without ignored interfaces.
pub fn parse(text: &str) -> Vec<InterfaceStats> {
    let mut interfaces: Vec<InterfaceStats> = text
        .lines()
        .skip(2)
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let name = name.trim();
            if IGNORED_PREFIXES.iter().any(|p| name.starts_with(p)) {
                return None;
            }
            let fields: Vec<u64> = counters
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            if fields.len() < 12 {
                return None;
            }
            Some(InterfaceStats {
                name: name.to_string(),
                rx_bytes: fields[0],
                rx_packets: fields[1],
                rx_errors: fields[2],
                rx_dropped: fields[3],
                tx_bytes: fields[8],
                tx_packets: fields[9],
                tx_errors: fields[10],
                tx_dropped: fields[11],
            })
        })
        .collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    interfaces
}

/// The interfaces of the network namespace of process `pid` (`None`: the
/// process is gone).
pub fn of_process(pid: u32) -> Option<Vec<InterfaceStats>> {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .ok()
        .map(|t| parse(&t))
}

/// The interfaces of this process's network namespace (the host's).
pub fn of_host() -> Vec<InterfaceStats> {
    std::fs::read_to_string("/proc/self/net/dev")
        .map(|t| parse(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  \
eth0:    9000      60    1    2    0     0          0         0     4500      30    3    4    0     0       0          0\n\
vethabc:   1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n";
        assert_eq!(
            parse(text),
            vec![InterfaceStats {
                name: "eth0".into(),
                rx_bytes: 9000,
                rx_packets: 60,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 4500,
                tx_packets: 30,
                tx_errors: 3,
                tx_dropped: 4,
            }]
        );
        assert!(of_process(u32::MAX).is_none());
        assert!(of_process(std::process::id()).is_some());
    }
}
