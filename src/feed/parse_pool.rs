//! The parser threads: a fixed pool, one thread per core, running at a lower CPU priority
//! than the rest of the daemon.
//!
//! Why not `spawn_blocking`: parsing is the daemon's bulk CPU work, and on a busy cycle it
//! would keep every core busy while the store's single writer (and the async threads that
//! feed it statements) waited for a time slice between parses. The writer is serial, so
//! every millisecond it waits stretches the whole cycle. At nice +10 a parser yields the
//! core as soon as the writer or the async threads have work, and still gets all of it
//! when they do not. A fixed set of threads also keeps parsing's allocations in a fixed
//! set of allocator arenas instead of spreading them over whichever blocking threads
//! tokio happens to pick, which keeps peak memory down.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

/// How much lower than the daemon's other threads parsers run (a nice increment).
const PARSER_NICENESS: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// A handle to the parser threads; cheap to clone. The threads end when the last handle
/// is dropped.
#[derive(Debug, Clone)]
pub struct ParsePool {
    jobs: Sender<Job>,
}

/// The job did not produce a result: it panicked (the parser catches its own panics, so
/// this is a bug elsewhere) or the pool's threads are gone.
#[derive(Debug, thiserror::Error)]
#[error("the parser thread did not return a result")]
pub struct ParsePoolError;

impl ParsePool {
    /// Start `threads` parser threads (at least one).
    pub fn new(threads: usize) -> Self {
        let (sender, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = std::sync::Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("feed-parser-{n}"))
                .spawn(move || work(&receiver));
            if let Err(e) = spawned {
                // Fewer parsers is slower, not wrong; with none at all every parse
                // fails with a clear error instead of hanging.
                tracing::error!("cannot start parser thread {n}: {e}");
            }
        }
        ParsePool { jobs: sender }
    }

    /// One parser thread per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Run `job` on a parser thread; returns its result and how long it ran (not counting
    /// the wait for a free thread).
    pub async fn run<T, F>(&self, job: F) -> Result<(T, Duration), ParsePoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let started = Instant::now();
            let result = job();
            // The caller may have gone away (a cancelled poll); nothing to do then.
            let _ = tx.send((result, started.elapsed()));
        });
        self.jobs.send(job).map_err(|_| ParsePoolError)?;
        rx.await.map_err(|_| ParsePoolError)
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = {
            let receiver = receiver.lock().unwrap_or_else(|e| e.into_inner());
            receiver.recv()
        };
        let Ok(job) = job else { return };
        // A panicking job drops its result sender (its caller gets an error) and must not
        // take the thread with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Lower this thread's CPU priority. On Linux the nice value belongs to the thread, so
/// the rest of the daemon keeps its own.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let me = rustix::thread::gettid();
        let current = rustix::process::getpriority_process(Some(me)).unwrap_or(0);
        if let Err(e) = rustix::process::setpriority_process(Some(me), current + PARSER_NICENESS) {
            // Once per process: every parser thread would say the same.
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "parser threads keep the daemon's CPU priority (setpriority: {e}); on busy \
                     cycles the store's writer may wait for parsing. A seccomp filter that \
                     denies setpriority (systemd's @resources) causes this."
                );
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_pool_and_a_panic_leaves_it_working() {
        let pool = ParsePool::new(2);
        let (name, _) = pool
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("feed-parser-"));

        // A panic without the hook (whose backtrace, under RUST_BACKTRACE=1, costs a
        // second): the pool sees the same unwinding.
        let bug = || std::panic::resume_unwind(Box::new("a bug in a job"));
        assert!(pool.run(bug).await.is_err());

        // Both threads still take jobs: two jobs that wait for each other finish only
        // if they run at once.
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let both = async {
            tokio::join!(
                pool.run({
                    let barrier = barrier.clone();
                    move || barrier.wait().is_leader()
                }),
                pool.run({
                    let barrier = barrier.clone();
                    move || barrier.wait().is_leader()
                }),
            )
        };
        let (a, b) = tokio::time::timeout(Duration::from_secs(10), both)
            .await
            .expect("two jobs run at once");
        assert_ne!(a.unwrap().0, b.unwrap().0, "exactly one leader");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn parser_threads_run_at_a_lower_priority_than_the_caller() {
        let pool = ParsePool::new(1);
        let own = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let (parser, _) = pool
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
            .await
            .unwrap();
        assert_eq!(parser.unwrap(), (own + PARSER_NICENESS).min(19));
    }
}
