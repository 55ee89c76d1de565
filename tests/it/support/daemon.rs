//! The real binary's `run` as a child process, its log (stderr) collected as it comes, so
//! a test can wait for a line while the daemon runs.
#![allow(dead_code, reason = "each test module uses a part of it")]

use super::test_app::TestApp;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// A daemon started with `run`, its log collected as it comes.
pub struct Daemon {
    pub child: tokio::process::Child,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    pub fn start(app: &TestApp) -> Daemon {
        let mut child = app
            .command(&["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = lines;
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Daemon { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 90 s) until the log holds `text`.
    pub async fn logged(&self, text: &str) {
        for _ in 0..900 {
            if self.log().contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never logged {text:?}:\n{}", self.log());
    }

    /// Waits (up to 90 s) for it to exit: its code and whole log.
    pub async fn exit_code(mut self) -> (Option<i32>, String) {
        let status = tokio::time::timeout(Duration::from_secs(90), self.child.wait())
            .await
            .expect("the daemon exits")
            .unwrap();
        // The reader task gets the last lines once the pipe closes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status.code(), self.log())
    }

    /// SIGTERM, then [`Daemon::exit_code`].
    pub async fn terminate(self) -> (Option<i32>, String) {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.exit_code().await
    }
}
