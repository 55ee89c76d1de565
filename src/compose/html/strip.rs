//! Markup → text with break markers, through the html5gum tokenizer (WHATWG tokenization:
//! quoted attributes holding `>`, comments, CDATA, bogus comments, `</ x>`, unclosed tags,
//! raw-text elements whose content may hold `<`).
//!
//! Owns: which elements make paragraph and line breaks, which ones have content that is
//! not text (scripts, styles, SVG, captions; dropped when they close, see [`Dropped`]), the
//! emoji `<img>` whose alt is text, and the one repair html5gum cannot make for us (a
//! quote that never closes, see [`strip_tags`]).
//!
//! Must not: decode entities (the caller does, with htmlize's attribute rules, see
//! [`strip_tags`]), collapse whitespace or know about posts.

use std::convert::Infallible;

use html5gum::emitters::callback::{Callback, CallbackEmitter, CallbackEvent};
use html5gum::{Emitter, ForwardingEmitter, Span, State, Tokenizer};

use super::{LINE, PARA};

/// Elements whose content is not text a reader should see. Figure captions are photo
/// credits ("Illustration by … / The Verge") more often than not: noise in a post.
const DROP_CONTENT: &[&[u8]] = &[
    b"script",
    b"style",
    b"noscript",
    b"template",
    b"iframe",
    b"object",
    b"svg",
    b"math",
    b"head",
    b"figcaption",
];
/// Elements that start and end a paragraph.
const PARAGRAPH: &[&[u8]] = &[
    b"p",
    b"div",
    b"h1",
    b"h2",
    b"h3",
    b"h4",
    b"h5",
    b"h6",
    b"blockquote",
    b"ul",
    b"ol",
    b"dl",
    b"table",
    b"section",
    b"article",
    b"header",
    b"footer",
    b"figure",
    b"figcaption",
    b"pre",
    b"hr",
    b"aside",
    b"nav",
    b"main",
    b"address",
    b"details",
    b"summary",
    b"form",
    b"fieldset",
    b"center",
    b"hgroup",
    b"menu",
    b"body",
    b"html",
];
/// Elements that start a new line (on their opening tag only, so `</li><li>` is one break).
const LINE_START: &[&[u8]] = &[b"li", b"tr", b"dt", b"dd", b"caption", b"option"];
/// Table cells: keep neighbouring cells' words apart.
const CELL: &[&[u8]] = &[b"td", b"th"];

/// Remove markup from `input`, leaving its text with entities still encoded, and break
/// markers. Returns whether any markup was seen.
///
/// Entities stay encoded because the caller decodes them with attribute rules
/// (`?a=1&copy=2` in a URL in the text stays as it is), and repeatedly, for double-encoded
/// feeds. html5gum decodes character references itself, so every `&` is escaped as
/// `&amp;` before tokenizing: the tokenizer turns it back into the `&` it was, and the
/// text comes out with its references as written. (Inside CDATA, which the tokenizer does
/// not decode, the extra `&amp;` is removed by the caller's first decoding round.)
///
/// The repair: html5gum, like a browser, lets an attribute quote that never closes run to
/// the end of the input and drops the tag with everything after it. A quote left open is
/// likelier a typo or a cut than a `>` inside a value, so, as before the tokenizer, the tag
/// then ends at its first `>` and the text after it is kept.
pub(super) fn strip_tags(input: &str) -> (String, bool) {
    if !input.contains('<') {
        return (input.to_owned(), false);
    }
    let escaped = if input.contains('&') {
        input.replace('&', "&amp;")
    } else {
        input.to_owned()
    };
    let mut sink = Sink::new(input.len());
    let mut rest = escaped.as_str();
    loop {
        let unclosed = sink.tokenize(rest);
        let Some((at, name)) = unclosed else { break };
        // `at` is the `<` of the unclosed tag within `rest`.
        let Some(gt) = rest.get(at..).and_then(|tail| tail.find('>')) else {
            break;
        };
        sink.open_tag_markers(&name);
        rest = rest.get(at + gt + 1..).unwrap_or_default();
        sink.dropped.clear();
    }
    (sink.out, sink.saw_markup)
}

