//! Simulated frames as a pcapng capture of 802.11 probe requests.
//!
//! One section, one interface per sensor (link type 127, radiotap; `if_name` = the sensor
//! id, so a reader needs no `--sensor`; `if_tsresol` 6, microseconds), and one enhanced
//! packet block per [`Frame`] on its sensor's interface. Each frame is a radiotap header
//! (flags, channel, dBm antenna signal) followed by a probe request from the frame's MAC to
//! the broadcast address, carrying the sequence number and realistic elements: a wildcard
//! SSID, supported rates, extended supported rates, DS parameter set (the channel), HT
//! capabilities, extended capabilities and a vendor element. The capability contents depend
//! on the MAC (one of four phone profiles), so devices differ in their element fingerprint
//! as real ones do. There is no FCS.
//!
//! This module only encodes bytes ([`PcapngEncoder`]); [`crate::write`] puts them in a file.
//! It must not make any simulation decision.

use crate::Frame;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
/// LINKTYPE_IEEE802_11_RADIOTAP.
pub const LINKTYPE_RADIOTAP: u16 = 127;

/// Elements of one phone profile: (supported rates, extended rates, HT capabilities info
/// and A-MPDU parameters, extended capabilities, vendor OUI and type with its payload).
struct Profile {
    rates: &'static [u8],
    xrates: &'static [u8],
    ht_info: [u8; 3],
    extcap: &'static [u8],
    vendor: &'static [u8],
}

const PROFILES: [Profile; 4] = [
    // A Broadcom-based phone.
    Profile {
        rates: &[0x02, 0x04, 0x0b, 0x16],
        xrates: &[0x0c, 0x12, 0x18, 0x24, 0x30, 0x48, 0x60, 0x6c],
        ht_info: [0x2d, 0x40, 0x17],
        extcap: &[0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x00, 0x40],
        vendor: &[0x00, 0x10, 0x18, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00],
    },
    // An Apple-like phone.
    Profile {
        rates: &[0x02, 0x04, 0x0b, 0x16, 0x0c, 0x12, 0x18, 0x24],
        xrates: &[0x30, 0x48, 0x60, 0x6c],
        ht_info: [0x2d, 0x00, 0x1b],
        extcap: &[0x04, 0x00, 0x0a, 0x02, 0x01, 0x40, 0x00, 0x40, 0x80],
        vendor: &[0x00, 0x17, 0xf2, 0x0a, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00],
    },
    // A Qualcomm-based phone with WPS.
    Profile {
        rates: &[0x82, 0x84, 0x8b, 0x96],
        xrates: &[0x0c, 0x12, 0x18, 0x24, 0x30, 0x48, 0x60, 0x6c],
        ht_info: [0xef, 0x01, 0x1b],
        extcap: &[0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x40],
        vendor: &[0x00, 0x50, 0xf2, 0x08, 0x00, 0x10, 0x00],
    },
    // A MediaTek-based phone.
    Profile {
        rates: &[0x02, 0x04, 0x0b, 0x16, 0x0c, 0x12, 0x18, 0x24],
        xrates: &[0x30, 0x48, 0x60, 0x6c],
        ht_info: [0x21, 0x01, 0x03],
        extcap: &[0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00],
        vendor: &[0x00, 0x0c, 0xe7, 0x08, 0x00, 0x00, 0x00, 0x00],
    },
];

/// Encodes a pcapng capture, block by block; the caller writes the bytes.
pub struct PcapngEncoder {
    buf: Vec<u8>,
}

impl Default for PcapngEncoder {
    fn default() -> Self {
        Self::new()
    }
}

fn block(out: &mut Vec<u8>, typ: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&typ.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    body(out);
    while !(out.len() - start).is_multiple_of(4) {
        out.push(0);
    }
    let len = (out.len() - start + 4) as u32;
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

impl PcapngEncoder {
    pub fn new() -> Self {
        Self { buf: Vec::with_capacity(256) }
    }

    /// The section header and one interface description per sensor (in site order, so a
    /// frame's `sensor` index is its interface id).
    pub fn header(sensors: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        block(&mut out, SHB, |b| {
            b.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&(-1i64).to_le_bytes());
            option(b, 4, b"footfall-sim"); // shb_userappl
            b.extend_from_slice(&[0; 4]);
        });
        for name in sensors {
            block(&mut out, IDB, |b| {
                b.extend_from_slice(&LINKTYPE_RADIOTAP.to_le_bytes());
                b.extend_from_slice(&[0, 0]);
                b.extend_from_slice(&65535u32.to_le_bytes());
                option(b, 2, name.as_bytes()); // if_name
                option(b, 9, &[6]); // if_tsresol: microseconds
                b.extend_from_slice(&[0; 4]);
            });
        }
        out
    }

    /// The enhanced packet block of one frame.
    pub fn frame(&mut self, f: &Frame) -> &[u8] {
        let mut packet = std::mem::take(&mut self.buf);
        packet.clear();
        block(&mut packet, EPB, |b| {
            let us = (f.ts.max(0) as u64).saturating_mul(1000);
            b.extend_from_slice(&(f.sensor as u32).to_le_bytes());
            b.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
            b.extend_from_slice(&(us as u32).to_le_bytes());
            let len_at = b.len();
            b.extend_from_slice(&[0; 8]);
            let start = b.len();
            radiotap_probe(f, b);
            let len = ((b.len() - start) as u32).to_le_bytes();
            b[len_at..len_at + 4].copy_from_slice(&len);
            b[len_at + 4..len_at + 8].copy_from_slice(&len);
        });
        self.buf = packet;
        &self.buf
    }
}

