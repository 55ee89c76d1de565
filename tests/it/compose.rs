//! Composition: feed item → Threads post within every API limit.
//!
//! The table tests use short titles and summaries quoted from the real-world corpus in
//! `../shared/feeds` (file named next to each), as the feed parser hands them over (XML
//! already decoded once, so what is left is the feed's own HTML and entities).

use feed2threads::compose::{
    ComposeError, ComposeOptions, Composer, FeedContext, FilterDecision, Fit, ImageFallback,
    LimitError, Media, MediaMode, Post, PostText, ReplyControl, TopicTag, count_links, hashtag,
    html_to_text,
};
use feed2threads::feed::item::{ImageCandidate, ImageSource, Item};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;
use unicode_segmentation::UnicodeSegmentation;
use url::Url;

fn ctx() -> FeedContext<'static> {
    FeedContext {
        feed_name: "world",
        feed_title: Some("World news"),
    }
}

fn item(title: &str, summary: &str) -> Item {
    Item {
        title: Some(title.to_owned()),
        summary: (!summary.is_empty()).then(|| summary.to_owned()),
        link: Some(Url::parse("https://news.example/story/1").unwrap()),
        ..Item::default()
    }
}

fn composer(options: ComposeOptions) -> Composer {
    Composer::new(&options, "feeds[2]").expect("valid options")
}

fn default_composer() -> Composer {
    composer(ComposeOptions::default())
}

fn image_options() -> ComposeOptions {
    ComposeOptions {
        media: MediaMode::Image,
        ..ComposeOptions::default()
    }
}

fn with_image(mut item: Item, url: &str, alt: Option<&str>) -> Item {
    item.images.push(ImageCandidate {
        url: Url::parse(url).unwrap(),
        alt: alt.map(str::to_owned),
        source: ImageSource::MediaContent,
    });
    item
}

fn config_error(options: ComposeOptions) -> (String, String) {
    match Composer::new(&options, "feeds[2]") {
        Err(ComposeError::Config { key, message }) => (key, message),
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// What an HTML tag looks like, independently of the composer's own definition.
static TAG: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"<[A-Za-z/!?][^<>]*>").expect("static regex"));

/// Everything a post must satisfy, whatever the input.
fn assert_within_limits(post: &Post) {
    let text = post.text.as_str();
    assert!(text.len() <= 500, "{} bytes: {text:?}", text.len());
    assert!(
        count_links(text, post.link_attachment.as_deref()) <= 5,
        "too many links: {text:?} + {:?}",
        post.link_attachment
    );
    assert!(!TAG.is_match(text), "tag in {text:?}");
    assert_eq!(
        htmlize::unescape_attribute(text),
        text,
        "entity in {text:?}"
    );
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "control character in {text:?}"
    );
    if let Some(tag) = &post.topic_tag {
        assert!(
            !tag.is_empty() && tag.len() <= 50 && !tag.contains(['.', '&']),
            "{tag:?}"
        );
    }
    if let Media::Image { url, alt_text } = &post.media {
        assert!(url.starts_with("http://") || url.starts_with("https://"));
        assert!(alt_text.len() <= 1000);
        assert!(post.link_attachment.is_none());
    }
    post.check().expect("Post::check agrees");
}

// ---------------------------------------------------------------------------------------
// Real titles and summaries from the corpus.