/// What the callback builds: the text, and what it needs to know between events.
struct Sink {
    out: String,
    saw_markup: bool,
    /// The elements whose content is dropped that are open, innermost last.
    dropped: Vec<Dropped>,
    /// The start tag being read.
    tag: OpenTag,
    /// The tokenizer state the current start tag switches to (raw text for `<script>` …).
    next_state: Option<State>,
}

/// An open element whose content is dropped when it closes.
struct Dropped {
    name: Vec<u8>,
    /// Open elements of this name, counting itself (`<svg>` in `<svg>`).
    depth: usize,
    /// Where its content starts in the output. Text of an element that is not raw text
    /// is written and cut off at its end tag; without an end tag it stays, because
    /// an element that never closes is more often escaped markup quoted as text
    /// ("add a `<head>` element") than a real one cut short.
    from: usize,
    /// Script, style and the like: content never written, closed or not (a script
    /// cut short is still code).
    raw: bool,
}

/// A start tag between its name and its `>`. Its buffers are reused from tag to tag.
#[derive(Default)]
struct OpenTag {
    name: Vec<u8>,
    /// Byte offset of its `<` in the tokenized text.
    at: Option<usize>,
    attr: Attr,
    class: Vec<u8>,
    alt: Vec<u8>,
}

impl OpenTag {
    fn reset(&mut self, at: Option<usize>, name: &[u8]) {
        self.at = at;
        self.name.clear();
        self.name.extend_from_slice(name);
        self.attr = Attr::Other;
        self.class.clear();
        self.alt.clear();
    }
}

/// The attribute whose value comes next, among the ones we read.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Attr {
    #[default]
    Other,
    Class,
    Alt,
}

impl Sink {
    fn new(capacity: usize) -> Self {
        Sink {
            out: String::with_capacity(capacity),
            saw_markup: false,
            dropped: Vec::new(),
            tag: OpenTag::default(),
            next_state: None,
        }
    }

    /// Runs the tokenizer over `text`. Returns the offset and name of a start tag still
    /// open at the end of the input, if any.
    fn tokenize(&mut self, text: &str) -> Option<(usize, Vec<u8>)> {
        self.tag.reset(None, b"");
        let emitter = TextEmitter {
            inner: CallbackEmitter::new(SinkCallback(self)),
        };
        // The emitter produces no tokens (`Infallible`): running the iterator drives it.
        Tokenizer::new_with_emitter(text, emitter).for_each(drop);
        let open = std::mem::take(&mut self.tag);
        open.at.map(|at| (at, open.name))
    }

