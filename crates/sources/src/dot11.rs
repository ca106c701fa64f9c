//! 802.11 management frames: which ones footfall uses, who sent them, and a fingerprint of
//! their information elements.
//!
//! This module owns the frame control check (protocol version 0, type management), the
//! source address (addr2), the sequence number (sequence control >> 4), and the element
//! fingerprint. Only **probe requests** (subtype 4) are accepted: they are what phones send
//! on their own while scanning, only client stations send them, and their elements carry no
//! fixed fields, so fingerprints are comparable between them. Every other management
//! subtype (beacons and probe responses from access points, authentication, association,
//! action frames, ...) is skipped as `not_probe_request`.
//!
//! It must not let anything that identifies a network or a person other than through the
//! MAC out of a frame: the SSID's bytes are never read (only whether the SSID element is
//! empty), and of the other elements only stable capability contents enter the
//! fingerprint, never vendor payloads beyond their OUI and type. It does not hash: the
//! pseudonymizer key-hashes the fingerprint string like every other identifier.
//!
//! ## The fingerprint (version 1)
//!
//! A plain ASCII string of `;`-separated parts, in this order, each present only when its
//! element is:
//!
//! ```text
//! v1;ids=0,1,50,3,45,127,255.35,221,221;ssid=wild;rates=02040b16;xrates=0c12182430486c60;
//! ht=<hex>;vht=<hex>;extcap=<hex>;he=<hex>;vendor=0050f2.08,001018.02
//! ```
//!
//! - `ids`: every element id in frame order; an extension element (255) is written
//!   `255.<extension id>`;
//! - `ssid`: `wild` when the SSID element is empty (a wildcard probe), `named` otherwise;
//! - `rates`, `xrates`, `ht`, `vht`, `extcap`, `he`: the lowercase hex contents of the first
//!   supported rates (1), extended supported rates (50), HT capabilities (45), VHT
//!   capabilities (191), extended capabilities (127) and HE capabilities (255 with extension
//!   id 35, without that id byte) element, each cut to [`MAX_CONTENT`] bytes;
//! - `vendor`: the OUI and type (`oui.type` in hex) of each vendor-specific element (221).
//!
//! The whole string is cut to [`MAX_FINGERPRINT`] bytes. Elements whose contents could name
//! a network or carry free text (SSID, SSID list, mesh id, interworking/HESSID, vendor
//! payloads such as WPS device names) contribute their id only. When the element list is
//! damaged or cut by the capture's snap length, there is no fingerprint (the frame still
//! counts as an observation).

use footfall_core::MacAddr;

/// Longest element content, in bytes, that enters the fingerprint.
pub const MAX_CONTENT: usize = 32;
/// Longest fingerprint, in bytes.
pub const MAX_FINGERPRINT: usize = 512;

/// A probe request's fields footfall uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeRequest<'a> {
    /// addr2: the sending station.
    pub source: MacAddr,
    /// The 12-bit sequence number.
    pub seq: u16,
    /// The information elements (everything after the header).
    pub elements: &'a [u8],
}

