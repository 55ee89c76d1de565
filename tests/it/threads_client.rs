//! The Threads client against the fake Threads server: the happy path, every failure mode the
//! fake can produce and the action the client assigns to it, the token endpoints, paging, the
//! API's own limits, and that no token ever shows in an error.

use crate::support::fake_threads;

use std::time::Duration;

use chrono::Utc;
use fake_threads::{
    APP_ID, APP_SECRET, Endpoint, FakeThreads, MediaOutcome, PublishFault, REDIRECT_URI,
    RandomFaults, Switches, TokenKind, USER_ID, USERNAME,
};
use feed2threads::threads::{
    ClientConfig, ContainerId, ContainerState, ErrorAction, ErrorKind, ErrorShape, ImageContainer,
    NewContainer, ReplyControl, TextContainer, ThreadsClient, ThreadsError,
};
use secrecy::{ExposeSecret, SecretString};

fn client(fake: &FakeThreads) -> ThreadsClient {
    ThreadsClient::new(
        ClientConfig::new(fake.base_url())
            .with_publish_timeout(Duration::from_secs(5))
            .with_request_timeout(Duration::from_secs(5)),
    )
    .unwrap()
}

fn text(t: &str) -> NewContainer {
    NewContainer::Text(TextContainer::new(t))
}

/// Every rendering of an error a log or a user could see.
fn renderings(err: &ThreadsError) -> String {
    let mut s = format!("{err}\n{err:?}\n{:#}", anyhow::Error::msg(err.to_string()));
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        s.push_str(&format!("\n{e}\n{e:?}"));
        source = e.source();
    }
    s
}

async fn create(c: &ThreadsClient, token: &SecretString, body: &str) -> ContainerId {
    c.create_container(token, &text(body)).await.unwrap()
}

#[tokio::test]
async fn happy_path_text_post() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();

    let container = c
        .create_container(
            &token,
            &NewContainer::Text(TextContainer {
                text: "Storm closes the harbour".into(),
                link_attachment: Some("https://news.example/storm".into()),
                topic_tag: Some("Weather".into()),
                reply_control: Some(ReplyControl::Everyone),
                ..TextContainer::default()
            }),
        )
        .await
        .unwrap();
    let status = c.container_status(&token, &container).await.unwrap();
    assert_eq!(status.status, ContainerState::Finished);
    assert_eq!(status.id, container);

    let media = c.publish(&token, &container).await.unwrap();
    let post = c.get_post(&token, &media).await.unwrap();
    assert_eq!(post.id, media);
    let permalink = post.permalink.unwrap();
    assert!(permalink.starts_with(&format!("https://www.threads.net/@{USERNAME}/post/")));
    assert_eq!(post.text.as_deref(), Some("Storm closes the harbour"));
    assert_eq!(
        post.link_attachment_url.as_deref(),
        Some("https://news.example/storm")
    );
    assert_eq!(post.topic_tag.as_deref(), Some("Weather"));
    assert_eq!(post.media_type.as_deref(), Some("TEXT_POST"));
    assert!(post.timestamp.is_some());

    let status = c.container_status(&token, &container).await.unwrap();
    assert_eq!(status.status, ContainerState::Published);

    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].creation_id, container.as_str());
    assert_eq!(posts[0].id, media.as_str());
    assert!(fake.duplicates().is_empty());

    let limit = c.publishing_limit(&token).await.unwrap();
    assert_eq!(
        (limit.quota_usage, limit.quota_total, limit.quota_duration),
        (1, 250, 86400)
    );
    assert_eq!(limit.remaining(), 249);

    let me = c.me(&token).await.unwrap();
    assert_eq!(me.id, USER_ID.to_string());
    assert_eq!(me.username.as_deref(), Some(USERNAME));

    assert_eq!(fake.calls(Endpoint::CreateContainer), 1);
    assert_eq!(fake.calls(Endpoint::Publish), 1);
    assert_eq!(fake.calls(Endpoint::ContainerStatus), 2);
    assert_eq!(fake.calls(Endpoint::GetPost), 1);
}

#[tokio::test]
async fn copyrighted_post_has_no_permalink() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    let container = create(&c, &token, "song lyrics").await;
    let media = c.publish(&token, &container).await.unwrap();
    fake.update(|s| s.copyrighted = true);
    let post = c.get_post(&token, &media).await.unwrap();
    assert_eq!(post.permalink, None);
}