    fn handle(&mut self, event: CallbackEvent<'_>, span: Span<usize>) {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                self.saw_markup = true;
                self.tag.reset(Some(span.start), name);
            }
            CallbackEvent::AttributeName { name } => {
                self.tag.attr = if name == b"class" {
                    Attr::Class
                } else if name == b"alt" {
                    Attr::Alt
                } else {
                    Attr::Other
                };
            }
            CallbackEvent::AttributeValue { value } => match self.tag.attr {
                Attr::Class if self.tag.class.is_empty() => {
                    self.tag.class.extend_from_slice(value);
                }
                Attr::Alt if self.tag.alt.is_empty() => self.tag.alt.extend_from_slice(value),
                _ => {}
            },
            CallbackEvent::CloseStartTag { self_closing } => {
                let tag = std::mem::take(&mut self.tag);
                self.start_tag(&tag, self_closing);
                self.tag = tag;
                self.tag.reset(None, b"");
            }
            CallbackEvent::EndTag { name } => {
                self.saw_markup = true;
                self.end_tag(name);
            }
            CallbackEvent::String { value } => {
                if !self.dropped.last().is_some_and(|d| d.raw) {
                    // The input was a `&str`, and html5gum only splits at ASCII bytes.
                    self.out.push_str(&String::from_utf8_lossy(value));
                }
            }
            CallbackEvent::Comment { .. } | CallbackEvent::Doctype { .. } => {
                self.saw_markup = true;
            }
            CallbackEvent::Error(_) => {}
        }
    }

    fn start_tag(&mut self, tag: &OpenTag, self_closing: bool) {
        let name = tag.name.as_slice();
        if DROP_CONTENT.contains(&name) && !self_closing {
            match self.dropped.last_mut() {
                Some(open) if open.name == name => open.depth += 1,
                _ => {
                    // Raw-text elements must be tokenized as such, or a `<` in a script
                    // would start a tag; a self-closing `<iframe/>` has no content.
                    self.next_state = match name {
                        b"script" => Some(State::ScriptData),
                        b"style" | b"iframe" | b"noscript" => Some(State::RawText),
                        _ => None,
                    };
                    self.dropped.push(Dropped {
                        name: name.to_vec(),
                        depth: 1,
                        from: self.out.len(),
                        raw: self.next_state.is_some(),
                    });
                }
            }
            return;
        }
        self.next_state = match name {
            // Text either way; RCDATA keeps a `<` in a title from starting a tag.
            b"title" | b"textarea" => Some(State::RcData),
            b"xmp" | b"noembed" | b"noframes" => Some(State::RawText),
            _ => None,
        };
        self.open_tag_markers(name);
        if name == b"img" {
            // WordPress and Mastodon turn emoji into <img class="wp-smiley" alt="🇨🇭">;
            // the alt *is* the text there. Other images say nothing.
            let class = String::from_utf8_lossy(&tag.class).to_ascii_lowercase();
            if class.contains("emoji") || class.contains("smiley") {
                self.out.push_str(&String::from_utf8_lossy(&tag.alt));
            }
        }
    }

    /// The break a start tag makes.
    fn open_tag_markers(&mut self, name: &[u8]) {
        self.saw_markup = true;
        if PARAGRAPH.contains(&name) {
            self.out.push(PARA);
        } else if LINE_START.contains(&name) || name == b"br" {
            self.out.push(LINE);
        } else if CELL.contains(&name) {
            self.out.push(' ');
        }
    }

    fn end_tag(&mut self, name: &[u8]) {
        if let Some(i) = self.dropped.iter().rposition(|d| d.name == name) {
            let open = &mut self.dropped[i];
            open.depth -= 1;
            if open.depth == 0 {
                self.out.truncate(open.from);
                self.dropped.truncate(i);
            }
            return;
        }
        if PARAGRAPH.contains(&name) {
            self.out.push(PARA);
        } else if CELL.contains(&name) {
            self.out.push(' ');
        }
    }
}

/// The callback html5gum calls, borrowing the sink for one tokenizer run.
struct SinkCallback<'s>(&'s mut Sink);

impl Callback<Infallible, usize> for SinkCallback<'_> {
    fn handle_event(&mut self, event: CallbackEvent<'_>, span: Span<usize>) -> Option<Infallible> {
        self.0.handle(event, span);
        None
    }
}

/// html5gum's callback emitter with two changes: the tokenizer state after a start tag is
/// ours (the sink's), and CDATA sections are read as text, as feeds use them (html5gum, like
/// a browser, reads them as comments outside SVG and MathML).
struct TextEmitter<'s> {
    inner: CallbackEmitter<SinkCallback<'s>, Infallible, usize>,
}

impl ForwardingEmitter for TextEmitter<'_> {
    type Token = Infallible;

    fn inner(&mut self) -> &mut impl Emitter<Token = Self::Token> {
        &mut self.inner
    }

    fn emit_current_tag(&mut self) -> Option<State> {
        // The inner emitter's own state switching is off; it only reports the tag.
        let _ = self.inner.emit_current_tag();
        self.inner.callback_mut().0.next_state.take()
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&mut self) -> bool {
        true
    }

    // Parse errors are of no use here; saying so lets the tokenizer skip tracking them.
    fn should_emit_errors(&mut self) -> bool {
        false
    }
}
