//! Blind mutations of seed inputs: byte edits, splices, and the edits that
//! find parser bugs fastest in text protocols (numbers at the edges of their
//! types, multi-byte characters where a byte index is expected, path and
//! markup tokens).

use fastrand::Rng;

/// The longest input a mutation produces.
pub const MAX_INPUT: usize = 64 * 1024;

/// Numbers at the edges of the integer and float types parsers use.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "-2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e308",
    "1e309",
    "-1e309",
    "NaN",
    "inf",
    "0x7fffffff",
    "00000000000000000000000001",
];

/// Tokens that mean something to at least one of the parsers: line and
/// field separators, path pieces, escapes, JSON and XML syntax, characters
/// of several bytes, URL and time syntax, shell and placeholder characters.
#[rustfmt::skip]
const TOKENS: &[&str] = &[
    "\n", "\r\n", "\t", " ", "  ", "\0", "|", ",", ";", "\x1f", "\x1e",
    "/", "//", "..", "../", "/..", ".", "~",
    "%", "%00", "%2f", "%2F", "%2e%2e", "%zz", "\\",
    "\"", "'", "{", "}", "[]", "{}", "null", "true", "false", "\"\"",
    "<", ">", "</", "/>", "<?xml version=\"1.0\"?>", "<![CDATA[", "]]>", "&amp;", "&lt;",
    "&#0;", "&#x10FFFF;", "&#xD800;", "&unknown;", "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
    "xmlns:D=\"DAV:\"", "D:",
    "é", "€", "\u{10FFFF}", "\u{feff}", "\u{202e}",
    "?", "&", "=", "#", ":", "::", "@", "[", "]", "[::1]", " via:", "+ssh", "://",
    "T", "Z", "+0000", "-0100", "K", "M", "G",
    "%j", "$", "`", "$(", "-", "_", "N/A", "(null)", "UNLIMITED", "INVALID",
];

/// Applies one to four random mutations to `input`; `others` are inputs
/// to splice from.
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        mutate_once(rng, &mut data, others);
    }
    data.truncate(MAX_INPUT);
    data
}

fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, others: &[Vec<u8>]) {
    let len = data.len();
    match rng.u8(0..12) {
        0 if len > 0 => {
            let i = rng.usize(0..len);
            data[i] ^= 1 << rng.u8(0..8);
        }
        1 if len > 0 => {
            let i = rng.usize(0..len);
            data[i] = *rng.choice(b"\0\x7f\x80\xff\n\r \t/.:<>\"%-0129aZ").unwrap_or(&0);
        }
        2 => {
            let at = rng.usize(0..=len);
            let n = rng.usize(1..=8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            data.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let start = rng.usize(0..len);
            let end = rng.usize(start..=len.min(start + 64));
            data.drain(start..end);
        }
        4 if len > 0 => {
            // Copy a slice elsewhere: repeated fields, nested elements.
            let start = rng.usize(0..len);
            let end = rng.usize(start..=len.min(start + 256));
            let chunk = data[start..end].to_vec();
            let at = rng.usize(0..=len);
            data.splice(at..at, chunk);
        }
        5 => replace_number(rng, data),
        6 | 7 => {
            let token = rng.choice(TOKENS).copied().unwrap_or("\n");
            let at = char_boundary_or_any(rng, data);
            data.splice(at..at, token.bytes());
        }
        8 if !others.is_empty() => {
            // Splice: the start of this input and the end of another.
            let other = &others[rng.usize(0..others.len())];
            let cut = rng.usize(0..=len);
            let from = rng.usize(0..=other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        9 if len > 0 => {
            data.truncate(rng.usize(0..len));
        }
        10 => swap_lines(rng, data),
        _ => {
            let at = rng.usize(0..=len);
            let token = rng.choice(NUMBERS).copied().unwrap_or("0");
            data.splice(at..at, token.bytes());
        }
    }
}

/// Replaces a run of ASCII digits (a length, a port, a count) with a number
/// at the edge of some type.
fn replace_number(rng: &mut Rng, data: &mut Vec<u8>) {
    let starts: Vec<usize> = (0..data.len())
        .filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit()))
        .collect();
    let Some(&start) = rng.choice(&starts) else {
        return;
    };
    let end = (start..data.len()).find(|&i| !data[i].is_ascii_digit()).unwrap_or(data.len());
    let number = rng.choice(NUMBERS).copied().unwrap_or("0");
    data.splice(start..end, number.bytes());
}

/// Swaps two lines (records out of order, a trailer before its header).
fn swap_lines(rng: &mut Rng, data: &mut Vec<u8>) {
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if lines.len() < 2 {
        return;
    }
    let (a, b) = (rng.usize(0..lines.len()), rng.usize(0..lines.len()));
    lines.swap(a, b);
    *data = lines.join(&b'\n');
}

/// A position that does not cut a UTF-8 character in valid text (so that
/// the token lands in text the parser reads as text), any position otherwise.
fn char_boundary_or_any(rng: &mut Rng, data: &[u8]) -> usize {
    let at = rng.usize(0..=data.len());
    match std::str::from_utf8(data) {
        Ok(text) => (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0),
        Err(_) => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_per_seed_and_bounded() {
        let seed = b"size=42;modify=20240131120000;type=file; a.txt\n".to_vec();
        let others = vec![b"<a><b>1</b></a>".to_vec()];
        let run = |s| {
            let mut rng = Rng::with_seed(s);
            (0..200).map(|_| mutate(&mut rng, &seed, &others)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(9).iter().all(|m| m.len() <= MAX_INPUT));
        assert!(run(9).iter().any(|m| m != &seed));
    }

    #[test]
    fn numbers_are_replaced_whole() {
        let mut rng = Rng::with_seed(1);
        for _ in 0..50 {
            let mut data = b"SIZE 1234 bytes".to_vec();
            replace_number(&mut rng, &mut data);
            let text = String::from_utf8(data).unwrap();
            assert!(text.starts_with("SIZE ") && text.ends_with(" bytes"), "{text}");
            assert!(NUMBERS.contains(&&text[5..text.len() - 6]), "{text}");
        }
    }
}