#[tokio::test]
async fn image_container_goes_in_progress_then_finished() {
    let fake = FakeThreads::start();
    fake.update(|s| s.media_in_progress_polls = 2);
    let c = client(&fake);
    let token = fake.secret_token();
    let mut image = ImageContainer::new("https://cdn.example/photo.jpg");
    image.alt_text = Some("A harbour in a storm".into());
    image.text = Some("Storm: https://news.example/storm".into());
    let container = c
        .create_container(&token, &NewContainer::Image(image))
        .await
        .unwrap();

    // Published too early: the container is not ready.
    let early = c.publish(&token, &container).await.unwrap_err();
    assert_eq!(early.action(), ErrorAction::NotReadyYet);

    let states: Vec<ContainerState> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(c.container_status(&token, &container).await.unwrap().status);
        }
        v
    };
    assert_eq!(
        states,
        vec![
            ContainerState::InProgress,
            ContainerState::InProgress,
            ContainerState::Finished
        ]
    );
    c.publish(&token, &container).await.unwrap();
    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].media_type, "IMAGE");
    assert_eq!(
        posts[0].image_url.as_deref(),
        Some("https://cdn.example/photo.jpg")
    );
}

#[tokio::test]
async fn image_container_goes_in_progress_then_error() {
    let fake = FakeThreads::start();
    fake.update(|s| {
        s.media_in_progress_polls = 1;
        s.media_outcome = MediaOutcome::Error("UNKNOWN".into());
    });
    let c = client(&fake);
    let token = fake.secret_token();
    let container = c
        .create_container(
            &token,
            &ImageContainer::new("https://blocked.example/p.jpg").into(),
        )
        .await
        .unwrap();
    let first = c.container_status(&token, &container).await.unwrap();
    assert_eq!(first.status, ContainerState::InProgress);
    let second = c.container_status(&token, &container).await.unwrap();
    assert_eq!(second.status, ContainerState::Error);
    assert_eq!(second.error_message.as_deref(), Some("UNKNOWN"));

    let err = c.publish(&token, &container).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::Permanent);
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn container_not_yet_visible_is_not_ready_yet() {
    let fake = FakeThreads::start();
    fake.update(|s| s.not_visible_attempts = 2);
    let c = client(&fake);
    let token = fake.secret_token();
    let container = create(&c, &token, "breaking").await;

    for _ in 0..2 {
        let err = c.publish(&token, &container).await.unwrap_err();
        assert_eq!(err.action(), ErrorAction::NotReadyYet);
        assert!(err.is_retryable());
        assert_eq!(err.code(), Some(24));
        assert_eq!(err.subcode(), Some(4_279_009));
        assert_eq!(err.http_status(), Some(400));
        assert_eq!(err.is_transient_flag(), Some(false));
        assert!(err.fbtrace_id().is_some());
    }
    c.publish(&token, &container).await.unwrap();
    assert_eq!(fake.posts().len(), 1);
    assert_eq!(
        fake.container(container.as_str()).unwrap().publish_attempts,
        3
    );
}

#[tokio::test]
async fn container_not_visible_for_a_while_after_creation() {
    let fake = FakeThreads::start();
    fake.update(|s| s.not_visible_for = Duration::from_secs(600));
    let c = client(&fake);
    let token = fake.secret_token();
    let container = create(&c, &token, "breaking").await;
    let err = c.publish(&token, &container).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::NotReadyYet);
    fake.advance(Duration::from_secs(601));
    c.publish(&token, &container).await.unwrap();
}

#[tokio::test]
async fn dropped_connection_after_publish_is_outcome_unknown_and_post_exists() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    let started = Utc::now() - chrono::TimeDelta::seconds(5);
    let container = create(&c, &token, "lost answer").await;
    fake.fail_next_publishes([PublishFault::DropAfterPublish]);

    let err = c.publish(&token, &container).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::OutcomeUnknown, "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.may_have_reached_server());
    assert!(
        matches!(err.kind(), ErrorKind::ConnectionLost { .. }),
        "{err:?}"
    );
    assert_eq!(err.http_status(), None, "must not look like an HTTP answer");

    // The post exists: the container says so, and the listing finds it.
    assert_eq!(fake.posts().len(), 1);
    let status = c.container_status(&token, &container).await.unwrap();
    assert_eq!(status.status, ContainerState::Published);
    let recent = c.recent_posts(&token, started, 25).await.unwrap();
    assert!(recent.complete);
    assert_eq!(recent.posts.len(), 1);
    assert_eq!(recent.posts[0].text.as_deref(), Some("lost answer"));
}

