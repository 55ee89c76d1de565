//! Request and response types of the Threads API, as the client exposes them.
//!
//! Owns the wire quirks: timestamps without a colon in the offset (`+0000`), user ids that come
//! as JSON numbers larger than 2^53 or as strings, and the container/media id distinction (a
//! container id and the published media id are different things; asking one for the other's
//! fields is a known error, so they are different types). Performs no I/O and no validation of
//! limits: composing a valid post is `compose`'s job, and the server has the last word.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

/// Id of a media container (the result of step 1, input of publish and status).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ContainerId(String);

/// Id of a published post (the result of publish).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MediaId(String);

macro_rules! id_impls {
    ($t:ident) => {
        impl $t {
            pub fn new(id: impl Into<String>) -> Self {
                $t(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $t {
            fn from(s: String) -> Self {
                $t(s)
            }
        }

        impl From<&str> for $t {
            fn from(s: &str) -> Self {
                $t(s.to_owned())
            }
        }

        /// Ids are strings on the wire; a JSON number is accepted too.
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                de_id_string(d).map($t)
            }
        }
    };
}
id_impls!(ContainerId);
id_impls!(MediaId);

/// Who may reply to a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyControl {
    Everyone,
    AccountsYouFollow,
    MentionedOnly,
    ParentPostAuthorOnly,
    FollowersOnly,
}

impl ReplyControl {
    pub const ALL: [ReplyControl; 5] = [
        ReplyControl::Everyone,
        ReplyControl::AccountsYouFollow,
        ReplyControl::MentionedOnly,
        ReplyControl::ParentPostAuthorOnly,
        ReplyControl::FollowersOnly,
    ];

    /// The value for the API's `reply_control` parameter, e.g. "accounts_you_follow".
    pub fn parse(s: &str) -> Option<ReplyControl> {
        ReplyControl::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReplyControl::Everyone => "everyone",
            ReplyControl::AccountsYouFollow => "accounts_you_follow",
            ReplyControl::MentionedOnly => "mentioned_only",
            ReplyControl::ParentPostAuthorOnly => "parent_post_author_only",
            ReplyControl::FollowersOnly => "followers_only",
        }
    }
}

