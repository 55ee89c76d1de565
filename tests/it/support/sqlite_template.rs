//! A migrated SQLite store file, copied into place before a test opens its store.
//!
//! A new store runs every migration at its first open: ~10 ms of CPU, paid by some 120
//! tests per run whose subject is not the store's first start. Those tests start from a
//! copy of one store migrated once per test process instead. A store's first start stays
//! covered by everything that does not call this: the daemon processes the tests start,
//! the dry runs (which must find no store), the store's unit tests.

use feed2threads::store::Store;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Puts a migrated, empty store at `path` unless a file is there already.
pub fn place_migrated_store(path: &Path) {
    if path.exists() {
        return;
    }
    std::fs::copy(template(), path)
        .unwrap_or_else(|e| panic!("copying the store template to {}: {e}", path.display()));
}

/// The template, made at the first call: opened (so migrated) and closed by the store's
/// own code, which leaves one file (SQLite folds the WAL back in at the last close).
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = TEMPLATE.get_or_init(|| {
        // Called from tests' runtimes, which cannot block on themselves: a thread of its
        // own with a small runtime makes it.
        std::thread::spawn(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("template.db");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let url = format!("sqlite://{}", path.display());
                Store::open(&url).await.unwrap().close().await;
            });
            let wal = dir.path().join("template.db-wal");
            assert!(!wal.exists(), "the template's WAL was not folded in");
            (dir, path)
        })
        .join()
        .unwrap()
    });
    path
}