#[tokio::test]
async fn code_10_after_publish_is_outcome_unknown() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    let container = create(&c, &token, "false failure").await;
    fake.fail_next_publishes([PublishFault::Code10AfterPublish]);
    let err = c.publish(&token, &container).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::OutcomeUnknown);
    assert_eq!(err.http_status(), Some(500));
    assert_eq!(err.code(), Some(10));
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn server_error_before_acting_is_outcome_unknown_too() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    let container = create(&c, &token, "not done").await;
    fake.fail_next_publishes([PublishFault::ServerErrorBeforeActing]);
    let err = c.publish(&token, &container).await.unwrap_err();
    // The client can't tell this from a 5xx after acting.
    assert_eq!(err.action(), ErrorAction::OutcomeUnknown);
    assert_eq!(err.http_status(), Some(503));
    assert!(fake.posts().is_empty());
    // Reconciliation: the container is still FINISHED, so publishing again is safe.
    let status = c.container_status(&token, &container).await.unwrap();
    assert_eq!(status.status, ContainerState::Finished);
    c.publish(&token, &container).await.unwrap();
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn dropped_connection_before_acting_is_outcome_unknown_and_nothing_posted() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    let container = create(&c, &token, "dropped early").await;
    fake.fail_next_publishes([PublishFault::DropBeforeActing]);
    let err = c.publish(&token, &container).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::OutcomeUnknown);
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn publish_timeout_is_outcome_unknown() {
    let fake = FakeThreads::start();
    let c = ThreadsClient::new(
        ClientConfig::new(fake.base_url()).with_publish_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    let token = fake.secret_token();
    let container = create(&c, &token, "slow").await;
    fake.fail_next_publishes([PublishFault::DelayAfterPublish(Duration::from_secs(3))]);
    let err = c.publish(&token, &container).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }), "{err:?}");
    assert_eq!(err.action(), ErrorAction::OutcomeUnknown);
    assert_eq!(fake.posts().len(), 1);
}

#[tokio::test]
async fn publishing_a_published_container_again_makes_a_duplicate() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    let container = create(&c, &token, "twice").await;
    c.publish(&token, &container).await.unwrap();
    c.publish(&token, &container).await.unwrap();
    let posts = fake.posts();
    assert_eq!(posts.len(), 2);
    assert!(!posts[0].duplicate);
    assert!(posts[1].duplicate);
    assert_eq!(
        fake.duplicates(),
        vec![((Some("twice".to_owned()), None), 2)]
    );
    assert_eq!(
        fake.container(container.as_str())
            .unwrap()
            .published_as
            .len(),
        2
    );
}

#[tokio::test]
async fn quota_exhaustion_is_quota_spent_until_the_window_moves() {
    let fake = FakeThreads::start();
    fake.update(|s| s.quota_total = 2);
    let c = client(&fake);
    let token = fake.secret_token();
    for i in 0..2 {
        let container = create(&c, &token, &format!("post {i}")).await;
        c.publish(&token, &container).await.unwrap();
    }
    let limit = c.publishing_limit(&token).await.unwrap();
    assert_eq!((limit.quota_usage, limit.quota_total), (2, 2));

    let container = create(&c, &token, "one too many").await;
    let err = c.publish(&token, &container).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::QuotaSpent);
    assert_eq!((err.code(), err.subcode()), (Some(4), Some(2_207_042)));
    assert_eq!(fake.posts().len(), 2);

    fake.advance(Duration::from_secs(24 * 3600 + 1));
    // The old container expired with the day; a new one publishes within the fresh window.
    let err = c.publish(&token, &container).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::Permanent);
    let status = c.container_status(&token, &container).await.unwrap();
    assert_eq!(status.status, ContainerState::Expired);
    let container = create(&c, &token, "one too many").await;
    c.publish(&token, &container).await.unwrap();
    assert_eq!(fake.quota_usage(), 1);
}

