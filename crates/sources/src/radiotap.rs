//! Radio headers in front of captured 802.11 frames: radiotap (link type 127) and PPI
//! (link type 192).
//!
//! This module owns reading, from those headers, the few things footfall uses: the first
//! dBm antenna signal, the channel frequency, and whether the frame ends in an FCS or
//! failed its FCS check. Radiotap is walked the way the Linux kernel's iterator walks it:
//! present bitmaps extended by bit 31, bit 29 (back to the radiotap namespace, field numbers
//! restart) and bit 30 (a vendor namespace, whose data is skipped by its `skip_length`),
//! every field aligned to its natural size counted from the start of the header. Walking
//! stops at the first field it does not know the size of (or at the TLV list, bit 28); what
//! was read before that still counts. For PPI, only the 802.11-common field is read.
//!
//! It must not look at the 802.11 frame itself (that is [`crate::dot11`]), and it never
//! fails on a field it does not need: only a header whose own lengths are impossible is
//! [`Malformed`].

/// What the radio header says about one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Radio {
    /// The first dBm antenna signal (the combined one when per-antenna ones follow).
    pub signal_dbm: Option<i8>,
    /// Channel centre frequency in MHz.
    pub freq_mhz: Option<u16>,
    /// The 802.11 frame ends in a 4-byte FCS.
    pub fcs_at_end: bool,
    /// The receiver marked the frame as failing its FCS (or PLCP CRC) check.
    pub bad_fcs: bool,
}

/// A radio header whose own lengths or structure are impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// (alignment, size) of the radiotap namespace's fields 0 to 27.
const FIELDS: [(usize, usize); 28] = [
    (8, 8),  // 0 TSFT
    (1, 1),  // 1 flags
    (1, 1),  // 2 rate
    (2, 4),  // 3 channel: frequency u16, flags u16
    (2, 2),  // 4 FHSS
    (1, 1),  // 5 dBm antenna signal
    (1, 1),  // 6 dBm antenna noise
    (2, 2),  // 7 lock quality
    (2, 2),  // 8 TX attenuation
    (2, 2),  // 9 dB TX attenuation
    (1, 1),  // 10 dBm TX power
    (1, 1),  // 11 antenna
    (1, 1),  // 12 dB antenna signal
    (1, 1),  // 13 dB antenna noise
    (2, 2),  // 14 RX flags
    (2, 2),  // 15 TX flags
    (1, 1),  // 16 RTS retries
    (1, 1),  // 17 data retries
    (4, 8),  // 18 XChannel: flags u32, frequency u16, channel u8, max power u8
    (1, 3),  // 19 MCS
    (4, 8),  // 20 A-MPDU status
    (2, 12), // 21 VHT
    (8, 12), // 22 timestamp
    (2, 12), // 23 HE
    (2, 12), // 24 HE-MU
    (2, 6),  // 25 HE-MU-other-user
    (1, 1),  // 26 0-length PSDU
    (2, 4),  // 27 L-SIG
];

