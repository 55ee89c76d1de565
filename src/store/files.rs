//! The store's files on disk are its owner's only (mode 0600): the database holds access
//! tokens, and so do its `-wal` and `-shm` companions; the lock file names the holder.
//!
//! [`private`] runs before SQLite opens the database: it creates a missing file with mode
//! 0600 whatever the umask (SQLite would create it 0644 less the umask, and gives its
//! `-wal` and `-shm` files the database's own mode), and tightens an existing file, or a
//! companion left from an earlier run, that others may read, saying so in the log.
//!
//! Must not: fail the store over a mode it cannot change (a file owned by someone else):
//! that is a warning, and SQLite's own error follows if the file is unusable.

use std::path::{Path, PathBuf};

/// Owner read and write, nothing for the group or others.
#[cfg(unix)]
const PRIVATE: u32 = 0o600;

/// Makes the database at `db` and its companions private: created 0600 when missing,
/// tightened when others may read them.
pub(crate) fn private(db: &Path) {
    create_private(db);
    for file in [
        db.to_path_buf(),
        companion(db, "-wal"),
        companion(db, "-shm"),
    ] {
        tighten(&file);
    }
}

/// `x.db` → `x.db-wal`.
fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `path` empty with mode 0600 if it does not exist (SQLite reads an empty file
/// as a new database). Anything else is left to SQLite to report.
pub(crate) fn create_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE)
            .open(path);
        if created.is_ok() {
            // The umask may have taken bits away (0400 under umask 0277): set it exactly.
            set_mode(path, PRIVATE);
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Tightens `path` to 0600 when group or others have any access, with a log line.
pub(crate) fn tighten(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return; // missing: nothing to tighten
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        if set_mode(path, PRIVATE) {
            tracing::warn!(
                file = %path.display(),
                "{} was readable by others (mode {mode:04o}); it holds access tokens, so it is \
                 now readable by its owner only (0600)",
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                file = %path.display(),
                "cannot make {} readable by its owner only: {e}; it holds access tokens, so \
                 check who can read it",
                path.display()
            );
            false
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_store_is_created_private_and_a_shared_one_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        private(&db);
        assert_eq!(mode(&db), 0o600);
        let wal = companion(&db, "-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o666)).unwrap();
        private(&db);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        assert_eq!(companion(&db, "-shm"), dir.path().join("s.db-shm"));
    }
}