/// Append the radiotap header and probe request of `f` to `out`.
pub fn radiotap_probe(f: &Frame, out: &mut Vec<u8>) {
    // Radiotap: version 0, length 15, present = flags (1) | channel (3) | dBm signal (5).
    out.extend_from_slice(&[0, 0, 15, 0, 0x2a, 0, 0, 0]);
    out.extend_from_slice(&[0x00, 0x00]); // flags (no FCS), padding to align the channel
    out.extend_from_slice(&f.freq.to_le_bytes());
    let chan_flags: u16 = if f.freq < 3000 { 0x00a0 } else { 0x0140 }; // 2 GHz + CCK/OFDM, or 5 GHz + OFDM
    out.extend_from_slice(&chan_flags.to_le_bytes());
    out.push(f.rssi.clamp(-128, 127) as i8 as u8);
    // 802.11 header: probe request, to broadcast, BSSID broadcast.
    out.extend_from_slice(&[0x40, 0x00, 0x00, 0x00]);
    out.extend_from_slice(&[0xff; 6]);
    out.extend_from_slice(&f.mac);
    out.extend_from_slice(&[0xff; 6]);
    out.extend_from_slice(&((f.seq & 0x0fff) << 4).to_le_bytes());
    let p = &PROFILES[(f.mac[3] ^ f.mac[4] ^ f.mac[5]) as usize % PROFILES.len()];
    let mut element = |id: u8, body: &[u8]| {
        out.push(id);
        out.push(body.len() as u8);
        out.extend_from_slice(body);
    };
    element(0, b"");
    element(1, p.rates);
    element(50, p.xrates);
    let channel = if f.freq >= 5000 { (f.freq - 5000) / 5 } else { f.freq.saturating_sub(2407) / 5 };
    element(3, &[channel as u8]);
    let mut ht = [0u8; 26];
    ht[..3].copy_from_slice(&p.ht_info);
    ht[3] = 0xff; // MCS 0-7
    element(45, &ht);
    element(127, p.extcap);
    element(221, p.vendor);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// Walk the blocks: every one a multiple of 4 long, its trailing length equal to its
    /// leading one; returns the block types.
    fn blocks(b: &[u8]) -> Vec<u32> {
        let mut at = 0;
        let mut types = Vec::new();
        while at < b.len() {
            let len = le32(b, at + 4) as usize;
            assert!(len.is_multiple_of(4) && len >= 12, "length {len}");
            assert_eq!(le32(b, at + len - 4) as usize, len);
            types.push(le32(b, at));
            at += len;
        }
        assert_eq!(at, b.len());
        types
    }

    #[test]
    fn blocks_are_well_formed() {
        let mut out = PcapngEncoder::header(&["s1-front", "s1-middle"]);
        let mut enc = PcapngEncoder::new();
        let f = Frame { ts: 1_772_442_000_120, sensor: 1, mac: [0xda, 0xa1, 0x19, 0, 0x0f, 0xff], rssi: -61, seq: 4095, freq: 2437 };
        let epb = enc.frame(&f).to_vec();
        out.extend_from_slice(&epb);
        assert_eq!(blocks(&out), vec![SHB, IDB, IDB, EPB]);
        // EPB: interface, time in microseconds, lengths, then radiotap.
        assert_eq!(le32(&epb, 8), 1);
        let us = ((le32(&epb, 12) as u64) << 32) | le32(&epb, 16) as u64;
        assert_eq!(us, 1_772_442_000_120_000);
        let cap = le32(&epb, 20) as usize;
        assert_eq!(le32(&epb, 24) as usize, cap);
        let data = &epb[28..28 + cap];
        assert_eq!(&data[..8], &[0, 0, 15, 0, 0x2a, 0, 0, 0]);
        assert_eq!(u16::from_le_bytes([data[10], data[11]]), 2437);
        assert_eq!(data[14] as i8, -61);
        let frame = &data[15..];
        assert_eq!(frame[0], 0x40);
        assert_eq!(&frame[10..16], &f.mac);
        assert_eq!(u16::from_le_bytes([frame[22], frame[23]]) >> 4, 4095);
        // Elements: ids in order, each within the frame.
        let (mut at, mut elements) = (24, Vec::new());
        while at < frame.len() {
            let len = frame[at + 1] as usize;
            elements.push((frame[at], &frame[at + 2..at + 2 + len]));
            at += 2 + len;
        }
        assert_eq!(at, frame.len());
        assert_eq!(elements.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 1, 50, 3, 45, 127, 221]);
        assert_eq!(elements[0].1, b"");
        assert_eq!(elements[3].1, &[6], "channel 6 is 2437 MHz");
        assert_eq!(elements[4].1.len(), 26);
    }
}