impl std::fmt::Display for ReplyControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text post: `media_type=TEXT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextContainer {
    pub text: String,
    /// Shown as a preview card; does not count towards the text limit. TEXT posts only.
    pub link_attachment: Option<String>,
    /// One topic, 1–50 characters, no `.` or `&`.
    pub topic_tag: Option<String>,
    pub reply_control: Option<ReplyControl>,
    /// Long-form text under the post (`text_attachment`); not with a link attachment.
    pub text_attachment: Option<AttachedText>,
    /// The post (or reply) this one answers (`reply_to_id`): a reply.
    pub reply_to_id: Option<MediaId>,
    /// Hold replies to the post for approval (`enable_reply_approvals`).
    pub enable_reply_approvals: bool,
    /// A ghost post (`is_ghost_post`): archived after 24 h.
    pub is_ghost_post: bool,
}

/// The `text_attachment` parameter: up to 10,000 characters of plain text, and the link
/// the post shows in it (instead of a link attachment on the post).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttachedText {
    pub plaintext: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_attachment_url: Option<String>,
}

impl TextContainer {
    pub fn new(text: impl Into<String>) -> Self {
        TextContainer {
            text: text.into(),
            ..TextContainer::default()
        }
    }
}

/// An image post: `media_type=IMAGE`. Meta downloads `image_url` itself, so it must be public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageContainer {
    pub image_url: String,
    /// At most 1,000 characters.
    pub alt_text: Option<String>,
    pub text: Option<String>,
    pub topic_tag: Option<String>,
    pub reply_control: Option<ReplyControl>,
    /// Hold replies to the post for approval (`enable_reply_approvals`).
    pub enable_reply_approvals: bool,
}

impl ImageContainer {
    pub fn new(image_url: impl Into<String>) -> Self {
        ImageContainer {
            image_url: image_url.into(),
            ..ImageContainer::default()
        }
    }
}

/// What to put in a new media container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewContainer {
    Text(TextContainer),
    Image(ImageContainer),
}

impl NewContainer {
    /// The form fields, without the access token.
    pub(crate) fn form_fields(&self) -> Vec<(&'static str, String)> {
        let mut f = Vec::new();
        let mut push = |k: &'static str, v: Option<&str>| {
            if let Some(v) = v {
                f.push((k, v.to_owned()));
            }
        };
        match self {
            NewContainer::Text(t) => {
                push("media_type", Some("TEXT"));
                push("text", Some(&t.text));
                push("link_attachment", t.link_attachment.as_deref());
                push("topic_tag", t.topic_tag.as_deref());
                push("reply_control", t.reply_control.map(ReplyControl::as_str));
                let attached = t
                    .text_attachment
                    .as_ref()
                    .and_then(|a| serde_json::to_string(a).ok());
                push("text_attachment", attached.as_deref());
                push("reply_to_id", t.reply_to_id.as_ref().map(MediaId::as_str));
                push(
                    "enable_reply_approvals",
                    t.enable_reply_approvals.then_some("true"),
                );
                push("is_ghost_post", t.is_ghost_post.then_some("true"));
            }
            NewContainer::Image(i) => {
                push("media_type", Some("IMAGE"));
                push("image_url", Some(&i.image_url));
                push("alt_text", i.alt_text.as_deref());
                push("text", i.text.as_deref());
                push("topic_tag", i.topic_tag.as_deref());
                push("reply_control", i.reply_control.map(ReplyControl::as_str));
                push(
                    "enable_reply_approvals",
                    i.enable_reply_approvals.then_some("true"),
                );
            }
        }
        f
    }
}

impl From<TextContainer> for NewContainer {
    fn from(t: TextContainer) -> Self {
        NewContainer::Text(t)
    }
}

impl From<ImageContainer> for NewContainer {
    fn from(i: ImageContainer) -> Self {
        NewContainer::Image(i)
    }
}

/// Processing state of a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContainerState {
    InProgress,
    /// Ready to publish.
    Finished,
    /// Already published: a publish whose answer was lost did succeed.
    Published,
    /// Processing failed; see `error_message`. Permanent for that media.
    Error,
    /// Not published within 24 h; create a new one.
    Expired,
    /// A value this client does not know, kept verbatim.
    Other(String),
}

impl ContainerState {
    /// The API's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ContainerState::InProgress => "IN_PROGRESS",
            ContainerState::Finished => "FINISHED",
            ContainerState::Published => "PUBLISHED",
            ContainerState::Error => "ERROR",
            ContainerState::Expired => "EXPIRED",
            ContainerState::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "IN_PROGRESS" => ContainerState::InProgress,
            "FINISHED" => ContainerState::Finished,
            "PUBLISHED" => ContainerState::Published,
            "ERROR" => ContainerState::Error,
            "EXPIRED" => ContainerState::Expired,
            other => ContainerState::Other(other.to_owned()),
        }
    }
}

impl<'de> Deserialize<'de> for ContainerState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ContainerState::parse(&s))
    }
}

/// Answer of `GET /{container-id}?fields=id,status,error_message`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContainerStatus {
    pub id: ContainerId,
    pub status: ContainerState,
    /// Set with `ERROR`: `FAILED_DOWNLOADING_VIDEO`, `UNKNOWN`, `INVALID_ASPEC_RATIO` (sic)...
    #[serde(default)]
    pub error_message: Option<String>,
}

/// A published post as read back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Post {
    pub id: MediaId,
    /// Left out by the API when the post contains (or was flagged for) copyrighted material.
    #[serde(default)]
    pub permalink: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    /// Optional so one odd item can't break a whole listing; a malformed value is an error.
    #[serde(default, deserialize_with = "de_opt_timestamp")]
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub link_attachment_url: Option<String>,
    #[serde(default)]
    pub shortcode: Option<String>,
    /// Read-side values: `TEXT_POST`, `IMAGE`, `VIDEO`, `CAROUSEL_ALBUM`...
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub topic_tag: Option<String>,
}

/// Result of [`crate::threads::ThreadsClient::recent_posts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentPosts {
    /// Newest first, as the API orders them.
    pub posts: Vec<Post>,
    /// False when the page bound stopped the walk while the API had more: a post missing from
    /// `posts` may still exist, so don't conclude "never published" from an incomplete list.
    pub complete: bool,
}

/// The posting quota (`threads_publishing_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishingLimit {
    /// Posts published in the current moving window.
    pub quota_usage: u32,
    pub quota_total: u32,
    /// Window length in seconds (86400).
    pub quota_duration: u64,
}

impl PublishingLimit {
    pub fn remaining(&self) -> u32 {
        self.quota_total.saturating_sub(self.quota_usage)
    }
}

#[derive(Deserialize)]
pub(crate) struct PublishingLimitWire {
    pub data: Vec<PublishingLimitEntry>,
}

#[derive(Deserialize)]
pub(crate) struct PublishingLimitEntry {
    pub quota_usage: u32,
    pub config: QuotaConfig,
}

