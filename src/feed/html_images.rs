//! The `<img>` tags of an item's HTML, in document order, through the html5gum tokenizer
//! (the one compose uses to turn HTML into text): an `<img>` inside a comment, a script or
//! an attribute value is not one, and attribute values come back with their character
//! references decoded by HTML's attribute rules.
//!
//! Must not: judge the images (pixels, decorations, which URL to take: `parse` does) or
//! resolve URLs.

use std::convert::Infallible;

use html5gum::emitters::callback::{Callback, CallbackEmitter, CallbackEvent};
use html5gum::{Emitter, ForwardingEmitter, Span, Tokenizer};

/// The attributes of one `<img>` that tell which picture it shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ImgTag {
    pub src: Option<String>,
    /// Lazy-loading sources, used when `src` is a placeholder.
    pub data_src: Option<String>,
    pub data_lazy_src: Option<String>,
    pub width: Option<String>,
    pub height: Option<String>,
    pub alt: Option<String>,
}

/// The `<img>` tags of `html`, lazily: stop iterating and the tokenizer stops.
pub(crate) fn img_tags(html: &str) -> impl Iterator<Item = ImgTag> + '_ {
    // Most summaries have no image: skip the tokenizer for them.
    let any = has_img_tag_text(html);
    let input = if any { html } else { "" };
    let mut emitter = CallbackEmitter::new(ImgCollector::default());
    // `<script>` and `<style>` content is text, whatever `<img` it holds.
    emitter.naively_switch_states(true);
    // The collector never fails: the error type is `Infallible`.
    Tokenizer::new_with_emitter(input, Quiet(emitter)).map(|token: Result<ImgTag, Infallible>| {
        let Ok(img) = token;
        img
    })
}

/// Whether `html` holds `<img` in any case. memchr to each `<`: a byte-by-byte window
/// over every item's content and summary showed in the profile of a cold cycle.
fn has_img_tag_text(html: &str) -> bool {
    let bytes = html.as_bytes();
    memchr::memchr_iter(b'<', bytes).any(|at| {
        bytes
            .get(at + 1..at + 4)
            .is_some_and(|name| name.eq_ignore_ascii_case(b"img"))
    })
}

/// The callback emitter without parse errors, which we would ignore: saying so lets the
/// tokenizer skip tracking them.
struct Quiet(CallbackEmitter<ImgCollector, ImgTag, ()>);

impl ForwardingEmitter for Quiet {
    type Token = ImgTag;

    fn inner(&mut self) -> &mut impl Emitter<Token = Self::Token> {
        &mut self.0
    }

    fn should_emit_errors(&mut self) -> bool {
        false
    }
}

/// Builds an [`ImgTag`] while html5gum reads an `<img …>` and hands it out at its `>`.
#[derive(Default)]
struct ImgCollector {
    /// The `<img>` being read, if the current start tag is one.
    current: Option<ImgTag>,
    /// Which of its fields the next attribute value goes to.
    field: Option<Field>,
}

#[derive(Clone, Copy)]
enum Field {
    Src,
    DataSrc,
    DataLazySrc,
    Width,
    Height,
    Alt,
}

impl Callback<ImgTag, ()> for ImgCollector {
    fn handle_event(&mut self, event: CallbackEvent<'_>, _span: Span<()>) -> Option<ImgTag> {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                self.current = (name == b"img").then(ImgTag::default);
                self.field = None;
            }
            CallbackEvent::AttributeName { name } => {
                self.field = match name {
                    b"src" => Some(Field::Src),
                    b"data-src" => Some(Field::DataSrc),
                    b"data-lazy-src" => Some(Field::DataLazySrc),
                    b"width" => Some(Field::Width),
                    b"height" => Some(Field::Height),
                    b"alt" => Some(Field::Alt),
                    _ => None,
                };
                // An attribute without a value is there, empty (`<img alt>`); a repeated
                // one is ignored, as a browser does.
                match self.slot() {
                    Some(slot @ None) => *slot = Some(String::new()),
                    Some(Some(_)) => self.field = None,
                    None => {}
                }
            }
            CallbackEvent::AttributeValue { value } => {
                if let Some(slot) = self.slot() {
                    *slot = Some(String::from_utf8_lossy(value).into_owned());
                }
            }
            CallbackEvent::CloseStartTag { .. } => {
                self.field = None;
                return self.current.take();
            }
            CallbackEvent::EndTag { .. } => self.current = None,
            _ => {}
        }
        None
    }
}