#[test]
fn corpus_titles_and_summaries() {
    // (corpus file, title as parsed, summary as parsed, expected post text)
    let table: &[(&str, &str, &str, &str)] = &[
        (
            "feedparser__wellformed_xml_escaped_apos.xml",
            "it&apos;s correct",
            "",
            "it's correct",
        ),
        (
            "rssparser__giantbomb-podcast.rss",
            "Giant Bombcast",
            "the proper way to enjoy a PB&amp;J sandwich",
            "Giant Bombcast\n\nthe proper way to enjoy a PB&J sandwich",
        ),
        (
            "feedrs__rss_2.0_vimeo_media.xml",
            "Dates",
            "Also check the email for a few important dates in October you&#039;ll want to mark on your\n                calendar!\n            ",
            "Dates\n\nAlso check the email for a few important dates in October you'll want to mark on your calendar!",
        ),
        (
            "feedparser__encoding_demoronize-3.xml",
            "Demoronize",
            "don&#146;t",
            "Demoronize\n\ndon’t",
        ),
        (
            "feedparser__encoding_double-encoded-html.xml (UTF-8 read as Latin-1)",
            "Ellipsis",
            "â\u{80}¦",
            "Ellipsis\n\n…",
        ),
        (
            "feedparser__encoding_bozo_double-encoded-html.xml",
            "Ellipsis",
            "&acirc;&#128;&brvbar;",
            "Ellipsis\n\n…",
        ),
        (
            "feedparser__wellformed_amp_amp49.xml (CDATA holding an entity)",
            "<![CDATA[&#38;]]>",
            "",
            "&",
        ),
        (
            "feedrs__atom_example_4.xml",
            "<![CDATA[ Connection with future]]>",
            "",
            "Connection with future",
        ),
        (
            "feedrs__rss_1.0_example_1.xml (CJK in CDATA)",
            "記事1のタイトル",
            "<![CDATA[記事1の内容]]>",
            "記事1のタイトル\n\n記事1の内容",
        ),
        (
            "samplefeeds__realworld_public_mastodon_feed_-_user_f19a13.xml (escaped HTML + emoji)",
            "Mastodon",
            "<p>Got a wedding date 😎</p>",
            "Mastodon\n\nGot a wedding date 😎",
        ),
        (
            "samplefeeds__realworld_public_mastodon_feed_-_bot_21102c.xml",
            "Perseverance Image Bot 📡",
            "",
            "Perseverance Image Bot 📡",
        ),
        (
            "samplefeeds__realworld_buzzfeed_-_latest_6d8026.xml",
            "Quiz",
            "<h1>This is so hard!!! 😭</h1><p>Take the quiz.</p>",
            "Quiz\n\nThis is so hard!!! 😭\n\nTake the quiz.",
        ),
        (
            "samplefeeds__realworld_wordpress_news_9bbd59.xml (flags as wp-smiley images)",
            "The Month in WordPress &#8211; March 2022",
            r#"<ul><li><img src="https://s.w.org/images/core/emoji/13.1.0/72x72/1f1e8-1f1ed.png" alt="🇨🇭" class="wp-smiley" style="height: 1em; max-height: 1em;" /> <a href="https://geneve.wordcamp.org/2022/">WordCamp Genève</a>, Switzerland on April 9, 2022</li><li><img src="https://s.w.org/images/core/emoji/13.1.0/72x72/1f1ec-1f1f7.png" alt="🇬🇷" class="wp-smiley" style="height: 1em; max-height: 1em;" /> WordCamp Athens</li></ul>"#,
            "The Month in WordPress – March 2022\n\n🇨🇭 WordCamp Genève, Switzerland on April 9, 2022\n🇬🇷 WordCamp Athens",
        ),
        (
            "feedparser__illformed_chardet_euckr.xml",
            "EUC-KR 에서 TypeKey 한글닉네임 표시하기",
            "",
            "EUC-KR 에서 TypeKey 한글닉네임 표시하기",
        ),
        (
            "feedparser__illformed_chardet_gb2312.xml",
            "不归移民漫画系列：专业工作",
            "",
            "不归移民漫画系列：专业工作",
        ),
        (
            "feedparser__illformed_chardet_koi8r.xml",
            "Как пережить новогоднюю ночь",
            "",
            "Как пережить новогоднюю ночь",
        ),
        (
            "feedparser__illformed_chardet_tis620.xml (Thai, double-encoded quote)",
            "SIPA",
            "ขอเรียนเชิญทุกท่านที่สนใจส่ง Template เข้าร่วมการประกวด &amp;#8220;Mambo Template&amp;#8221;",
            "SIPA\n\nขอเรียนเชิญทุกท่านที่สนใจส่ง Template เข้าร่วมการประกวด “Mambo Template”",
        ),
        (
            "feedparser__illformed_chardet_windows1255.xml (RTL)",
            "משפט ואינטרנט",
            "האם תדפיס נייר של אתר אינטרנט שמוצג על מסך משתמש הוא העתק נאמן למקור של אתר האינטרנט?",
            "משפט ואינטרנט\n\nהאם תדפיס נייר של אתר אינטרנט שמוצג על מסך משתמש הוא העתק נאמן למקור של אתר האינטרנט?",
        ),
        (
            "samplefeeds__realworld_nyt_top_stories_c5e0e6.xml",
            "US Blocks Russia’s Access to Dollars for Bond Payments",
            "The U.S. Treasury tightened its restrictions on Russian financial transactions on Monday, when more than half a billion dollars in bond payments were due.",
            "US Blocks Russia’s Access to Dollars for Bond Payments\n\nThe U.S. Treasury tightened its restrictions on Russian financial transactions on Monday, when more than half a billion dollars in bond payments were due.",
        ),
        (
            "feedrs__rss_2.0_bbc.xml (summary repeats nothing, stays)",
            "Marcus Aurelius",
            "Melvyn Bragg and guests discuss...",
            "Marcus Aurelius\n\nMelvyn Bragg and guests discuss...",
        ),
        (
            "synthetic: summary equal to the title is not repeated",
            "Some 1,200 war crimes registered in Kyiv region",
            "Some 1,200 war crimes registered in Kyiv region",
            "Some 1,200 war crimes registered in Kyiv region",
        ),
    ];
    let c = default_composer();
    for (source, title, summary, expected) in table {
        let post = c
            .compose(&item(title, summary), &ctx())
            .unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(post.text.as_str(), *expected, "{source}");
        assert_eq!(
            post.link_attachment.as_deref(),
            Some("https://news.example/story/1"),
            "{source}"
        );
        assert_eq!(post.media, Media::Text);
        assert_within_limits(&post);
    }
}

/// The Guardian's "Barbarians" story: a multi-paragraph HTML summary far over 500 bytes.
const GUARDIAN_TITLE: &str =
    "‘Barbarians’: Russian troops leave grisly mark on town of Trostianets";
const GUARDIAN_SUMMARY: &str = "<p>On a two-day visit, the Guardian found evidence of summary executions, torture and looting </p><p>The tanks rolled into Trostianets, a sleepy town 20 miles from the Russia-Ukraine border, in the first hours of the invasion. Russian troops fanned out across the town, occupying a number of buildings: the forestry agency headquarters, the railway station and a chocolate factory.</p><p>Their top general set up his office in room 23 at the local administration building, where the council’s accountants used to sit. His bottle of single malt is still on the desk, the butts of his slim cigarettes perched on the edge of an ashtray.</p>";

#[test]
fn long_summary_is_shortened_at_a_sentence_and_the_title_kept() {
    let c = default_composer();
    let composition = c
        .compose_detailed(&item(GUARDIAN_TITLE, GUARDIAN_SUMMARY), &ctx())
        .unwrap();
    let text = composition.post.text.as_str();
    assert_within_limits(&composition.post);
    assert_eq!(composition.fit, Fit::SummaryShortened);
    assert!(composition.truncated());
    assert!(
        text.starts_with(&format!("{GUARDIAN_TITLE}\n\nOn a two-day visit")),
        "{text}"
    );
    // Complete sentences, no ellipsis: it stops after "…a chocolate factory."
    assert!(text.ends_with("a chocolate factory."), "{text}");
    assert!(
        text.len() > 350,
        "kept as much as fits: {} bytes",
        text.len()
    );
}

