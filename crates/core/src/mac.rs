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

    /// The 17-byte spellings (`aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff`), every CSV row's,
    /// eight bytes at a time: bytes 0-7 and 9-16 are both `hh:hh:hh` (byte 8 is the middle
    /// separator), so each is one 64-bit word checked and converted lane by lane. Same result
    /// as [`MacAddr::parse_general`] (tested on every byte value at every position).
    #[inline]
    fn parse_separated(a: &[u8; 17]) -> Result<Self, MacParseError> {
        let sep = a[2];
        let word = |i: usize| u64::from_le_bytes([a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4], a[i + 5], a[i + 6], a[i + 7]]);
        let (lo, hi) = (hex_triple(word(0), sep), hex_triple(word(9), sep));
        match (lo, hi) {
            (Some(lo), Some(hi)) if (sep == b':' || sep == b'-') && a[8] == sep => {
                let [o0, o1, o2, ..] = lo.to_le_bytes();
                let [o3, o4, o5, ..] = hi.to_le_bytes();
                Ok(Self([o0, o1, o2, o3, o4, o5]))
            }
            _ => Err(MacParseError),
        }
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

/// `hh:hh:hh` as a little-endian word (hex digits in bytes 0, 1, 3, 4, 6, 7; `sep` in bytes
/// 2 and 5) to its three octets in the low three bytes; `None` if any byte is out of place.
/// Every byte is checked in its lane at once: `ge(x, c)` sets a lane's top bit when its byte,
/// known to be below 0x80, is at least `c` (the sum cannot carry into the next lane).
#[inline]
fn hex_triple(w: u64, sep: u8) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = ONES * 0x80;
    const DIGITS: u64 = 0xFFFF_00FF_FF00_FFFF;
    const SEPS: u64 = 0x0000_FF00_00FF_0000;
    let ge = |x: u64, c: u8| x.wrapping_add(ONES * (0x80 - c) as u64) & HIGHS;
    let lower = w | (ONES * 0x20);
    let digit = ge(w, b'0') & !ge(w, b'9' + 1);
    let letter = ge(lower, b'a') & !ge(lower, b'f' + 1);
    let ascii = w & HIGHS == 0;
    if !ascii || (digit | letter) & DIGITS & HIGHS != DIGITS & HIGHS || w & SEPS != SEPS & (ONES * sep as u64) {
        return None;
    }
    // A digit's value is its low nibble; a letter's (bit 6 set) is its low nibble plus 9.
    let letters = (w >> 6) & ONES;
    let nibbles = ((w & (ONES * 0x0f)) + letters * 9) & DIGITS;
    let v = (nibbles << 4) | (nibbles >> 8);
    Some((v & 0xff) | ((v >> 16) & 0xff00) | ((v >> 32) & 0xff_0000))
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
                for c in 0..=255u8 {
                    let mut m = s;
                    m[i] = c;
                    assert_eq!(MacAddr::parse_separated(&m), MacAddr::parse_general(&m), "{m:?}");
                    tried += usize::from(MacAddr::parse_general(&m).is_ok());
                }
            }
        }
        assert!(tried > 100, "the mutations keep many addresses valid ({tried})");
        // Many bytes wrong at once: random strings over hex digits, both separators and
        // bytes next to the digit and letter ranges.
        let alphabet = b"0123456789abcdefABCDEF:-/@`gG\x00\x7f\x80\xff";
        let (mut x, mut valid) = (0x9E37_79B9_7F4A_7C15u64, 0);
        for _ in 0..200_000 {
            let mut m = [0u8; 17];
            for (i, b) in m.iter_mut().enumerate() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly well-formed, so that valid addresses are common too.
                *b = match (i % 3 == 2, x % 8) {
                    (true, 0..=5) => b':',
                    (false, 0..=5) => b"0123456789abcdefABCDEF"[(x >> 8) as usize % 22],
                    _ => alphabet[(x >> 8) as usize % alphabet.len()],
                };
            }
            assert_eq!(MacAddr::parse_separated(&m), MacAddr::parse_general(&m), "{m:?}");
            valid += usize::from(MacAddr::parse_general(&m).is_ok());
        }
        assert!(valid > 1000, "{valid}");
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
