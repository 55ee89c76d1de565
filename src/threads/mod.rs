//! The Threads API client: typed requests, typed errors. Knows nothing of feeds.