#[derive(Deserialize)]
pub(crate) struct QuotaConfig {
    pub quota_total: u32,
    pub quota_duration: u64,
}

/// The token's user (`GET /me?fields=id,username`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Me {
    #[serde(deserialize_with = "de_id_string")]
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
}

/// What `debug_token` says about a token. Times are unix seconds; 0 or absent means "never".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenInfo {
    pub is_valid: bool,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub issued_at: Option<i64>,
    #[serde(default)]
    pub data_access_expires_at: Option<i64>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, deserialize_with = "de_opt_id_string")]
    pub user_id: Option<String>,
}

impl TokenInfo {
    /// When the token expires, if it does.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        self.expires_at
            .filter(|t| *t > 0)
            .and_then(|t| DateTime::from_timestamp(t, 0))
    }

    /// When the token was issued, if known.
    pub fn issued(&self) -> Option<DateTime<Utc>> {
        self.issued_at
            .filter(|t| *t > 0)
            .and_then(|t| DateTime::from_timestamp(t, 0))
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenInfoWire {
    pub data: TokenInfo,
}

/// A token from the long-lived exchange or a refresh. Debug output hides the token.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessToken {
    pub access_token: SecretString,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Seconds until expiry. Optional so a missing field can't lose a token the server already
    /// rotated; callers assume 60 days when absent. A numeric string is accepted too.
    #[serde(default, deserialize_with = "de_opt_u64")]
    pub expires_in: Option<u64>,
}

/// The short-lived token from the authorization-code exchange.
#[derive(Debug, Clone, Deserialize)]
pub struct ShortLivedToken {
    pub access_token: SecretString,
    /// A JSON number larger than 2^53 in Meta's docs, a string in the Postman collection:
    /// both are accepted and kept as the decimal string.
    #[serde(deserialize_with = "de_id_string")]
    pub user_id: String,
}

#[derive(Deserialize)]
pub(crate) struct IdOnly {
    #[serde(deserialize_with = "de_id_string")]
    pub id: String,
}

#[derive(Deserialize)]
pub(crate) struct PostsPage {
    #[serde(default)]
    pub data: Vec<Post>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

#[derive(Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub cursors: Option<Cursors>,
}

#[derive(Deserialize)]
pub(crate) struct Cursors {
    #[serde(default)]
    pub after: Option<String>,
}

/// Parses the API's timestamps: `2023-10-17T05:42:03+0000` (no colon in the offset) as well as
/// RFC 3339.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%.f%z"]
        .iter()
        .find_map(|fmt| DateTime::parse_from_str(s, fmt).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn de_opt_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_timestamp(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("unrecognised timestamp {s:?}"))),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrString {
    Num(u64),
    Str(String),
}

impl NumOrString {
    fn into_string(self) -> String {
        match self {
            NumOrString::Num(n) => n.to_string(),
            NumOrString::Str(s) => s,
        }
    }
}

fn de_id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    NumOrString::deserialize(d).map(NumOrString::into_string)
}

fn de_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<NumOrString>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrString::Num(n)) => Ok(Some(n)),
        Some(NumOrString::Str(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected a number of seconds")),
    }
}

