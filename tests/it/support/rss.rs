//! The one builder of test feeds: a [`Feed`] of [`Story`]s written out as RSS 2.0 or Atom.
//!
//! The shortcuts cover most tests: `rss(prefix, n)` is a feed of `n` stories `prefix-0..n`,
//! story 0 the oldest (dated `n` minutes ago), each with its own guid and link;
//! [`numbered`] gives the same stories to put in a [`Feed`] of one's own.
//!
//! Text is written into the document as given: a test that wants `&amp;` or escaped HTML in
//! a title or description writes it so (the builder never escapes, so a test controls the
//! exact bytes the parser sees).
#![allow(dead_code, reason = "each test module uses a part of it")]

use chrono::{DateTime, Duration, Utc};

/// One item (RSS) or entry (Atom).
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    /// RSS `<guid>`, Atom `<id>`.
    pub guid: String,
    pub link: String,
    pub title: String,
    /// RSS `<description>`, Atom `<summary>`; none when `None`.
    pub description: Option<String>,
    /// RSS `<pubDate>`, Atom `<updated>`; none when `None`.
    pub published: Option<DateTime<Utc>>,
    /// An image enclosure (RSS only).
    pub image: Option<String>,
}

impl Story {
    /// A story with a guid, a link and a title, no description and no date.
    pub fn new(guid: impl Into<String>, link: impl Into<String>, title: impl Into<String>) -> Self {
        Story {
            guid: guid.into(),
            link: link.into(),
            title: title.into(),
            description: None,
            published: None,
            image: None,
        }
    }

    /// Story `i` of `prefix`: guid `prefix-i`, link `https://news.example/prefix/i`, title
    /// `prefix story number i`, a one-sentence description, no date.
    pub fn numbered(prefix: &str, i: usize) -> Self {
        Story::new(
            format!("{prefix}-{i}"),
            format!("https://news.example/{prefix}/{i}"),
            format!("{prefix} story number {i}"),
        )
        .description(format!("What happened in {prefix} story {i}."))
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    pub fn published(mut self, at: DateTime<Utc>) -> Self {
        self.published = Some(at);
        self
    }

    /// Dated `age` before now.
    pub fn aged(self, age: Duration) -> Self {
        self.published(Utc::now() - age)
    }

    /// With the image enclosure `https://img.example/<path>`.
    pub fn image(mut self, url: impl Into<String>) -> Self {
        self.image = Some(url.into());
        self
    }

    fn rss_item(&self) -> String {
        let Story {
            guid, link, title, ..
        } = self;
        let mut s = format!("<item><guid>{guid}</guid><link>{link}</link><title>{title}</title>");
        if let Some(d) = &self.description {
            s.push_str(&format!("<description>{d}</description>"));
        }
        if let Some(at) = self.published {
            s.push_str(&format!("<pubDate>{}</pubDate>", at.to_rfc2822()));
        }
        if let Some(url) = &self.image {
            s.push_str(&format!(
                "<enclosure url=\"{url}\" type=\"image/jpeg\" length=\"1000\"/>"
            ));
        }
        s.push_str("</item>\n");
        s
    }

    fn atom_entry(&self) -> String {
        let Story {
            guid, link, title, ..
        } = self;
        let mut s = format!(
            "<entry><id>{guid}</id><link rel=\"alternate\" href=\"{link}\"/><title>{title}</title>"
        );
        if let Some(at) = self.published {
            s.push_str(&format!("<updated>{}</updated>", at.to_rfc3339()));
        }
        if let Some(d) = &self.description {
            s.push_str(&format!("<summary>{d}</summary>"));
        }
        s.push_str("</entry>\n");
        s
    }
}

/// A channel (RSS) or feed (Atom) and its stories, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub title: String,
    pub stories: Vec<Story>,
}

impl Feed {
    /// An empty feed titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Feed {
            title: title.into(),
            stories: Vec::new(),
        }
    }

    pub fn story(mut self, story: Story) -> Self {
        self.stories.push(story);
        self
    }

    pub fn stories(mut self, stories: impl IntoIterator<Item = Story>) -> Self {
        self.stories.extend(stories);
        self
    }

    /// The RSS 2.0 document.
    pub fn rss(&self) -> String {
        let mut s = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{}</title><link>https://news.example/</link>\n",
            self.title
        );
        for story in &self.stories {
            s.push_str(&story.rss_item());
        }
        s.push_str("</channel></rss>\n");
        s
    }

    /// The Atom document.
    pub fn atom(&self) -> String {
        let mut s = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>{}</title><id>urn:test</id><updated>2026-01-01T00:00:00Z</updated>\n",
            self.title
        );
        for story in &self.stories {
            s.push_str(&story.atom_entry());
        }
        s.push_str("</feed>\n");
        s
    }
}

/// Stories `prefix-0..n` ([`Story::numbered`]), story `i` dated `(n - i) * spacing` ago, so
/// story 0 is the oldest.
pub fn numbered(prefix: &str, n: usize, spacing: Duration) -> Vec<Story> {
    (0..n)
        .map(|i| {
            let steps = i32::try_from(n - i).unwrap_or(i32::MAX);
            Story::numbered(prefix, i).aged(spacing * steps)
        })
        .collect()
}

/// A feed of `n` stories, a minute apart.
pub fn rss(prefix: &str, n: usize) -> String {
    Feed::new("Test News")
        .stories(numbered(prefix, n, Duration::minutes(1)))
        .rss()
}

/// A feed of `n` stories, a minute apart, each with an image enclosure.
pub fn rss_with_images(prefix: &str, n: usize) -> String {
    Feed::new("Test News")
        .stories(with_images(
            prefix,
            numbered(prefix, n, Duration::minutes(1)),
        ))
        .rss()
}

/// The stories, story `i` with the image `https://img.example/<prefix>/<i>.jpg`.
pub fn with_images(prefix: &str, stories: Vec<Story>) -> Vec<Story> {
    stories
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.image(format!("https://img.example/{prefix}/{i}.jpg")))
        .collect()
}
