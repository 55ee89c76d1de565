//! Fitting a rendered post into the limits, the way an editor would shorten it.
//!
//! Owns: the order of sacrifices when a post is too long or has too many links. The
//! template is a black box, so fitting works by shortening its *inputs* and rendering
//! again (a render takes microseconds; a fit takes at most ~40):
//!
//! 1. Too many links: URLs are removed from the body fields (summary, content,
//!    standfirst), then from the title. The article link itself is never removed.
//! 2. Too long: the body fields are shortened to the largest byte budget that fits
//!    (binary search). At that budget each is cut at a sentence end if that keeps at
//!    least two thirds of what a word cut would (complete sentences read better and need
//!    no "…"), else at a word end with "…". A body cut below 40 bytes ("Officials
//!    said…") is dropped instead.
//! 3. Still too long with the body dropped: the title is cut at a word end with "…".
//! 4. Still too long (the template adds long fixed text or other fields): the whole text
//!    is cut at a word/grapheme boundary with "…".
//!
//! For image posts the article link is appended to the text (image posts get no link
//! card), after a blank line, unless the template already put it there; the budget for
//! everything else shrinks accordingly.
//!
//! Must not: choose media, tags or settings (that is `Composer`).

use super::ComposeError;
use super::html::{guard, sanitize_plain};
use super::links::{MAX_LINKS, count_links, limit_links, remove_links};
use super::template::{Fields, Template};
use super::text::{Cut, Cutter, ELLIPSIS, MAX_TEXT_BYTES, sentence_prefix, truncate};
use std::borrow::Cow;

/// A body cut shorter than this says nothing; drop the body instead.
const MIN_BODY_BYTES: usize = 40;
/// Body fields are never longer than this when they reach a template: the whole post is
/// at most 500 bytes, and a template that shortens fields itself (`truncate(300)`) gets
/// the same result from the first 2000 bytes. Keeps every render small however long
/// the article is.
pub(crate) const MAX_BODY_BUDGET: usize = 4 * MAX_TEXT_BYTES;

/// How much a post had to be shortened to fit, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fit {
    /// The template's output fit as rendered.
    Whole,
    /// The summary (standfirst, content) was shortened.
    SummaryShortened,
    /// The summary was dropped; the title is whole.
    SummaryDropped,
    /// The summary was dropped and the title shortened.
    TitleShortened,
    /// The whole rendered text was cut (the template's fixed parts are too long).
    TextCut,
}

impl Fit {
    /// Whether anything was cut.
    pub fn is_truncated(self) -> bool {
        self != Fit::Whole
    }
}

/// The plain-text inputs of one item.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prepared {
    pub title: String,
    pub summary: String,
    pub content: String,
    pub standfirst: String,
    /// The longer of summary and content, whole: what a text attachment carries (only
    /// filled when the feed attaches long text).
    pub full_body: String,
    /// With the feed's link params.
    pub link: Option<String>,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub published: Option<chrono::DateTime<chrono::Utc>>,
}

/// What fitting produced.
#[derive(Debug, Clone)]
pub(crate) struct Fitted {
    pub text: String,
    pub fit: Fit,
    /// URLs were removed from the text to respect the link limit.
    pub links_removed: bool,
}

pub(crate) struct Fitter<'a> {
    pub template: &'a Template,
    pub item: &'a Prepared,
    pub feed_name: &'a str,
    pub feed_title: &'a str,
    /// Image posts: the article link, appended to the text.
    pub image_link: Option<&'a str>,
    /// Text posts: the link card.
    pub attachment: Option<&'a str>,
}

/// The body fields in one state of shortening.
#[derive(Clone, Copy)]
struct Body<'b> {
    summary: &'b str,
    content: &'b str,
    standfirst: &'b str,
}

impl Body<'_> {
    const EMPTY: Body<'static> = Body {
        summary: "",
        content: "",
        standfirst: "",
    };
}

