//! The agent's on-disk buffer: one file per batch, written before any send attempt.
//!
//! This module owns the spool directory's layout and its crash safety. It must not know
//! HTTP, and it only ever holds pseudonymous batches (their JSON bodies).
//!
//! ## Layout
//!
//! ```text
//! DIR/agent-id                 this spool's agent id: "<sensor>-<16 random hex>", made once
//! DIR/next-batch               the next batch sequence number (decimal)
//! DIR/00000000000000000042.batch   one batch: the exact JSON body to POST
//! DIR/*.tmp                    a write that did not finish: ignored and removed on open
//! ```
//!
//! Every file is written to a `.tmp` name, fsynced, renamed into place and the directory
//! fsynced, so a crash leaves either the whole file or none. A batch's sequence number is
//! reserved by writing `next-batch` *before* the batch file, so the counter is always above
//! every batch ever spooled (and sent and deleted); on open it is also raised above the
//! highest batch file, whichever was written last. Batches are handed out oldest first and
//! deleted only when the caller says (after the server's 200). A new spool directory gets a
//! new random agent id, so its sequence starting again at 1 is never taken by the server for
//! resends of another spool's batches.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const AGENT_FILE: &str = "agent-id";
const COUNTER_FILE: &str = "next-batch";
const BATCH_EXT: &str = "batch";
const TMP_EXT: &str = "tmp";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("spool {path}: {why}")]
    Damaged { path: PathBuf, why: String },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// An open spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    agent: String,
    next: u64,
    pending: BTreeSet<u64>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.to_path_buf(), source }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Write `bytes` to `dir/name` atomically and durably (temporary file, fsync, rename, fsync
/// of the directory).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SpoolError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.{TMP_EXT}"));
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(dir).map_err(io(dir))
}

fn batch_name(seq: u64) -> String {
    format!("{seq:020}.{BATCH_EXT}")
}

