//! The outbox's column types: a post's state and media type as stored (TEXT, the same
//! values the schema always held), and the answer of a conditional state change.
//!
//! Owns only the vocabulary; the statements that move posts between states live beside it
//! (`outbox`, `claim`, `admin`).

use crate::compose::Media;
use std::fmt;

/// Where a post is in its life. Stored as its snake_case name (`container_created`).
///
/// `review` / `held` → `queued` → `container_created` → `publishing` → `published`, or
/// `failed` / `expired` / `dropped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "snake_case")]
pub enum OutboxState {
    /// Composed for a feed with `review = true`: waits for an editor to approve (or edit,
    /// or drop) it. No worker touches it.
    Review,
    /// Held by the flood guard until an operator runs `release`.
    Held,
    /// Waiting for its turn (a worker may already hold it: see `claimed_by`).
    Queued,
    /// A container exists (id stored); not yet asked to publish.
    ContainerCreated,
    /// Publish was called; the outcome is not yet recorded. After a crash or a lost
    /// answer this state means "reconcile before anything else".
    Publishing,
    Published,
    Failed,
    /// Grew older than `max_age` while waiting.
    Expired,
    /// Removed by an operator.
    Dropped,
}

impl OutboxState {
    pub const ALL: [OutboxState; 9] = [
        OutboxState::Review,
        OutboxState::Held,
        OutboxState::Queued,
        OutboxState::ContainerCreated,
        OutboxState::Publishing,
        OutboxState::Published,
        OutboxState::Failed,
        OutboxState::Expired,
        OutboxState::Dropped,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Review => "review",
            OutboxState::Held => "held",
            OutboxState::Queued => "queued",
            OutboxState::ContainerCreated => "container_created",
            OutboxState::Publishing => "publishing",
            OutboxState::Published => "published",
            OutboxState::Failed => "failed",
            OutboxState::Expired => "expired",
            OutboxState::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        OutboxState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// States in which a post is in flight: it may exist on Threads already.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            OutboxState::ContainerCreated | OutboxState::Publishing
        )
    }

    /// States in which a post waits for a person (an editor's review, a flood release):
    /// nothing publishes it until someone acts.
    pub fn waits_for_a_person(self) -> bool {
        matches!(self, OutboxState::Review | OutboxState::Held)
    }

    /// States a publishing worker still has work in.
    pub fn unfinished(self) -> bool {
        matches!(self, OutboxState::Queued) || self.in_flight()
    }
}

impl fmt::Display for OutboxState {
    /// `pad`, so that width and alignment (`{:<18}`) apply as they do to a `&str`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Compares with the stored text: `row.state == "published"`.
impl PartialEq<&str> for OutboxState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The container a post needs. Stored as the API's value (`TEXT`, `IMAGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "UPPERCASE")]
pub enum MediaType {
    Text,
    Image,
}

impl MediaType {
    /// The stored value, which is also the API's `media_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Text => "TEXT",
            MediaType::Image => "IMAGE",
        }
    }
}

impl From<&Media> for MediaType {
    fn from(media: &Media) -> Self {
        match media {
            Media::Text => MediaType::Text,
            Media::Image { .. } => MediaType::Image,
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for MediaType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a conditional state change did. Every change names the states the post may leave
/// (and, for a held post, its holder); `Stale` means the post was no longer there: an
/// operator acted on it, or another worker holds it. Nothing was written.
#[must_use = "a stale transition means the post is no longer ours to move"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Applied,
    Stale,
}

impl Transition {
    /// From the rows an `UPDATE … WHERE id = ? …` changed.
    pub(crate) fn from_rows(rows: u64) -> Transition {
        if rows == 1 {
            Transition::Applied
        } else {
            Transition::Stale
        }
    }

    pub fn applied(self) -> bool {
        self == Transition::Applied
    }

    pub fn is_stale(self) -> bool {
        self == Transition::Stale
    }
}

/// `'a', 'b'`: states for a `state IN (…)` clause. The values are our own constants.
pub(crate) fn sql_list(states: &[OutboxState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_pads_like_a_str() {
        assert_eq!(
            format!("[{:<18}]", OutboxState::Queued),
            "[queued            ]"
        );
        assert_eq!(format!("{:>6}", MediaType::Text), "  TEXT");
        assert_eq!(
            format!("{}", OutboxState::ContainerCreated),
            "container_created"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in OutboxState::ALL {
            assert_eq!(OutboxState::parse(s.as_str()), Some(s));
            assert!(s == s.as_str());
        }
        assert_eq!(OutboxState::parse("claimed"), None);
        assert_eq!(
            sql_list(&[OutboxState::Queued, OutboxState::Publishing]),
            "'queued', 'publishing'"
        );
    }
}