impl Fitter<'_> {
    pub(crate) fn run(&self) -> Result<Fitted, ComposeError> {
        let item = self.item;
        let full = Body {
            summary: &item.summary,
            content: &item.content,
            standfirst: &item.standfirst,
        };
        let mut title: Cow<'_, str> = Cow::Borrowed(&item.title);
        let first = self.finish(&self.render(&title, full)?);
        if self.fits(&first) {
            return Ok(self.done(first, Fit::Whole, false));
        }

        // 1. Links.
        let mut links_removed = false;
        let unlinked;
        let mut body_src = full;
        if self.links(&first) > MAX_LINKS {
            links_removed = true;
            unlinked = [
                remove_links(&item.summary),
                remove_links(&item.content),
                remove_links(&item.standfirst),
            ];
            body_src = Body {
                summary: &unlinked[0],
                content: &unlinked[1],
                standfirst: &unlinked[2],
            };
            let t = self.finish(&self.render(&title, body_src)?);
            if self.links(&t) > MAX_LINKS {
                title = Cow::Owned(remove_links(&item.title));
            }
            let t = self.finish(&self.render(&title, body_src)?);
            if self.fits(&t) {
                return Ok(self.done(t, Fit::Whole, true));
            }
        }

        // 2. Shorten the body.
        let longest = [body_src.summary, body_src.content, body_src.standfirst]
            .iter()
            .map(|s| s.len())
            .max()
            .unwrap_or(0)
            // A body longer than the post cannot fit whole; templates that shorten it
            // themselves get the same from its first 500 bytes.
            .min(MAX_TEXT_BYTES);
        let cutters = [
            Cutter::new(body_src.summary, longest),
            Cutter::new(body_src.content, longest),
            Cutter::new(body_src.standfirst, longest),
        ];
        let word_body = |budget: usize| {
            cutters
                .each_ref()
                .map(|c| c.cut(budget, Cut::Word, ELLIPSIS))
        };
        let with_budget = |budget: usize| -> Result<Option<String>, ComposeError> {
            let cut = word_body(budget);
            let t = self.finish(&self.render(&title, body_of(&cut))?);
            Ok(self.fits(&t).then_some(t))
        };
        if longest > 0
            && let Some(at_zero) = with_budget(0)?
        {
            let best = self.largest(0, longest, &with_budget)?;
            if best == 0 {
                return Ok(self.done(at_zero, Fit::SummaryDropped, links_removed));
            }
            // Prefer sentences; drop what would be too short to say anything.
            let polished = [
                polish(body_src.summary, best),
                polish(body_src.content, best),
                polish(body_src.standfirst, best),
            ];
            let fit = if polished.iter().all(|p| p.is_empty()) {
                Fit::SummaryDropped
            } else {
                Fit::SummaryShortened
            };
            let t = self.finish(&self.render(&title, body_of(&polished))?);
            if self.fits(&t) {
                return Ok(self.done(t, fit, links_removed));
            }
            // A template that is not monotonic in its inputs: the word cut is known to fit.
            if let Some(t) = with_budget(best)? {
                return Ok(self.done(t, Fit::SummaryShortened, links_removed));
            }
        }

        // 3. Body dropped; shorten the title.
        let title_cutter = Cutter::new(&title, title.len());
        let with_title = |budget: usize| -> Result<Option<String>, ComposeError> {
            let cut = title_cutter.cut(budget, Cut::Word, ELLIPSIS);
            let t = self.finish(&self.render(&cut, Body::EMPTY)?);
            Ok(self.fits(&t).then_some(t))
        };
        // (With the whole title it cannot fit: that is the body-at-zero attempt above.)
        if with_title(0)?.is_some() {
            let best = self.largest(0, title.len(), &with_title)?;
            if let Some(t) = with_title(best)? {
                return Ok(self.done(t, Fit::TitleShortened, links_removed));
            }
        }

        // 4. Cut the whole text.
        let rendered = self.render(&title, Body::EMPTY)?;
        Ok(self.cut_whole(&rendered, links_removed))
    }

    /// The largest budget in `lo..=hi` for which `attempt` fits, given that `lo` fits.
    fn largest(
        &self,
        lo: usize,
        hi: usize,
        attempt: &dyn Fn(usize) -> Result<Option<String>, ComposeError>,
    ) -> Result<usize, ComposeError> {
        let (mut lo, mut hi) = (lo, hi);
        if attempt(hi)?.is_some() {
            return Ok(hi);
        }
        // Invariant: lo fits, hi does not.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if attempt(mid)?.is_some() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Step 4: cut the rendered text itself, keeping room for an appended image link.
    fn cut_whole(&self, rendered: &str, links_removed: bool) -> Fitted {
        let reserved: Vec<&str> = self.image_link.into_iter().collect();
        let limited = limit_links(rendered, self.attachment, &reserved, MAX_LINKS);
        let links_removed = links_removed || limited != rendered;
        let suffix = self.image_link.map_or(0, |l| l.len() + 2);
        let mut budget = MAX_TEXT_BYTES.saturating_sub(suffix);
        loop {
            let cut = truncate(&limited, budget, Cut::Word, ELLIPSIS);
            let text = self.finish(&guard(&cut));
            if self.fits(&text) || budget == 0 {
                return self.done(text, Fit::TextCut, links_removed);
            }
            // `guard` can lengthen text by a few bytes; take them off the budget.
            let over = text.len().saturating_sub(MAX_TEXT_BYTES).max(8);
            budget = budget.saturating_sub(over);
        }
    }

    fn render(&self, title: &str, body: Body<'_>) -> Result<String, ComposeError> {
        let item = self.item;
        let fields = Fields {
            title,
            summary: body.summary,
            content: body.content,
            standfirst: body.standfirst,
            link: item.link.as_deref().unwrap_or_default(),
            authors: &item.authors,
            categories: &item.categories,
            feed_title: self.feed_title,
            feed_name: self.feed_name,
            published: item.published,
        };
        let raw = self
            .template
            .render(&fields)
            .map_err(|e| ComposeError::Render {
                key: self.template.key().to_owned(),
                message: e.to_string().replace('\n', " "),
            })?;
        Ok(sanitize_plain(&raw))
    }

    /// The post text for a rendered body: the image link appended for image posts; the
    /// article link as text when a text post would otherwise be empty.
    fn finish(&self, body: &str) -> String {
        match (self.image_link, self.attachment) {
            (Some(link), _) if body.is_empty() => link.to_owned(),
            (Some(link), _) if !body.contains(link) => format!("{body}\n\n{link}"),
            (None, Some(link)) if body.is_empty() && link.len() <= MAX_TEXT_BYTES => {
                link.to_owned()
            }
            _ => body.to_owned(),
        }
    }

    fn links(&self, text: &str) -> usize {
        count_links(text, self.attachment)
    }

    fn fits(&self, text: &str) -> bool {
        text.len() <= MAX_TEXT_BYTES && self.links(text) <= MAX_LINKS
    }

    fn done(&self, text: String, fit: Fit, links_removed: bool) -> Fitted {
        Fitted {
            text,
            fit,
            links_removed,
        }
    }
}

fn body_of<'b>(cut: &'b [Cow<'_, str>; 3]) -> Body<'b> {
    Body {
        summary: &cut[0],
        content: &cut[1],
        standfirst: &cut[2],
    }
}

/// The final cut of one body field at `budget`: whole if it fits; else complete
/// sentences if they keep at least two thirds of a word cut; else the word cut; and
/// nothing if that is too short to be worth reading.
fn polish(field: &str, budget: usize) -> Cow<'_, str> {
    if field.len() <= budget {
        return Cow::Borrowed(field);
    }
    let words = truncate(field, budget, Cut::Word, ELLIPSIS);
    let chosen = match sentence_prefix(field, budget) {
        Some(s) if s.len() * 3 >= words.len() * 2 => Cow::Borrowed(s),
        _ => words,
    };
    if chosen.len() < MIN_BODY_BYTES {
        return Cow::Borrowed("");
    }
    chosen
}