impl Spool {
    /// Open (creating if needed) the spool at `dir` for the sensor `sensor`: remove
    /// unfinished writes, read or make the agent id, find the waiting batches and the next
    /// sequence number.
    pub fn open(dir: &Path, sensor: &str) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut pending = BTreeSet::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some(TMP_EXT) => std::fs::remove_file(&path).map_err(io(&path))?,
                Some(BATCH_EXT) => {
                    if let Some(seq) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u64>().ok()) {
                        pending.insert(seq);
                    }
                }
                _ => {}
            }
        }
        let agent_path = dir.join(AGENT_FILE);
        let agent = match std::fs::read_to_string(&agent_path) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
            Ok(_) => return Err(SpoolError::Damaged { path: agent_path, why: "the agent id file is empty".into() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !pending.is_empty() {
                    return Err(SpoolError::Damaged {
                        path: agent_path,
                        why: "batches are waiting but the agent id file is missing; restore it, or move the batches away".into(),
                    });
                }
                let mut r = [0u8; 8];
                getrandom::fill(&mut r).map_err(|e| SpoolError::Random(e.to_string()))?;
                let id = format!("{sensor}-{}", r.iter().map(|b| format!("{b:02x}")).collect::<String>());
                write_atomic(dir, AGENT_FILE, format!("{id}\n").as_bytes())?;
                id
            }
            Err(e) => return Err(io(&agent_path)(e)),
        };
        let counter_path = dir.join(COUNTER_FILE);
        let counter = match std::fs::read_to_string(&counter_path) {
            Ok(s) => s.trim().parse::<u64>().map_err(|_| SpoolError::Damaged {
                path: counter_path.clone(),
                why: format!("the batch counter is not a number: {:?}", s.trim()),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(io(&counter_path)(e)),
        };
        let next = counter.max(pending.last().map_or(1, |l| l + 1)).max(1);
        Ok(Spool { dir: dir.to_path_buf(), agent, next, pending })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This spool's agent id.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The sequence number the next batch gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// The batches waiting, oldest first.
    pub fn pending(&self) -> Vec<u64> {
        self.pending.iter().copied().collect()
    }

    /// The oldest waiting batch.
    pub fn oldest(&self) -> Option<u64> {
        self.pending.first().copied()
    }

    /// Spool a new batch: reserve its sequence number (durably), then write the body that
    /// `body(seq)` makes, durably. Returns the sequence number.
    pub fn push(&mut self, body: impl FnOnce(u64) -> Vec<u8>) -> Result<u64, SpoolError> {
        let seq = self.next;
        write_atomic(&self.dir, COUNTER_FILE, format!("{}\n", seq + 1).as_bytes())?;
        self.next = seq + 1;
        write_atomic(&self.dir, &batch_name(seq), &body(seq))?;
        self.pending.insert(seq);
        Ok(seq)
    }

    /// The body of a waiting batch.
    pub fn read(&self, seq: u64) -> Result<Vec<u8>, SpoolError> {
        let path = self.dir.join(batch_name(seq));
        std::fs::read(&path).map_err(io(&path))
    }

    /// Forget a batch the server has acknowledged.
    pub fn remove(&mut self, seq: u64) -> Result<(), SpoolError> {
        let path = self.dir.join(batch_name(seq));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
            _ => {}
        }
        sync_dir(&self.dir).map_err(io(&self.dir))?;
        self.pending.remove(&seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(seq: u64) -> Vec<u8> {
        format!("{{\"batch\":{seq}}}").into_bytes()
    }

    #[test]
    fn batches_are_whole_files_handed_out_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "pos1").unwrap();
        assert!(s.agent().starts_with("pos1-") && s.agent().len() == "pos1-".len() + 16, "{}", s.agent());
        assert_eq!((s.next_seq(), s.oldest()), (1, None));
        for want in 1..=12 {
            assert_eq!(s.push(body).unwrap(), want);
        }
        assert_eq!(s.oldest(), Some(1));
        assert_eq!(s.read(10).unwrap(), body(10));
        s.remove(1).unwrap();
        s.remove(2).unwrap();
        assert_eq!(s.oldest(), Some(3));
        // Names sort numerically as text too, and no temporary file is left behind.
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        names.sort();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        assert_eq!(names.iter().filter(|n| n.ends_with(".batch")).count(), 10);
        assert_eq!(names[0], "00000000000000000003.batch");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(&names[0])).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "batches are the owner's only");
        }
    }

    #[test]
    fn reopening_keeps_the_agent_the_batches_and_the_counter() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "pos1").unwrap();
        let agent = s.agent().to_string();
        for _ in 0..5 {
            s.push(body).unwrap();
        }
        for seq in 1..=5 {
            s.remove(seq).unwrap();
        }
        s.push(body).unwrap();
        drop(s);
        // Everything sent but batch 6: the counter still continues after the highest ever.
        let mut s = Spool::open(dir.path(), "pos1").unwrap();
        assert_eq!((s.agent(), s.pending(), s.next_seq()), (agent.as_str(), vec![6], 7));
        s.remove(6).unwrap();
        drop(s);
        let s = Spool::open(dir.path(), "pos1").unwrap();
        assert_eq!((s.pending(), s.next_seq()), (vec![], 7));
        // A batch file newer than the counter (the counter file lost) still raises it.
        std::fs::remove_file(dir.path().join(COUNTER_FILE)).unwrap();
        std::fs::write(dir.path().join(batch_name(9)), body(9)).unwrap();
        let s = Spool::open(dir.path(), "pos1").unwrap();
        assert_eq!((s.pending(), s.next_seq()), (vec![9], 10));
        // Another spool directory is another agent.
        let other = tempfile::tempdir().unwrap();
        assert_ne!(Spool::open(other.path(), "pos1").unwrap().agent(), agent);
    }

    #[test]
    fn torn_temporary_files_are_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "s").unwrap();
        s.push(body).unwrap();
        drop(s);
        // A crash inside write_atomic: half a batch under its temporary name, and a
        // counter update that never got renamed into place.
        std::fs::write(dir.path().join(format!("{}.tmp", batch_name(2))), b"{\"batch\":2, \"obs").unwrap();
        std::fs::write(dir.path().join("next-batch.tmp"), b"9").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
        let mut s = Spool::open(dir.path(), "s").unwrap();
        assert_eq!((s.pending(), s.next_seq()), (vec![1], 2));
        assert!(!dir.path().join(format!("{}.tmp", batch_name(2))).exists());
        assert_eq!(s.push(body).unwrap(), 2);
        assert_eq!(s.read(2).unwrap(), body(2));
    }

    #[test]
    fn batches_without_their_agent_id_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), "s").unwrap();
        s.push(body).unwrap();
        drop(s);
        std::fs::remove_file(dir.path().join(AGENT_FILE)).unwrap();
        let err = Spool::open(dir.path(), "s").unwrap_err().to_string();
        assert!(err.contains("agent id file is missing"), "{err}");
    }
}
