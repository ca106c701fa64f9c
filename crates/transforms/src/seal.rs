//! The advertising-ID vault: consented advertising IDs sealed under the deployment key, so
//! the audience export can write them out (ad platforms match on the ID itself) while the
//! database never holds one in clear.
//!
//! Construction (deterministic authenticated encryption in the SIV style, from BLAKE3 only):
//! the pseudonym `id` of an advertising ID is already a keyed hash of it (see
//! [`Pseudonymizer::ad_id`]); the sealed form is the ID XOR the first 16 bytes of BLAKE3 in
//! keyed mode, under a vault key derived from the deployment key, over `id`. Opening XORs
//! again and checks that the result hashes back to `id` (a wrong key or a tampered row fails
//! that check). Without the deployment key a sealed row says nothing about the ID. Erasing the
//! row (opt-out, `forget`, retention) erases the only copy. This module must not print, log or
//! store anything itself.

use crate::pseudonymize::{KEY_LEN, Pseudonymizer};
use footfall_core::{AdId, DeviceId};

pub struct Sealer {
    vault_key: [u8; KEY_LEN],
    pseudonyms: Pseudonymizer,
}

impl Sealer {
    pub fn new(master: [u8; KEY_LEN]) -> Self {
        Self { vault_key: blake3::derive_key("footfall 2026 advertising-ID vault", &master), pseudonyms: Pseudonymizer::new(master) }
    }

    fn pad(&self, id: DeviceId) -> [u8; 16] {
        let h = blake3::keyed_hash(&self.vault_key, &id.0.to_le_bytes());
        let mut p = [0u8; 16];
        p.copy_from_slice(&h.as_bytes()[..16]);
        p
    }

    /// The pseudonym of an advertising ID and its sealed form.
    pub fn seal(&self, adid: &AdId) -> (DeviceId, [u8; 16]) {
        let id = self.pseudonyms.ad_id(adid);
        let pad = self.pad(id);
        let mut out = adid.bytes();
        out.iter_mut().zip(pad).for_each(|(a, b)| *a ^= b);
        (id, out)
    }

    /// The advertising ID of a vault row, or `None` when it does not open under this key.
    pub fn open(&self, id: DeviceId, sealed: &[u8]) -> Option<AdId> {
        let sealed: [u8; 16] = sealed.try_into().ok()?;
        let pad = self.pad(id);
        let mut b = sealed;
        b.iter_mut().zip(pad).for_each(|(a, p)| *a ^= p);
        let adid = AdId::from_bytes(b)?;
        (self.pseudonyms.ad_id(&adid) == id).then_some(adid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_refuses_other_keys_or_rows() {
        let s = Sealer::new([7; KEY_LEN]);
        let a = AdId::parse("6d92078a-8246-4ba4-ae5b-76104861e7dc").unwrap();
        let (id, sealed) = s.seal(&a);
        assert_ne!(sealed, a.bytes());
        assert_eq!(s.seal(&a), (id, sealed), "deterministic");
        assert_eq!(s.open(id, &sealed), Some(a));
        assert_eq!(s.open(id, &sealed).unwrap().uuid_for_audience_export(), "6d92078a-8246-4ba4-ae5b-76104861e7dc");
        assert_eq!(Sealer::new([8; KEY_LEN]).open(id, &sealed), None);
        let mut t = sealed;
        t[3] ^= 1;
        assert_eq!(s.open(id, &t), None);
        assert_eq!(s.open(DeviceId(id.0 ^ 1), &sealed), None);
        assert_eq!(s.open(id, &sealed[..15]), None);
    }
}