const FLAG_FCS_AT_END: u8 = 0x10;
const FLAG_BAD_FCS: u8 = 0x40;
const RX_FLAG_BAD_PLCP: u16 = 0x0002;
const NS_RADIOTAP: u32 = 1 << 29;
const NS_VENDOR: u32 = 1 << 30;
const EXT: u32 = 1 << 31;

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse the radiotap header at the start of `pkt`: what it says, and its length (where
/// the 802.11 frame starts).
pub fn parse_radiotap(pkt: &[u8]) -> Result<(Radio, usize), Malformed> {
    if pkt.len() < 8 {
        return Err(Malformed("shorter than a radiotap header"));
    }
    if pkt[0] != 0 {
        return Err(Malformed("radiotap version is not 0"));
    }
    let len = le16(pkt, 2) as usize;
    if len < 8 || len > pkt.len() {
        return Err(Malformed("radiotap length runs past the frame"));
    }
    let h = &pkt[..len];
    // The present words: the first at 4, more while bit 31 is set.
    let mut words_end = 4;
    loop {
        if words_end + 4 > len {
            return Err(Malformed("present bitmaps run past the radiotap length"));
        }
        let w = le32(h, words_end);
        words_end += 4;
        if w & EXT == 0 {
            break;
        }
    }
    let mut radio = Radio::default();
    let mut at = words_end;
    let mut in_vendor = false;
    // Index of the word within its namespace: field numbers are 32 * index + bit.
    let mut index = 0usize;
    'words: for word_at in (4..words_end).step_by(4) {
        let w = le32(h, word_at);
        if !in_vendor {
            for bit in 0..29 {
                if w & (1 << bit) == 0 {
                    continue;
                }
                let field = index * 32 + bit;
                let Some(&(align, size)) = FIELDS.get(field) else {
                    // Unknown size (or the TLV list at 28): nothing after it can be located.
                    break 'words;
                };
                at = at.next_multiple_of(align);
                if at + size > len {
                    return Err(Malformed("a radiotap field runs past the radiotap length"));
                }
                let v = &h[at..at + size];
                match field {
                    1 => {
                        radio.fcs_at_end = v[0] & FLAG_FCS_AT_END != 0;
                        radio.bad_fcs |= v[0] & FLAG_BAD_FCS != 0;
                    }
                    3 => {
                        let f = le16(v, 0);
                        if f != 0 && radio.freq_mhz.is_none() {
                            radio.freq_mhz = Some(f);
                        }
                    }
                    5 if radio.signal_dbm.is_none() => radio.signal_dbm = Some(v[0] as i8),
                    14 => radio.bad_fcs |= le16(v, 0) & RX_FLAG_BAD_PLCP != 0,
                    18 => {
                        let f = le16(v, 4);
                        if f != 0 && radio.freq_mhz.is_none() {
                            radio.freq_mhz = Some(f);
                        }
                    }
                    _ => {}
                }
                at += size;
            }
        }
        match (w & NS_RADIOTAP != 0, w & NS_VENDOR != 0) {
            (true, true) => return Err(Malformed("a present bitmap switches to two namespaces")),
            (true, false) => {
                in_vendor = false;
                index = 0;
            }
            (false, true) => {
                // The vendor namespace header: OUI, sub-namespace, skip length, then its data.
                at = at.next_multiple_of(2);
                if at + 6 > len {
                    return Err(Malformed("a vendor namespace header runs past the radiotap length"));
                }
                let skip = le16(h, at + 4) as usize;
                at += 6 + skip;
                if at > len {
                    return Err(Malformed("vendor namespace data runs past the radiotap length"));
                }
                in_vendor = true;
                index = 0;
            }
            (false, false) => index += 1,
        }
    }
    Ok((radio, len))
}

/// The PPI 802.11-common field type.
const PPI_80211_COMMON: u16 = 2;