impl ImgCollector {
    /// Where the value of the attribute being read goes, if it is one we keep.
    fn slot(&mut self) -> Option<&mut Option<String>> {
        let img = self.current.as_mut()?;
        Some(match self.field? {
            Field::Src => &mut img.src,
            Field::DataSrc => &mut img.data_src,
            Field::DataLazySrc => &mut img.data_lazy_src,
            Field::Width => &mut img.width,
            Field::Height => &mut img.height,
            Field::Alt => &mut img.alt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srcs(html: &str) -> Vec<Option<String>> {
        img_tags(html).map(|i| i.src).collect()
    }

    #[test]
    fn sees_img_text_in_any_case_and_nothing_else() {
        for (html, want) in [
            ("<p>x <IMG src=a>", true),
            ("<iMg", true),
            ("a<b<img", true),
            ("<im", false),
            ("< img src=a>", false),
            ("<p>image</p><imx>", false),
            ("", false),
        ] {
            assert_eq!(has_img_tag_text(html), want, "{html}");
        }
    }

    #[test]
    fn finds_images_in_document_order() {
        let html =
            r#"<p>Hi<IMG SRC="a.jpg" alt='A &amp; B'> <img src=b.png width=1 height="1"/></p>"#;
        let imgs: Vec<ImgTag> = img_tags(html).collect();
        assert_eq!(imgs.len(), 2);
        assert_eq!(imgs[0].src.as_deref(), Some("a.jpg"));
        assert_eq!(imgs[0].alt.as_deref(), Some("A & B"));
        assert_eq!(imgs[1].width.as_deref(), Some("1"));
        assert_eq!(imgs[1].height.as_deref(), Some("1"));
    }

    #[test]
    fn attribute_values_are_decoded_like_a_browser_does() {
        assert_eq!(
            srcs(r#"<img src="https://x.example/i.jpg?a=1&amp;b=2&copy=3">"#),
            [Some("https://x.example/i.jpg?a=1&b=2&copy=3".to_owned())]
        );
        assert_eq!(
            srcs(r#"<img alt="a > b" src="x.jpg">"#),
            [Some("x.jpg".to_owned())]
        );
    }

    #[test]
    fn not_images() {
        assert!(srcs("<!-- <img src=a.jpg> -->").is_empty());
        assert!(srcs("<script>var s = '<img src=a.jpg>';</script>").is_empty());
        assert!(srcs(r#"<a title="<img src=a.jpg>">x</a>"#).is_empty());
        assert!(srcs("<imgx src=a.jpg><image src=b.jpg>").is_empty());
        assert!(srcs("plain text").is_empty());
        // Cut off before its `>`: no tag at all.
        assert!(srcs(r#"<img src="a.jpg"#).is_empty());
    }

    #[test]
    fn the_first_of_a_repeated_attribute_wins() {
        assert_eq!(srcs(r#"<img src="" src="b.jpg">"#), [Some(String::new())]);
        assert_eq!(
            srcs(r#"<img src="a.jpg" SRC="b.jpg">"#),
            [Some("a.jpg".to_owned())]
        );
    }

    #[test]
    fn lazy_sources_and_empty_attributes() {
        let img = img_tags(r#"<img src data-src="real.jpg" data-lazy-src=lazy.jpg alt>"#)
            .next()
            .unwrap();
        assert_eq!(img.src.as_deref(), Some(""));
        assert_eq!(img.data_src.as_deref(), Some("real.jpg"));
        assert_eq!(img.data_lazy_src.as_deref(), Some("lazy.jpg"));
        assert_eq!(img.alt.as_deref(), Some(""));
    }
}