#[test]
fn cjk_and_rtl_summaries_are_shortened_within_bytes() {
    let korean = "TypeKey 시스템이 UTF-8로 돌아가는데, 거기서 한글로 된 닉네임을 정할 경우에, EUC-KR로 된 무버블타입 블록에선 리다이렉트되어 전송되어오는 닉네임이 UTF라 당연히 깨어져 나타난다. ";
    let japanese = "『SDガンダムGジェネレーションNEO』をずっとプレイしている。『ウルトラマン』はストリーモードを終えて、ほぼやり尽くしてしまった。";
    let hebrew = "האם תדפיס נייר של אתר אינטרנט שמוצג על מסך משתמש הוא העתק נאמן למקור של אתר האינטרנט? רבים יגידו שכן, ולפעמים גם בתי המשפט יצטרפו אליהם. ";
    let c = default_composer();
    for (title, sentence) in [
        ("EUC-KR 에서 TypeKey 한글닉네임 표시하기", korean),
        ("ゲーム三昧な正月", japanese),
        ("משפט ואינטרנט", hebrew),
    ] {
        let summary = sentence.repeat(6);
        let composition = c.compose_detailed(&item(title, &summary), &ctx()).unwrap();
        let text = composition.post.text.as_str();
        assert_within_limits(&composition.post);
        assert!(composition.truncated());
        assert!(text.starts_with(&format!("{title}\n\n")), "{text}");
        let body = &text[title.len() + 2..];
        let plain = html_to_text(&summary);
        assert!(plain.starts_with(body.trim_end_matches('…')), "{body}");
        assert!(text.len() > 400, "{} bytes: {text}", text.len());
    }
}

#[test]
fn overlong_titles_keep_emoji_flags_and_zwj_sequences_whole() {
    // The corpus has no ZWJ sequences in titles; these are built from real ones.
    let family = "👩\u{200D}👩\u{200D}👧\u{200D}👦";
    let scotland = "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";
    let swiss = "🇨🇭";
    let skin = "👋🏽";
    let title = [family, scotland, swiss, skin, "e\u{301}"]
        .repeat(30)
        .join(" ");
    let c = default_composer();
    let composition = c
        .compose_detailed(&item(&title, "A summary."), &ctx())
        .unwrap();
    let text = composition.post.text.as_str();
    assert_within_limits(&composition.post);
    assert_eq!(composition.fit, Fit::TitleShortened);
    assert!(text.ends_with('…'));
    let allowed: HashSet<&str> = [family, scotland, swiss, skin, "é", " ", "…"].into();
    for g in text.graphemes(true) {
        assert!(allowed.contains(g), "split grapheme {g:?} in {text:?}");
    }
}

#[test]
fn text_post_without_title_or_summary_uses_the_link_or_fails() {
    let c = default_composer();
    let mut bare = Item {
        link: Some(Url::parse("https://news.example/a").unwrap()),
        ..Item::default()
    };
    let post = c.compose(&bare, &ctx()).unwrap();
    assert_eq!(post.text.as_str(), "https://news.example/a");
    assert_eq!(count_links(&post.text, post.link_attachment.as_deref()), 1);
    bare.link = None;
    assert!(matches!(c.compose(&bare, &ctx()), Err(ComposeError::Empty)));
}

// ---------------------------------------------------------------------------------------
// Templates.

#[test]
fn template_fields_helpers_and_timezone() {
    let c = composer(ComposeOptions {
        template: Some(
            "{{ feed_title }} · {{ published }}\n{{ title|upper }} by {{ author }}\n{{ categories|hashtags(2) }} {{ hashtag('climate change') }}\n{{ published_at|datetimeformat('%d.%m. %H:%M') }} {{ link }}".into(),
        ),
        timezone: Some(chrono_tz::Europe::Berlin),
        ..ComposeOptions::default()
    });
    let mut it = item("Fish &amp; chips <3", "");
    it.authors = vec!["Jane &amp; John".into()];
    it.categories = vec!["World news".into(), "COVID-19".into(), "world NEWS".into()];
    it.published = Some("2024-07-01T10:30:00Z".parse().unwrap());
    let post = c.compose(&it, &ctx()).unwrap();
    assert_eq!(
        post.text.as_str(),
        "World news · 2024-07-01 12:30 CEST\nFISH & CHIPS <3 by Jane & John\n#WorldNews #COVID19 #ClimateChange\n01.07. 12:30 https://news.example/story/1"
    );
    assert_within_limits(&post);
}

#[test]
fn template_truncate_filter_counts_bytes_and_keeps_graphemes() {
    let c = composer(ComposeOptions {
        template: Some("{{ title|truncate(20) }}|{{ title|truncate(9, true, '~') }}|{{ title|truncate_bytes(100) }}".into()),
        ..ComposeOptions::default()
    });
    let post = c
        .compose(&item("Schöne Grüße 🇨🇭🇬🇷 aus Genève", ""), &ctx())
        .unwrap();
    // "Schöne Grüße" is 14 bytes; with "…" 17 ≤ 20. killwords cuts at a grapheme: "Schöne " is 8 bytes.
    assert_eq!(
        post.text.as_str(),
        "Schöne Grüße…|Schöne~|Schöne Grüße 🇨🇭🇬🇷 aus Genève"
    );
}

