//! Capture containers: classic pcap and pcapng, read as a stream.
//!
//! This module owns the framing of capture files: the classic pcap file header (magic
//! `a1b2c3d4` for microseconds or `a1b23c4d` for nanoseconds, in either byte order) and its
//! per-frame records; pcapng sections (a section header block in either byte order),
//! interface description blocks (link type, `if_name`, `if_tsresol` as a power of ten or of
//! two, `if_tsoffset`, `if_fcslen`), enhanced, obsolete and simple packet blocks, and
//! skipping every other block by its length. It hands out one frame at a time with its
//! time in UTC milliseconds and its interface, holding only that frame's block in memory,
//! so files of many gigabytes stream through a fixed buffer.
//!
//! It must not interpret what is inside a frame (that is [`crate::radiotap`] and
//! [`crate::dot11`]), and must not read ahead beyond the current block. It counts every
//! frame-carrying record it meets; a record that cannot be used becomes a [`Record::Skip`]
//! (a simple packet block has no time) or a [`Record::Bad`] (a packet block whose lengths
//! contradict each other, an unknown interface). Damaged framing (an impossible block
//! length, a file that ends inside a record) cannot be resynchronised: it is reported once
//! as a bad record and reading stops there.
//!
//! Written by hand rather than with the `pcap-parser` crate: the whole format is a few
//! fixed headers, and owning it gives a plain pull reader over any `Read` (pcap-parser's
//! streaming readers need the caller to drive its circular buffer through `Incomplete` and
//! `refill`), exact accounting of damaged and cut records, timestamps already converted
//! with `if_tsresol`/`if_tsoffset`, and no new dependencies (nom and friends).

use crate::SourceError;
use footfall_core::time::Millis;
use std::io::{BufReader, ErrorKind, Read};

/// Largest block or record accepted. Real frames are at most a few hundred KiB; a length
/// beyond this means the framing is damaged.
pub const MAX_BLOCK: usize = 16 << 20;

/// The two container formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Pcap,
    Pcapng,
}

impl Container {
    /// The container a file's first four bytes announce, if any.
    pub fn from_magic(head: &[u8]) -> Option<Container> {
        match head.get(..4)? {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] => {
                Some(Container::Pcap)
            }
            [0x0a, 0x0d, 0x0d, 0x0a] => match head.get(8..12) {
                None | Some([0x4d, 0x3c, 0x2b, 0x1a] | [0x1a, 0x2b, 0x3c, 0x4d]) => Some(Container::Pcapng),
                Some(_) => None,
            },
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Container::Pcap => "pcap",
            Container::Pcapng => "pcapng",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let a = [b[at], b[at + 1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }

    fn u32(self, b: &[u8], at: usize) -> u32 {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }

    fn u64(self, b: &[u8], at: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        match self {
            Endian::Little => u64::from_le_bytes(a),
            Endian::Big => u64::from_be_bytes(a),
        }
    }
}

/// The unit of a timestamp: 10^-n or 2^-n seconds (pcapng `if_tsresol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsResolution {
    Pow10(u8),
    Pow2(u8),
}

impl TsResolution {
    /// Decode the `if_tsresol` option byte: the high bit selects a power of two.
    pub fn from_option(b: u8) -> Self {
        if b & 0x80 != 0 { TsResolution::Pow2(b & 0x7f) } else { TsResolution::Pow10(b) }
    }

    /// Milliseconds (rounded down) in `units` of this resolution; `None` when it does not fit.
    pub fn to_millis(self, units: u64) -> Option<i64> {
        let v = units as u128 * 1000;
        let ms = match self {
            TsResolution::Pow10(e) if e <= 38 => v / 10u128.pow(e as u32),
            TsResolution::Pow2(e) => v >> e,
            TsResolution::Pow10(_) => return None,
        };
        i64::try_from(ms).ok()
    }
}

/// One capture interface: a classic pcap file has exactly one, a pcapng section any number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The LINKTYPE_ value (127 radiotap, 192 PPI, 105 plain 802.11, ...).
    pub linktype: u16,
    /// pcapng `if_name`, when present and not blank.
    pub name: Option<String>,
    pub tsresol: TsResolution,
    /// pcapng `if_tsoffset`: seconds added to every timestamp.
    pub tsoffset_s: i64,
    /// Bytes of FCS the capture says end every frame (pcap header F bit, pcapng `if_fcslen`).
    pub fcs_len: Option<u8>,
}

