//! Failover on PostgreSQL (issue 14, part 4): several daemons (the real binary) share one
//! database and one account, publishing through the fake Threads API with random publish
//! faults (lost answers among them: the post made, the answer dropped or a false 500) and a
//! slow publish answer, on 1-second leases.
//!
//! - The daemon that holds the account's lease is killed with SIGKILL at random moments,
//!   a new one started in its place each time: two and three daemons, the holder killed
//!   soon after it took over (while it reconciles what its predecessor left in flight) or
//!   later (while it publishes), and four daemons, killed at any moment; five tests that
//!   run at once, 20 kills in all.
//! - The lease holder is stopped with SIGSTOP in the middle of its publishing, for well
//!   over a lease time, while the other daemon takes over; once resumed it must make no
//!   write call to the API (each daemon has its own front on the fake, which counts them).
//!
//! Every story must then be on Threads exactly once, and no container published twice.
//! Skipped with a notice when `FEED2THREADS_TEST_PG` is unset.

use crate::support::fake_threads::FakeThreads;
use crate::support::kill9::{KillRun, lease_holder, until_leases_lapsed};
use crate::support::pg::PgDatabase;
use rand::RngExt;
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// The lease the daemons use: the shortest the config allows, so takeovers are quick (a
/// holder renews it every 333 ms and may use it for 800 ms after each renewal it sent).
const LEASE: &str = "lease = \"1s\"";
const LEASE_TIME: Duration = Duration::from_secs(1);

/// Kills per kill test: five tests that run at once, 20 kills of the lease holder in all
/// (the kills of one test come one after another: fewer each, a shorter test).
const KILLS: usize = 4;

/// When the holders are killed, in ms after each was seen to take the lease, and how many
/// stories the feed has: enough for the holders to be publishing at most kills, few left
/// for the drain.
struct Kills {
    holding: RangeInclusive<u64>,
    stories: usize,
}

/// Mostly while the holder reconciles the post its predecessor left in flight, or
/// publishes its first post.
const SOON: Kills = Kills {
    holding: 20..=400,
    stories: 10,
};

/// In every phase of a publish (one takes ~150 ms), after a few posts.
const LATER: Kills = Kills {
    holding: 150..=800,
    stories: 20,
};

/// At any moment, from its first steps to well into its publishing.
const ANY: Kills = Kills {
    holding: 20..=1000,
    stories: 20,
};

