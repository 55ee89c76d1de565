-- feed2threads schema, version 1.
-- Written in the common subset of SQLite and PostgreSQL where practical: timestamps are
-- integer unix seconds, booleans are integers, ids are integer keys.

CREATE TABLE accounts (
    id                 INTEGER PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    -- The token the account publishes with. Seeded from the config once; after that the
    -- stored (refreshed) token wins.
    access_token       TEXT,
    token_source       TEXT,             -- 'config' | 'auth' | 'refresh'
    token_issued_at    INTEGER,          -- when we obtained this token (refresh needs >= 24 h age)
    token_expires_at   INTEGER,          -- unix seconds; NULL when unknown
    threads_user_id    TEXT,
    username           TEXT,
    paused_reason      TEXT,             -- non-NULL: publishing paused until a human acts
    quota_total        INTEGER,          -- from threads_publishing_limit
    quota_duration     INTEGER,          -- seconds
    quota_usage        INTEGER,
    quota_checked_at   INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE feeds (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT    NOT NULL UNIQUE,
    url                  TEXT    NOT NULL,           -- as configured
    fetch_url            TEXT    NOT NULL,           -- url, or where a permanent redirect sent us
    account_id           INTEGER NOT NULL REFERENCES accounts(id),
    etag                 TEXT,
    last_modified        TEXT,
    body_hash            TEXT,                       -- sha256 of the last parsed body
    baseline_done        INTEGER NOT NULL DEFAULT 0, -- first successful poll happened
    last_polled_at       INTEGER,
    last_success_at      INTEGER,
    last_result          TEXT,                       -- 'new' | 'unchanged' | 'not_modified' | error class
    last_error           TEXT,
    failing_since        INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_check_at        INTEGER NOT NULL DEFAULT 0,
    items_seen           INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

-- Every item ever recognised, per feed. Rows are never deleted while their keys matter:
-- they are the tombstones that keep a story from coming back as new.
CREATE TABLE items (
    id            INTEGER PRIMARY KEY,
    feed_id       INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    item_key      TEXT    NOT NULL,      -- per-feed identity (guid, link or content hash)
    title         TEXT,
    link          TEXT,
    published_at  INTEGER,
    first_seen_at INTEGER NOT NULL,
    disposition   TEXT    NOT NULL,      -- queued | held | backlog | too_old | filtered | duplicate | invalid
    UNIQUE (feed_id, item_key)
);

-- The account-wide seen set: every identity key (per-feed key and aliases) of every item
-- an account has recognised, from any feed. An item is new only if none of its keys is here.
CREATE TABLE seen_keys (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    item_id    INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
);

-- The publishing queue and its state machine:
--   held -> queued -> container_created -> publishing -> published
--                                 \-> failed | expired | dropped
CREATE TABLE outbox (
    id                   INTEGER PRIMARY KEY,
    account_id           INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    item_id              INTEGER NOT NULL UNIQUE REFERENCES items(id) ON DELETE CASCADE,
    feed_id              INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    state                TEXT    NOT NULL,
    -- the composed post, validated before it was queued
    text                 TEXT    NOT NULL,
    link_attachment      TEXT,
    topic_tag            TEXT,
    media_type           TEXT    NOT NULL DEFAULT 'TEXT',
    image_url            TEXT,
    alt_text             TEXT,
    reply_control        TEXT,
    -- publishing progress
    container_id         TEXT,
    container_created_at INTEGER,
    publish_started_at   INTEGER,
    media_id             TEXT,
    permalink            TEXT,
    attempts             INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    not_before           INTEGER NOT NULL DEFAULT 0,
    item_date            INTEGER,              -- the item's own date, for max_age while waiting
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    published_at         INTEGER
);
CREATE INDEX outbox_account_state ON outbox (account_id, state, id);
CREATE INDEX outbox_account_published ON outbox (account_id, published_at);

-- Liveness of the daemon, for `status --check`.
CREATE TABLE heartbeat (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    pid        INTEGER NOT NULL,
    beat_at    INTEGER NOT NULL
);
