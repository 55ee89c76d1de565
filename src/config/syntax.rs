//! A TOML syntax error as the user reads it: file, line, column and the key written on
//! that line, never the line's text (it may hold a secret: `access_token = "…` with its
//! closing quote missing). The reload log shows the same message.
//!
//! Must not quote anything from the file but a key name.

use super::ConfigError;
use std::path::Path;
use std::sync::LazyLock;

pub(super) fn syntax_error(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let offset = error.span().map_or(0, |s| s.start).min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line_text = text[line_start..].split('\n').next().unwrap_or_default();
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        key: key_of(line_text),
        message: safe_message(error.message(), line_text),
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The key a line assigns, when it looks like one of ours: lowercase words joined by
/// `_` or `.` (a table header's name counts). Anything else (a value, a line inside a
/// multi-line string) is not shown.
fn key_of(line: &str) -> Option<String> {
    static KEY: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)*$").expect("a fixed, valid pattern")
    });
    let line = line.trim();
    let candidate = match line.split_once('=') {
        Some((key, _)) => key.trim(),
        None => line.trim_start_matches('[').trim_end_matches(']').trim(),
    };
    (candidate.len() <= 64 && KEY.is_match(candidate)).then(|| candidate.to_string())
}

/// The parser's message, unless it quotes the line's value (none of toml's messages do
/// today; this keeps it so).
fn safe_message(message: &str, line: &str) -> String {
    let value = line.split_once('=').map_or(line, |(_, v)| v).trim();
    let quoted = value.trim_matches(|c| c == '"' || c == '\'').trim();
    if quoted.len() >= 4 && message.contains(quoted) {
        return "invalid TOML".into();
    }
    message.replace(['\n', '\r'], "; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        let e = text.parse::<toml::Table>().unwrap_err();
        syntax_error(Path::new("f.toml"), text, &e).to_string()
    }

    #[test]
    fn names_line_column_and_key_but_not_the_secret() {
        let text = "[[accounts]]\nname = \"a\"\naccess_token = \"THQVJsecret-value\n";
        let shown = error(text);
        assert!(!shown.contains("THQVJ"), "{shown}");
        assert!(shown.starts_with("f.toml: line 3, column "), "{shown}");
        assert!(shown.contains("access_token"), "{shown}");
    }

    #[test]
    fn a_broken_header_is_located() {
        let shown = error("[store]\nurl = \"sqlite://x\"\n[[feeds]\n");
        assert!(shown.starts_with("f.toml: line 3, column"), "{shown}");
        assert!(shown.contains("feeds"), "{shown}");
    }

    #[test]
    fn only_key_like_text_is_shown_as_key() {
        assert_eq!(key_of("  every = \"5m"), Some("every".into()));
        assert_eq!(key_of("[[feeds]"), Some("feeds".into()));
        assert_eq!(key_of("THQVJsecret\"\"\" = x"), None);
        assert_eq!(key_of("sk-12345abc"), None);
    }
}
