//! A chunked line reader shared by the text formats.
//!
//! It reads large blocks, hands out complete lines (without `\n` or `\r\n`) with their
//! 1-based numbers, and keeps the byte offset for progress and error messages. A reader
//! that splits lines itself can take whole blocks of complete lines instead
//! ([`LineReader::next_block`]). It does not interpret the lines.

use crate::SourceError;
use std::io::Read;

const CHUNK: usize = 1 << 20;

pub struct LineReader<R> {
    inner: R,
    what: String,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    line_no: u64,
    offset: u64,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, what: impl Into<String>) -> Self {
        Self { inner, what: what.into(), buf: vec![0; CHUNK], start: 0, end: 0, eof: false, line_no: 0, offset: 0 }
    }

    /// Bytes handed out so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Lines handed out by [`LineReader::next_line`] so far.
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    pub fn what(&self) -> &str {
        &self.what
    }

    fn fill(&mut self) -> Result<(), SourceError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(SourceError::Io { what: self.what.clone(), offset: self.offset + (self.end - self.start) as u64, source });
                }
            }
        }
    }

    /// The next line and its number, or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, SourceError> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let s = self.start;
                self.start += i + 1;
                self.offset += (i + 1) as u64;
                self.line_no += 1;
                let mut line = &self.buf[s..s + i];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                return Ok(Some((self.line_no, line)));
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let s = self.start;
                let n = self.end - s;
                self.start = self.end;
                self.offset += n as u64;
                self.line_no += 1;
                let mut line = &self.buf[s..self.end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                return Ok(Some((self.line_no, line)));
            }
            self.fill()?;
        }
    }

    /// The next block of whole lines: every buffered byte up to and including the last
    /// `\n` (at the end of input, the rest), or `None` at the end. Lines in a block are not
    /// numbered: the caller counts them (this reader's numbering stops at the first block).
    pub fn next_block(&mut self) -> Result<Option<&[u8]>, SourceError> {
        loop {
            let pending = &self.buf[self.start..self.end];
            let cut = if self.eof { Some(pending.len()) } else { memchr::memrchr(b'\n', pending).map(|i| i + 1) };
            match cut {
                Some(0) => return Ok(None),
                Some(n) => {
                    let s = self.start;
                    self.start += n;
                    self.offset += n as u64;
                    return Ok(Some(&self.buf[s..s + n]));
                }
                None => self.fill()?,
            }
        }
    }
}

/// A short, printable excerpt of a line for error messages.
pub fn excerpt(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(&line[..line.len().min(60)]);
    if line.len() > 60 { format!("{s:?}...") } else { format!("{s:?}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks_and_crlf() {
        let mut text = Vec::new();
        for i in 0..200_000 {
            text.extend_from_slice(format!("line{i}\r\n").as_bytes());
        }
        text.extend_from_slice(b"last");
        let mut r = LineReader::new(&text[..], "t");
        let mut n = 0;
        let mut last = Vec::new();
        while let Some((no, l)) = r.next_line().unwrap() {
            n += 1;
            assert_eq!(no, n);
            last = l.to_vec();
        }
        assert_eq!(n, 200_001);
        assert_eq!(last, b"last");
        assert_eq!(r.offset(), text.len() as u64);
    }

    #[test]
    fn blocks_hold_whole_lines() {
        let mut text = Vec::new();
        for i in 0..200_000 {
            text.extend_from_slice(format!("line{i}\n").as_bytes());
        }
        text.extend_from_slice(b"last");
        let mut r = LineReader::new(&text[..], "t");
        assert_eq!(r.next_line().unwrap(), Some((1, &b"line0"[..])));
        let mut got = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            assert!(b.ends_with(b"\n") || b.ends_with(b"last"));
            got.extend_from_slice(b);
            assert_eq!(r.offset(), 6 + got.len() as u64);
        }
        assert_eq!(got, text[6..]);
    }
}