#[test]
fn template_output_is_trimmed_and_not_escaped() {
    let c = composer(ComposeOptions {
        template: Some("\n\n   {{ title }}   \n\n\n\n{{ summary }}\n\n".into()),
        ..ComposeOptions::default()
    });
    let post = c
        .compose(&item("A & B", "\"quoted\" 'text'"), &ctx())
        .unwrap();
    assert_eq!(post.text.as_str(), "A & B\n\n\"quoted\" 'text'");
}

#[test]
fn template_errors_name_the_key() {
    let (key, message) = config_error(ComposeOptions {
        template: Some("{{ title }".into()),
        ..ComposeOptions::default()
    });
    assert_eq!(key, "feeds[2].template");
    assert!(message.contains("syntax error"), "{message}");

    let (key, message) = config_error(ComposeOptions {
        template: Some("{{ title|shout }}".into()),
        ..ComposeOptions::default()
    });
    assert_eq!(
        (key.as_str(), message.as_str()),
        ("feeds[2].template", "unknown filter \"shout\"")
    );

    let (key, message) = config_error(ComposeOptions {
        template: Some("{{ titel }}".into()),
        ..ComposeOptions::default()
    });
    assert_eq!(key, "feeds[2].template");
    assert!(message.contains("undefined"), "{message}");

    let (key, _) = config_error(ComposeOptions {
        template: Some("{% if false %}x{% endif %}".into()),
        ..ComposeOptions::default()
    });
    assert_eq!(key, "feeds[2].template");

    // An unknown timezone is the config's to refuse (tests/it/config.rs).

    let err = Composer::new(
        &ComposeOptions {
            template: Some("{{ title|nope }}".into()),
            ..ComposeOptions::default()
        },
        "feeds[2]",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "feeds[2].template: unknown filter \"nope\""
    );
}

#[test]
fn render_error_is_an_error_for_that_item_only() {
    let c = composer(ComposeOptions {
        template: Some(
            "{% if 'crash' in title %}{{ title|datetimeformat }}{% endif %}{{ title }}".into(),
        ),
        ..ComposeOptions::default()
    });
    assert!(c.compose(&item("fine", ""), &ctx()).is_ok());
    match c.compose(&item("crash test", ""), &ctx()) {
        Err(ComposeError::Render { key, message }) => {
            assert_eq!(key, "feeds[2].template");
            assert!(message.contains("RFC 3339"), "{message}");
        }
        other => panic!("expected a render error, got {other:?}"),
    }
}

#[test]
fn template_with_long_fixed_text_is_cut_not_failed() {
    let c = composer(ComposeOptions {
        template: Some(format!(
            "{{{{ title }}}} {}",
            "Subscribe to our newsletter for more. ".repeat(20)
        )),
        ..ComposeOptions::default()
    });
    let composition = c.compose_detailed(&item("Headline", ""), &ctx()).unwrap();
    assert_eq!(composition.fit, Fit::TextCut);
    assert!(composition.post.text.starts_with("Headline Subscribe"));
    assert!(composition.post.text.ends_with('…'));
    assert_within_limits(&composition.post);
}

#[test]
fn lenient_rendering_of_missing_data() {
    let c = composer(ComposeOptions {
        template: Some("{{ title }} {{ categories[0] }} {{ published }}".into()),
        ..ComposeOptions::default()
    });
    let post = c
        .compose(&item("No categories, no date", ""), &ctx())
        .unwrap();
    assert_eq!(post.text.as_str(), "No categories, no date");
}

// ---------------------------------------------------------------------------------------
// Links.

#[test]
fn link_params_are_added_to_the_attachment() {
    let c = composer(ComposeOptions {
        link_params: BTreeMap::from([
            ("utm_source".to_owned(), "threads".to_owned()),
            ("utm_medium".to_owned(), "social".to_owned()),
        ]),
        ..ComposeOptions::default()
    });
    let mut it = item("Headline", "");
    it.link = Some(Url::parse("https://news.example/a?id=7&utm_source=rss#top").unwrap());
    let post = c.compose(&it, &ctx()).unwrap();
    assert_eq!(
        post.link_attachment.as_deref(),
        Some("https://news.example/a?id=7&utm_medium=social&utm_source=threads#top")
    );
}

#[test]
fn summary_urls_do_not_break_the_link_limit() {
    let summary = (1..=7)
        .map(|i| format!("Part {i}: https://other.example/{i}"))
        .collect::<Vec<_>>()
        .join(". ");
    let c = default_composer();
    let composition = c
        .compose_detailed(&item("Seven links", &summary), &ctx())
        .unwrap();
    assert_within_limits(&composition.post);
    assert!(composition.links_removed);
    assert_eq!(
        count_links(
            &composition.post.text,
            composition.post.link_attachment.as_deref()
        ),
        1
    );
    assert!(
        composition.post.text.contains("Part 7"),
        "{}",
        composition.post.text
    );
}

#[test]
fn count_links_examples() {
    assert_eq!(
        count_links(
            "https://a.com https://a.com https://b.com",
            Some("https://b.com")
        ),
        2
    );
    assert_eq!(
        count_links("see www.example.org and http://x.y/z.", None),
        2
    );
    assert_eq!(count_links("bare example.com is not counted", None), 0);
    assert_eq!(count_links("", Some("https://a.com")), 1);
}

// ---------------------------------------------------------------------------------------
// Topic tags.

