//! The Threads API client: typed requests, typed errors. Knows nothing of feeds.
//!
//! - [`client`]: [`ThreadsClient`], one method per API call, per-call timeouts, no retries.
//! - [`error`]: [`ThreadsError`] (both error body shapes, network failures split by whether the
//!   request may have reached the server) and [`ErrorAction`], what the caller should do.
//! - [`types`]: request and response types, including the wire quirks (offsets without a colon,
//!   numeric-or-string user ids, container vs media ids).
//!
//! This module must not retry, sleep, check posting limits or touch the store: those decisions
//! belong to `publish`, which reads [`ThreadsError::action`].

pub mod client;
pub mod error;
pub mod types;

pub use client::{API_VERSION, ClientConfig, DEFAULT_API_BASE, InvalidConfig, ThreadsClient};
pub use error::{ApiError, Call, ErrorAction, ErrorKind, ErrorShape, ThreadsError};
pub use types::{
    AccessToken, AttachedText, ContainerId, ContainerState, ContainerStatus, ImageContainer, Me,
    MediaId, NewContainer, Post, PublishingLimit, RecentPosts, ReplyControl, ShortLivedToken,
    TextContainer, TokenInfo,
};