#[tokio::test]
async fn expired_token_is_a_token_problem_everywhere() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    let container = create(&c, &token, "before expiry").await;
    fake.update(|s| s.tokens_expired = true);

    let errs = vec![
        c.me(&token).await.unwrap_err(),
        c.create_container(&token, &text("x")).await.unwrap_err(),
        c.publish(&token, &container).await.unwrap_err(),
        c.container_status(&token, &container).await.unwrap_err(),
        c.recent_posts(&token, Utc::now(), 10).await.unwrap_err(),
        c.publishing_limit(&token).await.unwrap_err(),
        c.refresh_token(&token).await.unwrap_err(),
    ];
    for err in errs {
        assert_eq!(err.action(), ErrorAction::TokenProblem, "{err}");
        assert_eq!((err.code(), err.subcode()), (Some(190), Some(463)));
        assert!(!err.is_retryable());
    }
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn token_expires_after_sixty_days() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    fake.advance(Duration::from_secs(61 * 86400));
    let err = c.me(&token).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::TokenProblem);
    // An expired token can't be refreshed.
    let err = c.refresh_token(&token).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::TokenProblem);
    assert_eq!(err.subcode(), Some(463));
}

#[tokio::test]
async fn unknown_token_is_a_token_problem() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let err = c
        .me(&SecretString::from("THAAnot-a-token-at-all"))
        .await
        .unwrap_err();
    assert_eq!(err.action(), ErrorAction::TokenProblem);
    assert_eq!(err.code(), Some(190));
}

#[tokio::test]
async fn refresh_needs_a_token_at_least_a_day_old() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();

    let err = c.refresh_token(&token).await.unwrap_err();
    assert_eq!(err.http_status(), Some(400));
    assert!(err.to_string().contains("24 hours"), "{err}");
    assert_eq!(err.action(), ErrorAction::TokenProblem);

    fake.advance(Duration::from_secs(25 * 3600));
    let refreshed = c.refresh_token(&token).await.unwrap();
    assert_ne!(
        refreshed.access_token.expose_secret(),
        token.expose_secret()
    );
    assert_eq!(refreshed.expires_in, Some(60 * 86400));
    assert_eq!(refreshed.token_type.as_deref(), Some("bearer"));
    assert_eq!(fake.token(), refreshed.access_token.expose_secret());
    assert!(!format!("{refreshed:?}").contains(refreshed.access_token.expose_secret()));

    // The new token works.
    c.me(&refreshed.access_token).await.unwrap();
    let info = c
        .debug_token(&refreshed.access_token, &refreshed.access_token)
        .await
        .unwrap();
    assert!(info.is_valid);
    assert!(info.scopes.iter().any(|s| s == "threads_content_publish"));
    assert_eq!(info.user_id.as_deref(), Some(USER_ID.to_string().as_str()));
    assert!(info.expires().unwrap() > Utc::now() + chrono::TimeDelta::days(59));
}

#[tokio::test]
async fn aged_token_from_issue_token_can_be_refreshed() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let old = fake.issue_token(TokenKind::LongLived, Duration::from_secs(2 * 86400));
    let refreshed = c.refresh_token(&SecretString::from(old)).await.unwrap();
    assert_eq!(fake.token(), refreshed.access_token.expose_secret());
}

#[tokio::test]
async fn code_exchange_is_single_use_with_the_flat_error_shape() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let secret = SecretString::from(APP_SECRET);
    let code = fake.authorization_code();

    // The `#_` Meta appends to the redirect is not part of the code.
    let short = c
        .exchange_code(APP_ID, &secret, &format!("{code}#_"), REDIRECT_URI)
        .await
        .unwrap();
    assert_eq!(short.user_id, USER_ID.to_string());
    c.me(&short.access_token).await.unwrap();

    let err = c
        .exchange_code(APP_ID, &secret, &code, REDIRECT_URI)
        .await
        .unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.shape, ErrorShape::Flat);
    assert_eq!(api.code, Some(400));
    assert_eq!(api.error_type.as_deref(), Some("OAuthException"));
    assert_eq!(
        api.message,
        "Matching code was not found or was already used"
    );
    assert_eq!(err.action(), ErrorAction::Permanent);
    assert!(!renderings(&err).contains(&code), "the code must not leak");
    assert_eq!(fake.calls(Endpoint::ExchangeCode), 2);
}