#[test]
fn topic_precedence_map_then_categories_then_fixed() {
    // NYT categories (samplefeeds__realworld_nyt_top_stories_c5e0e6.xml).
    let nyt = [
        "Embargoes and Sanctions",
        "Credit and Debt",
        "Russian Invasion of Ukraine (2022)",
    ];
    let mut it = item("US Blocks Russia’s Access to Dollars for Bond Payments", "");
    it.categories = nyt.iter().map(|s| s.to_string()).collect();

    let mapped = composer(ComposeOptions {
        topic_map: BTreeMap::from([(
            "russian invasion of ukraine (2022)".to_owned(),
            "Ukraine war".to_owned(),
        )]),
        topic_tag: Some("World".into()),
        topic_from_categories: true,
        ..ComposeOptions::default()
    });
    assert_eq!(
        mapped.compose(&it, &ctx()).unwrap().topic_tag.as_deref(),
        Some("Ukraine war")
    );

    let from_categories = composer(ComposeOptions {
        topic_tag: Some("World".into()),
        topic_from_categories: true,
        ..ComposeOptions::default()
    });
    assert_eq!(
        from_categories
            .compose(&it, &ctx())
            .unwrap()
            .topic_tag
            .as_deref(),
        Some("Embargoes and Sanctions")
    );

    let fixed = composer(ComposeOptions {
        topic_tag: Some("World".into()),
        ..ComposeOptions::default()
    });
    assert_eq!(
        fixed.compose(&it, &ctx()).unwrap().topic_tag.as_deref(),
        Some("World")
    );

    let none = default_composer();
    assert_eq!(none.compose(&it, &ctx()).unwrap().topic_tag, None);
}

#[test]
fn topic_from_categories_sanitizes() {
    let c = composer(ComposeOptions {
        topic_from_categories: true,
        ..ComposeOptions::default()
    });
    let mut it = item("t", "");
    // The first category has nothing usable left; "Arts &amp; Culture" loses its "&".
    it.categories = vec![" . & ".into(), "Arts &amp; Culture".into()];
    assert_eq!(
        c.compose(&it, &ctx()).unwrap().topic_tag.as_deref(),
        Some("Arts Culture")
    );
    it.categories = vec!["War Crimes, Genocide and Crimes Against Humanity in Europe".into()];
    let tag = c.compose(&it, &ctx()).unwrap().topic_tag.unwrap();
    assert_eq!(
        tag.as_str(),
        "War Crimes, Genocide and Crimes Against Humanity i"
    );
}

#[test]
fn topic_config_errors() {
    let (key, _) = config_error(ComposeOptions {
        topic_tag: Some("Node.js".into()),
        ..ComposeOptions::default()
    });
    assert_eq!(key, "feeds[2].topic_tag");
    let (key, _) = config_error(ComposeOptions {
        topic_map: BTreeMap::from([("Arts".to_owned(), "Arts & Culture".to_owned())]),
        ..ComposeOptions::default()
    });
    assert_eq!(key, "feeds[2].topic_map.\"Arts\"");
    assert!(TopicTag::new(&"x".repeat(51)).is_err());
    assert_eq!(
        hashtag("Russian Invasion of Ukraine (2022)"),
        "#RussianInvasionOfUkraine2022"
    );
}

// ---------------------------------------------------------------------------------------
// Filters.

fn filtered(include: &[&str], exclude: &[&str], it: &Item) -> FilterDecision {
    composer(ComposeOptions {
        include: include.iter().map(|s| s.to_string()).collect(),
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
        ..ComposeOptions::default()
    })
    .filter(it)
}

#[test]
fn filters_by_field_on_plain_text() {
    let mut it = item(
        "Sponsored: Q&amp;A with our <b>partner</b>",
        "<p>Brought to you by ACME</p>",
    );
    it.categories = vec!["Advertising".into(), "Sport".into()];
    it.authors = vec!["Brand Studio".into()];

    assert_eq!(filtered(&[], &[], &it), FilterDecision::Accept);
    // Decoded text: "Q&A", not "Q&amp;A"; tags gone: "our partner".
    assert!(matches!(
        filtered(&[], &["title:Q&A with our partner"], &it),
        FilterDecision::Reject { .. }
    ));
    assert_eq!(filtered(&[], &["title:amp"], &it), FilterDecision::Accept);
    // Case-insensitive by default; (?-i) opts out.
    assert!(matches!(
        filtered(&[], &["sponsored"], &it),
        FilterDecision::Reject { .. }
    ));
    assert_eq!(
        filtered(&[], &["(?-i)sponsored"], &it),
        FilterDecision::Accept
    );
    // Field prefixes.
    assert_eq!(
        filtered(&[], &["summary:Sponsored"], &it),
        FilterDecision::Accept
    );
    assert!(matches!(
        filtered(&[], &["summary:acme"], &it),
        FilterDecision::Reject { .. }
    ));
    assert!(matches!(
        filtered(&[], &["category:^sport$"], &it),
        FilterDecision::Reject { .. }
    ));
    assert!(matches!(
        filtered(&[], &["author:studio"], &it),
        FilterDecision::Reject { .. }
    ));
    assert_eq!(filtered(&[], &["author:acme"], &it), FilterDecision::Accept);
    // Includes.
    assert_eq!(
        filtered(&["category:sport", "title:election"], &[], &it),
        FilterDecision::Accept
    );
    assert!(matches!(
        filtered(&["title:election"], &[], &it),
        FilterDecision::Reject { .. }
    ));
    // Exclude wins over include.
    assert!(matches!(
        filtered(&["category:sport"], &["author:studio"], &it),
        FilterDecision::Reject { .. }
    ));
}

