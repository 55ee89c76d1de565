//! Parser benchmark (not a test): parses the corpus news feeds the poll benchmark uses,
//! on one thread, with feed-rs alone and with our `parse_feed` (encoding detection,
//! panic isolation, normalisation), and prints MB/s for each. It separates the parser's
//! cost from the rest of a poll, and shows how fast this machine is right now.
//!
//!     cargo bench --bench parse            # 5 rounds, median
//!     cargo bench --bench parse -- 11      # 11 rounds

mod support;

use std::time::Instant;

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let files = support::corpus_feeds(&support::corpus_dir());
    let base = url::Url::parse("https://example.org/").unwrap();
    let bytes: usize = files.iter().map(Vec::len).sum();
    println!(
        "{} files, {:.1} MB; {rounds} rounds",
        files.len(),
        bytes as f64 / 1e6
    );

    let mut feed_rs = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        for f in &files {
            let _ = std::hint::black_box(feed_rs::parser::parse(f.as_slice()));
        }
        feed_rs.push(bytes as f64 / 1e6 / start.elapsed().as_secs_f64());
        let start = Instant::now();
        for f in &files {
            let _ = std::hint::black_box(feed2threads::feed::parse::parse_feed(f, None, &base));
        }
        ours.push(bytes as f64 / 1e6 / start.elapsed().as_secs_f64());
    }
    let (a, b) = (support::median(feed_rs), support::median(ours));
    println!("feed-rs alone: {a:.0} MB/s");
    println!("parse_feed:    {b:.0} MB/s ({:.2}x feed-rs's time)", a / b);
}
