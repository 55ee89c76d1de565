//! The desk's handlers: login and logout, the lists, the edit page, and the actions.
//!
//! Every change is a POST that must carry the session cookie and the session's CSRF token;
//! without either the answer is 403 and nothing changes. A change answers with a redirect
//! (303) to the list it came from, which shows what happened once (the session's flash).
//! Must not act on a post itself: [`Editor`] does, and logs it.

use super::session::{self, Flash, LOGIN_COOKIE, Peer, SESSION_COOKIE, SessionView};
use super::view::{self, Tab};
use super::{Desk, password};
use crate::review::{Actor, Editor, ReviewError};
use crate::store::{StoreError, now_unix};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Path, Query, RawForm, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const TEMPLATES: [(&str, &str); 7] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("message.html", include_str!("templates/message.html")),
    ("post.html", include_str!("templates/post.html")),
    ("posts.html", include_str!("templates/posts.html")),
    ("edit.html", include_str!("templates/edit.html")),
    ("feeds.html", include_str!("templates/feeds.html")),
];

/// The pages, compiled once. Auto-escaping is on (`.html`).
pub(super) fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            // Embedded at build time and rendered by this module's tests: a broken one is
            // a bug caught before release, and the desk shows the error instead of a page.
            tracing::error!("desk template {name} does not compile: {e}");
        }
    }
    env
}

/// What every handler knows of the request: where it comes from and its session.
pub(super) struct Ctx {
    peer: Peer,
    /// The session cookie's value and its live session.
    session: Option<(String, SessionView)>,
    /// The login form's token cookie.
    login_token: Option<String>,
}

impl FromRequestParts<Desk> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, desk: &Desk) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let peer = Peer::new(addr, header("x-forwarded-proto"), header("x-forwarded-for"));
        let cookies: Vec<&str> = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let find = |name: &str| {
            cookies
                .iter()
                .find_map(|c| session::cookie(c, name))
                .map(str::to_owned)
        };
        let session = find(SESSION_COOKIE)
            .and_then(|token| desk.sessions().get(&token).map(|view| (token, view)));
        Ok(Ctx {
            peer,
            session,
            login_token: find(LOGIN_COOKIE),
        })
    }
}

/// A POSTed form's fields.
pub(super) struct Fields(HashMap<String, String>);

