//! Typed BGP path attributes as ExaBGP's text API writes them.
//!
//! Every value is parsed into a closed type and rendered from it, so user text never reaches the
//! API verbatim: a newline, a `;`, a bracket or an unknown word is rejected at parse time.

use std::fmt;
use std::str::FromStr;

/// Why an attribute value was refused. `what` names the attribute, `value` is the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct AttrError {
    /// The attribute kind, e.g. `community`.
    pub what: &'static str,
    /// The rejected input.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl AttrError {
    fn new(what: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            what,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Well-known communities ExaBGP accepts by name (RFC 1997, 7999, 8326, 8642).
const WELL_KNOWN: &[&str] = &[
    "no-export",
    "no-advertise",
    "no-export-subconfed",
    "nopeer",
    "blackhole",
    "graceful-shutdown",
    "accept-own",
    "llgr-stale",
    "no-llgr",
];

/// The 32-bit values of [`WELL_KNOWN`], in the same order.
const WELL_KNOWN_VALUES: &[u32] = &[
    0xFFFF_FF01,
    0xFFFF_FF02,
    0xFFFF_FF03,
    0xFFFF_FF04,
    0xFFFF_029A,
    0xFFFF_0000,
    0xFFFF_0001,
    0xFFFF_0006,
    0xFFFF_0007,
];

/// A standard community: `ASN:VALUE` (16 bits each), a 32-bit number, or a well-known name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Community {
    /// `high:low`.
    Pair(u16, u16),
    /// A plain 32-bit value.
    Number(u32),
    /// One of the well-known names, by index into the name table.
    WellKnown(u8),
}

/// The `GRACEFUL_SHUTDOWN` community of RFC 8326 (65535:0).
pub const GRACEFUL_SHUTDOWN: Community = Community::Pair(65535, 0);

impl FromStr for Community {
    type Err = AttrError;
    fn from_str(s: &str) -> Result<Self, AttrError> {
        const WHAT: &str = "community";
        if let Some(i) = WELL_KNOWN.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return u8::try_from(i)
                .map(Community::WellKnown)
                .map_err(|_| AttrError::new(WHAT, s, "name table overflow"));
        }
        match s.split_once(':') {
            Some((hi, lo)) => Ok(Community::Pair(
                parse_decimal(hi).ok_or_else(|| AttrError::new(WHAT, s, "ASN must be 0-65535"))?,
                parse_decimal(lo)
                    .ok_or_else(|| AttrError::new(WHAT, s, "value must be 0-65535"))?,
            )),
            None => parse_decimal(s).map(Community::Number).ok_or_else(|| {
                AttrError::new(
                    WHAT,
                    s,
                    "expected ASN:VALUE, a 32-bit number or a well-known name",
                )
            }),
        }
    }
}

impl Community {
    /// The 32-bit value on the wire, whichever way it was written (`65535:666`, `4294902426`
    /// and `blackhole` are one community).
    pub fn value(self) -> u32 {
        match self {
            Community::Pair(h, l) => (u32::from(h) << 16) | u32::from(l),
            Community::Number(n) => n,
            Community::WellKnown(i) => WELL_KNOWN_VALUES
                .get(usize::from(i))
                .copied()
                .unwrap_or(u32::MAX),
        }
    }

    /// True in the range RFC 1997 reserves for well-known communities (`65535:*`).
    pub fn is_reserved(self) -> bool {
        self.value() >> 16 == 0xFFFF
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Pair(h, l) => write!(f, "{h}:{l}"),
            Community::Number(n) => write!(f, "{n}"),
            Community::WellKnown(i) => f.write_str(WELL_KNOWN.get(usize::from(*i)).unwrap_or(&"")),
        }
    }
}

/// A large community (RFC 8092): `GLOBAL:LOCAL1:LOCAL2`, 32 bits each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

impl FromStr for LargeCommunity {
    type Err = AttrError;
    fn from_str(s: &str) -> Result<Self, AttrError> {
        let mut parts = s.split(':').map(parse_decimal::<u32>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) => Ok(LargeCommunity(a, b, c)),
            _ => Err(AttrError::new(
                "large-community",
                s,
                "expected three 32-bit numbers A:B:C",
            )),
        }
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}

