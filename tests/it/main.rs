//! The integration tests, one crate: each file is a module, `support` holds the shared
//! local feed server and fake Threads API.

mod auth;
mod cli;
mod compose;
mod compose_corpus;
mod compose_fake;
mod config;
mod corpus;
mod deploy;
mod desk;
mod desk_browser;
mod fetch;
mod http;
mod ingest;
mod kill9;
mod opml;
mod outbox_claims;
mod publish;
mod review;
mod support;
mod threads_client;