impl Fields {
    fn parse(body: &[u8]) -> Fields {
        Fields(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
    feed: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------

pub(super) async fn index(
    State(desk): State<Desk>,
    ctx: Ctx,
    Query(query): Query<ListQuery>,
) -> Response {
    let Some((token, session)) = &ctx.session else {
        return login_required(&desk, &ctx);
    };
    let tab = query
        .state
        .as_deref()
        .and_then(Tab::parse)
        .unwrap_or(Tab::Review);
    let feed = query.feed.as_deref().and_then(|f| f.parse::<i64>().ok());
    let page = async {
        let store = desk.store();
        let config = desk.config();
        let counts = view::Counts::read(store, now_unix()).await?;
        let feeds = view::feeds_by_id(store).await?;
        let posts = view::posts(store, &config, &counts, tab, feed, &feeds).await?;
        let releases = if tab == Tab::Held {
            view::releases(&counts, &config, &feeds, feed)
        } else {
            Vec::new()
        };
        let mut options: Vec<view::FeedOption> = feeds
            .values()
            .filter(|f| config.feeds.contains_key(&f.name))
            .map(|f| view::FeedOption {
                id: f.id,
                name: view::feed_name(f),
            })
            .collect();
        options.sort_by(|a, b| a.name.cmp(&b.name));
        Ok::<_, StoreError>(context! {
            title => tab.heading(),
            heading => tab.heading(),
            empty => tab.empty(),
            waiting => (tab == Tab::Queued).then(|| counts.wait_summary(feed)).flatten(),
            current => tab.as_str(),
            tabs => Value::from(Serde(&counts.tabs())),
            posts => Value::from(Serde(&posts)),
            releases => Value::from(Serde(&releases)),
            feed_options => Value::from(Serde(&options)),
            feed_filter => feed,
            action_labels => Value::from(Serde(&view::action_labels())),
        })
    };
    match page.await {
        Ok(page) => render(
            &desk,
            "posts.html",
            page,
            Some((token, session)),
            StatusCode::OK,
        ),
        Err(e) => store_trouble(&desk, &e),
    }
}

pub(super) async fn feeds(State(desk): State<Desk>, ctx: Ctx) -> Response {
    let Some((token, session)) = &ctx.session else {
        return login_required(&desk, &ctx);
    };
    let page = async {
        let store = desk.store();
        let counts = view::Counts::read(store, now_unix()).await?;
        let feeds = view::feeds_by_id(store).await?;
        Ok::<_, StoreError>(context! {
            title => "Feeds",
            current => "feeds",
            tabs => Value::from(Serde(&counts.tabs())),
            feeds => Value::from(Serde(&view::feed_views(&counts, &desk.config(), &feeds))),
        })
    };
    match page.await {
        Ok(page) => render(
            &desk,
            "feeds.html",
            page,
            Some((token, session)),
            StatusCode::OK,
        ),
        Err(e) => store_trouble(&desk, &e),
    }
}

pub(super) async fn edit_page(
    State(desk): State<Desk>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    let Some((token, session)) = &ctx.session else {
        return login_required(&desk, &ctx);
    };
    let Ok(id) = id.parse::<i64>() else {
        return not_found_page(&desk);
    };
    match edit_form(&desk, id, None, None).await {
        Ok(Some(page)) => render(
            &desk,
            "edit.html",
            page,
            Some((token, session)),
            StatusCode::OK,
        ),
        Ok(None) => not_found_page(&desk),
        Err(e) => store_trouble(&desk, &e),
    }
}

/// The edit page of post `id`, with the text being edited and the reason it was refused.
async fn edit_form(
    desk: &Desk,
    id: i64,
    text: Option<&str>,
    error: Option<String>,
) -> Result<Option<Value>, StoreError> {
    let store = desk.store();
    let Some(row) = store.outbox_by_id(id).await? else {
        return Ok(None);
    };
    let counts = view::Counts::read(store, now_unix()).await?;
    let feeds = view::feeds_by_id(store).await?;
    let text = text.unwrap_or(&row.text).to_owned();
    let post = view::post_view(&row, Tab::Review, &feeds, None);
    Ok(Some(context! {
        title => format!("Edit post #{id}"),
        current => post.state,
        tabs => Value::from(Serde(&counts.tabs())),
        bytes => text.len(),
        text => text,
        error => error,
        p => Value::from(Serde(&post)),
        action_labels => Value::from(Serde(&view::action_labels())),
    }))
}

pub(super) async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("templates/desk.css"),
    )
        .into_response()
}

pub(super) async fn not_found(State(desk): State<Desk>) -> Response {
    not_found_page(&desk)
}

// ---------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------

pub(super) async fn login_page(State(desk): State<Desk>, ctx: Ctx) -> Response {
    if ctx.session.is_some() {
        return see_other("/desk", &[]);
    }
    login_form(&desk, &ctx, StatusCode::OK, None)
}

pub(super) async fn login(State(desk): State<Desk>, ctx: Ctx, RawForm(body): RawForm) -> Response {
    let fields = Fields::parse(&body);
    let expected = ctx.login_token.as_deref().unwrap_or("");
    if !session::same_token(expected, fields.get("csrf").unwrap_or("")) {
        tracing::warn!(client = %ctx.peer.client, "desk login refused: the form's CSRF token is missing or wrong");
        return login_form(
            &desk,
            &ctx,
            StatusCode::FORBIDDEN,
            Some(
                "This login form has expired (its CSRF token does not match); log in again.".into(),
            ),
        );
    }
    let client = ctx.peer.client.clone();
    if let Some(wait) = desk.limiter().blocked(&client, Instant::now()) {
        tokio::time::sleep(desk.failed_login_delay()).await;
        tracing::warn!(%client, "desk login refused: too many failed logins");
        return login_form(
            &desk,
            &ctx,
            StatusCode::TOO_MANY_REQUESTS,
            Some(format!(
                "Too many failed logins; try again in {} min.",
                wait.as_secs().div_ceil(60).max(1)
            )),
        );
    }
    let password = fields.get("password").unwrap_or("").to_owned();
    let hash = desk.config().password_hash.clone();
    let ok = match desk.verifying().acquire().await {
        Ok(_permit) => tokio::task::spawn_blocking(move || password::verify(&hash, &password))
            .await
            .unwrap_or(false),
        Err(_) => false,
    };
    if !ok {
        desk.limiter().failed(&client, Instant::now());
        tracing::warn!(%client, "desk login refused: wrong password");
        tokio::time::sleep(desk.failed_login_delay()).await;
        return login_form(
            &desk,
            &ctx,
            StatusCode::UNAUTHORIZED,
            Some("Wrong password.".into()),
        );
    }
    desk.limiter().succeeded(&client);
    let (token, session) = desk.sessions().create();
    tracing::info!(session = %session.label, %client, "desk login");
    see_other(
        "/desk",
        &[
            session::set_cookie(SESSION_COOKIE, &token, session::MAX_AGE, ctx.peer.tls),
            session::set_cookie(LOGIN_COOKIE, "", Duration::ZERO, ctx.peer.tls),
        ],
    )
}

pub(super) async fn logout(State(desk): State<Desk>, ctx: Ctx, RawForm(body): RawForm) -> Response {
    let (token, session) = match authorize(&desk, &ctx, &Fields::parse(&body)) {
        Ok(s) => s,
        Err(refused) => return *refused,
    };
    desk.sessions().remove(&token);
    tracing::info!(session = %session.label, "desk logout");
    see_other(
        "/desk/login",
        &[session::set_cookie(
            SESSION_COOKIE,
            "",
            Duration::ZERO,
            ctx.peer.tls,
        )],
    )
}

/// The login page, with a fresh token for its form (in a cookie and the form).
fn login_form(desk: &Desk, ctx: &Ctx, status: StatusCode, error: Option<String>) -> Response {
    let token = session::random_token();
    let page = context! {
        title => "Log in",
        login_csrf => &token,
        error => error,
    };
    let mut response = render(desk, "login.html", page, None, status);
    let cookie = session::set_cookie(
        LOGIN_COOKIE,
        &token,
        Duration::from_secs(3600),
        ctx.peer.tls,
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A page that needs a session, asked without one: 403, with the login form.
fn login_required(desk: &Desk, ctx: &Ctx) -> Response {
    login_form(
        desk,
        ctx,
        StatusCode::FORBIDDEN,
        Some("Log in to use the desk.".into()),
    )
}

// ---------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------

/// A change needs a live session and its CSRF token; otherwise 403 and nothing changes.
fn authorize(
    desk: &Desk,
    ctx: &Ctx,
    fields: &Fields,
) -> Result<(String, SessionView), Box<Response>> {
    let Some((token, session)) = &ctx.session else {
        tracing::warn!(client = %ctx.peer.client, "desk change refused: no session");
        return Err(Box::new(message(
            desk,
            StatusCode::FORBIDDEN,
            "Not logged in",
            "This desk session has ended (or never began). Nothing was changed.",
            ("/desk/login", "Log in"),
        )));
    };
    if !session::same_token(&session.csrf, fields.get("csrf").unwrap_or("")) {
        tracing::warn!(session = %session.label, client = %ctx.peer.client, "desk change refused: missing or wrong CSRF token");
        return Err(Box::new(message(
            desk,
            StatusCode::FORBIDDEN,
            "Form refused",
            "This form carries no valid CSRF token (it may come from another page or an old tab). Nothing was changed.",
            ("/desk", "Back to the desk"),
        )));
    }
    Ok((token.clone(), session.clone()))
}

/// What every change form's handler starts with: its fields, the session that may make
/// the change (refused without one or without the form's CSRF token), and the id in the
/// path (a page saying "not found" when it is not a number).
struct Change {
    fields: Fields,
    token: String,
    session: SessionView,
    id: i64,
}

impl Change {
    fn authorize(desk: &Desk, ctx: &Ctx, body: &[u8], id: &str) -> Result<Change, Box<Response>> {
        let fields = Fields::parse(body);
        let (token, session) = authorize(desk, ctx, &fields)?;
        let Ok(id) = id.parse::<i64>() else {
            return Err(Box::new(not_found_page(desk)));
        };
        Ok(Change {
            fields,
            token,
            session,
            id,
        })
    }
}

pub(super) async fn post_action(
    State(desk): State<Desk>,
    ctx: Ctx,
    Path((id, action)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let Change {
        fields,
        token,
        session,
        id,
    } = match Change::authorize(&desk, &ctx, &body, &id) {
        Ok(change) => change,
        Err(refused) => return *refused,
    };
    let back = fields
        .get("back")
        .and_then(Tab::parse)
        .unwrap_or(Tab::Review);
    let editor = Editor::new(
        desk.store().clone(),
        Actor::Desk {
            session: session.label.clone(),
        },
    );
    let result = match action.as_str() {
        "approve" => editor.approve(id).await,
        "drop" => editor.drop_post(id).await,
        "retry" => editor.retry(id).await,
        "release" => release_one(&desk, &editor, id).await,
        _ => return not_found_page(&desk),
    };
    let flash = match result {
        Ok(done) => {
            if action != "drop" {
                desk.wake();
            }
            Flash {
                ok: true,
                message: format!("Post #{} {}.", done.post, done.action.done()),
            }
        }
        Err(ReviewError::Store(e)) => return store_trouble(&desk, &e),
        Err(e) => Flash {
            ok: false,
            message: sentence(&e.to_string()),
        },
    };
    desk.sessions().flash(&token, flash);
    see_other(&format!("/desk?state={}", back.as_str()), &[])
}

async fn release_one(
    desk: &Desk,
    editor: &Editor,
    id: i64,
) -> Result<crate::review::Done, ReviewError> {
    let feeds = view::feeds_by_id(desk.store()).await?;
    let config = desk.config();
    let order = |feed: i64| {
        feeds
            .get(&feed)
            .map_or(Default::default(), |f| config.release_order(&f.name))
    };
    let mut results = editor.release_posts(&[id], order).await?;
    results
        .pop()
        .unwrap_or(Err(ReviewError::NotFound { post: id }))
}

pub(super) async fn edit(
    State(desk): State<Desk>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let Change {
        fields,
        token,
        session,
        id,
    } = match Change::authorize(&desk, &ctx, &body, &id) {
        Ok(change) => change,
        Err(refused) => return *refused,
    };
    let text = fields.get("text").unwrap_or("");
    let editor = Editor::new(
        desk.store().clone(),
        Actor::Desk {
            session: session.label.clone(),
        },
    );
    match editor.edit(id, text).await {
        Ok(done) => {
            let back = match desk.store().outbox_by_id(id).await {
                Ok(Some(row)) => view::post_view(&row, Tab::Review, &HashMap::new(), None).state,
                _ => Tab::Review.as_str(),
            };
            desk.sessions().flash(
                &token,
                Flash {
                    ok: true,
                    message: format!("Post #{} {}.", done.post, done.action.done()),
                },
            );
            see_other(&format!("/desk?state={back}"), &[])
        }
        Err(ReviewError::Store(e)) => store_trouble(&desk, &e),
        // Over a limit: the same page again, with the text as typed and the limit named.
        Err(e @ (ReviewError::Limit { .. } | ReviewError::Empty { .. })) => {
            let typed = crate::review::normalise(text);
            match edit_form(&desk, id, Some(&typed), Some(sentence(&e.to_string()))).await {
                Ok(Some(page)) => render(
                    &desk,
                    "edit.html",
                    page,
                    Some((&token, &session)),
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                Ok(None) => not_found_page(&desk),
                Err(e) => store_trouble(&desk, &e),
            }
        }
        Err(e) => {
            desk.sessions().flash(
                &token,
                Flash {
                    ok: false,
                    message: sentence(&e.to_string()),
                },
            );
            see_other("/desk", &[])
        }
    }
}

pub(super) async fn release_feed(
    State(desk): State<Desk>,
    ctx: Ctx,
    Path(feed_id): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let Change {
        fields,
        token,
        session,
        id: feed_id,
    } = match Change::authorize(&desk, &ctx, &body, &feed_id) {
        Ok(change) => change,
        Err(refused) => return *refused,
    };
    let latest = match fields.get("latest").map(str::trim) {
        None | Some("") => None,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                desk.sessions().flash(
                    &token,
                    Flash {
                        ok: false,
                        message: format!(
                            "“{n}” is not a number of posts (1 or more). Nothing was released."
                        ),
                    },
                );
                return see_other("/desk?state=held", &[]);
            }
        },
    };
    let drop_rest = fields.get("drop_rest").is_some();
    let feed = match desk.store().feed_by_id(feed_id).await {
        Ok(Some(feed)) => feed,
        Ok(None) => return not_found_page(&desk),
        Err(e) => return store_trouble(&desk, &e),
    };
    let order = desk.config().release_order(&feed.name);
    let editor = Editor::new(
        desk.store().clone(),
        Actor::Desk {
            session: session.label.clone(),
        },
    );
    match editor
        .release_feed(feed.id, &feed.name, latest, drop_rest, order)
        .await
    {
        Ok(done) => {
            desk.wake();
            let mut message = format!(
                "Released {} post(s) of {} ({} first)",
                done.released.len(),
                view::feed_name(&feed),
                order.as_str()
            );
            if !done.dropped.is_empty() {
                message.push_str(&format!("; dropped {}", done.dropped.len()));
            }
            if done.kept > 0 {
                message.push_str(&format!("; {} still held", done.kept));
            }
            message.push('.');
            desk.sessions().flash(&token, Flash { ok: true, message });
            see_other("/desk?state=held", &[])
        }
        Err(ReviewError::Store(e)) => store_trouble(&desk, &e),
        Err(e) => {
            desk.sessions().flash(
                &token,
                Flash {
                    ok: false,
                    message: sentence(&e.to_string()),
                },
            );
            see_other("/desk?state=held", &[])
        }
    }
}

// ---------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------

/// A page from a template; the base layout gets the session's CSRF token and its flash.
fn render(
    desk: &Desk,
    name: &str,
    page: Value,
    session: Option<(&String, &SessionView)>,
    status: StatusCode,
) -> Response {
    let flash = session.and_then(|(token, _)| desk.sessions().take_flash(token));
    let base = context! {
        csrf => session.map(|(_, s)| s.csrf.clone()),
        flash => flash.map(|f| context! { ok => f.ok, message => f.message }),
    };
    let html = desk
        .templates()
        .get_template(name)
        .and_then(|t| t.render(context! { ..page, ..base }));
    match html {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("desk page {name} failed to render: {e:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("The desk could not draw this page ({name}): {e}\n"),
            )
                .into_response()
        }
    }
}

fn message(
    desk: &Desk,
    status: StatusCode,
    heading: &str,
    text: &str,
    (link, link_text): (&str, &str),
) -> Response {
    let page = context! {
        title => heading,
        heading => heading,
        message => text,
        link => link,
        link_text => link_text,
    };
    render(desk, "message.html", page, None, status)
}

fn not_found_page(desk: &Desk) -> Response {
    message(
        desk,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page or post on this desk.",
        ("/desk", "Back to the desk"),
    )
}

fn store_trouble(desk: &Desk, e: &StoreError) -> Response {
    tracing::error!("desk: the store failed: {e}");
    message(
        desk,
        StatusCode::SERVICE_UNAVAILABLE,
        "The store did not answer",
        &format!("{e}. Nothing was changed; try again in a moment."),
        ("/desk", "Back to the desk"),
    )
}

/// 303 See Other to `to`, setting `cookies`.
fn see_other(to: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, location);
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// An error message as a sentence: capitalised, with a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let env = templates();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
        assert_eq!(sentence("post 3 is held"), "Post 3 is held.");
    }
}
