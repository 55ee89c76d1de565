//! The integration tests, one crate: each file is a module, `support` holds the shared
//! local feed server and fake Threads API.

mod auth;
mod cli;
mod closed_output;
mod compose;
mod compose_corpus;
mod compose_fake;
mod config;
mod config_mistakes;
mod corpus;
mod daemon_lock;
mod deploy;
mod dry_run;
mod fates;
mod fetch;
mod fetch_safety;
mod html_tokens;
mod http;
mod ingest;
mod kill9;
mod no_credentials;
mod opml;
mod outbox_claims;
mod poll_panic;
mod publish;
mod reload;
mod run_once;
mod secrets;
mod store_outage;
mod support;
mod threads_client;