/// One frame-carrying record of a capture.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A frame with its time, its interface, the captured bytes, and its length on the air
    /// (more than `data.len()` when the capture cut it at the snap length).
    Frame { ts: Millis, interface: &'a Interface, data: &'a [u8], orig_len: u32 },
    /// A frame that is complete but unusable for a fixed reason (a `SourceReport` skip key).
    Skip(&'static str),
    /// A record that is damaged.
    Bad(String),
}

/// What reading one pcapng block gave.
#[derive(Debug)]
enum Block {
    /// A whole block of this type is in the buffer (without its 8-byte header).
    Read(u32),
    Eof,
    /// The framing is damaged here.
    Broken(String),
}

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

/// A pull reader of frames from a pcap or pcapng stream.
pub struct CaptureReader<R> {
    input: BufReader<R>,
    what: String,
    container: Container,
    endian: Endian,
    interfaces: Vec<Interface>,
    /// The current block (pcapng, without its 8-byte header) or frame (pcap).
    buf: Vec<u8>,
    offset: u64,
    frames: u64,
    done: bool,
    /// A block read ahead by [`CaptureReader::prime`], handed out by the next `next`.
    pending: Option<Block>,
}

/// Read until `dst` is full or the input ends; the number of bytes read.
fn fill(input: &mut impl Read, dst: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < dst.len() {
        match input.read(&mut dst[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> CaptureReader<R> {
    /// Read the file header (pcap) or the first section header block (pcapng). Anything
    /// else is [`SourceError::NotThisFormat`].
    pub fn new(input: R, what: impl Into<String>) -> Result<Self, SourceError> {
        let mut r = CaptureReader {
            input: BufReader::with_capacity(1 << 20, input),
            what: what.into(),
            container: Container::Pcap,
            endian: Endian::Little,
            interfaces: Vec::new(),
            buf: Vec::with_capacity(4096),
            offset: 0,
            frames: 0,
            done: false,
            pending: None,
        };
        let mut magic = [0u8; 4];
        let n = r.read_into_array(&mut magic)?;
        let not = |r: &Self, why: String| SourceError::NotThisFormat { what: r.what.clone(), format: "pcap or pcapng", why };
        if n < 4 {
            return Err(not(&r, format!("the input has only {n} bytes")));
        }
        match Container::from_magic(&magic) {
            Some(Container::Pcap) => {
                let mut h = [0u8; 24];
                h[..4].copy_from_slice(&magic);
                let n = r.read_into_array(&mut h[4..])?;
                if n < 20 {
                    return Err(not(&r, format!("the file ends inside the 24-byte pcap file header ({} bytes)", n + 4)));
                }
                r.offset = 24;
                let (endian, nanos) = match h[..4] {
                    [0xd4, 0xc3, 0xb2, 0xa1] => (Endian::Little, false),
                    [0xa1, 0xb2, 0xc3, 0xd4] => (Endian::Big, false),
                    [0x4d, 0x3c, 0xb2, 0xa1] => (Endian::Little, true),
                    _ => (Endian::Big, true),
                };
                let major = endian.u16(&h, 4);
                if major != 2 {
                    return Err(not(&r, format!("pcap version {major}.{} is not 2.x", endian.u16(&h, 6))));
                }
                let network = endian.u32(&h, 20);
                // The high bits of the link type field may say that every frame ends in an FCS
                // (bit 26, then bits 28-31 give its length in 16-bit words).
                let fcs_len = (network & 0x0400_0000 != 0).then_some(((network >> 28) & 0xf) as u8 * 2);
                r.endian = endian;
                r.interfaces.push(Interface {
                    linktype: (network & 0xffff) as u16,
                    name: None,
                    tsresol: TsResolution::Pow10(if nanos { 9 } else { 6 }),
                    tsoffset_s: 0,
                    fcs_len,
                });
            }
            Some(Container::Pcapng) => {
                r.container = Container::Pcapng;
                match r.read_block_after(magic)? {
                    Block::Read(SHB) => {
                        if let Err(why) = r.start_section() {
                            return Err(not(&r, why));
                        }
                    }
                    Block::Broken(why) => return Err(not(&r, why)),
                    _ => return Err(not(&r, "the first block is not a section header block".into())),
                }
            }
            None => {
                return Err(not(&r, format!("the first bytes {:02x?} are no pcap or pcapng magic number", magic)));
            }
        }
        Ok(r)
    }

    fn read_into_array(&mut self, dst: &mut [u8]) -> Result<usize, SourceError> {
        fill(&mut self.input, dst).map_err(|source| SourceError::Io { what: self.what.clone(), offset: self.offset, source })
    }

    pub fn container(&self) -> Container {
        self.container
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Frame-carrying records handed out so far (the number of the last one, 1-based).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The interfaces of the current section (pcapng) or the file (pcap).
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// pcapng: read the blocks before the first frame (interface descriptions), so that
    /// [`CaptureReader::interfaces`] can be checked before anything is emitted. The block
    /// that stopped it is kept and handed out by the next [`CaptureReader::next_record`].
    pub fn prime(&mut self) -> Result<(), SourceError> {
        if self.container != Container::Pcapng || self.pending.is_some() || self.done {
            return Ok(());
        }
        loop {
            let block = self.read_block()?;
            match block {
                Block::Read(IDB) => {
                    if let Err(why) = self.add_interface() {
                        self.pending = Some(Block::Broken(why));
                        return Ok(());
                    }
                }
                Block::Read(SHB | OPB | SPB | EPB) | Block::Eof | Block::Broken(_) => {
                    self.pending = Some(block);
                    return Ok(());
                }
                Block::Read(_) => {}
            }
        }
    }

    /// The next frame-carrying record, or `None` at the end of the input (or after damaged
    /// framing was reported).
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, SourceError> {
        if self.done {
            return Ok(None);
        }
        match self.container {
            Container::Pcap => self.next_pcap(),
            Container::Pcapng => self.next_pcapng(),
        }
    }

    fn broken(&mut self, why: String) -> Result<Option<Record<'_>>, SourceError> {
        self.done = true;
        self.frames += 1;
        Ok(Some(Record::Bad(why)))
    }

    fn next_pcap(&mut self) -> Result<Option<Record<'_>>, SourceError> {
        let mut h = [0u8; 16];
        let n = self.read_into_array(&mut h)?;
        if n == 0 {
            self.done = true;
            return Ok(None);
        }
        if n < 16 {
            self.offset += n as u64;
            return self.broken(format!("the file ends inside a record header ({n} of 16 bytes)"));
        }
        let e = self.endian;
        let (secs, frac, incl, orig) = (e.u32(&h, 0), e.u32(&h, 4), e.u32(&h, 8), e.u32(&h, 12));
        if incl as usize > MAX_BLOCK {
            self.offset += 16;
            return self.broken(format!("record length {incl} is impossible; the rest of the file cannot be framed"));
        }
        self.buf.resize(incl as usize, 0);
        let got = fill(&mut self.input, &mut self.buf).map_err(|source| SourceError::Io {
            what: self.what.clone(),
            offset: self.offset + 16,
            source,
        })?;
        self.offset += 16 + got as u64;
        if got < incl as usize {
            return self.broken(format!("the file ends inside a frame ({got} of {incl} bytes)"));
        }
        self.frames += 1;
        let interface = &self.interfaces[0];
        let ts = match interface.tsresol {
            TsResolution::Pow10(9) => secs as i64 * 1000 + (frac / 1_000_000) as i64,
            _ => secs as i64 * 1000 + (frac / 1000) as i64,
        };
        Ok(Some(Record::Frame { ts, interface, data: &self.buf, orig_len: orig }))
    }

    fn next_pcapng(&mut self) -> Result<Option<Record<'_>>, SourceError> {
        loop {
            let block = match self.pending.take() {
                Some(b) => b,
                None => self.read_block()?,
            };
            match block {
                Block::Eof => {
                    self.done = true;
                    return Ok(None);
                }
                Block::Broken(why) => return self.broken(why),
                Block::Read(SHB) => {
                    if let Err(why) = self.start_section() {
                        return self.broken(why);
                    }
                }
                Block::Read(IDB) => {
                    if let Err(why) = self.add_interface() {
                        return self.broken(why);
                    }
                }
                Block::Read(t @ (OPB | SPB | EPB)) => {
                    self.frames += 1;
                    return Ok(Some(self.packet(t)));
                }
                Block::Read(_) => {}
            }
        }
    }

    /// Read the next pcapng block into `buf`.
    fn read_block(&mut self) -> Result<Block, SourceError> {
        let mut t = [0u8; 4];
        match self.read_into_array(&mut t)? {
            0 => Ok(Block::Eof),
            4 => self.read_block_after(t),
            n => {
                self.offset += n as u64;
                Ok(Block::Broken(format!("the file ends inside a block header ({n} of 8 bytes)")))
            }
        }
    }

    /// Read the rest of a pcapng block whose 4-byte type `t` was just read. For a section
    /// header block, its byte-order magic decides the byte order from here on.
    fn read_block_after(&mut self, t: [u8; 4]) -> Result<Block, SourceError> {
        let mut h = [0u8; 8];
        let shb = t == SHB.to_le_bytes();
        let want = if shb { 8 } else { 4 };
        let n = self.read_into_array(&mut h[..want])?;
        if n < want {
            self.offset += 4 + n as u64;
            return Ok(Block::Broken(format!("the file ends inside a block header ({} of {} bytes)", 4 + n, 4 + want)));
        }
        if shb {
            self.endian = match h[4..8] {
                [0x4d, 0x3c, 0x2b, 0x1a] => Endian::Little,
                [0x1a, 0x2b, 0x3c, 0x4d] => Endian::Big,
                _ => {
                    self.offset += 12;
                    return Ok(Block::Broken(format!("section header with unknown byte-order magic {:02x?}", &h[4..8])));
                }
            };
        }
        let typ = self.endian.u32(&t, 0);
        let len = self.endian.u32(&h, 0) as usize;
        if len < 12 || !len.is_multiple_of(4) || len > MAX_BLOCK || (shb && len < 28) {
            self.offset += 4 + want as u64;
            return Ok(Block::Broken(format!(
                "block of type {typ:#x} has an impossible length {len}; the rest of the file cannot be framed"
            )));
        }
        // The buffer holds the block after its type and length: body and trailing length.
        self.buf.resize(len - 8, 0);
        let already = want - 4;
        self.buf[..already].copy_from_slice(&h[4..want]);
        let got = fill(&mut self.input, &mut self.buf[already..]).map_err(|source| SourceError::Io {
            what: self.what.clone(),
            offset: self.offset + 4 + want as u64,
            source,
        })?;
        self.offset += (4 + want + got) as u64;
        if already + got < len - 8 {
            return Ok(Block::Broken(format!("the file ends inside a block of type {typ:#x} ({} of {len} bytes)", 8 + already + got)));
        }
        let trailer = self.endian.u32(&self.buf, len - 12) as usize;
        if trailer != len {
            return Ok(Block::Broken(format!(
                "block of type {typ:#x} ends with length {trailer}, not its length {len}; the rest of the file cannot be framed"
            )));
        }
        self.buf.truncate(len - 12);
        Ok(Block::Read(typ))
    }

    /// A section header block is in `buf` (byte-order magic first): a new section starts.
    fn start_section(&mut self) -> Result<(), String> {
        let major = self.endian.u16(&self.buf, 4);
        if major != 1 {
            return Err(format!("pcapng section version {major}.{} is not 1.x", self.endian.u16(&self.buf, 6)));
        }
        self.interfaces.clear();
        Ok(())
    }

    /// An interface description block is in `buf`.
    fn add_interface(&mut self) -> Result<(), String> {
        let b = &self.buf;
        if b.len() < 8 {
            return Err(format!("interface description block {} is too short ({} bytes)", self.interfaces.len(), b.len()));
        }
        let e = self.endian;
        let mut iface = Interface { linktype: e.u16(b, 0), name: None, tsresol: TsResolution::Pow10(6), tsoffset_s: 0, fcs_len: None };
        for (code, value) in Options::new(&b[8..], e) {
            match (code, value.len()) {
                (2, _) => {
                    let name = String::from_utf8_lossy(value);
                    let name = name.trim_matches(|c: char| c == '\0' || c.is_whitespace());
                    iface.name = (!name.is_empty()).then(|| name.to_string());
                }
                (9, 1) => iface.tsresol = TsResolution::from_option(value[0]),
                (13, 1) => iface.fcs_len = Some(value[0]),
                (14, 8) => iface.tsoffset_s = e.u64(value, 0) as i64,
                _ => {}
            }
        }
        self.interfaces.push(iface);
        Ok(())
    }

    /// A packet block of type `t` is in `buf`: the record it makes.
    fn packet(&self, t: u32) -> Record<'_> {
        let b = &self.buf;
        let e = self.endian;
        if t == SPB {
            return Record::Skip("no_timestamp");
        }
        // EPB: interface u32, ts high, ts low, captured, original. OPB: interface u16,
        // drops u16, then the same.
        if b.len() < 20 {
            return Record::Bad(format!("packet block is too short ({} bytes)", b.len()));
        }
        let iface = if t == EPB { e.u32(b, 0) as usize } else { e.u16(b, 0) as usize };
        let units = ((e.u32(b, 4) as u64) << 32) | e.u32(b, 8) as u64;
        let (cap, orig) = (e.u32(b, 12) as usize, e.u32(b, 16));
        if cap > b.len() - 20 {
            return Record::Bad(format!("captured length {cap} runs past its block ({} bytes of data)", b.len() - 20));
        }
        let Some(interface) = self.interfaces.get(iface) else {
            return Record::Bad(format!("refers to interface {iface}, which the section does not describe"));
        };
        let ts = interface.tsresol.to_millis(units).and_then(|ms| ms.checked_add(interface.tsoffset_s.checked_mul(1000)?));
        let Some(ts) = ts else {
            return Record::Bad("timestamp out of range".into());
        };
        Record::Frame { ts, interface, data: &b[20..20 + cap], orig_len: orig }
    }
}

/// pcapng options: (code, value) until `opt_endofopt` or the end; stops at a damaged one.
struct Options<'a> {
    rest: &'a [u8],
    endian: Endian,
}