#[tokio::test]
async fn code_exchange_accepts_user_id_as_string() {
    let fake = FakeThreads::start();
    fake.update(|s| s.user_id_as_string = true);
    let c = client(&fake);
    let short = c
        .exchange_code(
            APP_ID,
            &SecretString::from(APP_SECRET),
            &fake.authorization_code(),
            REDIRECT_URI,
        )
        .await
        .unwrap();
    assert_eq!(short.user_id, USER_ID.to_string());
}

#[tokio::test]
async fn code_exchange_rejects_other_redirect_uri_and_wrong_secret() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let code = fake.authorization_code();
    let err = c
        .exchange_code(
            APP_ID,
            &SecretString::from(APP_SECRET),
            &code,
            "https://feed2threads.example/oauth/callback/",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("redirect_uri"), "{err}");
    let wrong = SecretString::from("not-the-app-secret-at-all");
    let err = c
        .exchange_code(APP_ID, &wrong, &code, REDIRECT_URI)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("client secret"), "{err}");
    assert!(!renderings(&err).contains(wrong.expose_secret()));
}

#[tokio::test]
async fn long_lived_exchange() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let secret = SecretString::from(APP_SECRET);
    let short = c
        .exchange_code(APP_ID, &secret, &fake.authorization_code(), REDIRECT_URI)
        .await
        .unwrap();
    let long = c
        .exchange_long_lived(&secret, &short.access_token)
        .await
        .unwrap();
    assert_eq!(long.expires_in, Some(60 * 86400));
    assert_eq!(fake.token(), long.access_token.expose_secret());
    c.me(&long.access_token).await.unwrap();

    // A wrong secret is rejected and not echoed.
    let wrong = SecretString::from("wrong-secret-0123456789");
    let err = c
        .exchange_long_lived(&wrong, &short.access_token)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(101));
    let shown = renderings(&err);
    assert!(!shown.contains(wrong.expose_secret()));
    assert!(!shown.contains(short.access_token.expose_secret()));

    // An expired short-lived token can't be exchanged.
    fake.advance(Duration::from_secs(2 * 3600));
    let err = c
        .exchange_long_lived(&secret, &short.access_token)
        .await
        .unwrap_err();
    assert_eq!(err.action(), ErrorAction::TokenProblem);
}

#[tokio::test]
async fn recent_posts_filters_by_since_and_follows_pages() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    for i in 0..2 {
        let container = create(&c, &token, &format!("old {i}")).await;
        c.publish(&token, &container).await.unwrap();
    }
    fake.advance(Duration::from_secs(3600));
    let since = fake.now() - chrono::TimeDelta::minutes(30);
    for i in 0..7 {
        let container = create(&c, &token, &format!("new {i}")).await;
        c.publish(&token, &container).await.unwrap();
    }

    fake.reset_calls();
    let recent = c.recent_posts(&token, since, 3).await.unwrap();
    assert!(recent.complete);
    let texts: Vec<_> = recent
        .posts
        .iter()
        .map(|p| p.text.clone().unwrap())
        .collect();
    assert_eq!(texts.len(), 7, "{texts:?}");
    assert!(texts.iter().all(|t| t.starts_with("new ")));
    assert_eq!(fake.calls(Endpoint::ListPosts), 3);
    assert!(recent.posts.iter().all(|p| p.permalink.is_some()));

    // The page bound stops the walk, and says so.
    let bounded = ThreadsClient::new(ClientConfig::new(fake.base_url()).with_max_pages(2)).unwrap();
    let partial = bounded.recent_posts(&token, since, 3).await.unwrap();
    assert_eq!(partial.posts.len(), 6);
    assert!(!partial.complete);

    // Everything, from long ago (clamped to the API's minimum `since`).
    let all = c
        .recent_posts(&token, chrono::DateTime::UNIX_EPOCH, 100)
        .await
        .unwrap();
    assert_eq!(all.posts.len(), 9);
}

