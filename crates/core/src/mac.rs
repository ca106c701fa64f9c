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
