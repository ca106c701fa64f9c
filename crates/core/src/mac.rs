//! Raw 48-bit hardware addresses as heard on the air.
//!
//! A [`MacAddr`] is personal data. This module owns parsing and the two bits that matter
//! (group/individual, universal/local). It must not offer any way to serialize or print the
//! address: no `Serialize`, no `Display`, and a `Debug` that prints only the flags. The only
//! way out is [`MacAddr::octets`], which the pseudonymizer uses to hash it.

use std::fmt;

/// A raw MAC address. Deliberately neither `Serialize` nor `Display`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr([u8; 6]);

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address (expected six hex pairs like aa:bb:cc:dd:ee:ff)")]
pub struct MacParseError;

impl MacAddr {
    pub const fn new(octets: [u8; 6]) -> Self {
        Self(octets)
    }

    /// Parse `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or `aabbccddeeff` (any case).
    pub fn parse(s: &str) -> Result<Self, MacParseError> {
        Self::parse_bytes(s.as_bytes())
    }

    /// Same as [`MacAddr::parse`] on bytes, for sources that avoid UTF-8 checks.
    pub fn parse_bytes(b: &[u8]) -> Result<Self, MacParseError> {
        match <&[u8; 17]>::try_from(b) {
            Ok(a) => Self::parse_separated(a),
            Err(_) => Self::parse_general(b),
        }
    }

    /// The 17-byte spellings (`aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff`), every CSV row's:
    /// constant offsets into an array, so no bounds check and no loop (the general path's
    /// loops were a seventh of the parse stage's instructions). Same result as
    /// [`MacAddr::parse_general`].
    #[inline]
    fn parse_separated(a: &[u8; 17]) -> Result<Self, MacParseError> {
        let sep = a[2];
        let seps = (sep == b':' || sep == b'-') & (a[5] == sep) & (a[8] == sep) & (a[11] == sep) & (a[14] == sep);
        let pair = |i: usize| {
            let (hi, lo) = (HEX[a[i] as usize], HEX[a[i + 1] as usize]);
            ((hi << 4) | (lo & 0x0f), hi | lo)
        };
        let (o0, b0) = pair(0);
        let (o1, b1) = pair(3);
        let (o2, b2) = pair(6);
        let (o3, b3) = pair(9);
        let (o4, b4) = pair(12);
        let (o5, b5) = pair(15);
        if !seps || (b0 | b1 | b2 | b3 | b4 | b5) & 0x80 != 0 {
            return Err(MacParseError);
        }
        Ok(Self([o0, o1, o2, o3, o4, o5]))
    }

    /// Every spelling, by loops over the pairs.
    fn parse_general(b: &[u8]) -> Result<Self, MacParseError> {
        let mut out = [0u8; 6];
        let step = match b.len() {
            17 => {
                let sep = b[2];
                if sep != b':' && sep != b'-' {
                    return Err(MacParseError);
                }
                for i in 0..5 {
                    if b[i * 3 + 2] != sep {
                        return Err(MacParseError);
                    }
                }
                3
            }
            12 => 2,
            _ => return Err(MacParseError),
        };
        let mut bad = 0u8;
        for (i, o) in out.iter_mut().enumerate() {
            let hi = HEX[b[i * step] as usize];
            let lo = HEX[b[i * step + 1] as usize];
            bad |= hi | lo;
            *o = (hi << 4) | (lo & 0x0f);
        }
        if bad & 0x80 != 0 {
            return Err(MacParseError);
        }
        Ok(Self(out))
    }

    /// The six octets, for hashing. Never store or print them.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Group (multicast or broadcast) address: the I/G bit of the first octet.
    pub fn is_group(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Locally administered (the U/L bit): how phones mark a randomized address.
    pub fn is_locally_administered(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

/// Canonical spelling (lowercase, colons) of an *infrastructure* address given as text:
/// a sensor's or an access point's own MAC from configuration or a vendor feed. It returns a
/// string the caller already had in another spelling; client addresses must never be
/// printed or stored, which is why [`MacAddr`] itself cannot be formatted.
pub fn canonical_infrastructure(s: &str) -> Option<String> {
    let o = MacAddr::parse(s.trim()).ok()?.0;
    Some(format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3], o[4], o[5]))
}

/// Hex digit values; 0x80 marks a byte that is not a hex digit.
const HEX: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr(<redacted>, group={}, local={})", self.is_group(), self.is_locally_administered())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_spellings() {
        let a = MacAddr::parse("aa:BB:cc:00:11:ff").unwrap();
        assert_eq!(a.octets(), [0xaa, 0xbb, 0xcc, 0x00, 0x11, 0xff]);
        assert_eq!(MacAddr::parse("aa-bb-cc-00-11-ff").unwrap(), a);
        assert_eq!(MacAddr::parse("aabbcc0011ff").unwrap(), a);
    }

    #[test]
    fn rejects_malformed() {
        for s in ["", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:fg", "aa:bb-cc:dd:ee:ff", "aabbccddeeff00"] {
            assert!(MacAddr::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn separated_spelling_parses_like_the_general_path() {
        let base = *b"0a:B1-c2:d3:e4:f5";
        let mut tried = 0;
        for sep in [b':', b'-'] {
            let mut s = base;
            for i in [2, 5, 8, 11, 14] {
                s[i] = sep;
            }
            for i in 0..17 {
                for c in [b'0', b'9', b'a', b'F', b'g', b'G', b':', b'-', b'/', b'@', b'`', 0, 0xff] {
                    let mut m = s;
                    m[i] = c;
                    assert_eq!(MacAddr::parse_separated(&m), MacAddr::parse_general(&m), "{m:?}");
                    tried += usize::from(MacAddr::parse_general(&m).is_ok());
                }
            }
        }
        assert!(tried > 100, "the mutations keep many addresses valid ({tried})");
    }

    #[test]
    fn flags_and_redacted_debug() {
        let b = MacAddr::parse("ff:ff:ff:ff:ff:ff").unwrap();
        assert!(b.is_group());
        let r = MacAddr::parse("da:a1:19:00:00:01").unwrap();
        assert!(r.is_locally_administered() && !r.is_group());
        let dbg = format!("{r:?}");
        assert!(!dbg.to_lowercase().contains("da") || dbg.contains("redacted"));
        assert!(!dbg.contains("a1"));
    }
}