#[tokio::test]
async fn over_limit_text_and_too_many_links_are_rejected_as_the_api_does() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();

    // 500 bytes is fine, 501 is not, even though it is only 251 characters.
    c.create_container(&token, &text(&"a".repeat(500)))
        .await
        .unwrap();
    let long = format!("{}a", "é".repeat(250));
    assert_eq!((long.len(), long.chars().count()), (501, 251));
    let err = c.create_container(&token, &text(&long)).await.unwrap_err();
    assert_eq!(err.code(), Some(100));
    assert_eq!(
        err.api().unwrap().message,
        "Param text must be at most 500 characters long"
    );
    assert_eq!(err.action(), ErrorAction::Permanent);

    let five: String = (1..=5)
        .map(|i| format!("https://site{i}.example/a "))
        .collect();
    // Five links, and an attachment equal to one of them: still five.
    let ok = TextContainer {
        text: five.clone(),
        link_attachment: Some("https://site1.example/a".into()),
        ..TextContainer::default()
    };
    c.create_container(&token, &ok.into()).await.unwrap();
    // A sixth, distinct attachment.
    let six = TextContainer {
        text: five.clone(),
        link_attachment: Some("https://other.example/b".into()),
        ..TextContainer::default()
    };
    let err = c.create_container(&token, &six.into()).await.unwrap_err();
    assert!(err.api().unwrap().is_link_limit(), "{err}");
    assert_eq!(err.action(), ErrorAction::Permanent);
    // Six in the text; repeats count once.
    let err = c
        .create_container(
            &token,
            &text(&format!(
                "{five} https://site6.example/x https://site6.example/x"
            )),
        )
        .await
        .unwrap_err();
    assert!(err.api().unwrap().is_link_limit());

    // Topic tags: 1–50 characters, no `.` or `&`.
    for bad in ["", "a.b", "rock&roll", &"x".repeat(51)] {
        let t = TextContainer {
            text: "tagged".into(),
            topic_tag: Some(bad.to_owned()),
            ..TextContainer::default()
        };
        let err = c.create_container(&token, &t.into()).await.unwrap_err();
        assert_eq!(err.action(), ErrorAction::Permanent, "{bad:?}");
    }

    // `link_attachment` is for TEXT posts only; the client can't even express it on an image,
    // so send it raw.
    let raw = reqwest::Client::new()
        .post(fake.base_url().join("v1.0/me/threads").unwrap())
        .form(&[
            ("media_type", "IMAGE"),
            ("image_url", "https://cdn.example/p.jpg"),
            ("link_attachment", "https://news.example/x"),
            ("access_token", token.expose_secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert!(
        raw.text()
            .await
            .unwrap()
            .contains("only supported for TEXT")
    );

    assert!(fake.posts().is_empty());
    assert_eq!(fake.containers().len(), 2);
}

#[tokio::test]
async fn transient_failures_on_reads_and_creation_are_retry_later() {
    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    fake.fail_next(Endpoint::ListPosts, 1);
    fake.fail_next(Endpoint::CreateContainer, 1);
    let err = c.recent_posts(&token, Utc::now(), 10).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::RetryLater);
    assert!(err.is_retryable());
    let err = c.create_container(&token, &text("x")).await.unwrap_err();
    assert_eq!(err.action(), ErrorAction::RetryLater);
    // And then they work.
    c.recent_posts(&token, Utc::now(), 10).await.unwrap();
    c.create_container(&token, &text("x")).await.unwrap();
}

#[tokio::test]
async fn connection_refused_is_certainly_not_sent() {
    // A port nobody listens on.
    let port = crate::support::free_addr().port();
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let c = ThreadsClient::new(ClientConfig::new(base)).unwrap();
    let token = SecretString::from("THAAsecret-token-for-refused-connection");
    let err = c
        .publish(&token, &ContainerId::new("123"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connect { .. }), "{err:?}");
    assert!(!err.may_have_reached_server());
    assert_eq!(err.action(), ErrorAction::RetryLater);
    let err = c.me(&token).await.unwrap_err();
    assert!(!renderings(&err).contains(token.expose_secret()));
}

#[tokio::test]
async fn token_never_appears_in_errors() {
    let fake = FakeThreads::start();
    let token = fake.secret_token();
    let secret = token.expose_secret().to_owned();
    let c = client(&fake);
    let slow = ThreadsClient::new(
        ClientConfig::new(fake.base_url()).with_publish_timeout(Duration::from_millis(100)),
    )
    .unwrap();
    let container = create(&c, &token, "secret keeping").await;

    let mut errors = Vec::new();
    // An API error on a GET whose URL carries the token.
    fake.fail_next(Endpoint::ListPosts, 1);
    errors.push(c.recent_posts(&token, Utc::now(), 5).await.unwrap_err());
    // A lost connection and a timeout on publish.
    fake.fail_next_publishes([
        PublishFault::DropAfterPublish,
        PublishFault::DelayAfterPublish(Duration::from_secs(2)),
    ]);
    errors.push(c.publish(&token, &container).await.unwrap_err());
    errors.push(slow.publish(&token, &container).await.unwrap_err());
    // A GET timeout: reqwest's error would carry the URL with the token. The server accepts
    // and never answers.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_url = url::Url::parse(&format!("http://{}/", hole.local_addr().unwrap())).unwrap();
    let holder = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((sock, _)) = hole.accept().await {
            kept.push(sock);
        }
    });
    let get_timeout = ThreadsClient::new(
        ClientConfig::new(hole_url).with_request_timeout(Duration::from_millis(100)),
    )
    .unwrap();
    let err = get_timeout.me(&token).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }), "{err:?}");
    assert_eq!(err.action(), ErrorAction::RetryLater);
    errors.push(err);
    holder.abort();
    // Expired token.
    fake.update(|s| s.tokens_expired = true);
    errors.push(c.me(&token).await.unwrap_err());
    errors.push(c.debug_token(&token, &token).await.unwrap_err());
    errors.push(c.refresh_token(&token).await.unwrap_err());

    for err in &errors {
        let shown = renderings(err);
        assert!(!shown.contains(&secret), "token leaked: {shown}");
        assert!(!shown.contains("access_token="), "URL leaked: {shown}");
    }
}