/// An extended community: `target:` / `origin:` / `redirect:` with `ASN:N` or `IPv4:N`, or 8 raw
/// bytes as `0x` and 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExtendedCommunity {
    /// `kind:ASN:N` with a 2- or 4-byte ASN.
    Asn(ExtKind, u32, u32),
    /// `kind:A.B.C.D:N`.
    Ipv4(ExtKind, std::net::Ipv4Addr, u16),
    /// `0x0123456789abcdef`.
    Raw(u64),
}

/// The sub-type of a typed extended community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExtKind {
    /// Route target.
    Target,
    /// Route origin.
    Origin,
    /// Flowspec redirect.
    Redirect,
}

impl ExtKind {
    fn name(self) -> &'static str {
        match self {
            ExtKind::Target => "target",
            ExtKind::Origin => "origin",
            ExtKind::Redirect => "redirect",
        }
    }
}

impl FromStr for ExtendedCommunity {
    type Err = AttrError;
    fn from_str(s: &str) -> Result<Self, AttrError> {
        const WHAT: &str = "extended-community";
        if let Some(hex) = s.strip_prefix("0x") {
            return (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u64::from_str_radix(hex, 16).ok())
                .flatten()
                .map(ExtendedCommunity::Raw)
                .ok_or_else(|| AttrError::new(WHAT, s, "expected 0x and 16 hex digits"));
        }
        let bad = || {
            AttrError::new(
                WHAT,
                s,
                "expected target|origin|redirect:ASN:N or 0x<16 hex>",
            )
        };
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let kind = match kind {
            "target" => ExtKind::Target,
            "origin" => ExtKind::Origin,
            "redirect" => ExtKind::Redirect,
            _ => return Err(bad()),
        };
        let (admin, num) = rest.rsplit_once(':').ok_or_else(bad)?;
        if admin.contains('.') {
            let ip = admin.parse().map_err(|_| bad())?;
            let n = parse_decimal(num).ok_or_else(bad)?;
            return Ok(ExtendedCommunity::Ipv4(kind, ip, n));
        }
        let asn: u32 = parse_decimal(admin).ok_or_else(bad)?;
        let n: u32 = parse_decimal(num).ok_or_else(bad)?;
        // A 4-byte ASN leaves 16 bits for the number, a 2-byte one 32 bits.
        if asn > u32::from(u16::MAX) && n > u32::from(u16::MAX) {
            return Err(AttrError::new(
                WHAT,
                s,
                "a 4-byte ASN leaves 16 bits for the value",
            ));
        }
        Ok(ExtendedCommunity::Asn(kind, asn, n))
    }
}

impl fmt::Display for ExtendedCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtendedCommunity::Asn(k, a, n) => write!(f, "{}:{a}:{n}", k.name()),
            ExtendedCommunity::Ipv4(k, ip, n) => write!(f, "{}:{ip}:{n}", k.name()),
            ExtendedCommunity::Raw(v) => write!(f, "0x{v:016x}"),
        }
    }
}

/// An AS path as a sequence of 32-bit ASNs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AsPath(pub Vec<u32>);

impl FromStr for AsPath {
    type Err = AttrError;
    fn from_str(s: &str) -> Result<Self, AttrError> {
        words(s)
            .map(|asn| {
                parse_decimal(asn)
                    .ok_or_else(|| AttrError::new("as-path", s, format!("{asn:?} is not an ASN")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(AsPath)
    }
}

impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_spaced(f, &self.0)
    }
}

/// A whitespace-separated list of values, written `[ a b ]` on the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<T: FromStr<Err = AttrError>> FromStr for List<T> {
    type Err = AttrError;
    fn from_str(s: &str) -> Result<Self, AttrError> {
        words(s)
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(List)
    }
}

impl<T: fmt::Display> fmt::Display for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_spaced(f, &self.0)
    }
}

impl<T> List<T> {
    /// True when the list holds no value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Words separated by spaces or tabs only: any other character (a newline included) stays
/// inside a word, where the word's parser rejects it.
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', '\t']).filter(|w| !w.is_empty())
}

