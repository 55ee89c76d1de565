-- Account leases (issue 14): which daemon (node) publishes for an account, until when, and
-- the fencing token of that ownership. `fence` grows by one with every new owner (a node
-- that takes a lapsed lease, or takes its own again after a restart); every outbox
-- transition of a publisher names the fence it holds, so a node that lost its lease (paused,
-- cut off) moves no post. `lease_until` is in the database's clock (unix seconds), never a
-- node's. On SQLite one daemon holds the store (the lock file); the leases run all the same.
CREATE TABLE account_leases (
    account_id  BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    owner       TEXT    NOT NULL,
    fence       BIGINT  NOT NULL,
    lease_until BIGINT  NOT NULL
);