#[tokio::test]
async fn random_publish_faults_are_reproducible_from_the_seed() {
    async fn run(seed: u64) -> Vec<Option<ErrorAction>> {
        let fake = FakeThreads::start_with(Switches {
            random_publish_faults: Some(RandomFaults::new(0.5, seed)),
            ..Switches::default()
        });
        let c = client(&fake);
        let token = fake.secret_token();
        let mut outcomes = Vec::new();
        for i in 0..12 {
            let container = create(&c, &token, &format!("r{i}")).await;
            outcomes.push(
                c.publish(&token, &container)
                    .await
                    .err()
                    .map(|e| e.action()),
            );
        }
        outcomes
    }
    let a = run(7).await;
    let b = run(7).await;
    assert_eq!(a, b);
    assert!(a.iter().any(Option::is_some), "p = 0.5 over 12 publishes");
    assert!(a.iter().any(Option::is_none));
}

#[test]
fn fake_works_from_a_blocking_test() {
    // The fake has its own runtime: a test that blocks (waiting for a child process, say)
    // doesn't starve it.
    let fake = FakeThreads::start();
    let url = fake.base_url().join("v1.0/me?fields=id").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(fake.token())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(body.contains(&USER_ID.to_string()), "{body}");
    assert_eq!(fake.calls(Endpoint::Me), 1);
}

/// A log sink for the tracing test.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_trace_headers_and_never_the_token() {
    let buf = LogBuf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // A current-thread test runtime: the default subscriber covers every await below.
    let _guard = tracing::subscriber::set_default(subscriber);
    // With a single registered dispatcher, tracing-core computes a callsite's interest from the
    // *current thread's* subscriber when the callsite is first hit; a parallel test thread (no
    // subscriber) would then cache "never" for the client's callsites. A second registered
    // dispatcher makes it ask every live dispatcher instead.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());

    let fake = FakeThreads::start();
    let c = client(&fake);
    let token = fake.secret_token();
    let container = create(&c, &token, "logged").await;
    c.publish(&token, &container).await.unwrap();
    c.recent_posts(&token, Utc::now() - chrono::TimeDelta::hours(1), 5)
        .await
        .unwrap();
    fake.update(|s| s.tokens_expired = true);
    let err = c.me(&token).await.unwrap_err();

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("fb_trace_id"), "{logs}");
    assert!(
        logs.contains("x-app-usage") || logs.contains("app_usage"),
        "{logs}"
    );
    assert!(
        logs.contains(err.fbtrace_id().unwrap()),
        "the error's fbtrace_id is logged"
    );
    assert!(
        !logs.contains(token.expose_secret()),
        "token in logs:\n{logs}"
    );
}
