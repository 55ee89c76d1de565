//! RSS documents for tests: `rss(prefix, n)` is a feed of `n` stories `prefix-0..n`, story 0
//! the oldest (dated `n` minutes ago), each with its own guid and link.
#![allow(dead_code, reason = "each test module uses a part of it")]

/// A feed of `n` stories.
pub fn rss(prefix: &str, n: usize) -> String {
    document(prefix, n, false)
}

/// A feed of `n` stories, each with an image enclosure.
pub fn rss_with_images(prefix: &str, n: usize) -> String {
    document(prefix, n, true)
}

fn document(prefix: &str, n: usize, images: bool) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Test News</title><link>https://news.example/</link>\n",
    );
    for i in 0..n {
        s.push_str(&item(prefix, i, n, images));
    }
    s.push_str("</channel></rss>\n");
    s
}

fn item(prefix: &str, i: usize, n: usize, image: bool) -> String {
    let minutes = i64::try_from(n - i).unwrap_or(0);
    let date = (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc2822();
    let enclosure = if image {
        format!(
            "<enclosure url=\"https://img.example/{prefix}/{i}.jpg\" type=\"image/jpeg\" length=\"1000\"/>"
        )
    } else {
        String::new()
    };
    format!(
        "<item><guid>{prefix}-{i}</guid><link>https://news.example/{prefix}/{i}</link>\
         <title>{prefix} story number {i}</title><description>What happened in {prefix} \
         story {i}.</description><pubDate>{date}</pubDate>{enclosure}</item>\n"
    )
}
