//! Percent-encoding of URL paths, and URL text safe for messages.

use hpc_core::{Error, Result};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything except RFC 3986 unreserved characters is encoded in a segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
const PATH: &AsciiSet = &SEGMENT.remove(b'/');

/// Encode one path segment (`/` becomes `%2F`).
pub fn encode_segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// Encode a path, keeping `/` as the separator.
pub fn encode_path(text: &str) -> String {
    utf8_percent_encode(text, PATH).to_string()
}

/// Decode a percent-encoded path (UTF-8; a NUL byte is refused).
pub fn decode(text: &str) -> Result<String> {
    let s = percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| Error::InvalidInput(format!("{text:?} does not percent-decode to UTF-8")))?;
    if s.contains('\0') {
        return Err(Error::InvalidInput(format!("{text:?} decodes to a NUL byte")));
    }
    Ok(s.into_owned())
}

/// The URL without its query string (which may carry signatures), for messages.
pub fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(a, _)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = "/dav/a b/ü?#%x";
        let e = encode_path(s);
        assert_eq!(e, "/dav/a%20b/%C3%BC%3F%23%25x");
        assert_eq!(decode(&e).unwrap(), s);
        assert_eq!(encode_segment("a/b"), "a%2Fb");
        assert_eq!(decode("%c3%a9").unwrap(), "é");
        assert!(decode("a%00b").is_err());
        assert!(decode("%ff").is_err());
        assert_eq!(without_query("http://h/p?X-Amz-Signature=s"), "http://h/p");
    }
}
