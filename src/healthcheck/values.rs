//! Value parsers with Python's semantics, so that what ExaBGP's healthcheck accepts (and
//! rejects) for a number or an address is accepted (and rejected) here too.

use std::net::IpAddr;

use ipnet::IpNet;

/// Python's `int()`: surrounding whitespace, a sign, and single `_` between digits.
pub fn parse_int(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let clean =
        strip_digit_underscores(digits).ok_or_else(|| format!("invalid int value: {s:?}"))?;
    let magnitude: i64 = clean
        .parse()
        .map_err(|_| format!("invalid int value: {s:?}"))?;
    Ok(if neg { -magnitude } else { magnitude })
}

/// Python's `float()`: also `inf`, `nan`, exponents and `_` between digits.
pub fn parse_float(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if ["inf", "infinity", "nan"].contains(&unsigned) {
        return lower
            .parse()
            .map_err(|_| format!("invalid float value: {s:?}"));
    }
    // `_` is allowed only between two digits.
    let bytes = t.as_bytes();
    let ok_underscores = bytes.iter().enumerate().all(|(i, b)| {
        *b != b'_'
            || (i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
    });
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    let valid_chars = clean
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    if !ok_underscores || !valid_chars || clean.is_empty() {
        return Err(format!("invalid float value: {s:?}"));
    }
    clean
        .parse()
        .map_err(|_| format!("invalid float value: {s:?}"))
}

fn strip_digit_underscores(digits: &str) -> Option<String> {
    let b = digits.as_bytes();
    let valid = !b.is_empty()
        && b.first().is_some_and(u8::is_ascii_digit)
        && b.last().is_some_and(u8::is_ascii_digit)
        && b.iter().all(|c| c.is_ascii_digit() || *c == b'_')
        && !digits.contains("__");
    valid.then(|| digits.replace('_', ""))
}

/// Python's strict `ip_network()`: a bare address is a host route; `/LEN`, `/NETMASK` and
/// `/HOSTMASK` are accepted; host bits must be zero.
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    let bad = || format!("invalid ip_network value: {s:?}");
    let (addr, len) = match s.split_once('/') {
        None => (s, None),
        Some((a, l)) => (a, Some(l)),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
            l.parse::<u8>().ok().filter(|n| *n <= max).ok_or_else(bad)?
        }
        Some(mask) if ip.is_ipv4() => ipv4_mask_len(mask).ok_or_else(bad)?,
        Some(_) => return Err(bad()),
    };
    let net = IpNet::new(ip, len).map_err(|_| bad())?;
    if net.trunc() == net {
        Ok(net)
    } else {
        Err(bad())
    }
}

/// The prefix length of a dotted netmask (`255.255.255.0`) or hostmask (`0.0.0.255`).
fn ipv4_mask_len(mask: &str) -> Option<u8> {
    let bits = u32::from(mask.parse::<std::net::Ipv4Addr>().ok()?);
    let ones = u8::try_from(bits.leading_ones()).ok()?;
    if bits.checked_shl(u32::from(ones)).unwrap_or(0) == 0 {
        return Some(ones);
    }
    let host = u8::try_from(bits.trailing_ones()).ok()?;
    (bits.checked_shr(u32::from(host)).unwrap_or(0) == 0).then(|| 32 - host)
}

/// Python's `ip_address()`.
pub fn parse_address(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("invalid ip_address value: {s:?}"))
}

/// A `--neighbor` value: an address, or `*` (surrounding spaces allowed) for every neighbor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbor {
    /// `*`.
    Any,
    /// One neighbor.
    Address(IpAddr),
}

/// Parses a `--neighbor` value.
pub fn parse_neighbor(s: &str) -> Result<Neighbor, String> {
    if s.trim() == "*" {
        return Ok(Neighbor::Any);
    }
    s.parse()
        .map(Neighbor::Address)
        .map_err(|_| format!("invalid neighbor_address value: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_like_python() {
        for (s, v) in [(" +1_0 ", 10), ("-3", -3), ("0", 0), ("007", 7)] {
            assert_eq!(parse_int(s), Ok(v), "{s}");
        }
        for s in ["5.5", "", "_1", "1_", "1__0", "--1", "0x10", "1 0"] {
            assert!(parse_int(s).is_err(), "{s}");
        }
    }

    #[test]
    fn floats_like_python() {
        assert_eq!(parse_float("1e-2"), Ok(0.01));
        assert_eq!(parse_float(" 0.5 "), Ok(0.5));
        assert_eq!(parse_float("1_0.5"), Ok(10.5));
        assert!(parse_float("inf").unwrap().is_infinite());
        assert!(parse_float("-Infinity").unwrap().is_infinite());
        assert!(parse_float("nan").unwrap().is_nan());
        for s in ["", "x", "1_", "_1", "1..2"] {
            assert!(parse_float(s).is_err(), "{s}");
        }
    }

    #[test]
    fn networks_are_strict() {
        assert_eq!(
            parse_network("192.0.2.1").unwrap().to_string(),
            "192.0.2.1/32"
        );
        assert_eq!(
            parse_network("192.0.2.0/255.255.255.0")
                .unwrap()
                .to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            parse_network("192.0.2.0/0.0.0.255").unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            parse_network("2001:DB8::/127").unwrap().to_string(),
            "2001:db8::/127"
        );
        for s in [
            "192.0.2.1/24",
            "192.0.2.0/33",
            "x",
            "192.0.2.0/255.0.255.0",
            "2001:db8::1/64",
            "1.2.3.4/",
        ] {
            assert_eq!(
                parse_network(s),
                Err(format!("invalid ip_network value: {s:?}"))
            );
        }
    }

    #[test]
    fn neighbors() {
        assert_eq!(parse_neighbor(" * "), Ok(Neighbor::Any));
        assert_eq!(
            parse_neighbor("2001:db8:0::5").unwrap(),
            Neighbor::Address("2001:db8::5".parse().unwrap())
        );
        assert!(parse_neighbor("foo").is_err());
    }
}
