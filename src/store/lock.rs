//! The daemon lock: one writing daemon (`run`, `run --once`) per store.
//!
//! On SQLite it is an exclusive OS file lock (`flock`) on a file beside the database
//! (`feed2threads.db.lock`), held for the daemon's whole life. The OS releases it when the
//! process ends however it ends (kill -9 included), so a crash never leaves a stale lock. The
//! holder writes who it is into the file (pid, host, since when), and a second daemon that
//! finds the lock taken exits naming it.
//!
//! [`DaemonLock::acquire`] once at start, [`DaemonLock::release`] at the end.
//!
//! PostgreSQL has no such lock: several daemons share one database, the account leases
//! and feed claims divide the work, and `store::nodes` keeps two daemons from using one
//! node name. `acquire` on a URL that is not a SQLite file takes nothing.
//!
//! Must not: lock anything for read-only commands or commands that act through the store
//! (`status`, `queue`, `release`, `auth`), or for a dry run (it writes nothing).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Who holds (or held) the lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// Unix time the holder took the lock.
    pub since: i64,
}

impl LockHolder {
    fn me(now: i64) -> Self {
        LockHolder {
            pid: std::process::id(),
            host: host_name(),
            since: now,
        }
    }

    pub(crate) fn to_line(&self) -> String {
        format!("pid={} host={} since={}\n", self.pid, self.host, self.since)
    }

    fn parse(text: &str) -> Option<Self> {
        let mut pid = None;
        let mut host = None;
        let mut since = None;
        for field in text.split_whitespace() {
            match field.split_once('=') {
                Some(("pid", v)) => pid = v.parse().ok(),
                Some(("host", v)) => host = Some(v.to_string()),
                Some(("since", v)) => since = v.parse().ok(),
                _ => {}
            }
        }
        Some(LockHolder {
            pid: pid?,
            host: host?,
            since: since?,
        })
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = chrono::DateTime::from_timestamp(self.since, 0)
            .map_or_else(|| self.since.to_string(), |d| d.to_rfc3339());
        write!(f, "pid {} on host {} since {since}", self.pid, self.host)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another feed2threads daemon is running on this store: {} (lock file {}); \
         stop it first, or give this one its own store.url",
        holder.as_ref().map_or_else(|| "holder unknown".to_string(), |h| h.to_string()),
        path.display()
    )]
    Held {
        path: PathBuf,
        holder: Option<LockHolder>,
    },
    #[error("cannot lock the store (lock file {}): {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while a daemon runs on the store; dropping it releases the lock.
#[derive(Debug)]
pub struct DaemonLock {
    /// `None` for an in-memory store: nothing outside this process can reach it.
    file: Option<(File, PathBuf)>,
    holder: LockHolder,
}

impl DaemonLock {
    /// Takes the lock of the store at `url`, or says who holds it. Never waits.
    pub async fn acquire(url: &str, now: i64) -> Result<DaemonLock, LockError> {
        let holder = LockHolder::me(now);
        let Some(db) = super::sqlite_file(url) else {
            return Ok(DaemonLock { file: None, holder });
        };
        let path = lock_path(&db);
        let me = holder.clone();
        let lock_file = path.clone();
        // A few small file operations; off the async threads all the same.
        let file = tokio::task::spawn_blocking(move || take(&lock_file, &me))
            .await
            .map_err(|e| LockError::Io {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })??;
        tracing::debug!(lock = %path.display(), "took the store's daemon lock");
        Ok(DaemonLock {
            file: Some((file, path)),
            holder,
        })
    }

    /// Who holds the lock: this process.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// The lock file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(_, p)| p.as_path())
    }

    /// Gives the lock up (the end of the daemon). The file stays, with the last holder in
    /// it: removing it would let a second daemon lock a new file while a third still waits
    /// on the old one.
    pub fn release(self) {
        if let Some((file, _)) = self.file {
            let _ = file.unlock();
        }
    }
}

/// `x.db` → `x.db.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    db.with_file_name(name)
}

/// Who holds the lock of the store at `url` now, if anyone. Tests only: probing takes the
/// lock for an instant, and a daemon starting in that instant would be refused.
#[cfg(test)]
fn current_holder(url: &str) -> Option<LockHolder> {
    let path = lock_path(&super::sqlite_file(url)?);
    let file = OpenOptions::new().read(true).write(true).open(&path).ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => read_holder(&file),
    }
}

fn take(path: &Path, me: &LockHolder) -> Result<File, LockError> {
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Private like the store itself (it names the host and the pid); created 0600
    // whatever the umask, tightened if an older one is readable by others.
    super::files::create_private(path);
    super::files::tighten(path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(LockError::Held {
                path: path.to_path_buf(),
                holder: read_holder(&file),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(me.to_line().as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)?;
    Ok(file)
}

fn read_holder(file: &File) -> Option<LockHolder> {
    let mut text = String::new();
    let mut reader = file;
    reader.seek(SeekFrom::Start(0)).ok()?;
    reader.take(4096).read_to_string(&mut text).ok()?;
    LockHolder::parse(&text)
}

/// The machine's name, for the holder line; "unknown" when the system does not say.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().replace(char::is_whitespace, "_"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}", dir.path().join("s.db").display())
    }

    #[tokio::test]
    async fn a_second_daemon_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = DaemonLock::acquire(&url(&dir), 1_800_000_000)
            .await
            .unwrap();
        assert_eq!(
            first.path().unwrap(),
            dir.path().join("s.db.lock").as_path()
        );
        let err = DaemonLock::acquire(&url(&dir), 1_800_000_100)
            .await
            .unwrap_err();
        let LockError::Held { holder, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(holder.as_ref().unwrap(), first.holder());
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("2027-01-15T08:00:00+00:00"), "{message}");
        assert_eq!(current_holder(&url(&dir)).as_ref(), Some(first.holder()));

        // Released: the next one gets it.
        first.release();
        assert_eq!(current_holder(&url(&dir)), None);
        let second = DaemonLock::acquire(&url(&dir), 1_800_000_200)
            .await
            .unwrap();
        assert_eq!(second.holder().since, 1_800_000_200);
        drop(second);
        DaemonLock::acquire(&url(&dir), 1).await.unwrap();
    }

    #[tokio::test]
    async fn an_in_memory_store_needs_no_lock() {
        let a = DaemonLock::acquire("sqlite::memory:", 0).await.unwrap();
        let b = DaemonLock::acquire("sqlite::memory:", 0).await.unwrap();
        assert!(a.path().is_none() && b.path().is_none());
    }

    #[test]
    fn holder_lines_round_trip_and_garbage_is_unknown() {
        let h = LockHolder {
            pid: 42,
            host: "news-1".into(),
            since: 7,
        };
        assert_eq!(LockHolder::parse(&h.to_line()), Some(h));
        assert_eq!(LockHolder::parse("hello"), None);
        assert_eq!(
            lock_path(Path::new("/var/lib/f2t/feed2threads.db")),
            Path::new("/var/lib/f2t/feed2threads.db.lock")
        );
    }
}
