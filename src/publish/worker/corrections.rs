//! What the worker does differently for a correction's reply (`on_update = "reply"`):
//! it is paced like a post (see `calls::gate_for`), and one superseded by a newer
//! headline of the same story while it waited (the worker may hold it through a pacing
//! wait, where the poll cannot drop it) is dropped before it starts, so only the latest
//! headline goes out.
//!
//! Must not hold SQL or decide what a correction is (`crate::corrections` and the store
//! do).

use super::steps::Trip;
use super::{AccountPublisher, Outcome};
use crate::publish::PublishError;
use crate::store::now_unix;

impl AccountPublisher {
    /// Whether the reply a trip carries is a correction's, paced like a post.
    pub(super) async fn is_correction(&self, trip: &Trip) -> Result<bool, PublishError> {
        Ok(self.store.is_correction_reply(trip.post()).await?)
    }

    /// `Some`: the correction is superseded by a newer one of its story, and dropped.
    pub(super) async fn drop_if_superseded(
        &mut self,
        trip: &Trip,
    ) -> Result<Option<Outcome>, PublishError> {
        let post = trip.post();
        let Some(newer) = self.store.correction_superseded_by(post).await? else {
            return Ok(None);
        };
        let reason = format!(
            "superseded by a newer headline before it went out (update {newer} of post {})",
            trip.row().options.reply_to.unwrap_or_default()
        );
        let now = now_unix();
        let stored = self
            .store
            .outbox_dropped(&trip.held.claim, &reason, now)
            .await?;
        if stored.is_stale() {
            return Ok(Some(Outcome::Skipped { post }));
        }
        tracing::info!("dropped: {reason}");
        crate::metrics::record_dropped(&self.settings.name, "superseded");
        Ok(Some(Outcome::Dropped { post, reason }))
    }
}
