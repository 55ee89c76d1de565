-- The order in which a worker takes queued posts: the smallest first, ties by id. Set when a
-- post enters the outbox to its story's date (else when it was queued), as the queue was
-- ordered until now; a flood released with `release_order = "newest"` is given keys that put
-- its newest story first, in the place the batch had in the queue.
--
-- Posts waiting for an editor (`review`) need no column: `state` says it.
ALTER TABLE outbox ADD COLUMN queue_order INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET queue_order = COALESCE(item_date, created_at);
CREATE INDEX outbox_account_queue ON outbox (account_id, state, queue_order, id);
