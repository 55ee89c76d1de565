//! [`RunMode`]: how `run` runs, decided once from the command line.
//!
//! Two independent choices: how long ([`Cycle`]: one poll of every feed, or the daemon
//! until a signal) and with what effect ([`Effect`]: live, or dry). Start-up and every
//! config reload receive the same `RunMode` and ask it what they may do; nothing else
//! decides. A dry run works on an in-memory snapshot of the store, starts no publisher,
//! stores no token and takes no lock: whatever signal arrives, it has no way to write the
//! store or call a write endpoint of the API.
//!
//! Must not: look at the config or the store. It only answers questions about the mode.

use crate::cli::RunArgs;

/// One poll of every feed, or the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cycle {
    /// `run --once`: poll every feed once, publish what is due, exit.
    Once,
    /// `run`: poll on schedule until SIGTERM/SIGINT.
    Daemon,
}

/// Whether the run changes anything outside the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Writes the store, publishes.
    Live,
    /// `--dry-run`: prints what it would publish; the store file and the API are untouched.
    Dry,
}

/// How `run` runs. Built once from the command line ([`RunMode::from_args`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunMode {
    pub cycle: Cycle,
    pub effect: Effect,
}

impl RunMode {
    pub fn from_args(args: &RunArgs) -> Self {
        RunMode {
            cycle: if args.once {
                Cycle::Once
            } else {
                Cycle::Daemon
            },
            effect: if args.dry_run {
                Effect::Dry
            } else {
                Effect::Live
            },
        }
    }

    pub fn is_once(self) -> bool {
        self.cycle == Cycle::Once
    }

    pub fn is_dry(self) -> bool {
        self.effect == Effect::Dry
    }

    /// Opens the store file for writing (else: an in-memory snapshot of it).
    pub fn writes_store(self) -> bool {
        self.effect == Effect::Live
    }

    /// Holds the store's daemon lock: everything that writes the store does.
    pub fn takes_lock(self) -> bool {
        self.writes_store()
    }

    /// Starts the publishers (which call the API's write endpoints).
    pub fn publishes(self) -> bool {
        self.effect == Effect::Live
    }

    /// Seeds the configured access tokens into the store.
    pub fn stores_tokens(self) -> bool {
        self.effect == Effect::Live
    }

    /// Writes the heartbeat `status --check` reads.
    pub fn beats(self) -> bool {
        self.effect == Effect::Live
    }

    /// Serves `/healthz` and `/metrics`, talks to systemd: the live daemon only.
    pub fn serves_operations(self) -> bool {
        self == RunMode::DAEMON
    }

    /// Prints the posts it would publish.
    pub fn prints_posts(self) -> bool {
        self.effect == Effect::Dry
    }

    /// Uses the stored `next_check_at` of each feed (a `--once` run polls every feed now).
    pub fn follows_schedule(self) -> bool {
        self.cycle == Cycle::Daemon
    }

    pub const DAEMON: RunMode = RunMode {
        cycle: Cycle::Daemon,
        effect: Effect::Live,
    };
    pub const ONCE: RunMode = RunMode {
        cycle: Cycle::Once,
        effect: Effect::Live,
    };
}

impl std::fmt::Display for RunMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cycle = match self.cycle {
            Cycle::Once => "once",
            Cycle::Daemon => "daemon",
        };
        let effect = match self.effect {
            Effect::Live => "live",
            Effect::Dry => "dry run",
        };
        write!(f, "{cycle}, {effect}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(once: bool, dry_run: bool) -> RunMode {
        RunMode::from_args(&RunArgs { once, dry_run })
    }

    #[test]
    fn a_dry_run_may_do_nothing_that_leaves_a_trace() {
        for once in [true, false] {
            let m = mode(once, true);
            assert!(m.is_dry());
            assert!(!m.writes_store());
            assert!(!m.takes_lock());
            assert!(!m.publishes());
            assert!(!m.stores_tokens());
            assert!(!m.beats());
            assert!(!m.serves_operations());
            assert!(m.prints_posts());
        }
    }

    #[test]
    fn only_the_live_daemon_serves_operations_and_follows_the_schedule() {
        assert!(mode(false, false).serves_operations());
        assert!(!mode(true, false).serves_operations());
        assert!(mode(false, false).follows_schedule());
        assert!(!mode(true, false).follows_schedule());
        assert!(mode(true, false).takes_lock());
        assert!(mode(true, false).publishes());
        assert_eq!(mode(true, false), RunMode::ONCE);
        assert_eq!(mode(false, false), RunMode::DAEMON);
    }
}
