//! The publish harness's store-level tests (tests/it/publish.rs, outbox_claims.rs) run a
//! second time, the same bodies, on a PostgreSQL store: exactly once under lost answers,
//! code 10 and random faults, reconciliation after a crash, two workers of one account,
//! a token refresh surviving a restart. The SQLite-only ones (a trigger that fails writes)
//! are left out. Each gets a fresh database; without `FEED2THREADS_TEST_PG` they pass with
//! a notice.

use crate::support::pg::on_postgres;

#[test]
fn text_posts_publish_once_in_order_at_about_four_calls_each() {
    on_postgres(crate::publish::text_posts_publish_once_in_order_at_about_four_calls_each);
}

#[test]
fn media_error_falls_back_to_a_text_post_with_the_link() {
    on_postgres(crate::publish::media_error_falls_back_to_a_text_post_with_the_link);
}

#[test]
fn drop_after_publish_is_reconciled_not_republished() {
    on_postgres(crate::publish::drop_after_publish_is_reconciled_not_republished);
}

#[test]
fn code_10_after_publish_is_reconciled_not_republished() {
    on_postgres(crate::publish::code_10_after_publish_is_reconciled_not_republished);
}

#[test]
fn every_fault_at_once_with_random_faults() {
    on_postgres(crate::publish::every_fault_at_once_with_random_faults);
}

#[test]
fn post_published_before_a_crash_is_recorded_not_republished() {
    on_postgres(crate::publish::post_published_before_a_crash_is_recorded_not_republished);
}

#[test]
fn post_marked_publishing_but_never_sent_is_published_once() {
    on_postgres(crate::publish::post_marked_publishing_but_never_sent_is_published_once);
}

#[test]
fn expired_container_left_in_flight_is_replaced() {
    on_postgres(crate::publish::expired_container_left_in_flight_is_replaced);
}

#[test]
fn spent_quota_stops_publishing_without_a_call_storm() {
    on_postgres(crate::publish::spent_quota_stops_publishing_without_a_call_storm);
}

#[test]
fn token_refresh_is_stored_and_survives_a_restart() {
    on_postgres(crate::publish::token_refresh_is_stored_and_survives_a_restart);
}

#[test]
fn rejected_token_pauses_only_its_account() {
    on_postgres(crate::publish::rejected_token_pauses_only_its_account);
}

#[test]
fn two_workers_of_one_account_publish_each_post_once() {
    on_postgres(crate::outbox_claims::two_workers_of_one_account_publish_each_post_once);
}

#[test]
fn a_post_another_worker_holds_is_left_alone() {
    on_postgres(crate::outbox_claims::a_post_another_worker_holds_is_left_alone);
}

#[test]
fn a_crash_between_claim_and_container_leaves_a_post_the_next_worker_takes() {
    on_postgres(crate::outbox_claims::a_crash_between_claim_and_container_leaves_a_post_the_next_worker_takes);
}