#[test]
fn filter_reasons_name_the_pattern() {
    let it = item("Sponsored content", "");
    let FilterDecision::Reject { reason } = filtered(&[], &["x", "title:^sponsored"], &it) else {
        panic!("expected a rejection");
    };
    assert_eq!(
        reason,
        "title matched exclude pattern \"title:^sponsored\" (feeds[2].exclude[1])"
    );
    let FilterDecision::Reject { reason } =
        filtered(&["title:election", "category:politics"], &[], &it)
    else {
        panic!("expected a rejection");
    };
    assert!(
        reason.contains("title:election") && reason.contains("category:politics"),
        "{reason}"
    );
}

#[test]
fn invalid_regex_names_the_key() {
    let (key, message) = config_error(ComposeOptions {
        exclude: vec!["ok".into(), "title:(unclosed".into()],
        ..ComposeOptions::default()
    });
    assert_eq!(key, "feeds[2].exclude[1]");
    // Issue 12: the pattern as written on its own line, the caret under the mistake.
    assert_eq!(
        message,
        "invalid regex: unclosed group\n    title:(unclosed\n          ^"
    );
    let (key, _) = config_error(ComposeOptions {
        include: vec!["[".into()],
        ..ComposeOptions::default()
    });
    assert_eq!(key, "feeds[2].include[0]");
}

// ---------------------------------------------------------------------------------------
// Images.

#[test]
fn image_post_puts_the_link_in_the_text() {
    let c = composer(image_options());
    let it = with_image(
        item(GUARDIAN_TITLE, GUARDIAN_SUMMARY),
        "https://i.guim.co.uk/a.jpg",
        Some("Destroyed &amp; burnt tanks"),
    );
    let composition = c.compose_detailed(&it, &ctx()).unwrap();
    let post = &composition.post;
    assert_within_limits(post);
    assert_eq!(
        post.media,
        Media::Image {
            url: "https://i.guim.co.uk/a.jpg".into(),
            alt_text: "Destroyed & burnt tanks".into()
        }
    );
    assert_eq!(post.link_attachment, None);
    assert!(
        post.text.ends_with("\n\nhttps://news.example/story/1"),
        "{}",
        post.text
    );
    assert!(post.text.starts_with(GUARDIAN_TITLE));
    assert_eq!(count_links(&post.text, None), 1);

    // The fallback is the text post for the same item.
    let fallback = composition.fallback.as_ref().expect("fallback");
    assert_within_limits(fallback);
    assert_eq!(fallback.media, Media::Text);
    assert_eq!(
        fallback.link_attachment.as_deref(),
        Some("https://news.example/story/1")
    );
    assert_eq!(fallback, &c.compose_text_only(&it, &ctx()).unwrap());
}

#[test]
fn image_template_with_its_own_link_is_not_given_a_second_one() {
    let c = composer(ComposeOptions {
        template: Some("{{ title }} → {{ link }}".into()),
        ..image_options()
    });
    let it = with_image(item("Headline", ""), "https://img.example/y.png", None);
    let post = c.compose(&it, &ctx()).unwrap();
    assert_eq!(
        post.text.as_str(),
        "Headline → https://news.example/story/1"
    );
}

#[test]
fn a_summary_that_would_be_cut_to_a_stub_is_dropped() {
    // A title that leaves ~20 bytes for the summary: "Officials said…" says nothing.
    let title = "Ukraine war: ".to_owned() + &"long headline words ".repeat(23);
    let composition = default_composer()
        .compose_detailed(
            &item(
                title.trim(),
                "Officials said the talks would continue next week in Istanbul.",
            ),
            &ctx(),
        )
        .unwrap();
    assert_eq!(composition.fit, Fit::SummaryDropped);
    assert_eq!(composition.post.text.as_str(), title.trim());
}

#[test]
fn image_alt_falls_back_to_the_title_and_is_bounded() {
    let c = composer(image_options());
    let it = with_image(
        item("<b>Flood</b> &amp; rain", ""),
        "http://img.example/x.png",
        None,
    );
    let Media::Image { alt_text, .. } = c.compose(&it, &ctx()).unwrap().media else {
        panic!("image post expected");
    };
    assert_eq!(alt_text, "Flood & rain");

    let long_alt = "Überschwemmung 🇩🇪 ".repeat(100);
    let it = with_image(item("t", ""), "http://img.example/x.png", Some(&long_alt));
    let Media::Image { alt_text, .. } = c.compose(&it, &ctx()).unwrap().media else {
        panic!("image post expected");
    };
    assert!(
        alt_text.len() <= 1000 && alt_text.ends_with('…'),
        "{}",
        alt_text.len()
    );
    assert!(long_alt.starts_with(alt_text.trim_end_matches('…')));
}

#[test]
fn image_posts_need_an_http_image_and_fit_the_link() {
    let c = composer(image_options());
    // No candidate, or only non-http ones: a text post.
    let plain = c.compose(&item("t", ""), &ctx()).unwrap();
    assert_eq!(plain.media, Media::Text);
    let ftp = with_image(item("t", ""), "ftp://img.example/x.png", None);
    assert_eq!(c.compose(&ftp, &ctx()).unwrap().media, Media::Text);
    let data = with_image(item("t", ""), "data:image/png;base64,AAAA", None);
    assert_eq!(c.compose(&data, &ctx()).unwrap().media, Media::Text);
    // The first usable candidate wins.
    let mut two = with_image(item("t", ""), "ftp://img.example/x.png", None);
    two = with_image(two, "https://img.example/y.png", None);
    assert!(
        matches!(c.compose(&two, &ctx()).unwrap().media, Media::Image { url, .. } if url.ends_with("y.png"))
    );

    // A link too long to leave room for text: a text post instead.
    let mut long = with_image(item("t", ""), "https://img.example/y.png", None);
    long.link = Some(Url::parse(&format!("https://news.example/{}", "a".repeat(450))).unwrap());
    assert_eq!(c.compose(&long, &ctx()).unwrap().media, Media::Text);

    // image_fallback = "none": no fallback post.
    let no_fallback = composer(ComposeOptions {
        image_fallback: ImageFallback::None,
        ..image_options()
    });
    let it = with_image(item("t", ""), "https://img.example/y.png", None);
    assert_eq!(
        no_fallback.compose_detailed(&it, &ctx()).unwrap().fallback,
        None
    );
}