fn de_opt_id_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<NumOrString>::deserialize(d)?.map(NumOrString::into_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn timestamps_without_colon_parse() {
        let t = parse_timestamp("2023-10-17T05:42:03+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2023-10-17T05:42:03+00:00");
        let t = parse_timestamp("2024-09-12T23:17:39+0200").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-09-12T21:17:39+00:00");
        assert!(parse_timestamp("2024-09-12T23:17:39+02:00").is_some());
        assert!(parse_timestamp("2024-09-12T23:17:39.123+0000").is_some());
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn user_id_as_big_number_or_string() {
        let n: ShortLivedToken =
            serde_json::from_str(r#"{"access_token":"THQVJ","user_id":17841405793187218}"#)
                .unwrap();
        assert_eq!(n.user_id, "17841405793187218");
        assert_eq!(n.access_token.expose_secret(), "THQVJ");
        let s: ShortLivedToken =
            serde_json::from_str(r#"{"access_token":"THQVJ","user_id":"17841405793187218"}"#)
                .unwrap();
        assert_eq!(s.user_id, "17841405793187218");
        assert!(!format!("{s:?}").contains("THQVJ"));
    }

    #[test]
    fn post_with_and_without_permalink() {
        let p: Post = serde_json::from_str(
            r#"{"id":"1","permalink":"https://www.threads.net/@u/post/abc","timestamp":"2023-10-17T05:42:03+0000","text":"hi","media_type":"TEXT_POST"}"#,
        )
        .unwrap();
        assert_eq!(p.id.as_str(), "1");
        assert!(p.permalink.is_some());
        assert!(p.timestamp.is_some());
        let p: Post = serde_json::from_str(r#"{"id":"2"}"#).unwrap();
        assert!(p.permalink.is_none());
        assert!(p.timestamp.is_none());
        assert!(serde_json::from_str::<Post>(r#"{"id":"3","timestamp":"later"}"#).is_err());
    }

    #[test]
    fn container_states_keep_unknown_values() {
        let s: ContainerStatus =
            serde_json::from_str(r#"{"id":"9","status":"SOMETHING_NEW"}"#).unwrap();
        assert_eq!(s.status, ContainerState::Other("SOMETHING_NEW".into()));
        assert_eq!(s.status.as_str(), "SOMETHING_NEW");
        for v in ["IN_PROGRESS", "FINISHED", "PUBLISHED", "ERROR", "EXPIRED"] {
            assert_eq!(ContainerState::parse(v).as_str(), v);
        }
        let numeric: ContainerStatus =
            serde_json::from_str(r#"{"id":17889615691921648,"status":"FINISHED"}"#).unwrap();
        assert_eq!(numeric.id.as_str(), "17889615691921648");
        let s: ContainerStatus = serde_json::from_str(
            r#"{"status":"ERROR","id":"9","error_message":"FAILED_DOWNLOADING_VIDEO"}"#,
        )
        .unwrap();
        assert_eq!(s.status, ContainerState::Error);
        assert_eq!(s.error_message.as_deref(), Some("FAILED_DOWNLOADING_VIDEO"));
    }

    #[test]
    fn form_fields_only_carry_what_is_set() {
        let t = NewContainer::Text(TextContainer {
            text: "hello".into(),
            link_attachment: Some("https://example.com/a".into()),
            reply_control: Some(ReplyControl::FollowersOnly),
            ..TextContainer::default()
        });
        let f = t.form_fields();
        assert_eq!(
            f,
            vec![
                ("media_type", "TEXT".to_owned()),
                ("text", "hello".to_owned()),
                ("link_attachment", "https://example.com/a".to_owned()),
                ("reply_control", "followers_only".to_owned()),
            ]
        );
        let t = NewContainer::Text(TextContainer {
            text: "short".into(),
            text_attachment: Some(AttachedText {
                plaintext: "long \"quoted\"\ntext".into(),
                link_attachment_url: Some("https://example.com/a".into()),
            }),
            reply_to_id: Some(MediaId::new("42")),
            enable_reply_approvals: true,
            ..TextContainer::default()
        });
        let f = t.form_fields();
        let get = |k: &str| f.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        let attached: serde_json::Value =
            serde_json::from_str(&get("text_attachment").unwrap()).unwrap();
        assert_eq!(attached["plaintext"], "long \"quoted\"\ntext");
        assert_eq!(attached["link_attachment_url"], "https://example.com/a");
        assert_eq!(get("reply_to_id").as_deref(), Some("42"));
        assert_eq!(get("enable_reply_approvals").as_deref(), Some("true"));
        assert_eq!(get("is_ghost_post"), None);
        assert_eq!(get("link_attachment"), None);
        let i = NewContainer::Image(ImageContainer::new("https://example.com/i.jpg"));
        assert_eq!(i.form_fields()[0], ("media_type", "IMAGE".to_owned()));
        assert!(i.form_fields().iter().all(|(k, _)| *k != "link_attachment"));
    }

    #[test]
    fn expires_in_number_string_or_absent() {
        for (body, want) in [
            (
                r#"{"access_token":"T","token_type":"bearer","expires_in":5183944}"#,
                Some(5_183_944),
            ),
            (
                r#"{"access_token":"T","expires_in":"5184000"}"#,
                Some(5_184_000),
            ),
            (r#"{"access_token":"T"}"#, None),
        ] {
            let t: AccessToken = serde_json::from_str(body).unwrap();
            assert_eq!(t.expires_in, want, "{body}");
        }
    }

    #[test]
    fn token_info_times() {
        let t: TokenInfoWire = serde_json::from_str(
            r#"{"data":{"type":"USER","is_valid":true,"expires_at":0,"issued_at":1700000000,"scopes":["threads_basic"],"user_id":"42"}}"#,
        )
        .unwrap();
        assert!(t.data.expires().is_none());
        assert_eq!(t.data.issued().unwrap().timestamp(), 1_700_000_000);
        assert_eq!(t.data.user_id.as_deref(), Some("42"));
    }
}
