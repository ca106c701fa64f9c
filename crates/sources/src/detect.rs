//! Picks the format of an input by its content (first bytes), not its file name, and
//! opens the matching source. Later formats (pcap, pcapng, Meraki, Kismet) register here.

use crate::csv::CsvSource;
use crate::jsonl::JsonlSource;
use crate::{Source, SourceError};
use std::io::{Read, Seek, SeekFrom};

/// Formats footfall can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Meraki,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Meraki => "meraki",
        }
    }
}

/// Guess a format from the first bytes of an input; `None` when nothing matches.
pub fn detect(head: &[u8]) -> Option<Format> {
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

/// Detect the format of a seekable input and return a source reading it from the start.
pub fn open<R: Read + Seek + 'static>(mut input: R, what: &str) -> Result<(Format, Box<dyn Source>), SourceError> {
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
    let format = detect(&head[..n]).ok_or_else(|| SourceError::NotThisFormat {
        what: what.to_string(),
        format: "any known",
        why: format!(
            "its first bytes match no supported format (CSV with header time,sensor,mac,rssi, or JSON lines); they start with {}",
            crate::lines::excerpt(&head[..n.min(40)])
        ),
    })?;
    let source: Box<dyn Source> = match format {
        Format::Csv => Box::new(CsvSource::new(input, what)),
        Format::Jsonl => Box::new(JsonlSource::new(input, what)),
        Format::Meraki => Box::new(crate::meraki::MerakiSource::new(input, what)),
    };
    Ok((format, source))
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
        assert_eq!(detect(b"\xd4\xc3\xb2\xa1"), None);
        assert_eq!(detect(b""), None);
    }
}
