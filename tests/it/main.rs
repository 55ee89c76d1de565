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
mod dry_run;
mod editorial_config;
mod editorial_gate;
mod editorial_options;
mod editorial_replies;
mod editorial_visible;
mod fetch;
mod fetch_safety;
mod html_tokens;
mod http;
mod ingest;
mod kill9;
mod kill9_replies;
mod logs_for_people;
mod metrics_docs;
mod opml;
mod outbox_claims;
mod poll_panic;
mod publish;
mod redaction_shown;
mod run_once;
mod status_check;
mod store_outage;
mod support;
mod threads_client;