// `media = "video"` and `image_fallback = "skip"` are the config's to refuse: the options
// arrive typed (tests/it/config.rs).

// ---------------------------------------------------------------------------------------
// reply_control and Post checks.

#[test]
fn reply_control_is_validated() {
    for ok in [
        "everyone",
        "accounts_you_follow",
        "mentioned_only",
        "parent_post_author_only",
        "followers_only",
    ] {
        let c = composer(ComposeOptions {
            reply_control: Some(ok.parse::<ReplyControl>().unwrap()),
            ..ComposeOptions::default()
        });
        assert_eq!(
            c.compose(&item("t", ""), &ctx())
                .unwrap()
                .reply_control
                .as_deref(),
            Some(ok)
        );
    }
    // An unknown value ("friends") is the config's to refuse (tests/it/config.rs).
}

#[test]
fn post_check_catches_combined_limits() {
    let text = PostText::new(
        "1 https://a.com 2 https://b.com 3 https://c.com 4 https://d.com 5 https://e.com",
    )
    .unwrap();
    let mut post = Post::text_only(text, Some("https://f.com".into()));
    assert_eq!(post.check(), Err(LimitError::TooManyLinks { count: 6 }));
    post.link_attachment = Some("https://e.com".into());
    assert_eq!(post.check(), Ok(()));
    post.media = Media::Image {
        url: "https://i.example/x.jpg".into(),
        alt_text: String::new(),
    };
    assert_eq!(post.check(), Err(LimitError::LinkAttachmentWithMedia));
    assert!(PostText::new("x".repeat(501)).is_err());
    assert!(serde_json::from_str::<PostText>(&format!("\"{}\"", "x".repeat(501))).is_err());
}

// ---------------------------------------------------------------------------------------
// Properties: any input gives a post within every limit, cut only between graphemes.

/// Fragments that make feeds hard: markup, entities (also double-encoded), CDATA,
/// emoji sequences, flags, CJK, RTL, combining marks, URLs, odd whitespace and junk.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<p>".to_owned()),
        Just("</p>".to_owned()),
        Just("<br/>".to_owned()),
        Just("<a href=\"https://x.example/a?b=1&amp;c=2\" title='a > b'>".to_owned()),
        Just("</a>".to_owned()),
        Just("<script>alert('<b>')</script>".to_owned()),
        Just("<!-- comment <p> -->".to_owned()),
        Just("<![CDATA[<i>cdata</i> &amp;]]>".to_owned()),
        Just("<img src=x alt=\"🇨🇭\" class=\"emoji\">".to_owned()),
        Just("<unclosed attr=\"".to_owned()),
        Just("&amp;".to_owned()),
        Just("&amp;amp;".to_owned()),
        Just("&amp;#8217;".to_owned()),
        Just("&#x1F600;".to_owned()),
        Just("&lt;b&gt;".to_owned()),
        Just("&nbsp;".to_owned()),
        Just("&copy".to_owned()),
        Just("&ampere".to_owned()),
        Just("&#0;".to_owned()),
        Just("👩\u{200D}👩\u{200D}👧\u{200D}👦".to_owned()),
        Just("🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}".to_owned()),
        Just("🇨🇭🇬🇷".to_owned()),
        Just("👋🏽".to_owned()),
        Just("e\u{301}\u{302}".to_owned()),
        Just("記事1のタイトル".to_owned()),
        Just("한글닉네임".to_owned()),
        Just("האם תדפיס נייר".to_owned()),
        Just("\u{202E}override".to_owned()),
        Just("zero\u{200B}width\u{FEFF}".to_owned()),
        Just("https://example.com/path?q=1".to_owned()),
        Just("www.example.org".to_owned()),
        Just(" ".to_owned()),
        Just("\n\n".to_owned()),
        Just("\t\r\n".to_owned()),
        Just(". ".to_owned()),
        "[a-zA-Z]{1,12}",
        "https://[a-z]{1,8}\\.example/[a-z0-9]{0,20}",
        "\\PC{1,8}",
        any::<String>(),
    ]
}

fn feed_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..max).prop_map(|v| v.concat())
}

fn arbitrary_item() -> impl Strategy<Value = Item> {
    (
        feed_text(40),
        feed_text(120),
        prop::option::of("[a-z]{1,12}"),
        prop::collection::vec(feed_text(6), 0..4),
        any::<bool>(),
    )
        .prop_map(|(title, summary, path, categories, image)| {
            let mut it = Item {
                title: Some(title),
                summary: Some(summary),
                link: path.map(|p| Url::parse(&format!("https://news.example/{p}")).unwrap()),
                categories,
                ..Item::default()
            };
            if image {
                it = with_image(it, "https://img.example/i.jpg", None);
            }
            it
        })
}

/// Every grapheme of a text must be a whole grapheme of one of the sources (or something
/// the composer adds: the ellipsis, line breaks, spaces, the guard's replacement
/// characters). A legacy entity that only became one when a URL after it was removed
/// (`&copyhttps://…` → `&copy `) is decoded, so the sources' decoded forms count too.
/// Gathered once for the several texts composed from the same sources.
struct KnownGraphemes<'a> {
    as_written: HashSet<&'a str>,
    decoded: HashSet<String>,
}

