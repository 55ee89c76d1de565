//! Per-account publishing workers: outbox claim, quota, pacing, retries, reconciliation.
