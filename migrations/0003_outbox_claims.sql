-- The publishing worker that holds a post. A worker claims a queued post atomically
-- (`UPDATE ... WHERE id = ? AND state = 'queued' AND claimed_by IS NULL`), and every later
-- transition of the post names its holder, so no worker can move a post another one holds.
-- NULL: nobody holds it. Rows left in flight by an older version hold NULL too; the next
-- worker of their account adopts them when it starts.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
