-- Editorial control (issue 13): posting windows, caps, Threads' newer options, replies.

-- Why a queued post waits past `not_before`, when a posting window or a feed's cap holds it:
-- 'window' | 'cap'; NULL otherwise (a retry's backoff, or not waiting). `wait_note` says it
-- for people ("outside the posting window 06:30-23:00 (Europe/Berlin); goes at …").
ALTER TABLE outbox ADD COLUMN wait_kind TEXT;
ALTER TABLE outbox ADD COLUMN wait_note TEXT;

-- Threads' options, composed with the post and sent with its container.
ALTER TABLE outbox ADD COLUMN text_attachment TEXT;            -- long text under the post
ALTER TABLE outbox ADD COLUMN attachment_link TEXT;            -- its link_attachment_url
ALTER TABLE outbox ADD COLUMN reply_approvals INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN ghost INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN first_reply TEXT;                -- queued as a reply once published

-- A reply is an outbox row of its own, so it is claimed, reconciled after a lost answer
-- and counted (quota, status) exactly like a post: `reply_to` is the post it answers, and
-- it is created (in the transaction that records that post published) queued. Its item is
-- a row of `items` with disposition 'reply' and the key 'reply:<post id>:<tag>', which
-- makes each reply unique (the first reply's tag is 'link').
ALTER TABLE outbox ADD COLUMN reply_to INTEGER REFERENCES outbox(id) ON DELETE CASCADE;

-- A feed's caps count its publishes of the last 24 h.
CREATE INDEX outbox_feed_published ON outbox (feed_id, published_at);
