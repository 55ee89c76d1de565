//! Statements over a list of rows, in a few fixed sizes.
//!
//! An ingest sends a whole document's keys and rows at once. A statement with one
//! placeholder per row has a different text for every list length, and SQLite would
//! prepare it afresh for nearly every feed; a list packed into one JSON parameter keeps
//! the text fixed, but unpacking it (`json_each`, `->>` per field) cost a cold cycle
//! half a second on the serialised write path. Here a list is sent in chunks of at most
//! `MAX_ROWS` rows, each padded up to a power of two with NULL rows that the statement
//! skips, so each statement has at most nine texts, each prepared once per connection.

use std::sync::OnceLock;

/// The largest chunk one statement carries.
pub(crate) const MAX_ROWS: usize = 256;
const SIZES: usize = MAX_ROWS.trailing_zeros() as usize + 1;

/// A statement `head` + `rows` copies of `row` joined by ", " + `tail`.
pub(crate) struct PaddedSql {
    head: &'static str,
    row: &'static str,
    tail: &'static str,
    texts: OnceLock<[String; SIZES]>,
}

impl PaddedSql {
    pub(crate) const fn new(head: &'static str, row: &'static str, tail: &'static str) -> Self {
        PaddedSql {
            head,
            row,
            tail,
            texts: OnceLock::new(),
        }
    }

    /// The text for a chunk of `len` rows (1..=MAX_ROWS) and how many rows it takes:
    /// `len` rounded up to a power of two. The caller binds NULL rows for the rest.
    pub(crate) fn sql(&'static self, len: usize) -> (&'static str, usize) {
        debug_assert!((1..=MAX_ROWS).contains(&len));
        let rows = len.clamp(1, MAX_ROWS).next_power_of_two();
        let texts = self.texts.get_or_init(|| {
            std::array::from_fn(|i| {
                let rows = vec![self.row; 1 << i];
                // `?` in the parts, numbered `$1…` in the text: PostgreSQL reads only those.
                super::numbered(&format!("{}{}{}", self.head, rows.join(", "), self.tail))
            })
        });
        (&texts[rows.trailing_zeros() as usize], rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static IN_LIST: PaddedSql = PaddedSql::new("SELECT x FROM t WHERE x IN (", "?", ")");

    #[test]
    fn chunks_round_up_to_a_power_of_two_with_one_text_per_size() {
        assert_eq!(IN_LIST.sql(1), ("SELECT x FROM t WHERE x IN ($1)", 1));
        assert_eq!(
            IN_LIST.sql(3),
            ("SELECT x FROM t WHERE x IN ($1, $2, $3, $4)", 4)
        );
        let (text, rows) = IN_LIST.sql(46);
        assert_eq!(rows, 64);
        assert_eq!(text.matches('$').count(), 64);
        assert!(text.ends_with("$64)"));
        assert_eq!(IN_LIST.sql(MAX_ROWS).1, MAX_ROWS);
        // The same text (the same allocation) for every length of one size.
        assert!(std::ptr::eq(IN_LIST.sql(33).0, IN_LIST.sql(64).0));
    }
}
