//! Picks the format of an input by its content (first bytes), not its file name, and
//! opens the matching source. Captures are recognised by their magic numbers (the four
//! pcap ones and pcapng's section header). A Kismet log is an SQLite database: its magic
//! alone doesn't say it is one, and SQLite reads a path, not a stream, so [`open_path`]
//! recognises it (the SQLite magic plus a `packets` table) and hands everything else to
//! [`open`].

use crate::capture::CaptureSource;
use crate::csv::CsvSource;
use crate::jsonl::JsonlSource;
use crate::kismet::{KismetSource, SQLITE_MAGIC};
use crate::{Source, SourceError};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Formats footfall can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Meraki,
    Pcap,
    Pcapng,
    /// A Kismet log (`.kismet`, SQLite); only [`open_path`] opens it.
    Kismet,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Meraki => "meraki",
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
            Format::Kismet => "kismet",
        }
    }
}

/// Guess a format from the first bytes of an input; `None` when nothing matches. An SQLite
/// database is `None` here: only its tables tell whether it is a Kismet log ([`open_path`]).
pub fn detect(head: &[u8]) -> Option<Format> {
    match crate::pcap::Container::from_magic(head) {
        Some(crate::pcap::Container::Pcap) => return Some(Format::Pcap),
        Some(crate::pcap::Container::Pcapng) => return Some(Format::Pcapng),
        None => {}
    }
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = head.trim_ascii_start();
    match text.first()? {
        b'{' if crate::meraki::looks_like(text) => Some(Format::Meraki),
        b'{' => Some(Format::Jsonl),
        _ => {
            let first_line = text.split(|&b| b == b'\n').next().unwrap_or(&[]);
            let lower = String::from_utf8_lossy(first_line).to_ascii_lowercase();
            let names: Vec<&str> = lower.split(',').map(|s| s.trim().trim_matches('"')).collect();
            crate::csv::REQUIRED_COLUMNS.iter().all(|n| names.contains(n)).then_some(Format::Csv)
        }
    }
}

/// What [`open`] needs besides the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// The sensor that captured a capture file (pcap, pcapng) or a Kismet log; without it,
    /// pcapng interface names (Kismet: datasource names) are used. The text formats name the
    /// sensor on every record.
    pub sensor: Option<String>,
}

/// Detect the format of a seekable input and return a source reading it from the start.
pub fn open<R: Read + Seek + 'static>(mut input: R, what: &str, opts: &OpenOptions) -> Result<(Format, Box<dyn Source>), SourceError> {
    let io = |source| SourceError::Io { what: what.to_string(), offset: 0, source };
    let mut head = vec![0u8; 4096];
    let mut n = 0;
    while n < head.len() {
        match input.read(&mut head[n..]).map_err(io)? {
            0 => break,
            k => n += k,
        }
    }
    input.seek(SeekFrom::Start(0)).map_err(io)?;
    if head[..n].starts_with(SQLITE_MAGIC) {
        return Err(SourceError::NotThisFormat {
            what: what.to_string(),
            format: "any known",
            why: "it is an SQLite database; only a Kismet log (.kismet) is read, and only from a file path (open_path)".into(),
        });
    }
    let format = detect(&head[..n]).ok_or_else(|| SourceError::NotThisFormat {
        what: what.to_string(),
        format: "any known",
        why: format!(
            "its first bytes match no supported format (CSV with header time,sensor,mac,rssi, JSON lines, Meraki JSON, pcap, pcapng or a Kismet log); they start with {}",
            crate::lines::excerpt(&head[..n.min(40)])
        ),
    })?;
    let source: Box<dyn Source> = match format {
        Format::Csv => Box::new(CsvSource::new(input, what)),
        Format::Jsonl => Box::new(JsonlSource::new(input, what)),
        Format::Meraki => Box::new(crate::meraki::MerakiSource::new(input, what)),
        Format::Pcap | Format::Pcapng => Box::new(CaptureSource::open(input, what, opts.sensor.clone())?),
        // `detect` never answers Kismet (it needs the tables); kept for exhaustiveness.
        Format::Kismet => {
            return Err(SourceError::NotThisFormat {
                what: what.to_string(),
                format: "kismet",
                why: "a Kismet log is read from a file path (open_path), not a stream".into(),
            });
        }
    };
    Ok((format, source))
}

/// Detect the format of the file at `path` and return a source reading it. A Kismet log
/// (an SQLite database with a `packets` table) is opened with [`KismetSource`]; another
/// SQLite database is [`SourceError::NotThisFormat`]; every other file goes to [`open`].
pub fn open_path(path: &Path, what: &str, opts: &OpenOptions) -> Result<(Format, Box<dyn Source>), SourceError> {
    let io = |source| SourceError::Io { what: what.to_string(), offset: 0, source };
    if crate::kismet::is_sqlite(path).map_err(io)? {
        let not = |why: String| SourceError::NotThisFormat { what: what.to_string(), format: "any known", why };
        return match crate::kismet::has_packets_table(path) {
            Ok(true) => Ok((Format::Kismet, Box::new(KismetSource::open(path, what, opts.sensor.clone())?))),
            Ok(false) => {
                Err(not("it is an SQLite database without a packets table; the only SQLite input read is a Kismet log (.kismet)".into()))
            }
            Err(e) => Err(not(format!("it starts like an SQLite database but cannot be read as one: {e}"))),
        };
    }
    let file = std::fs::File::open(path).map_err(io)?;
    open(file, what, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_content() {
        assert_eq!(detect(b"time,sensor,mac,rssi\n"), Some(Format::Csv));
        assert_eq!(detect(b"\xEF\xBB\xBFrssi,mac,sensor,time\n"), Some(Format::Csv));
        assert_eq!(detect(b"\n  {\"ts\":1}"), Some(Format::Jsonl));
        assert_eq!(detect(b"\xEF\xBB\xBF{\"ts\":1}"), Some(Format::Jsonl));
        assert_eq!(detect(b"{\"version\":\"3.0\",\"data\":{\"observations\":[]}}"), Some(Format::Meraki));
        assert_eq!(detect(b"\xd4\xc3\xb2\xa1"), Some(Format::Pcap));
        assert_eq!(detect(b"\xa1\xb2\xc3\xd4\x00\x02"), Some(Format::Pcap));
        assert_eq!(detect(b"\x4d\x3c\xb2\xa1"), Some(Format::Pcap));
        assert_eq!(detect(b"\xa1\xb2\x3c\x4d"), Some(Format::Pcap));
        assert_eq!(detect(b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a"), Some(Format::Pcapng));
        assert_eq!(detect(b"\x0a\x0d\x0d\x0a\x00\x00\x00\x1c\x1a\x2b\x3c\x4d"), Some(Format::Pcapng));
        assert_eq!(detect(b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x00\x00\x00\x00"), None);
        assert_eq!(detect(b"\xd4\xc3\xb2"), None);
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn opens_captures_with_the_sensor_option() {
        let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        pcap.extend_from_slice(&[0; 8]);
        pcap.extend_from_slice(&65535u32.to_le_bytes());
        pcap.extend_from_slice(&127u32.to_le_bytes());
        let opened = |opts: &OpenOptions| open(std::io::Cursor::new(pcap.clone()), "cap.pcap", opts).map(|(f, s)| (f, s.format()));
        let err = opened(&OpenOptions::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("cap.pcap: a pcap file does not say which sensor captured it: pass --sensor ID"), "{err}");
        assert_eq!(opened(&OpenOptions { sensor: Some("door".into()) }).ok(), Some((Format::Pcap, "pcap")));
    }
}
