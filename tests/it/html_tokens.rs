//! HTML read by one tokenizer (html5gum): what used to fool the hand-written scanners, for
//! the item's lead image (`parse_feed`) and for the text of a post (`html_to_text`).

use feed2threads::compose::html_to_text;
use feed2threads::feed::parse::parse_feed;
use url::Url;

fn first_image(description_html: &str) -> Option<String> {
    let rss = format!(
        "<rss version=\"2.0\"><channel><title>t</title><item><guid>g</guid>\
         <link>https://news.example/a</link><title>x</title>\
         <description><![CDATA[{description_html}]]></description></item></channel></rss>"
    );
    let base = Url::parse("https://news.example/feed.xml").unwrap();
    let parsed = parse_feed(rss.as_bytes(), None, &base).unwrap();
    parsed.items[0].images.first().map(|c| c.url.to_string())
}

#[test]
fn an_img_in_a_comment_script_or_attribute_is_not_the_lead_image() {
    assert_eq!(
        first_image(r#"<!-- <img src="/old-layout.jpg"> --><p><img src="/lead.jpg"></p>"#),
        Some("https://news.example/lead.jpg".into())
    );
    assert_eq!(
        first_image(
            r#"<script>document.write('<img src="/tracker.jpg">')</script><img src="/lead.jpg">"#
        ),
        Some("https://news.example/lead.jpg".into())
    );
    assert_eq!(
        first_image(r#"<a title="<img src=/tooltip.jpg>" href="/x">x</a><img src="/lead.jpg">"#),
        Some("https://news.example/lead.jpg".into())
    );
    assert_eq!(
        first_image(r#"<!-- <img src="/only-in-a-comment.jpg"> -->"#),
        None
    );
}

#[test]
fn image_urls_are_decoded_by_attribute_rules() {
    assert_eq!(
        first_image(r#"<img src="/i.jpg?w=640&amp;h=480&copy=1" alt="A &eacute;t&eacute;">"#),
        Some("https://news.example/i.jpg?w=640&h=480&copy=1".into())
    );
}

#[test]
fn urls_in_text_keep_their_ampersands() {
    // A browser shows `&region` in text as "®ion"; in a post it would break the link.
    assert_eq!(
        html_to_text("<p>See https://x.example/?a=1&region=eu&copy=2 &reg; &amp; more</p>"),
        "See https://x.example/?a=1&region=eu&copy=2 ® & more"
    );
}

#[test]
fn raw_text_elements_end_only_at_their_own_end_tag() {
    assert_eq!(
        html_to_text(r#"<style>a::after { content: "</styles>" }</style><p>Text</p>"#),
        "Text"
    );
    assert_eq!(
        html_to_text(r#"<script>if (a </b) x()</script>After"#),
        "After"
    );
    // Self-closing: nothing to drop, the text after it stays.
    assert_eq!(
        html_to_text(r#"<iframe src="https://player.example/1"/>Watch the video"#),
        "Watch the video"
    );
    // Nested drop elements end at the outer end tag.
    assert_eq!(
        html_to_text("<svg><svg><text>a</text></svg><text>b</text></svg>Caption"),
        "Caption"
    );
}

#[test]
fn cdata_may_hold_a_greater_than_sign() {
    assert_eq!(html_to_text("<p>a<![CDATA[ x > y ]]>b</p>"), "a x > y b");
}

#[test]
fn an_attribute_quote_left_open_ends_at_the_next_angle_bracket() {
    // A browser would read to the end of the input and drop it all.
    assert_eq!(
        html_to_text(r#"<p><a href="https://x.example/a>Read more</a> of the story.</p>"#),
        "Read more of the story."
    );
}

#[test]
fn markup_quoted_as_text_does_not_swallow_the_rest() {
    // Escaped once for the feed, the tag names in the article's prose decode to tags.
    // An element that never closes is quoted text, not a real <head> cut short.
    assert_eq!(
        html_to_text(
            "<p>Add a <code>&lt;link&gt;</code> element to the <code>&lt;head&gt;</code> \
             of every page.</p><p>Then you are ready.</p>"
        ),
        "Add a element to the of every page.\n\nThen you are ready."
    );
    // A real one, closed, is still dropped; a script cut short is still code.
    assert_eq!(
        html_to_text("<head><title>T</title></head><p>Body</p>"),
        "Body"
    );
    assert_eq!(html_to_text("<p>Text</p><script>var x = 1;"), "Text");
}