impl<'a> Options<'a> {
    fn new(rest: &'a [u8], endian: Endian) -> Self {
        Self { rest, endian }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < 4 {
            return None;
        }
        let code = self.endian.u16(self.rest, 0);
        let len = self.endian.u16(self.rest, 2) as usize;
        if code == 0 || 4 + len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let value = &self.rest[4..4 + len];
        let padded = (4 + len).next_multiple_of(4).min(self.rest.len());
        self.rest = &self.rest[padded..];
        Some((code, value))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds pcapng files in either byte order, for tests.
    pub(crate) struct NgWriter {
        pub big: bool,
        pub out: Vec<u8>,
    }

    impl NgWriter {
        pub fn new(big: bool) -> Self {
            let mut w = NgWriter { big, out: Vec::new() };
            let mut body = Vec::new();
            body.extend_from_slice(&w.u32b(0x1A2B_3C4D));
            body.extend_from_slice(&w.u16b(1));
            body.extend_from_slice(&w.u16b(0));
            body.extend_from_slice(&(-1i64).to_le_bytes());
            w.block(SHB, &body);
            w
        }

        pub fn u16b(&self, v: u16) -> [u8; 2] {
            if self.big { v.to_be_bytes() } else { v.to_le_bytes() }
        }

        pub fn u32b(&self, v: u32) -> [u8; 4] {
            if self.big { v.to_be_bytes() } else { v.to_le_bytes() }
        }

        pub fn block(&mut self, t: u32, body: &[u8]) {
            let mut body = body.to_vec();
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            let len = body.len() as u32 + 12;
            let t = self.u32b(t);
            let l = self.u32b(len);
            self.out.extend_from_slice(&t);
            self.out.extend_from_slice(&l);
            self.out.extend_from_slice(&body);
            self.out.extend_from_slice(&l);
        }

        pub fn option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
            body.extend_from_slice(&self.u16b(code));
            body.extend_from_slice(&self.u16b(value.len() as u16));
            body.extend_from_slice(value);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
        }

        /// An interface with an optional name and `if_tsresol` byte.
        pub fn interface(&mut self, linktype: u16, name: Option<&str>, tsresol: Option<u8>) {
            let mut body = Vec::new();
            body.extend_from_slice(&self.u16b(linktype));
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&self.u32b(65535));
            if let Some(n) = name {
                self.option(&mut body, 2, n.as_bytes());
            }
            if let Some(r) = tsresol {
                self.option(&mut body, 9, &[r]);
            }
            if name.is_some() || tsresol.is_some() {
                body.extend_from_slice(&[0, 0, 0, 0]);
            }
            self.block(IDB, &body);
        }

