-- The daemons running on this database, by node name (store.node, or host:pid). A daemon
-- registers its name at start with an incarnation (random, one per process) and keeps
-- `alive_until` ahead with its heartbeat, in the database's clock (unix seconds). A second
-- daemon given the same name finds it held by a live incarnation and refuses to start:
-- both would believe they own the same account leases and feed claims. A crashed one's
-- row lapses; a clean stop deletes it. SQLite needs no such table: one daemon holds the
-- store's lock file.
CREATE TABLE nodes (
    name        TEXT PRIMARY KEY,
    incarnation TEXT   NOT NULL,
    host        TEXT   NOT NULL,
    pid         BIGINT NOT NULL,
    since       BIGINT NOT NULL,
    alive_until BIGINT NOT NULL
);
