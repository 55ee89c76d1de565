//! Credentials out of feed URLs before a URL is shown anywhere: logs, error messages,
//! `status` (text and JSON), metric labels, the default feed name.
//!
//! Feed URLs carry secrets more often than one would hope: `https://user:pass@host/feed`,
//! `?apikey=…` for paid wires, `?token=…` for private podcast feeds, signed URLs
//! (`?sig=…`). The fetcher needs them as they are; nobody reading a log or a dashboard
//! does. [`redact_url`] replaces the user info and the values of credential-like query
//! (and fragment) parameters with `[redacted]` and leaves every other byte as written,
//! so the URL stays recognisable.
//!
//! Works on text, not on a parsed URL: a URL that does not parse (the reason a feed
//! failed) must be redacted too, and re-serialising would change how the URL looks.
//!
//! Must not: be used to build a URL that is fetched: a redacted URL is for showing only.

use std::borrow::Cow;

/// What a redacted part is replaced by (the same marker `check` uses for secrets).
pub const REDACTED: &str = "[redacted]";

/// `url` with its user info and credential-like parameter values replaced by
/// [`REDACTED`]; borrowed unchanged when there is nothing to hide.
///
/// ```
/// use feed2threads::feed::redact::redact_url;
/// assert_eq!(
///     redact_url("https://jane:s3cret@example.com/feed?apikey=abc&page=2"),
///     "https://[redacted]@example.com/feed?apikey=[redacted]&page=2"
/// );
/// assert_eq!(redact_url("https://example.com/rss"), "https://example.com/rss");
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    // Fast path: without `@`, `=` there is neither user info nor a parameter value.
    if !url.contains(['@', '=']) {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len() + 16);
    let rest = redact_userinfo(url, &mut out);
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (rest, None),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            redact_params(query, &mut out);
        }
        None => out.push_str(before_fragment),
    }
    if let Some(fragment) = fragment {
        out.push('#');
        // OAuth's implicit flow puts `access_token=…` in the fragment.
        redact_params(fragment, &mut out);
    }
    if out == url {
        Cow::Borrowed(url)
    } else {
        Cow::Owned(out)
    }
}

/// Every occurrence of `url` in `text` (an error message that quotes it) redacted.
pub fn redact_in<'a>(text: &'a str, url: &str) -> Cow<'a, str> {
    let redacted = redact_url(url);
    if url.is_empty() || redacted == url || !text.contains(url) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace(url, &redacted))
}

/// Copies the scheme and authority of `url` to `out` with the user info redacted, and
/// returns the rest (path, query, fragment).
fn redact_userinfo<'a>(url: &'a str, out: &mut String) -> &'a str {
    let Some(scheme_end) = url.find("://") else {
        return url;
    };
    let authority_start = scheme_end + 3;
    let after_scheme = &url[authority_start..];
    let authority_len = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..authority_len];
    out.push_str(&url[..authority_start]);
    // The last `@` ends the user info: a password may itself contain an unescaped `@`.
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    &after_scheme[authority_len..]
}

/// Copies `key=value&…` to `out` with the values of credential keys redacted; anything
/// else (including separators and pairs without `=`) as written.
fn redact_params(params: &str, out: &mut String) {
    for (i, pair) in params.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, value)) if !value.is_empty() && is_credential_key(key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
}

/// Whether a parameter named `key` carries a credential. Compared without case, `-`,
/// `_` or `.`, and percent-decoded, so `API-Key`, `api_key` and `apikey` are one name.
fn is_credential_key(key: &str) -> bool {
    // Exact names: short or generic enough that a suffix rule would hit innocent ones
    // ("monkey", "hotkey").
    const EXACT: &[&str] = &[
        "key",
        "apikey",
        "token",
        "auth",
        "sig",
        "signature",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "sessionid",
        "sid",
    ];
    // Suffixes: `access_token`, `auth_token`, `private_token`, `x-api-key`,
    // `client_secret`, `X-Amz-Signature`, `user_password`.
    const SUFFIXES: &[&str] = &["token", "apikey", "secret", "signature", "password"];
    let decoded: String = percent_decode(key)
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    EXACT.contains(&decoded.as_str()) || SUFFIXES.iter().any(|s| decoded.ends_with(s))
}

