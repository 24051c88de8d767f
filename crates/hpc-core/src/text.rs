//! What a message may quote of its input: a bounded piece.
//!
//! A scheduler line, a server answer or a URL can be megabytes long; an
//! error line that quotes it whole is unreadable and floods logs. Messages
//! quote at most [`QUOTE_LIMIT`] characters and say how much was left out;
//! whoever needs the whole text finds it at debug level where it was read.

use std::borrow::Cow;

/// The most characters of input a message quotes.
pub const QUOTE_LIMIT: usize = 200;

/// `text` itself when it has at most `limit` characters, else its first
/// `limit` characters and `… (N more bytes)`.
pub fn cap(text: &str, limit: usize) -> Cow<'_, str> {
    match text.char_indices().nth(limit) {
        None => Cow::Borrowed(text),
        Some((end, _)) => {
            Cow::Owned(format!("{}… ({} more bytes)", &text[..end], text.len() - end))
        }
    }
}

/// [`cap`] at [`QUOTE_LIMIT`], logging the whole text at debug level when
/// it is cut.
pub fn quote(what: &str, text: &str) -> String {
    let shown = cap(text, QUOTE_LIMIT);
    if let Cow::Owned(_) = shown {
        tracing::debug!(what, full = text, "quoted in a message in part");
    }
    shown.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_long_text_is_cut_and_counted() {
        assert_eq!(cap("abc", 3), "abc");
        assert_eq!(cap("abcd", 3), "abc… (1 more bytes)");
        assert_eq!(cap("ééé", 1), "é… (4 more bytes)");
        let long = "x".repeat(10 << 20);
        let q = quote("test", &long);
        assert!(q.len() < 300, "{}", q.len());
        assert!(q.ends_with(&format!("… ({} more bytes)", (10 << 20) - QUOTE_LIMIT)), "{q}");
    }

    proptest::proptest! {
        #[test]
        fn never_longer_than_the_limit_and_a_note(s in "\\PC{0,400}", limit in 0usize..300) {
            let c = cap(&s, limit);
            proptest::prop_assert!(c.chars().count() <= limit + 30);
            proptest::prop_assert!(s.starts_with(c.split('…').next().unwrap()));
        }
    }
}
