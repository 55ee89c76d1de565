-- The seen set is looked up and inserted by its primary key only. As a rowid table it kept
-- every key twice (the table and its primary-key index); without rowid the key lives once,
-- which halves the pages a cold cycle's ingests write.
CREATE TABLE seen_keys_by_key (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    item_id    INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
INSERT INTO seen_keys_by_key (account_id, key, item_id)
    SELECT account_id, key, item_id FROM seen_keys;
DROP TABLE seen_keys;
ALTER TABLE seen_keys_by_key RENAME TO seen_keys;