/// Every story `https://news.example/<name>/<i>` is on Threads once; no container was
/// published twice; the store has every post published.
async fn assert_every_story_once(run: &KillRun, name: &str, stories: usize) {
    let fake: &FakeThreads = &run.fake;
    let posts = fake.posts();
    let mut per_link: HashMap<String, usize> = HashMap::new();
    for p in &posts {
        *per_link
            .entry(p.link_attachment.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let missing: Vec<usize> = (0..stories)
        .filter(|i| !per_link.contains_key(&format!("https://news.example/{name}/{i}")))
        .collect();
    let duplicates = fake.duplicates();
    let republished: Vec<_> = fake
        .containers()
        .into_iter()
        .filter(|c| c.published_as.len() > 1)
        .map(|c| (c.id, c.published_as))
        .collect();
    println!(
        "{name}: posts={} duplicates={} missing={} containers published twice={}",
        posts.len(),
        duplicates.len(),
        missing.len(),
        republished.len()
    );
    let log = run.log_text(name);
    assert!(!log.contains(&fake.token()), "token in the log");
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    assert!(republished.is_empty(), "republished: {republished:?}");
    assert!(
        posts.iter().all(|p| !p.duplicate),
        "a post of a published container"
    );
    assert!(missing.is_empty(), "missing stories: {missing:?}");
    assert_eq!(posts.len(), stories);

    let store = run.store().await;
    let rows = store.list_outbox(None, 1000).await.unwrap();
    store.close().await;
    assert_eq!(rows.len(), stories);
    assert!(rows.iter().all(|r| r.state == "published"), "{rows:?}");
}

/// `daemons` daemons on one database; the lease holder is killed [`KILLS`] times, as `when`
/// says; then `run --once` drains what is left.
async fn kill_the_lease_holder(daemons: usize, when: Kills, name: &str) {
    let Kills { holding, stories } = when;
    let Some(db) = PgDatabase::migrated().await else {
        return;
    };
    let started = Instant::now();
    let mut run = KillRun::on_store(name, stories, "", Some(db.url()), LEASE).await;
    let left_in_flight = run.kill_lease_holders(daemons, KILLS, holding).await;
    let after_kills = run.fake.posts().len();
    run.drain(stories).await;
    println!(
        "{name}: daemons={daemons} kills={KILLS} published before the drain={after_kills} kills with a post in flight={left_in_flight} elapsed={:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_every_story_once(&run, name, stories).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_new_lease_holder_of_two_daemons_publishes_every_story_once() {
    kill_the_lease_holder(2, SOON, "fo2soon").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_publishing_lease_holder_of_two_daemons_publishes_every_story_once() {
    kill_the_lease_holder(2, LATER, "fo2later").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_new_lease_holder_of_three_daemons_publishes_every_story_once() {
    kill_the_lease_holder(3, SOON, "fo3soon").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_publishing_lease_holder_of_three_daemons_publishes_every_story_once() {
    kill_the_lease_holder(3, LATER, "fo3later").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_lease_holder_of_four_daemons_publishes_every_story_once() {
    kill_the_lease_holder(4, ANY, "fo4any").await;
}

/// Sends `signal` to the daemon.
fn signal(daemon: &tokio::process::Child, signal: rustix::process::Signal) {
    let pid = daemon
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
        .expect("a running daemon");
    rustix::process::kill_process(pid, signal).unwrap();
}

/// Two daemons, A and B, each through its own front on the fake. A holds the lease and
/// publishes; it is stopped (SIGSTOP) just after one of its calls, mid-publish, for two
/// lease times and until B has taken over and published; then resumed (SIGCONT) and left
/// running beside B for two lease times (a call it was about to make would go out at
/// once). A makes no write call after it resumes.
#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_stopped_past_its_lease_makes_no_api_write_once_resumed() {
    const STORIES: usize = 12;
    let Some(db) = PgDatabase::migrated().await else {
        return;
    };
    let mut run = KillRun::on_store("stop", STORIES, "", Some(db.url()), LEASE).await;
    run.fake.update(|s| {
        // Slow answers, so that A is likely in the middle of a publish when stopped.
        s.publish_delay = Duration::from_millis(250);
    });
    let (front_a, front_b) = (run.fake.front(), run.fake.front());
    let config_a = run.config_for("a", &front_a.base_url());
    let config_b = run.config_for("b", &front_b.base_url());
    let store = run.store().await;

    let mut a = run.command_with(&config_a, &["run"]).spawn().unwrap();
    let (_, fence_a) = lease_holder(&store, std::slice::from_ref(&a), 0).await;
    let mut b = run.command_with(&config_b, &["run"]).spawn().unwrap();

    // Stop A within 40 ms of one of its writes (after its second): just after a container
    // creation it waits for the container (75 ms) before reading its status; just after a
    // publish call, the answer is 250 ms away.
    let mut seen = 2;
    loop {
        let n = front_a.writes().len();
        if n > seen {
            break;
        }
        seen = seen.max(n);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let delay = Duration::from_millis(run.rng.random_range(0..=40));
    tokio::time::sleep(delay).await;
    signal(&a, rustix::process::Signal::STOP);
    let stopped = Instant::now();
    let before = front_a.writes();
    println!(
        "A stopped {} ms after its write {:?} ({} writes so far, {} posts on Threads)",
        delay.as_millis(),
        before.last().map(|w| w.what.as_str()),
        before.len(),
        run.fake.posts().len()
    );

    // B takes over and publishes while A is stopped, for well over a lease time.
    lease_holder(&store, std::slice::from_ref(&b), fence_a).await;
    while front_b.writes().is_empty() || stopped.elapsed() < 2 * LEASE_TIME {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(&a, rustix::process::Signal::CONT);
    let resumed = Instant::now();
    tokio::time::sleep(2 * LEASE_TIME).await;

    let after: Vec<_> = front_a
        .writes()
        .into_iter()
        .filter(|w| w.at >= resumed)
        .collect();
    println!(
        "A: {} writes before the stop, {} after the resume; B: {} writes; {} posts on Threads",
        before.len(),
        after.len(),
        front_b.writes().len(),
        run.fake.posts().len()
    );
    assert!(after.is_empty(), "A wrote after it resumed: {after:?}");
    assert!(
        a.try_wait().unwrap().is_none() && b.try_wait().unwrap().is_none(),
        "both daemons run on"
    );

    let _ = a.kill().await;
    let _ = b.kill().await;
    until_leases_lapsed(&store).await;
    store.close().await;
    run.drain(STORIES).await;
    let log = run.log_text("stop");
    println!(
        "lapses seen by the local clock: {}",
        log.matches("may have lapsed").count()
    );
    assert_every_story_once(&run, "stop", STORIES).await;
}