/// Parse an 802.11 frame (without FCS). `Err` is the `SourceReport` skip key saying why
/// the frame is not used.
pub fn parse_probe_request(frame: &[u8]) -> Result<ProbeRequest<'_>, &'static str> {
    if frame.len() < 2 {
        return Err("truncated");
    }
    let fc = frame[0];
    if fc & 0x03 != 0 {
        return Err("malformed_80211");
    }
    if (fc >> 2) & 0x03 != 0 {
        return Err("not_management");
    }
    if fc >> 4 != 4 {
        return Err("not_probe_request");
    }
    // An HT Control field follows the header when the +HTC/Order bit is set.
    let header = if frame[1] & 0x80 != 0 { 28 } else { 24 };
    if frame.len() < header {
        return Err("truncated");
    }
    let mut a = [0u8; 6];
    a.copy_from_slice(&frame[10..16]);
    let seq = u16::from_le_bytes([frame[22], frame[23]]) >> 4;
    Ok(ProbeRequest { source: MacAddr::new(a), seq, elements: &frame[header..] })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`. (Written by hand: `write!` per byte made the fingerprint most
/// of a capture's decoding time.)
fn hex(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 2 * MAX_CONTENT];
    for chunk in bytes.chunks(MAX_CONTENT) {
        for (pair, &b) in buf.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX[(b >> 4) as usize];
            pair[1] = HEX[(b & 15) as usize];
        }
        // Only ASCII hex digits were written.
        out.push_str(std::str::from_utf8(&buf[..2 * chunk.len()]).unwrap_or_default());
    }
}

/// `v` in decimal.
fn decimal(out: &mut String, v: u8) {
    if v >= 100 {
        out.push((b'0' + v / 100) as char);
    }
    if v >= 10 {
        out.push((b'0' + v / 10 % 10) as char);
    }
    out.push((b'0' + v % 10) as char);
}

/// The elements of a list already checked to be whole: (id, body).
fn elements_of(mut rest: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&id, after) = rest.split_first()?;
        let (&len, after) = after.split_first()?;
        let (body, after) = after.split_at_checked(len as usize)?;
        rest = after;
        Some((id, body))
    })
}

/// Write the fingerprint of `elements` into `out` (cleared first). Returns `false`, with
/// `out` empty, when the elements do not parse.
pub fn fingerprint(elements: &[u8], out: &mut String) -> bool {
    out.clear();
    let mut ssid: Option<bool> = None;
    let mut content: [Option<&[u8]>; 6] = [None; 6];
    let mut vendors = false;
    out.push_str("v1;ids=");
    let mut rest = elements;
    let mut first = true;
    while !rest.is_empty() {
        if rest.len() < 2 || rest.len() < 2 + rest[1] as usize {
            out.clear();
            return false;
        }
        let (id, body) = (rest[0], &rest[2..2 + rest[1] as usize]);
        rest = &rest[2 + body.len()..];
        if !first {
            out.push(',');
        }
        first = false;
        decimal(out, id);
        let slot = match id {
            0 => {
                ssid.get_or_insert(body.is_empty());
                None
            }
            1 => Some(0),
            50 => Some(1),
            45 => Some(2),
            191 => Some(3),
            127 => Some(4),
            255 => match body.first() {
                Some(&ext) => {
                    out.push('.');
                    decimal(out, ext);
                    (ext == 35).then_some(5)
                }
                None => None,
            },
            221 => {
                vendors = true;
                None
            }
            _ => None,
        };
        if let Some(i) = slot {
            let body = if i == 5 { &body[1..] } else { body };
            content[i].get_or_insert(body);
        }
    }
    match ssid {
        Some(true) => out.push_str(";ssid=wild"),
        Some(false) => out.push_str(";ssid=named"),
        None => {}
    }
    for (name, c) in ["rates", "xrates", "ht", "vht", "extcap", "he"].iter().zip(content) {
        if let Some(c) = c {
            out.push(';');
            out.push_str(name);
            out.push('=');
            hex(out, &c[..c.len().min(MAX_CONTENT)]);
        }
    }
    if vendors {
        out.push_str(";vendor=");
        // A second walk over the (now known whole) list: no buffer for the vendor part.
        for (i, (_, body)) in elements_of(elements).filter(|e| e.0 == 221).enumerate() {
            if i > 0 {
                out.push(',');
            }
            match body.get(..4) {
                Some(v) => {
                    hex(out, &v[..3]);
                    out.push('.');
                    hex(out, &v[3..]);
                }
                None => out.push_str("short"),
            }
        }
    }
    out.truncate(MAX_FINGERPRINT);
    true
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A probe request from `source` with sequence number `seq` and these elements.
    pub(crate) fn probe(source: [u8; 6], seq: u16, elements: &[(u8, &[u8])]) -> Vec<u8> {
        let mut f = vec![0x40, 0x00, 0x00, 0x00];
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&source);
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&(seq << 4).to_le_bytes());
        for (id, body) in elements {
            f.push(*id);
            f.push(body.len() as u8);
            f.extend_from_slice(body);
        }
        f
    }

    const HT: [u8; 26] = [0x2d, 0x01, 0x13, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn reads_source_sequence_and_elements() {
        let f = probe([0x98, 0xf6, 0x21, 0x04, 0x45, 0x4a], 1597, &[(0, b""), (1, &[2, 4, 11, 22])]);
        let p = parse_probe_request(&f).unwrap();
        assert_eq!(p.source.octets(), [0x98, 0xf6, 0x21, 0x04, 0x45, 0x4a]);
        assert_eq!(p.seq, 1597);
        assert_eq!(p.elements, &[0, 0, 1, 4, 2, 4, 11, 22]);
    }

    #[test]
    fn skips_what_is_not_a_probe_request() {
        let mut f = probe([2, 0, 0, 0, 0, 1], 1, &[]);
        assert!(parse_probe_request(&f).is_ok());
        assert_eq!(parse_probe_request(&f[..23]), Err("truncated"));
        assert_eq!(parse_probe_request(&f[..1]), Err("truncated"));
        f[0] = 0x80; // beacon
        assert_eq!(parse_probe_request(&f), Err("not_probe_request"));
        f[0] = 0x50; // probe response
        assert_eq!(parse_probe_request(&f), Err("not_probe_request"));
        f[0] = 0x08; // data
        assert_eq!(parse_probe_request(&f), Err("not_management"));
        f[0] = 0xd4; // control: ACK
        assert_eq!(parse_probe_request(&f), Err("not_management"));
        f[0] = 0x41; // protocol version 1
        assert_eq!(parse_probe_request(&f), Err("malformed_80211"));
        // +HTC: four more header bytes before the elements.
        let mut g = probe([2, 0, 0, 0, 0, 1], 1, &[(0, b"")]);
        g[1] = 0x80;
        assert_eq!(parse_probe_request(&g), Err("truncated"));
        g.splice(24..24, [0xaa; 4]);
        assert_eq!(parse_probe_request(&g).unwrap().elements, &[0, 0]);
    }

    #[test]
    fn fingerprint_format() {
        let vht = [0x91, 0x59, 0x82, 0x0f, 0xea, 0xff, 0, 0, 0xea, 0xff, 0, 0];
        let he = [35, 0x01, 0x08, 0x08];
        let f = probe(
            [2, 0, 0, 0, 0, 1],
            7,
            &[
                (0, b""),
                (1, &[0x02, 0x04, 0x0b, 0x16]),
                (50, &[0x0c, 0x12]),
                (3, &[6]),
                (45, &HT),
                (127, &[0x04, 0x00, 0x08]),
                (191, &vht),
                (255, &he),
                (255, &[2, 9, 9]),
                (221, &[0x00, 0x50, 0xf2, 0x08, 0x00, 0x12, 0x00]),
                (221, &[0x00, 0x10]),
            ],
        );
        let p = parse_probe_request(&f).unwrap();
        let mut fp = String::new();
        assert!(fingerprint(p.elements, &mut fp));
        let want = format!(
            "v1;ids=0,1,50,3,45,127,191,255.35,255.2,221,221;ssid=wild;rates=02040b16;xrates=0c12;ht=2d0113ff{};\
             vht=9159820feaff0000eaff0000;extcap=040008;he=010808;vendor=0050f2.08,short",
            "0".repeat(44)
        );
        assert_eq!(fp, want);
        // The channel in element 3 changes from burst to burst: it never enters.
        let g = probe([2, 0, 0, 0, 0, 1], 8, &[(0, b""), (1, &[0x02, 0x04, 0x0b, 0x16]), (3, &[11])]);
        let h = probe([2, 0, 0, 0, 0, 1], 9, &[(0, b""), (1, &[0x02, 0x04, 0x0b, 0x16]), (3, &[1])]);
        let (mut a, mut b) = (String::new(), String::new());
        assert!(fingerprint(parse_probe_request(&g).unwrap().elements, &mut a));
        assert!(fingerprint(parse_probe_request(&h).unwrap().elements, &mut b));
        assert_eq!(a, b);
        assert_eq!(a, "v1;ids=0,1,3;ssid=wild;rates=02040b16");
    }

    #[test]
    fn the_ssid_never_enters_the_fingerprint() {
        let ssid = b"HomeNetwork-42";
        let f = probe(
            [2, 0, 0, 0, 0, 1],
            7,
            &[(0, ssid), (1, &[0x02, 0x04]), (84, ssid), (114, ssid), (221, &[0x00, 0x50, 0xf2, 0x04, b'H', b'o', b'm', b'e'])],
        );
        let mut fp = String::new();
        assert!(fingerprint(parse_probe_request(&f).unwrap().elements, &mut fp));
        assert_eq!(fp, "v1;ids=0,1,84,114,221;ssid=named;rates=0204;vendor=0050f2.04");
        let hex_ssid: String = ssid.iter().map(|b| format!("{b:02x}")).collect();
        for needle in ["HomeNetwork", "Home", "42", &hex_ssid, &hex_ssid[..8]] {
            assert!(!fp.contains(needle), "{needle} in {fp}");
        }
    }

    #[test]
    fn damaged_elements_give_no_fingerprint() {
        let mut fp = String::from("stale");
        assert!(!fingerprint(&[0, 5, b'a'], &mut fp));
        assert!(fp.is_empty());
        assert!(!fingerprint(&[0, 0, 1], &mut fp));
        assert!(fingerprint(&[], &mut fp));
        assert_eq!(fp, "v1;ids=");
    }

    #[test]
    fn long_contents_are_cut() {
        let long = [0xabu8; 200];
        let one = probe([2, 0, 0, 0, 0, 1], 1, &[(127, &long[..])]);
        let mut fp = String::new();
        assert!(fingerprint(parse_probe_request(&one).unwrap().elements, &mut fp));
        assert_eq!(fp, format!("v1;ids=127;extcap={}", "ab".repeat(MAX_CONTENT)));
        let many: Vec<(u8, &[u8])> = (0..300).map(|_| (7u8, &[][..])).collect();
        let f = probe([2, 0, 0, 0, 0, 1], 1, &many);
        assert!(fingerprint(parse_probe_request(&f).unwrap().elements, &mut fp));
        assert_eq!(fp.len(), MAX_FINGERPRINT);
        assert!(fp.starts_with("v1;ids=7,7,7"));
    }
}
