//! Mobile advertising identifiers (Apple IDFA, Google GAID) as submitted by their owners.
//!
//! An [`AdId`] is personal data, like a [`MacAddr`](crate::MacAddr). This module owns
//! parsing it (a UUID: `8-4-4-4-12` hex digits, any case, or the 32 digits without dashes)
//! and must not offer any way to serialize or print it: no `Serialize`, no `Display`, a
//! redacted `Debug`. The ways out are [`AdId::bytes`], for the keyed hash and the sealed
//! vault, and [`AdId::uuid_for_audience_export`], for the audience export files only.

use std::fmt;

/// A raw advertising ID. Deliberately neither `Serialize` nor `Display`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AdId([u8; 16]);

/// Why a string is not an advertising ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdIdParseError {
    #[error("not an advertising ID (expected a UUID like 6d92078a-8246-4ba4-ae5b-76104861e7dc)")]
    Malformed,
    #[error("an all-zero advertising ID means tracking is limited on that phone: nothing is recorded under it")]
    Zero,
}

impl AdId {
    /// Parse `6d92078a-8246-4ba4-ae5b-76104861e7dc` or the same 32 digits without dashes.
    pub fn parse(s: &str) -> Result<Self, AdIdParseError> {
        let b = s.as_bytes();
        let digits: Vec<u8> = match b.len() {
            36 => {
                if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
                    return Err(AdIdParseError::Malformed);
                }
                b.iter().copied().filter(|&c| c != b'-').collect()
            }
            32 => b.to_vec(),
            _ => return Err(AdIdParseError::Malformed),
        };
        if digits.len() != 32 {
            return Err(AdIdParseError::Malformed);
        }
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
            match (hex(digits[2 * i]), hex(digits[2 * i + 1])) {
                (Some(h), Some(l)) => *o = (h << 4) | l,
                _ => return Err(AdIdParseError::Malformed),
            }
        }
        if out == [0; 16] {
            return Err(AdIdParseError::Zero);
        }
        Ok(AdId(out))
    }

    /// The sixteen bytes, for hashing and sealing. Never store or print them.
    pub fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// From sixteen bytes (an unsealed vault entry); `None` for the all-zero ID.
    pub fn from_bytes(b: [u8; 16]) -> Option<AdId> {
        (b != [0; 16]).then_some(AdId(b))
    }

    /// The ID as a lowercase UUID, the one way out, for the audience export files that ad
    /// platforms take (`footfall_query::audience`: `footfall export segment` and the API's
    /// export endpoint). Nothing else may call this: reports, logs, other API responses and
    /// the database never hold an advertising ID in clear.
    pub fn uuid_for_audience_export(&self) -> String {
        let h: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    }
}

impl fmt::Debug for AdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdId(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uuid_spellings_and_refuses_others() {
        let a = AdId::parse("6D92078A-8246-4BA4-AE5B-76104861E7DC").unwrap();
        assert_eq!(a, AdId::parse("6d92078a-8246-4ba4-ae5b-76104861e7dc").unwrap());
        assert_eq!(a, AdId::parse("6d92078a82464ba4ae5b76104861e7dc").unwrap());
        assert_eq!(a.bytes()[0], 0x6d);
        for bad in ["", "6d92078a-8246-4ba4-ae5b-76104861e7d", "6d92078a+8246-4ba4-ae5b-76104861e7dc", "zz92078a82464ba4ae5b76104861e7dc"] {
            assert_eq!(AdId::parse(bad), Err(AdIdParseError::Malformed), "{bad}");
        }
        assert_eq!(AdId::parse("00000000-0000-0000-0000-000000000000"), Err(AdIdParseError::Zero));
        assert_eq!(format!("{a:?}"), "AdId(<redacted>)");
    }
}
