//! Go's legacy ("sloppy") IP and CIDR parsers, which upstream validation
//! still uses (`k8s.io/utils/net.ParseIPSloppy` / `ParseCIDRSloppy`): unlike
//! `std::net`, IPv4 octets may have leading zeros (read as decimal).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A parsed address in Go's 16-byte form (IPv4 is stored IPv4-mapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SloppyIp([u8; 16]);

impl SloppyIp {
    /// Go's `ip.To4() != nil`.
    pub(crate) fn is_ipv4(self) -> bool {
        self.0[..10].iter().all(|&b| b == 0) && self.0[10] == 0xff && self.0[11] == 0xff
    }

    pub(crate) fn into_ip_addr(self) -> IpAddr {
        if self.is_ipv4() {
            IpAddr::V4(Ipv4Addr::new(
                self.0[12], self.0[13], self.0[14], self.0[15],
            ))
        } else {
            IpAddr::V6(Ipv6Addr::from(self.0))
        }
    }
}

/// Go's `dtoi`: leading decimal digits, failing past 0xFFFFFF.
fn dtoi(s: &[u8]) -> Option<(u32, usize)> {
    let mut n: u32 = 0;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        n = n * 10 + u32::from(c - b'0');
        if n >= 0xFF_FFFF {
            return None;
        }
        i += 1;
    }
    (i > 0).then_some((n, i))
}

/// Go's `xtoi`: leading hex digits, failing past 0xFFFFFF.
fn xtoi(s: &[u8]) -> Option<(u32, usize)> {
    let mut n: u32 = 0;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        let Some(d) = char::from(c).to_digit(16) else {
            break;
        };
        n = n * 16 + d;
        if n >= 0xFF_FFFF {
            return None;
        }
        i += 1;
    }
    (i > 0).then_some((n, i))
}

fn parse_ipv4(mut s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    for (i, slot) in out.iter_mut().enumerate() {
        if s.is_empty() {
            return None;
        }
        if i > 0 {
            if s[0] != b'.' {
                return None;
            }
            s = &s[1..];
        }
        let (n, c) = dtoi(s)?;
        *slot = u8::try_from(n).ok()?;
        s = &s[c..];
    }
    s.is_empty().then_some(out)
}

fn v4_in_v6(b: [u8; 4]) -> SloppyIp {
    let mut ip = [0u8; 16];
    ip[10] = 0xff;
    ip[11] = 0xff;
    ip[12..].copy_from_slice(&b);
    SloppyIp(ip)
}

fn parse_ipv6(mut s: &[u8]) -> Option<SloppyIp> {
    let mut ip = [0u8; 16];
    let mut ellipsis: Option<usize> = None;
    if s.len() >= 2 && s[0] == b':' && s[1] == b':' {
        ellipsis = Some(0);
        s = &s[2..];
        if s.is_empty() {
            return Some(SloppyIp(ip));
        }
    }
    let mut i = 0;
    while i < 16 {
        let (n, c) = xtoi(s)?;
        if n > 0xFFFF {
            return None;
        }
        if s.get(c) == Some(&b'.') {
            // Trailing embedded IPv4.
            if (ellipsis.is_none() && i != 12) || i + 4 > 16 {
                return None;
            }
            let v4 = parse_ipv4(s)?;
            ip[i..i + 4].copy_from_slice(&v4);
            s = &[];
            i += 4;
            break;
        }
        ip[i] = (n >> 8) as u8;
        ip[i + 1] = n as u8;
        i += 2;
        s = &s[c..];
        if s.is_empty() {
            break;
        }
        if s[0] != b':' || s.len() == 1 {
            return None;
        }
        s = &s[1..];
        if s[0] == b':' {
            if ellipsis.is_some() {
                return None;
            }
            ellipsis = Some(i);
            s = &s[1..];
            if s.is_empty() {
                break;
            }
        }
    }
    if !s.is_empty() {
        return None;
    }
    if i < 16 {
        let e = ellipsis?;
        let n = 16 - i;
        ip.copy_within(e..i, e + n);
        ip[e..e + n].fill(0);
    } else if ellipsis.is_some() {
        // The ellipsis must stand for at least one zero group.
        return None;
    }
    Some(SloppyIp(ip))
}

/// `ParseIPSloppy`: the first `.` or `:` decides the family.
pub(crate) fn parse_ip_sloppy(s: &str) -> Option<SloppyIp> {
    let b = s.as_bytes();
    match b.iter().find(|&&c| c == b'.' || c == b':') {
        Some(b'.') => parse_ipv4(b).map(v4_in_v6),
        Some(_) => parse_ipv6(b),
        None => None,
    }
}

/// `ParseCIDRSloppy`: address, `/`, decimal prefix length within the family.
pub(crate) fn parse_cidr_sloppy(s: &str) -> Option<(SloppyIp, u32)> {
    let (addr, mask) = s.split_once('/')?;
    let (ip, bits) = match parse_ipv4(addr.as_bytes()) {
        Some(v4) => (v4_in_v6(v4), 32),
        None => (parse_ipv6(addr.as_bytes())?, 128),
    };
    let (n, used) = dtoi(mask.as_bytes())?;
    (used == mask.len() && n <= bits).then_some((ip, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let ok = [
            "10.9.8.7",
            "010.009.008.007",
            "::",
            "::1",
            "2001:db8::ffff",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:1.2.3.4",
            "1::8",
            "0001:2::",
        ];
        for s in ok {
            assert!(parse_ip_sloppy(s).is_some(), "{s}");
        }
        let bad = [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.4 ",
            ":::",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "1:2:3:4:5:6:7::8",
            "1:2:3:4:5:6:7:8::",
            "fe80::1%eth0",
            "12345::",
            "1:",
            "abc",
            "1.2.3.4:80",
        ];
        for s in bad {
            assert!(parse_ip_sloppy(s).is_none(), "{s}");
        }
        assert_eq!(
            parse_ip_sloppy("010.0.0.1").map(SloppyIp::into_ip_addr),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert!(parse_ip_sloppy("::ffff:1.2.3.4").is_some_and(SloppyIp::is_ipv4));
        assert_eq!(
            parse_ip_sloppy("1::8").map(SloppyIp::into_ip_addr),
            Some("1::8".parse().unwrap())
        );
    }

    #[test]
    fn parses_cidrs_like_go() {
        assert_eq!(parse_cidr_sloppy("10.0.0.1/24").map(|c| c.1), Some(24));
        assert!(parse_cidr_sloppy("2001:db8::/64").is_some());
        assert!(parse_cidr_sloppy("10.0.0.0/33").is_none());
        assert!(parse_cidr_sloppy("10.0.0.0/").is_none());
        assert!(parse_cidr_sloppy("10.0.0.0").is_none());
        assert!(parse_cidr_sloppy("10.0.0.0/8/8").is_none());
        assert!(parse_cidr_sloppy("::/129").is_none());
        assert!(parse_cidr_sloppy("::/128").is_some());
    }
}
