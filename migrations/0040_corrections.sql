-- Corrections (issue 13, `on_update = "reply"`): a published story whose headline changes
-- materially gets a reply with the new headline, once per change.

-- The headline each published post's story is known by: the title at first sight (what
-- the post was composed from) until a change is replied to, then the new one. A row is
-- written only when a change is acted on; before that the item's own `items.title` is
-- the headline. `revision` counts the changes replied to, and names each reply
-- (`reply:<post>:update:<revision>`), so the same change is never queued twice.
CREATE TABLE corrections (
    post_id    INTEGER PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    title      TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Each reply queued for a change: what the worker paces like a post (a first reply is
-- not paced: it completes a post just out), and what a newer change supersedes while it
-- still waits.
CREATE TABLE correction_replies (
    reply_id   INTEGER PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    post_id    INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    revision   INTEGER NOT NULL,
    old_title  TEXT    NOT NULL,
    new_title  TEXT    NOT NULL
);
CREATE INDEX correction_replies_post ON correction_replies (post_id);
