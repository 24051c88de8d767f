//! Torque's text formats: walltimes, `#PBS` directive words, XML.

/// `[[H:]MM:]SS` (Torque also takes plain seconds).
pub(super) fn parse_walltime(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut total = 0u64;
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        total = total.checked_mul(60)?.checked_add(p.parse().ok()?)?;
    }
    Some(total)
}

pub(super) fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Split a `#PBS` line's options like a shell would (quotes, no expansion).
pub(super) fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Escape the five characters Torque escapes in XML values.
pub(super) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn el(x: &mut String, name: &str, value: &str) {
    x.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walltimes() {
        assert_eq!(parse_walltime("10"), Some(10));
        assert_eq!(parse_walltime("1:30"), Some(90));
        assert_eq!(parse_walltime("01:00:05"), Some(3605));
        for bad in ["", "a", "1:2:3:4", "1::2", "-1"] {
            assert_eq!(parse_walltime(bad), None, "{bad}");
        }
        assert_eq!(hms(3605), "01:00:05");
    }

    #[test]
    fn directive_words() {
        assert_eq!(
            split_words(" -N  x -l 'walltime=1:00' \"a b\""),
            vec!["-N", "x", "-l", "walltime=1:00", "a b"]
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(xml_escape("a&b<c>\"d'e"), "a&amp;b&lt;c&gt;&quot;d&apos;e");
    }
}
