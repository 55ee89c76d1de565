//! The integration tests, one crate: each file is a module, `support` holds the shared
//! local feed server and fake Threads API.

mod auth;
mod cli;
mod closed_output;
mod compose;
mod compose_corpus;
mod compose_fake;
mod config;
mod corpus;
mod daemon_lock;
mod deploy;
mod desk;
mod desk_browser;
mod dry_run;
mod fetch;
mod fetch_safety;
mod html_tokens;
mod http;
mod ingest;
mod kill9;
mod opml;
mod outbox_claims;
mod poll_panic;
mod publish;
mod review;
mod run_once;
mod store_outage;
mod support;
mod threads_client;
