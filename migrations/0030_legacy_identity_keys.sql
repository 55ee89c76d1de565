-- Identity keys written before this migration were made by rules that dropped every URL
-- fragment from canonical links and keyed two items sharing a link by their content
-- hash. Today's rules keep a fragment that tells two stories on one page apart, so an
-- item's keys can differ from those an earlier release stored for it.
--
-- At a feed's first ingest under today's rules (feeds.identity_rules < 2), an item that
-- is not known by its keys is also looked up by its keys in the old form, and one found
-- so is recorded under its new keys: after that ingest the feed needs the old form no
-- more. The lookup only matches rows stored before this migration (item ids up to
-- legacy_keys_max_item_id), so an old-form key written since (a page without a
-- fragment) never stands for a story that has one.
CREATE TABLE store_meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO store_meta (name, value)
    SELECT 'legacy_keys_max_item_id', COALESCE(MAX(id), 0) FROM items;
ALTER TABLE feeds ADD COLUMN identity_rules INTEGER NOT NULL DEFAULT 1;