/// Parse the PPI header at the start of `pkt`: what its 802.11-common field says, the
/// header's length, and the link type of what follows it (105 for plain 802.11).
pub fn parse_ppi(pkt: &[u8]) -> Result<(Radio, usize, u32), Malformed> {
    if pkt.len() < 8 {
        return Err(Malformed("shorter than a PPI header"));
    }
    if pkt[0] != 0 {
        return Err(Malformed("PPI version is not 0"));
    }
    let aligned = pkt[1] & 1 != 0;
    let len = le16(pkt, 2) as usize;
    let dlt = le32(pkt, 4);
    if len < 8 || len > pkt.len() {
        return Err(Malformed("PPI length runs past the frame"));
    }
    let mut radio = Radio::default();
    let mut at = 8;
    while at + 4 <= len {
        let typ = le16(pkt, at);
        let flen = le16(pkt, at + 2) as usize;
        let data = at + 4;
        if data + flen > len {
            return Err(Malformed("a PPI field runs past the PPI length"));
        }
        if typ == PPI_80211_COMMON {
            if flen < 20 {
                return Err(Malformed("PPI 802.11-common field is shorter than 20 bytes"));
            }
            let v = &pkt[data..data + 20];
            let flags = le16(v, 8);
            radio.fcs_at_end = flags & 0x1 != 0;
            radio.bad_fcs = flags & 0x4 != 0 || flags & 0x8 != 0;
            let f = le16(v, 12);
            radio.freq_mhz = (f != 0).then_some(f);
            // -128 is what writers put when they have no signal.
            let s = v[18] as i8;
            radio.signal_dbm = (s != i8::MIN).then_some(s);
        }
        at = data + flen;
        if aligned {
            at = at.next_multiple_of(4);
        }
    }
    Ok((radio, len, dlt))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A radiotap header from present words and the data that follows them, with the
    /// length field filled in.
    fn rt(words: &[u32], data: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8, 0, 0, 0];
        for w in words {
            h.extend_from_slice(&w.to_le_bytes());
        }
        h.extend_from_slice(data);
        let len = h.len() as u16;
        h[2..4].copy_from_slice(&len.to_le_bytes());
        h
    }

    #[test]
    fn the_brno_esp32_header() {
        // The first frame of the Brno capture: channel (2417 MHz), dBm signal -88, antenna.
        let h = [0x00, 0x00, 0x0e, 0x00, 0x28, 0x08, 0x00, 0x00, 0x71, 0x09, 0x80, 0x00, 0xa8, 0x00];
        let (r, len) = parse_radiotap(&h).unwrap();
        assert_eq!(len, 14);
        assert_eq!(r, Radio { signal_dbm: Some(-88), freq_mhz: Some(2417), fcs_at_end: false, bad_fcs: false });
    }

    #[test]
    fn the_baccichet_header_says_fcs_at_end() {
        let h = [0x00, 0x00, 0x0f, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x10, 0x02, 0x6c, 0x09, 0xa0, 0x00, 0xce];
        let (r, len) = parse_radiotap(&h).unwrap();
        assert_eq!(len, 15);
        assert_eq!(r, Radio { signal_dbm: Some(-50), freq_mhz: Some(2412), fcs_at_end: true, bad_fcs: false });
    }

    #[test]
    fn alignment_is_counted_from_the_header_start() {
        // flags @8, channel (align 2) @10, signal @14, RX flags (align 2) @16,
        // A-MPDU status (align 4) @20, timestamp (align 8) @32..44.
        let present = (1 << 1) | (1 << 3) | (1 << 5) | (1 << 14) | (1 << 20) | (1 << 22);
        let mut data = vec![0x40, 0]; // flags: bad FCS; pad
        data.extend_from_slice(&5180u16.to_le_bytes());
        data.extend_from_slice(&0x0140u16.to_le_bytes());
        data.extend_from_slice(&[(-71i8) as u8, 0]); // signal; pad
        data.extend_from_slice(&[0, 0, 0, 0]); // RX flags; pad
        data.extend_from_slice(&[7; 8]); // A-MPDU
        data.extend_from_slice(&[0; 4]); // pad to 32
        data.extend_from_slice(&[9; 12]); // timestamp
        let h = rt(&[present], &data);
        assert_eq!(h.len(), 44);
        let (r, len) = parse_radiotap(&h).unwrap();
        assert_eq!(len, 44);
        assert_eq!(r, Radio { signal_dbm: Some(-71), freq_mhz: Some(5180), fcs_at_end: false, bad_fcs: true });
        // Without the padding, the last field no longer fits.
        let mut short = data.clone();
        short.remove(1);
        assert!(parse_radiotap(&rt(&[present], &short)).is_err());
    }

    #[test]
    fn extended_bitmaps_take_the_first_dbm_signal() {
        // iwlwifi style: word 0 (flags, channel, signal; radiotap namespace again, more),
        // word 1 (per-antenna signal + antenna; again, more), word 2 (signal + antenna).
        let w0 = (1 << 1) | (1 << 3) | (1 << 5) | NS_RADIOTAP | EXT;
        let w1 = (1 << 5) | (1 << 11) | NS_RADIOTAP | EXT;
        let w2 = (1 << 5) | (1 << 11);
        // Header 4 + 3 words = 16: flags at 16, channel at 18, signal at 22, then -60/0, -58/1.
        let data = [0x10, 0x00, 0x85, 0x09, 0xa0, 0x00, (-61i8) as u8, (-60i8) as u8, 0, (-58i8) as u8, 1];
        let h = rt(&[w0, w1, w2], &data);
        let (r, len) = parse_radiotap(&h).unwrap();
        assert_eq!(len, h.len());
        assert_eq!(r, Radio { signal_dbm: Some(-61), freq_mhz: Some(2437), fcs_at_end: true, bad_fcs: false });
    }

    #[test]
    fn vendor_namespaces_are_skipped_by_their_length() {
        // Word 0: flags, then a vendor namespace follows (bit 30) with more words.
        // Word 1 (vendor): some vendor bits, then back to radiotap (bit 29), more.
        // Word 2 (radiotap again, index 0): channel and dBm signal.
        let w0 = (1 << 1) | NS_VENDOR | EXT;
        let w1 = 0b1011 | NS_RADIOTAP | EXT;
        let w2 = (1 << 3) | (1 << 5);
        // Data starts at 16: flags at 16, vendor header aligned to 18: OUI, subns, skip 5,
        // 5 vendor bytes (24..29), channel aligned to 30, signal at 34.
        let mut data = vec![0x00, 0x00];
        data.extend_from_slice(&[0x00, 0x11, 0x22, 0x01, 5, 0]);
        data.extend_from_slice(&[0xaa; 5]);
        data.push(0); // pad to 30
        data.extend_from_slice(&2462u16.to_le_bytes());
        data.extend_from_slice(&0x00a0u16.to_le_bytes());
        data.push((-77i8) as u8);
        let h = rt(&[w0, w1, w2], &data);
        let (r, _) = parse_radiotap(&h).unwrap();
        assert_eq!(r.signal_dbm, Some(-77));
        assert_eq!(r.freq_mhz, Some(2462));
        // A vendor skip length past the end is malformed.
        let mut bad = h.clone();
        bad[22] = 200;
        assert_eq!(parse_radiotap(&bad), Err(Malformed("vendor namespace data runs past the radiotap length")));
    }

    #[test]
    fn unknown_fields_stop_the_walk_but_keep_what_was_read() {
        // Signal, then field 28 (TLVs): the TLV list is not walked.
        let h = rt(&[(1 << 5) | (1 << 28)], &[(-40i8) as u8, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(parse_radiotap(&h).unwrap().0.signal_dbm, Some(-40));
        // A field in an extended radiotap word (number 32 + 2) is unknown: stop there.
        let h = rt(&[(1 << 3) | EXT, 1 << 2], &[0x6c, 0x09, 0, 0, 9]);
        let (r, _) = parse_radiotap(&h).unwrap();
        assert_eq!((r.freq_mhz, r.signal_dbm), (Some(2412), None));
    }

    #[test]
    fn malformed_headers() {
        assert!(parse_radiotap(&[0, 0, 8]).is_err());
        assert!(parse_radiotap(&[1, 0, 8, 0, 0, 0, 0, 0]).is_err());
        assert!(parse_radiotap(&[0, 0, 40, 0, 0, 0, 0, 0]).is_err());
        // Bit 31 set on the only word that fits.
        assert!(parse_radiotap(&rt(&[EXT], &[])).is_err());
        // A signal field claimed but no room for it.
        assert!(parse_radiotap(&rt(&[1 << 5], &[])).is_err());
        // The length is honoured even when the frame follows directly.
        let mut h = rt(&[1 << 5], &[(-50i8) as u8]);
        h.extend_from_slice(&[0x40, 0x00]);
        assert_eq!(parse_radiotap(&h).unwrap().1, 9);
    }

    fn ppi(aligned: bool, fields: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut h = vec![0u8, aligned as u8, 0, 0];
        h.extend_from_slice(&105u32.to_le_bytes());
        for (t, d) in fields {
            h.extend_from_slice(&t.to_le_bytes());
            h.extend_from_slice(&(d.len() as u16).to_le_bytes());
            h.extend_from_slice(d);
            if aligned {
                while !h.len().is_multiple_of(4) {
                    h.push(0);
                }
            }
        }
        let len = h.len() as u16;
        h[2..4].copy_from_slice(&len.to_le_bytes());
        h
    }

    fn common(flags: u16, freq: u16, signal: i8) -> Vec<u8> {
        let mut c = vec![0u8; 8];
        c.extend_from_slice(&flags.to_le_bytes());
        c.extend_from_slice(&2u16.to_le_bytes());
        c.extend_from_slice(&freq.to_le_bytes());
        c.extend_from_slice(&0x00a0u16.to_le_bytes());
        c.extend_from_slice(&[0, 0, signal as u8, (-95i8) as u8]);
        c
    }

    #[test]
    fn ppi_common_field() {
        for aligned in [false, true] {
            let h = ppi(aligned, &[(3, vec![1, 2, 3]), (2, common(0x1, 2437, -63))]);
            let (r, len, dlt) = parse_ppi(&h).unwrap();
            assert_eq!((len, dlt), (h.len(), 105));
            assert_eq!(r, Radio { signal_dbm: Some(-63), freq_mhz: Some(2437), fcs_at_end: true, bad_fcs: false });
        }
        let (r, _, _) = parse_ppi(&ppi(false, &[(2, common(0x4, 0, -128))])).unwrap();
        assert_eq!(r, Radio { signal_dbm: None, freq_mhz: None, fcs_at_end: false, bad_fcs: true });
        let (r, _, _) = parse_ppi(&ppi(false, &[])).unwrap();
        assert_eq!(r, Radio::default());
        assert!(parse_ppi(&ppi(false, &[(2, vec![0; 10])])).is_err());
    }
}
