-- Due feeds claimed across daemons (issue 14): the node polling a feed now, and until when
-- its claim holds (the database's unix seconds). A node that dies mid-poll loses the claim
-- when it lapses; a poll that ends moves next_check_at, so the feed is not due again.
ALTER TABLE feeds ADD COLUMN claimed_by TEXT;
ALTER TABLE feeds ADD COLUMN lease_until BIGINT;