/// `%XX` escapes decoded (lossily): enough to compare a parameter name.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            // Two hex digits are at most 0xFF: the cast cannot truncate.
            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_redacted() {
        assert_eq!(
            redact_url("https://user:pass@example.com/feed.xml"),
            "https://[redacted]@example.com/feed.xml"
        );
        // A token as the user name alone is a credential too.
        assert_eq!(
            redact_url("https://ghp_abc123@example.com:8443/rss"),
            "https://[redacted]@example.com:8443/rss"
        );
        // An unescaped `@` in the password: the last one ends the user info.
        assert_eq!(
            redact_url("http://me:p@ss@example.com/"),
            "http://[redacted]@example.com/"
        );
        // An `@` in the path or query is not user info.
        assert_eq!(
            redact_url("https://example.com/@jane/feed?x=a@b"),
            "https://example.com/@jane/feed?x=a@b"
        );
    }

    /// The example in `redact_url`'s documentation (doc tests are not run: see Cargo.toml).
    #[test]
    fn the_documented_example() {
        assert_eq!(
            redact_url("https://jane:s3cret@example.com/feed?apikey=abc&page=2"),
            "https://[redacted]@example.com/feed?apikey=[redacted]&page=2"
        );
        assert_eq!(
            redact_url("https://example.com/rss"),
            "https://example.com/rss"
        );
    }

    #[test]
    fn credential_parameters_are_redacted_case_insensitively() {
        for key in [
            "key",
            "KEY",
            "token",
            "apikey",
            "api_key",
            "API-Key",
            "access_token",
            "Access_Token",
            "auth",
            "sig",
            "X-Amz-Signature",
            "client_secret",
            "private_token",
            "api%5Fkey",
        ] {
            let url = format!("https://example.com/feed?page=2&{key}=s3cr3t&lang=de");
            assert_eq!(
                redact_url(&url),
                format!("https://example.com/feed?page=2&{key}=[redacted]&lang=de"),
                "{key}"
            );
        }
    }

    #[test]
    fn other_parameters_stay_as_written() {
        for url in [
            "https://example.com/feed?format=rss&lang=de",
            "https://example.com/feed?monkey=1&hotkey=2&keyword=news&tokens",
            "https://example.com/feed?q=a%20b&sort=new+first",
            "https://example.com/rss.xml",
            "not a url at all",
            "",
        ] {
            assert_eq!(redact_url(url), url);
            assert!(matches!(redact_url(url), Cow::Borrowed(_)), "{url}");
        }
    }

    #[test]
    fn empty_values_and_fragments() {
        // Nothing to hide in an empty value.
        assert_eq!(
            redact_url("https://example.com/f?token=&a=1"),
            "https://example.com/f?token=&a=1"
        );
        assert_eq!(
            redact_url("https://example.com/cb#access_token=abc&state=x"),
            "https://example.com/cb#access_token=[redacted]&state=x"
        );
        assert_eq!(
            redact_url("https://example.com/2017/06/21.html#a060647"),
            "https://example.com/2017/06/21.html#a060647"
        );
    }

    #[test]
    fn both_at_once_and_unparsable_urls() {
        assert_eq!(
            redact_url("https://u:p@example.com/f?sig=1&token=2"),
            "https://[redacted]@example.com/f?sig=[redacted]&token=[redacted]"
        );
        // Not a valid URL (space in the host), still redacted.
        assert_eq!(
            redact_url("https://u:p@exa mple.com/f?key=1"),
            "https://[redacted]@exa mple.com/f?key=[redacted]"
        );
    }

    #[test]
    fn redacts_inside_messages() {
        let url = "https://u:p@example.com/f?token=abc";
        let message = format!("error sending request for url ({url}): connection refused");
        assert_eq!(
            redact_in(&message, url),
            "error sending request for url (https://[redacted]@example.com/f?token=[redacted]): \
             connection refused"
        );
        assert_eq!(redact_in("no url here", url), "no url here");
    }
}
