//! The command line (clap derive). Parsing only; the commands' bodies live in `commands`.

use crate::store::OutboxState;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "feed2threads",
    version,
    about = "Publish news feeds to Threads: each story once, paced, crash-safe."
)]
pub struct Cli {
    /// Config file [default: $FEED2THREADS_CONFIG, then ./feed2threads.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log format: `auto` is JSON lines when stderr is not a terminal, text otherwise.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll every feed on its schedule and publish, until SIGTERM/SIGINT.
    Run(RunArgs),
    /// Validate the config and print it resolved, secrets redacted.
    Check,
    /// Fetch one feed (by name or URL) and print the posts its items would become.
    Preview(PreviewArgs),
    /// Feeds' and accounts' health, queue and quota.
    Status(StatusArgs),
    /// Queue the items the flood guard held for FEED (all, or the newest N).
    Release(ReleaseArgs),
    /// Connect a Threads account (OAuth) or import a long-lived token.
    Auth(AuthArgs),
    /// Look at and act on the publishing queue.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Print [[feeds]] blocks for the feeds of an OPML export.
    ImportOpml(ImportOpmlArgs),
    /// Read a password on standard input and print its argon2 hash for
    /// `http.desk_password_hash`.
    DeskPassword,
    /// Copy the configured SQLite store (accounts and tokens, feeds, items and seen keys,
    /// the outbox) into a new, empty PostgreSQL database, in one transaction.
    MigrateStore(MigrateStoreArgs),
}

#[derive(Debug, Args)]
pub struct MigrateStoreArgs {
    /// The PostgreSQL database to copy into (postgres://user:password@host/db); it must be
    /// empty. Set store.url to it afterwards.
    #[arg(long, value_name = "URL")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Feed name (or URL).
    pub feed: String,
    /// Queue only the newest N held posts; the rest stay held (or are dropped with
    /// --drop-rest).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub latest: Option<u64>,
    /// Drop the held posts not released. Alone: release none and drop every held post.
    #[arg(long)]
    pub drop_rest: bool,
}

impl Command {
    /// Runs with the built-in defaults when there is no config file and none was named:
    /// previewing a URL or converting an OPML export needs no account yet.
    pub fn works_without_config(&self) -> bool {
        matches!(self, Command::Preview(_) | Command::ImportOpml(_))
    }

    /// Prints the config's warnings (an unreadable token) on stderr before it runs. `run`
    /// logs them instead, knowing whether a stored token makes up for it; `auth` is how
    /// one fixes them.
    pub fn reports_config_warnings(&self) -> bool {
        !matches!(
            self,
            Command::Run(_) | Command::Auth(_) | Command::ImportOpml(_)
        )
    }
}

#[derive(Debug, Clone, Copy, Default, Args)]
pub struct RunArgs {
    /// One cycle: poll every feed once, publish what is due, wait for the queues to drain.
    #[arg(long)]
    pub once: bool,
    /// Fetch, dedupe and compose, print the posts; publish nothing and change no state.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Feed name or URL (configured or not).
    pub feed: String,
    /// Show at most N posts.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Also fetch a URL on a loopback, private or link-local address (a configured feed's
    /// URL always may be).
    #[arg(long)]
    pub allow_private: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Exit non-zero when something needs a human.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Account name from the config.
    pub account: String,
    /// Import the long-lived token in FILE instead of running the OAuth flow; `-` reads it
    /// from standard input (`printf %s "$TOKEN" | feed2threads auth NAME --token-file -`).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The token itself, on the command line: every user of the host can read it in the
    /// process list, so it is not shown in the help and warns. Use --token-file.
    #[arg(long, hide = true)]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List posts, newest first: waiting for review, held, queued, in flight, failed, …
    List(QueueListArgs),
    /// Queue posts waiting for review (pacing, windows and quota apply).
    Approve {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<i64>,
    },
    /// Replace a post's text, checked against every limit as composition checks it.
    Edit(QueueEditArgs),
    /// Queue posts the flood guard held.
    Release {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<i64>,
    },
    /// Put failed (expired, dropped) posts back in the queue.
    Retry {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<i64>,
    },
    /// Remove posts from the queue; they will not be published.
    Drop {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<i64>,
    },
}

#[derive(Debug, Args)]
pub struct QueueListArgs {
    /// Only this account's posts.
    pub account: Option<String>,
    /// Only posts in these states (review, held, queued, container_created, publishing,
    /// published, failed, expired, dropped); repeat or separate with commas.
    #[arg(long, value_delimiter = ',', value_parser = parse_state)]
    pub state: Vec<OutboxState>,
    /// Only this feed's posts (name or URL).
    #[arg(long)]
    pub feed: Option<String>,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// At most N rows.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

#[derive(Debug, Args)]
#[group(id = "new_text", required = true, args = ["text", "text_file"])]
pub struct QueueEditArgs {
    pub id: i64,
    /// The new text.
    #[arg(long)]
    pub text: Option<String>,
    /// Read the new text from a file (one trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    pub text_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportOpmlArgs {
    pub file: PathBuf,
    /// Account the feeds publish to.
    #[arg(long)]
    pub account: String,
}

/// `--state`: a post state by its stored name.
fn parse_state(s: &str) -> Result<OutboxState, String> {
    OutboxState::parse(s.trim()).ok_or_else(|| {
        let known: Vec<&str> = OutboxState::ALL.iter().map(|s| s.as_str()).collect();
        format!("{s:?} is not a post state (known: {})", known.join(", "))
    })
}
