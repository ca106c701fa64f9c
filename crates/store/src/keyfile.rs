//! The deployment's secret pseudonymization key, in a file of its own.
//!
//! Created on first use with 32 random bytes from the operating system, written as hex with
//! mode 0600 (owner read/write only) and refused afterwards if others can read it. It is
//! kept apart from the database so that a copied database cannot be re-identified. This
//! module must never log or print the key.

use footfall_transforms::KEY_LEN;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path} is not {KEY_LEN} bytes of hex; restore it from backup or move it away to start a new key epoch")]
    Malformed { path: PathBuf },
    #[error("key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error(
        "key file {path} does not exist. The sensor agent never creates a key: it must use the server's. Copy the key file the server uses (by default beside its database, DB.key) to this machine, e.g. `scp server:/path/to/mall.db.key {path}`, then `chmod 600 {path}`"
    )]
    Missing { path: PathBuf },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// Whether the key file was created by this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    Created,
    Loaded,
}

fn hex_decode(s: &str) -> Option<[u8; KEY_LEN]> {
    let s = s.trim();
    if s.len() != KEY_LEN * 2 {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Where a database's key lives unless configured elsewhere: the database path with `.key`
/// appended (`mall.db` → `mall.db.key`). Every command that pseudonymizes uses this.
pub fn default_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".key");
    PathBuf::from(s)
}

/// Load the existing key at `path`; a missing file is [`KeyError::Missing`] (which tells how
/// to copy the deployment's key), never a new key. For machines that must use the key of
/// another (a sensor agent pseudonymizing for a server).
pub fn load(path: &Path) -> Result<[u8; KEY_LEN], KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => checked(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(KeyError::Missing { path: path.to_path_buf() }),
        Err(e) => Err(KeyError::Io { path: path.to_path_buf(), source: e }),
    }
}

/// The key in `text`, read from `path`, if the file is private and well-formed.
fn checked(path: &Path, text: &str) -> Result<[u8; KEY_LEN], KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            std::fs::metadata(path).map_err(|source| KeyError::Io { path: path.to_path_buf(), source })?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen { path: path.to_path_buf(), mode });
        }
    }
    hex_decode(text).ok_or_else(|| KeyError::Malformed { path: path.to_path_buf() })
}

/// Load the key at `path`, creating it (mode 0600) if it does not exist.
pub fn load_or_create(path: &Path) -> Result<([u8; KEY_LEN], KeyOrigin), KeyError> {
    let io = |source| KeyError::Io { path: path.to_path_buf(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((checked(path, &text)?, KeyOrigin::Loaded)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_LEN];
            getrandom::fill(&mut key).map_err(|e| KeyError::Random(e.to_string()))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(path).map_err(io)?;
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            f.write_all(format!("{hex}\n").as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
            Ok((key, KeyOrigin::Created))
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_appends_key() {
        assert_eq!(default_path(Path::new("a/m.db")), PathBuf::from("a/m.db.key"));
    }

    #[test]
    fn created_once_with_0600_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/deploy.key");
        let (k1, o1) = load_or_create(&path).unwrap();
        let (k2, o2) = load_or_create(&path).unwrap();
        assert_eq!((o1, o2), (KeyOrigin::Created, KeyOrigin::Loaded));
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(load_or_create(&path), Err(KeyError::TooOpen { .. })));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(load(&path).unwrap(), k1);
        let missing = dir.path().join("none.key");
        let err = load(&missing).unwrap_err().to_string();
        assert!(err.contains("does not exist") && err.contains("scp") && err.contains("chmod 600"), "{err}");
        assert!(!missing.exists(), "load never creates a key");
        std::fs::write(&path, "nothex").unwrap();
        assert!(matches!(load_or_create(&path), Err(KeyError::Malformed { .. })));
    }
}
