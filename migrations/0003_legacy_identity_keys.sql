-- Identity keys written before this migration were made by rules that dropped every URL
-- fragment from canonical links and keyed two items sharing a link by their content
-- hash. Today's rules keep a fragment that tells two stories on one page apart, so an
-- item's key can differ from the one an earlier release stored for it. An item whose
-- keys differ is matched against its keys in the old form too, but only against rows
-- stored before this migration (item ids up to this value): a key in the old form
-- written from now on (a page without a fragment) must not swallow a story that has one.
CREATE TABLE store_meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO store_meta (name, value)
    SELECT 'legacy_keys_max_item_id', COALESCE(MAX(id), 0) FROM items;
