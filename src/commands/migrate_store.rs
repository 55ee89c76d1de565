//! `migrate-store --to postgres://…`: moving a newsroom from its SQLite store to a new
//! PostgreSQL database. Everything that matters is copied (see `store::copy`) in one
//! transaction on the target, which must be empty; the SQLite store is locked as a daemon
//! locks it, so no daemon writes it meanwhile. The target needs no lock of its own: the
//! copy's transaction holds the store's write lock and checks emptiness under it, so of
//! two copies at once the second finds the target full. The SQLite file is only read.
//!
//! Must not: touch a non-empty target, or run beside a daemon on either store.

use crate::cli::MigrateStoreArgs;
use crate::config::Settings;
use crate::feed::redact::redact_url;
use crate::store::{DaemonLock, Store, is_postgres, now_unix};
use anyhow::{Context, Result, bail};
use std::io::Write;

pub async fn migrate_store(
    settings: &Settings,
    args: &MigrateStoreArgs,
    out: &mut dyn Write,
) -> Result<()> {
    let from = &settings.store_url;
    let shown_to = redact_url(&args.to).into_owned();
    if is_postgres(from) {
        bail!(
            "store.url is a PostgreSQL store already ({}); migrate-store copies a SQLite store",
            redact_url(from)
        );
    }
    if !is_postgres(&args.to) {
        bail!("--to {shown_to:?} is not a PostgreSQL URL (postgres://user:password@host/db)");
    }
    let source_lock = DaemonLock::acquire(from, now_unix()).await?;
    let source = Store::open_with(from, settings.store_options())
        .await
        .with_context(|| format!("store.url = {:?}", redact_url(from)))?;
    let target = Store::open_with(&args.to, settings.store_options())
        .await
        .with_context(|| format!("--to {shown_to:?}"))?;
    let copied = source.copy_into(&target).await;
    source.close().await;
    target.close().await;
    source_lock.release();
    let copied = copied.with_context(|| format!("copying into {shown_to}"))?;
    writeln!(out, "copied {} into {shown_to}:", redact_url(from))?;
    for (table, rows) in &copied.tables {
        writeln!(out, "  {table:<20} {rows:>9}")?;
    }
    writeln!(
        out,
        "set store.url = \"{shown_to}\" (with its password) and start the daemon; the SQLite \
         file is unchanged"
    )?;
    Ok(())
}
