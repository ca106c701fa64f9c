//! The durable journal: an append-only file of pseudonymous observation records beside the
//! database (`<db>.journal`), written before a post is answered and applied later.
//!
//! This module owns the file format, appending with fsync, recovery (a torn tail is cut
//! off), and compaction once records are applied. It must not know HTTP, the pipeline or
//! the store, and it never sees a raw MAC: a [`Record`] holds only [`Observation`]s.
//!
//! ## Format
//!
//! ```text
//! file   = MAGIC record*                      MAGIC = "FFJRNL1\n" (8 bytes)
//! record = len:u32-le  check:[u8; 8]  payload:[u8; len]
//! check  = the first 8 bytes of BLAKE3(len-le ‖ payload)
//! payload = JSON of Record { seq, sensors, obs, drops, agent? }
//! ```
//!
//! Sequence numbers increase by one per record and keep increasing across compactions and
//! restarts (the next one follows both the file's last and the store's applied sequence).
//!
//! ## Recovery
//!
//! Reading stops at the first record that is incomplete, longer than what is left, fails its
//! checksum, does not parse, or does not increase the sequence. Records are only ever
//! appended and each append is fsynced before anyone is told it succeeded, so only the tail
//! written after the last successful fsync can be damaged; everything before it is read
//! back. The damaged tail is cut off (and that cut fsynced) before anything new is appended.

use footfall_core::Observation;
use footfall_transforms::filter::DropCounts;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The first bytes of every journal file.
pub const MAGIC: &[u8; 8] = b"FFJRNL1\n";
const HEADER: u64 = MAGIC.len() as u64;
const FRAME: usize = 12;
/// No record is this large; a length above it is damage, not data.
const MAX_PAYLOAD: u32 = 1 << 30;
/// Applied records at the head of the file are rewritten away once they take this much.
const REWRITE_AFTER: u64 = 1 << 20;

/// One accepted post (or sensor batch), pseudonymous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    /// Ids of the site sensors these observations were heard by. `Observation::sensor`
    /// indexes *this* list, so a record means the same thing if the site is edited before
    /// it is applied.
    pub sensors: Vec<String>,
    pub obs: Vec<Observation>,
    /// Observations of this post dropped at intake, by reason (counted once, when applied).
    #[serde(default)]
    pub drops: DropCounts,
    /// The sensor agent batch this record is (`POST /api/v1/ingest/observations`), for
    /// deduplication: recovered records raise the agents' high-water marks on restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentMark>,
}

/// A sensor agent's batch: `batch` is its sequence number in the agent `agent`'s spool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMark {
    pub agent: String,
    pub batch: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("journal {path} does not start with a footfall journal header; move it away if it is not one")]
    NotAJournal { path: PathBuf },
    #[error("journal {path}: an earlier write could not be made durable; restart footfall serve to recover")]
    Poisoned { path: PathBuf },
}

/// What [`Journal::open`] read back.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every intact record, oldest first.
    pub records: Vec<Record>,
    /// Bytes of a damaged tail that were cut off.
    pub torn_bytes: u64,
}

/// An open journal, positioned to append.
pub struct Journal {
    file: File,
    path: PathBuf,
    len: u64,
    /// Where the records not yet known to be applied start.
    head: u64,
    /// (seq, end offset) of each record after `head`, oldest first.
    index: VecDeque<(u64, u64)>,
    last_seq: Option<u64>,
    poisoned: bool,
}

/// Append the framed encoding of `record` to `out`.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    // Serializing plain data into a Vec cannot fail.
    let payload = serde_json::to_vec(record).unwrap_or_default();
    frame(&payload, out);
}

/// The payload of `record` with its sequence number left as 0, to be completed by
/// [`frame_prepared`] once the writer assigns the number. Lets request handlers do the
/// serialization in parallel, leaving the single writer only the file I/O.
pub fn prepare(record: &Record) -> Vec<u8> {
    debug_assert_eq!(record.seq, 0);
    serde_json::to_vec(record).unwrap_or_default()
}

/// Frame a [`prepare`]d payload under sequence number `seq` (the same bytes [`encode`]
/// would give for the record with that number).
pub fn frame_prepared(seq: u64, prepared: &[u8], out: &mut Vec<u8>) {
    const ZERO: &[u8] = b"{\"seq\":0";
    let rest = prepared.strip_prefix(ZERO).unwrap_or(prepared);
    let mut payload = Vec::with_capacity(prepared.len() + 20);
    payload.extend_from_slice(b"{\"seq\":");
    payload.extend_from_slice(seq.to_string().as_bytes());
    payload.extend_from_slice(rest);
    frame(&payload, out);
}

fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = (payload.len() as u32).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&check(&len, payload));
    out.extend_from_slice(payload);
}

fn check(len: &[u8; 4], payload: &[u8]) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(len);
    h.update(payload);
    let mut c = [0u8; 8];
    c.copy_from_slice(&h.finalize().as_bytes()[..8]);
    c
}

/// Decode the records after the header (which the caller has checked); returns them with
/// their end offsets, and where the intact part ends.
fn decode(bytes: &[u8]) -> (Vec<(Record, u64)>, u64) {
    let mut out: Vec<(Record, u64)> = Vec::new();
    let mut at = HEADER as usize;
    while let Some(frame) = bytes.get(at..at + FRAME) {
        let len_bytes: [u8; 4] = [frame[0], frame[1], frame[2], frame[3]];
        let len = u32::from_le_bytes(len_bytes);
        if len > MAX_PAYLOAD {
            break;
        }
        let Some(payload) = bytes.get(at + FRAME..at + FRAME + len as usize) else { break };
        if frame[4..12] != check(&len_bytes, payload) {
            break;
        }
        let Ok(record) = serde_json::from_slice::<Record>(payload) else { break };
        if out.last().is_some_and(|(r, _)| record.seq <= r.seq) {
            break;
        }
        at += FRAME + len as usize;
        out.push((record, at as u64));
    }
    (out, at as u64)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn create_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    // Observation-level records are finer-grained than anything in the database: owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

impl Journal {
    /// The journal of a database: `<db>.journal`.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut s = db.as_os_str().to_owned();
        s.push(".journal");
        PathBuf::from(s)
    }

    fn tmp_path(path: &Path) -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(".tmp");
        PathBuf::from(s)
    }

    /// Open (creating if needed) the journal at `path`, read back every intact record and
    /// cut off a damaged tail.
    pub fn open(path: &Path) -> Result<(Journal, Recovered), JournalError> {
        let io = |source| JournalError::Io { path: path.to_path_buf(), source };
        // A compaction interrupted before its rename leaves a temporary file: the journal
        // itself is still whole, so the temporary one is simply removed.
        match std::fs::remove_file(Self::tmp_path(path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        let fresh = bytes.len() < MAGIC.len();
        if fresh {
            // Missing, or created by a run that died before its header was synced.
            if !MAGIC.starts_with(&bytes) {
                return Err(JournalError::NotAJournal { path: path.to_path_buf() });
            }
            let mut f = create_options().open(path).map_err(io)?;
            f.write_all(MAGIC).map_err(io)?;
            f.sync_all().map_err(io)?;
            sync_dir(path).map_err(io)?;
        } else if &bytes[..MAGIC.len()] != MAGIC {
            return Err(JournalError::NotAJournal { path: path.to_path_buf() });
        }
        let (decoded, end) = if fresh { (Vec::new(), HEADER) } else { decode(&bytes) };
        let file = OpenOptions::new().read(true).append(true).open(path).map_err(io)?;
        let torn_bytes = if fresh { 0 } else { bytes.len() as u64 - end };
        if torn_bytes > 0 {
            file.set_len(end).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let index = decoded.iter().map(|(r, e)| (r.seq, *e)).collect();
        let last_seq = decoded.last().map(|(r, _)| r.seq);
        let journal = Journal { file, path: path.to_path_buf(), len: end, head: HEADER, index, last_seq, poisoned: false };
        Ok((journal, Recovered { records: decoded.into_iter().map(|(r, _)| r).collect(), torn_bytes }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sequence number of the last record in the file (or of the last one compacted
    /// away since this journal was opened).
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER
    }

    /// Whether appends still work (false after a write that could not be made durable).
    pub fn is_healthy(&self) -> bool {
        !self.poisoned
    }

    /// Append records (their `seq` must increase) and fsync them: when this returns `Ok`,
    /// they survive a crash. On failure nothing of them is kept: a failed write is rolled
    /// back; a failed fsync leaves the file in an unknown state, so the journal refuses
    /// further appends until it is opened again (and recovery reads what is really there).
    pub fn append(&mut self, records: &[Record]) -> Result<(), JournalError> {
        self.append_with(records, encode)
    }

    /// [`Journal::append`] with each record's payload [`prepare`]d already (`prepared[i]`
    /// for `records[i]`).
    pub fn append_prepared(&mut self, records: &[Record], prepared: &[Vec<u8>]) -> Result<(), JournalError> {
        debug_assert_eq!(records.len(), prepared.len());
        let mut bodies = prepared.iter();
        self.append_with(records, |r, buf| frame_prepared(r.seq, bodies.next().map(Vec::as_slice).unwrap_or_default(), buf))
    }

    fn append_with(&mut self, records: &[Record], mut encode: impl FnMut(&Record, &mut Vec<u8>)) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned { path: self.path.clone() });
        }
        let mut buf = Vec::new();
        let mut ends = Vec::with_capacity(records.len());
        let mut prev = self.last_seq;
        for r in records {
            debug_assert!(prev.is_none_or(|p| r.seq > p), "journal sequence must increase");
            prev = Some(r.seq);
            encode(r, &mut buf);
            ends.push((r.seq, self.len + buf.len() as u64));
        }
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        if let Err(e) = self.file.write_all(&buf) {
            let rolled_back = self.file.set_len(self.len).and_then(|()| self.file.sync_all()).is_ok();
            self.poisoned = !rolled_back;
            return Err(io(e));
        }
        if let Err(e) = self.file.sync_data() {
            self.poisoned = true;
            return Err(io(e));
        }
        self.len += buf.len() as u64;
        self.index.extend(ends);
        self.last_seq = prev;
        Ok(())
    }

    /// Forget records up to `applied` (they are in the store): truncate the file when
    /// nothing newer is in it, or rewrite it without them once they take enough room.
    /// Safe at any crash point: a record left behind is skipped by sequence on recovery.
    pub fn compact(&mut self, applied: u64) -> Result<(), JournalError> {
        if self.poisoned {
            return Ok(());
        }
        while let Some(&(seq, end)) = self.index.front() {
            if seq > applied {
                break;
            }
            self.head = end;
            self.index.pop_front();
        }
        if self.head == HEADER {
            return Ok(());
        }
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        if self.index.is_empty() {
            self.file.set_len(HEADER).map_err(io)?;
            self.file.sync_all().map_err(io)?;
            self.len = HEADER;
            self.head = HEADER;
        } else if self.head - HEADER >= REWRITE_AFTER {
            let mut rest = Vec::with_capacity((self.len - self.head) as usize);
            let mut f = File::open(&self.path).map_err(io)?;
            f.seek(SeekFrom::Start(self.head)).map_err(io)?;
            f.take(self.len - self.head).read_to_end(&mut rest).map_err(io)?;
            let tmp = Self::tmp_path(&self.path);
            let mut t = create_options().open(&tmp).map_err(io)?;
            t.write_all(MAGIC).map_err(io)?;
            t.write_all(&rest).map_err(io)?;
            t.sync_all().map_err(io)?;
            std::fs::rename(&tmp, &self.path).map_err(io)?;
            sync_dir(&self.path).map_err(io)?;
            self.file = OpenOptions::new().read(true).append(true).open(&self.path).map_err(io)?;
            let shift = self.head - HEADER;
            for e in self.index.iter_mut() {
                e.1 -= shift;
            }
            self.len -= shift;
            self.head = HEADER;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::{DeviceId, RadioKind};
    use footfall_transforms::filter::DropReason;

    #[test]
    fn a_prepared_payload_frames_to_the_same_bytes() {
        for seq in [1, 9, 10, 12_345_678_901] {
            let mut r = record(seq, 5);
            r.agent = Some(AgentMark { agent: "a\"b".into(), batch: 3 });
            let mut direct = Vec::new();
            encode(&r, &mut direct);
            let prepared = prepare(&Record { seq: 0, ..r.clone() });
            let mut framed = Vec::new();
            frame_prepared(seq, &prepared, &mut framed);
            assert_eq!(framed, direct, "seq {seq}");
        }
    }

    fn record(seq: u64, n: usize) -> Record {
        let obs = (0..n)
            .map(|i| Observation {
                ts: 1_000 * i as i64,
                sensor: (i % 2) as u16,
                device: DeviceId(seq * 1000 + i as u64),
                rssi: -60,
                randomized: i % 3 == 0,
                kind: RadioKind::Wifi,
                seq: Some(i as u16),
                freq: None,
                ie: Some(7),
            })
            .collect();
        let mut drops = DropCounts::default();
        drops.add(DropReason::GroupAddress, seq);
        let agent = seq.is_multiple_of(2).then(|| AgentMark { agent: "pos1-0a".into(), batch: seq * 10 });
        Record { seq, sensors: vec!["a".into(), "b".into()], obs, drops, agent }
    }

    #[test]
    fn appends_survive_reopen_and_sequence_continues() {
        let dir = tempfile::tempdir().unwrap();
        let path = Journal::path_for(&dir.path().join("m.db"));
        assert!(path.ends_with("m.db.journal"));
        let (mut j, rec) = Journal::open(&path).unwrap();
        assert!(rec.records.is_empty() && j.is_empty());
        j.append(&[record(1, 3), record(2, 0)]).unwrap();
        j.append(&[record(3, 5)]).unwrap();
        drop(j);
        let (j, rec) = Journal::open(&path).unwrap();
        assert_eq!(rec.records, vec![record(1, 3), record(2, 0), record(3, 5)]);
        assert_eq!((rec.torn_bytes, j.last_seq()), (0, Some(3)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_torn_tail_at_any_byte_is_cut_and_everything_before_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path).unwrap();
        j.append(&[record(1, 2), record(2, 4)]).unwrap();
        let good = j.len();
        j.append(&[record(3, 3)]).unwrap();
        let full = std::fs::read(&path).unwrap();
        drop(j);
        for cut in good..full.len() as u64 {
            std::fs::write(&path, &full[..cut as usize]).unwrap();
            let (mut j, rec) = Journal::open(&path).unwrap();
            assert_eq!(rec.records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2], "cut at {cut}");
            assert_eq!(rec.torn_bytes, cut - good);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
            // Appending after a cut tail gives a readable file again.
            j.append(&[record(3, 1)]).unwrap();
            drop(j);
            let (_, rec) = Journal::open(&path).unwrap();
            assert_eq!(rec.records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        }
        // A flipped byte inside the last record fails its checksum.
        let mut bad = full.clone();
        let n = bad.len();
        bad[n - 3] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        let (_, rec) = Journal::open(&path).unwrap();
        assert_eq!(rec.records.len(), 2);
        // Zeros after the last record (a file extended but never written) are a torn tail.
        let mut zeros = full.clone();
        zeros.extend_from_slice(&[0u8; 64]);
        std::fs::write(&path, &zeros).unwrap();
        let (_, rec) = Journal::open(&path).unwrap();
        assert_eq!((rec.records.len(), rec.torn_bytes), (3, 64));
    }

    #[test]
    fn a_torn_header_is_rewritten_and_other_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, &MAGIC[..3]).unwrap();
        let (j, rec) = Journal::open(&path).unwrap();
        assert!(rec.records.is_empty() && j.is_empty());
        assert_eq!(std::fs::read(&path).unwrap(), MAGIC);
        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        assert!(matches!(Journal::open(&path), Err(JournalError::NotAJournal { .. })));
    }

    #[test]
    fn compaction_truncates_or_rewrites_and_keeps_unapplied_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path).unwrap();
        j.append(&[record(1, 2), record(2, 2)]).unwrap();
        j.compact(1).unwrap();
        // Too little applied to rewrite: the file is unchanged, the records still readable.
        let (_, rec) = Journal::open(&path).unwrap();
        assert_eq!(rec.records.len(), 2);
        j.compact(2).unwrap();
        assert!(j.is_empty());
        assert_eq!(std::fs::read(&path).unwrap(), MAGIC);
        // Enough applied to rewrite while newer records remain.
        let big: Vec<Record> = (3..40).map(|s| record(s, 400)).collect();
        j.append(&big).unwrap();
        j.append(&[record(40, 1)]).unwrap();
        let before = j.len();
        j.compact(39).unwrap();
        assert!(j.len() < before);
        j.append(&[record(41, 1)]).unwrap();
        assert_eq!(j.last_seq(), Some(41));
        drop(j);
        let (_, rec) = Journal::open(&path).unwrap();
        assert_eq!(rec.records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![40, 41]);
        assert!(!Journal::tmp_path(&path).exists());
    }
}