fn write_spaced<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Plain ASCII decimal digits only: no sign, no spaces, no `_`, and within the type's range.
fn parse_decimal<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_renders_each_kind() {
        let cases: &[(&str, &str)] = &[
            ("65000:100", "65000:100"),
            ("no-export", "no-export"),
            ("NO-EXPORT", "no-export"),
            ("4294967295", "4294967295"),
        ];
        for (input, out) in cases {
            assert_eq!(input.parse::<Community>().unwrap().to_string(), *out);
        }
        assert_eq!(
            "65000:1:2".parse::<LargeCommunity>().unwrap().to_string(),
            "65000:1:2"
        );
        for x in [
            "target:65000:7",
            "origin:10.0.0.1:5",
            "0x0002fde800000001",
            "target:4200000000:7",
        ] {
            assert_eq!(x.parse::<ExtendedCommunity>().unwrap().to_string(), x);
        }
        assert_eq!(
            "65000  65001".parse::<AsPath>().unwrap().to_string(),
            "65000 65001"
        );
        assert_eq!(
            "65000:1 no-export"
                .parse::<List<Community>>()
                .unwrap()
                .to_string(),
            "65000:1 no-export"
        );
    }

    #[test]
    fn every_spelling_of_a_community_has_one_value() {
        assert_eq!(WELL_KNOWN.len(), WELL_KNOWN_VALUES.len());
        let value = |s: &str| s.parse::<Community>().unwrap().value();
        for same in [
            ["65535:666", "4294902426", "blackhole"],
            ["65535:65281", "4294967041", "no-export"],
            ["65535:0", "4294901760", "graceful-shutdown"],
        ] {
            assert!(same.iter().all(|s| value(s) == value(same[0])), "{same:?}");
        }
        assert_eq!(GRACEFUL_SHUTDOWN.value(), value("graceful-shutdown"));
        for name in WELL_KNOWN {
            assert!(name.parse::<Community>().unwrap().is_reserved(), "{name}");
        }
        assert!(!value_is_reserved("65534:666") && value_is_reserved("65535:1"));
    }

    fn value_is_reserved(s: &str) -> bool {
        s.parse::<Community>().unwrap().is_reserved()
    }

    #[test]
    fn rejects_injection_and_garbage_naming_the_value() {
        for bad in [
            "65000:1\n",
            "65000:1;",
            "65000:1 ] med 5 [",
            "65536:1",
            "1:2:3",
            "-1:2",
            "+1:2",
            "",
            "x",
        ] {
            let err = bad.parse::<Community>().unwrap_err();
            assert_eq!(err.what, "community");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        assert!("65000 ] [ 1".parse::<AsPath>().is_err());
        assert!("65000\n1".parse::<AsPath>().is_err());
        assert!("65000:1\n".parse::<List<Community>>().is_err());
        assert!("1:2".parse::<LargeCommunity>().is_err());
        assert!(
            "target:4200000000:70000"
                .parse::<ExtendedCommunity>()
                .is_err()
        );
        assert!("0x12".parse::<ExtendedCommunity>().is_err());
        assert!("65000:1 [".parse::<List<Community>>().is_err());
    }

    proptest! {
        #[test]
        fn a_parsed_list_renders_only_safe_characters(s in ".{0,40}") {
            if let Ok(list) = s.parse::<List<Community>>() {
                let out = list.to_string();
                prop_assert!(out.chars().all(|c| c.is_ascii_alphanumeric() || ":- ".contains(c)));
            }
            if let Ok(p) = s.parse::<AsPath>() {
                prop_assert!(p.to_string().chars().all(|c| c.is_ascii_digit() || c == ' '));
            }
            if let Ok(l) = s.parse::<List<ExtendedCommunity>>() {
                prop_assert!(l.to_string().chars().all(|c| c.is_ascii_alphanumeric() || ":. ".contains(c)));
            }
        }

        #[test]
        fn communities_round_trip(h: u16, l: u16, a: u32, b: u32, c: u32) {
            let comm = Community::Pair(h, l);
            prop_assert_eq!(comm.to_string().parse::<Community>().unwrap(), comm);
            prop_assert_eq!(Community::Number(comm.value()).value(), comm.value());
            prop_assert_eq!(comm.is_reserved(), h == 65535);
            let large = LargeCommunity(a, b, c);
            prop_assert_eq!(large.to_string().parse::<LargeCommunity>().unwrap(), large);
        }
    }
}