        pub fn epb(&mut self, iface: u32, units: u64, data: &[u8]) {
            let mut body = Vec::new();
            body.extend_from_slice(&self.u32b(iface));
            body.extend_from_slice(&self.u32b((units >> 32) as u32));
            body.extend_from_slice(&self.u32b(units as u32));
            body.extend_from_slice(&self.u32b(data.len() as u32));
            body.extend_from_slice(&self.u32b(data.len() as u32));
            body.extend_from_slice(data);
            self.block(EPB, &body);
        }

        pub fn spb(&mut self, data: &[u8]) {
            let mut body = Vec::new();
            body.extend_from_slice(&self.u32b(data.len() as u32));
            body.extend_from_slice(data);
            self.block(SPB, &body);
        }
    }

    /// A classic pcap: the given magic (as written), link type, and (sec, frac, data) records.
    pub(crate) fn classic(magic: [u8; 4], big: bool, linktype: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let u16b = |v: u16| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let u32b = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut out = magic.to_vec();
        out.extend_from_slice(&u16b(2));
        out.extend_from_slice(&u16b(4));
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&u32b(65535));
        out.extend_from_slice(&u32b(linktype));
        for (s, f, d) in records {
            out.extend_from_slice(&u32b(*s));
            out.extend_from_slice(&u32b(*f));
            out.extend_from_slice(&u32b(d.len() as u32));
            out.extend_from_slice(&u32b(d.len() as u32));
            out.extend_from_slice(d);
        }
        out
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Frame(i64, u16, Option<String>, Vec<u8>),
        Skip(&'static str),
        Bad(String),
    }

    /// Every record of a reader, owned.
    fn records(r: &mut CaptureReader<&[u8]>) -> Vec<Seen> {
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(match rec {
                Record::Frame { ts, interface, data, .. } => Seen::Frame(ts, interface.linktype, interface.name.clone(), data.to_vec()),
                Record::Skip(s) => Seen::Skip(s),
                Record::Bad(b) => Seen::Bad(b),
            });
        }
        out
    }

    fn read_all(bytes: &[u8]) -> Vec<Seen> {
        let mut r = CaptureReader::new(bytes, "t").unwrap();
        r.prime().unwrap();
        let out = records(&mut r);
        assert_eq!(r.frames(), out.len() as u64);
        assert_eq!(r.offset(), bytes.len() as u64);
        out
    }

    #[test]
    fn classic_pcap_in_all_four_magics() {
        let t = 1_669_111_450u32;
        for (magic, big, frac, want_ms) in [
            ([0xd4, 0xc3, 0xb2, 0xa1], false, 707_757, 707),
            ([0xa1, 0xb2, 0xc3, 0xd4], true, 707_757, 707),
            ([0x4d, 0x3c, 0xb2, 0xa1], false, 707_757_123, 707),
            ([0xa1, 0xb2, 0x3c, 0x4d], true, 999_999_999, 999),
        ] {
            assert_eq!(Container::from_magic(&magic), Some(Container::Pcap));
            let bytes = classic(magic, big, 127, &[(t, frac, b"abc"), (t + 1, 0, b"")]);
            let got = read_all(&bytes);
            assert_eq!(
                got,
                vec![
                    Seen::Frame(t as i64 * 1000 + want_ms, 127, None, b"abc".to_vec()),
                    Seen::Frame((t as i64 + 1) * 1000, 127, None, vec![])
                ],
                "{magic:x?}"
            );
        }
    }

    #[test]
    fn a_cut_classic_file_ends_with_one_bad_record() {
        let bytes = classic([0xd4, 0xc3, 0xb2, 0xa1], false, 127, &[(1, 0, b"abcd"), (2, 0, b"efgh")]);
        let got = read_all(&bytes[..bytes.len() - 2]);
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[1], Seen::Bad(b) if b.contains("ends inside a frame (2 of 4 bytes)")), "{got:?}");
        let got = read_all(&bytes[..24 + 20 + 5]);
        assert!(matches!(&got[1], Seen::Bad(b) if b.contains("record header (5 of 16")), "{got:?}");
        // An impossible length stops reading.
        let mut bad = bytes.clone();
        bad[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let got = read_all_lenient(&bad);
        assert_eq!(got.len(), 1);
        assert!(matches!(&got[0], Seen::Bad(b) if b.contains("impossible")));
    }

    fn read_all_lenient(bytes: &[u8]) -> Vec<Seen> {
        records(&mut CaptureReader::new(bytes, "t").unwrap())
    }

    #[test]
    fn pcapng_in_both_byte_orders_with_resolutions_names_and_unknown_blocks() {
        for big in [false, true] {
            let mut w = NgWriter::new(big);
            w.interface(127, Some("door-1"), Some(9)); // nanoseconds
            w.block(0x0000_0BAD, b"custom block, skipped by length");
            w.interface(105, None, Some(0x80 | 10)); // 2^-10 s
            w.interface(192, Some("  "), None); // microseconds; a blank name is no name
            w.epb(0, 1_669_111_450_707_757_123, b"one");
            w.spb(b"no time");
            w.epb(1, 3 * 1024 + 512, b"two"); // 3.5 s
            w.epb(2, 1_500_000, b"three");
            w.epb(7, 0, b"nobody");
            w.block(5, &[0; 16]); // interface statistics: not a frame
            let got = read_all(&w.out);
            assert_eq!(
                got,
                vec![
                    Seen::Frame(1_669_111_450_707, 127, Some("door-1".into()), b"one".to_vec()),
                    Seen::Skip("no_timestamp"),
                    Seen::Frame(3_500, 105, None, b"two".to_vec()),
                    Seen::Frame(1_500, 192, None, b"three".to_vec()),
                    Seen::Bad("refers to interface 7, which the section does not describe".into()),
                ],
                "big endian: {big}"
            );
        }
    }

    #[test]
    fn a_new_section_may_switch_byte_order_and_resets_interfaces() {
        let mut a = NgWriter::new(false);
        a.interface(127, Some("a"), None);
        a.epb(0, 1_000_000, b"x");
        let mut b = NgWriter::new(true);
        b.interface(105, Some("b"), None);
        b.epb(0, 2_000_000, b"y");
        b.epb(1, 2_000_000, b"z");
        let mut bytes = a.out.clone();
        bytes.extend_from_slice(&b.out);
        let got = read_all(&bytes);
        assert_eq!(got[0], Seen::Frame(1000, 127, Some("a".into()), b"x".to_vec()));
        assert_eq!(got[1], Seen::Frame(2000, 105, Some("b".into()), b"y".to_vec()));
        assert!(matches!(&got[2], Seen::Bad(_)));
    }

    #[test]
    fn damaged_pcapng_blocks() {
        let mut w = NgWriter::new(false);
        w.interface(127, Some("a"), None);
        let good = w.out.len();
        w.epb(0, 1, b"abcdefgh");
        // Captured length larger than the block: bad, but the framing holds.
        let cap_at = good + 8 + 12;
        w.out[cap_at..cap_at + 4].copy_from_slice(&100u32.to_le_bytes());
        w.epb(0, 2_000_000, b"ok");
        let mut bytes = w.out.clone();
        let got = read_all(&bytes);
        assert!(matches!(&got[0], Seen::Bad(b) if b.contains("runs past")), "{got:?}");
        assert_eq!(got[1], Seen::Frame(2000, 127, Some("a".into()), b"ok".to_vec()));
        // A trailing length that disagrees: stop.
        let end = bytes.len();
        bytes[end - 4..].copy_from_slice(&8u32.to_le_bytes());
        let got = read_all(&bytes);
        assert!(matches!(&got[1], Seen::Bad(b) if b.contains("cannot be framed")), "{got:?}");
        // Cut inside a block.
        let got = read_all(&w.out[..w.out.len() - 3]);
        assert!(matches!(&got[1], Seen::Bad(b) if b.contains("ends inside a block")), "{got:?}");
    }

    #[test]
    fn not_a_capture() {
        for bytes in [&b"time,sensor,mac,rssi\n"[..], b"\xd4\xc3", b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x00\x00\x00\x00"] {
            let err = CaptureReader::new(bytes, "x.bin").err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.starts_with("x.bin: not pcap or pcapng input"), "{err}");
        }
    }

    #[test]
    fn resolutions() {
        assert_eq!(TsResolution::from_option(6), TsResolution::Pow10(6));
        assert_eq!(TsResolution::from_option(0x8a), TsResolution::Pow2(10));
        assert_eq!(TsResolution::Pow10(3).to_millis(5), Some(5));
        assert_eq!(TsResolution::Pow10(0).to_millis(5), Some(5000));
        assert_eq!(TsResolution::Pow2(1).to_millis(3), Some(1500));
        assert_eq!(TsResolution::Pow2(127).to_millis(u64::MAX), Some(0));
        assert_eq!(TsResolution::Pow10(39).to_millis(1), None);
        assert_eq!(TsResolution::Pow10(0).to_millis(u64::MAX), None);
    }
}