impl<'a> KnownGraphemes<'a> {
    fn of(sources: &[&'a str]) -> Self {
        let mut as_written: HashSet<&str> =
            sources.iter().flat_map(|s| s.graphemes(true)).collect();
        as_written.extend(["…", "\n", " ", "＆", "‹"]);
        let mut decoded = HashSet::new();
        for source in sources {
            if let std::borrow::Cow::Owned(d) = htmlize::unescape(*source) {
                decoded.extend(d.graphemes(true).map(str::to_owned));
            }
        }
        KnownGraphemes {
            as_written,
            decoded,
        }
    }

    fn assert_intact(&self, text: &str) {
        for g in text.graphemes(true) {
            assert!(
                self.as_written.contains(g) || self.decoded.contains(g),
                "grapheme {g:?} of {text:?} is not a whole grapheme of the input"
            );
        }
    }
}

/// The composers `any_item_composes_within_limits` tries each item with, built once rather
/// than for every case.
static ITEM_COMPOSERS: std::sync::LazyLock<[Composer; 3]> = std::sync::LazyLock::new(|| {
    [
        ComposeOptions::default(),
        image_options(),
        ComposeOptions {
            topic_from_categories: true,
            ..ComposeOptions::default()
        },
    ]
    .map(composer)
});

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(300)))]

    #[test]
    fn any_item_composes_within_limits(it in arbitrary_item()) {
        let plain_title = html_to_text(it.title.as_deref().unwrap_or_default());
        let plain_summary = html_to_text(it.summary.as_deref().unwrap_or_default());
        let link = it.link.as_ref().map(|l| l.to_string()).unwrap_or_default();
        let known = KnownGraphemes::of(&[&plain_title, &plain_summary, &link]);
        for c in ITEM_COMPOSERS.iter() {
            match c.compose_detailed(&it, &ctx()) {
                Ok(composition) => {
                    assert_within_limits(&composition.post);
                    known.assert_intact(&composition.post.text);
                    if let Some(fallback) = &composition.fallback {
                        assert_within_limits(fallback);
                    }
                }
                Err(ComposeError::Empty) => {
                    prop_assert!(it.link.is_none());
                    prop_assert!(plain_title.is_empty() && plain_summary.is_empty());
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    #[test]
    fn any_template_source_is_accepted_or_a_config_error(
        source in prop::collection::vec(
            prop_oneof![
                Just("{{ ".to_owned()), Just(" }}".to_owned()), Just("{% ".to_owned()), Just(" %}".to_owned()),
                Just("{# ".to_owned()), Just(" #}".to_owned()), Just("raw".to_owned()), Just("endraw".to_owned()),
                Just("|".to_owned()), Just(" is ".to_owned()), Just("not ".to_owned()), Just("filter ".to_owned()),
                Just("title".to_owned()), Just("truncate(".to_owned()), Just(")".to_owned()), Just("'\\é".to_owned()),
                Just("\"".to_owned()), Just("if ".to_owned()), Just("endif".to_owned()), "\\PC{0,4}",
            ],
            0..30,
        ).prop_map(|v| v.concat())
    ) {
        let options = ComposeOptions { template: Some(source), ..ComposeOptions::default() };
        match Composer::new(&options, "feeds[2]") {
            Ok(c) => {
                if let Ok(post) = c.compose(&item("Headline", "Summary."), &ctx()) {
                    assert_within_limits(&post);
                }
            }
            Err(ComposeError::Config { key, .. }) => prop_assert_eq!(key, "feeds[2].template"),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn html_to_text_output_is_clean(s in feed_text(60)) {
        let text = html_to_text(&s);
        prop_assert!(!TAG.is_match(&text), "tag in {:?}", text);
        prop_assert_eq!(htmlize::unescape_attribute(text.as_str()), text.as_str());
        prop_assert!(!text.contains("\n\n\n"));
        prop_assert_eq!(text.trim(), text.as_str());
    }

    #[test]
    fn truncate_keeps_a_grapheme_prefix(s in feed_text(60), max in 0usize..600) {
        use feed2threads::compose::{Cut, truncate};
        let plain = html_to_text(&s);
        for cut in [Cut::Word, Cut::Grapheme] {
            let out = truncate(&plain, max, cut, "…");
            prop_assert!(out.len() <= max, "{} > {}", out.len(), max);
            if out.as_ref() != plain {
                let kept = out.strip_suffix('…').unwrap_or(&out);
                prop_assert!(plain.starts_with(kept));
                let boundaries: HashSet<usize> = plain.grapheme_indices(true).map(|(i, _)| i).collect();
                prop_assert!(kept.is_empty() || boundaries.contains(&kept.len()) || kept.len() == plain.len());
            }
        }
    }
}

#[test]
fn items_dated_at_the_edges_of_time_compose_without_panicking() {
    use chrono::{DateTime, TimeZone, Utc};
    let dates: [DateTime<Utc>; 5] = [
        Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(-44, 3, 15, 12, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
        DateTime::<Utc>::MAX_UTC,
        DateTime::<Utc>::MIN_UTC,
    ];
    for tz in [chrono_tz::Pacific::Kiritimati, chrono_tz::Pacific::Niue] {
        let c = composer(ComposeOptions {
            template: Some(
                "{{ title }} {{ published }} {{ published_at|datetimeformat(\"%Y\") }}".into(),
            ),
            timezone: Some(tz),
            ..ComposeOptions::default()
        });
        for date in dates {
            let mut it = item("Dated", "");
            it.published = Some(date);
            // A date the template cannot show is an error for this item, never a panic.
            let _ = c.compose(&it, &ctx());
        }
    }
}
