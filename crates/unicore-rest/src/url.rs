//! URL helpers: query strings, file URLs, and text safe for messages.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters escaped in a query value.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Characters escaped in a path (slashes stay).
const PATH: &AsciiSet = &QUERY.remove(b'/');

/// `url` with `params` appended as a query string (values escaped).
pub(crate) fn with_query(url: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return url.to_owned();
    }
    let mut out = url.to_owned();
    out.push(if url.contains('?') { '&' } else { '?' });
    let pairs: Vec<String> =
        params.iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY))).collect();
    out.push_str(&pairs.join("&"));
    out
}

/// A storage path escaped for a URL (slashes kept).
pub(crate) fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH).to_string()
}

/// The path of `url` without scheme, host and query: what error messages show.
pub(crate) fn path_only(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split('?').next().unwrap_or(path)
}

/// The last path segment of a URL (a job's, transfer's or storage's id).
pub(crate) fn last_segment(url: &str) -> &str {
    path_only(url).trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// The normalised storage path for PyUNICORE's file URLs: a leading `/`, no
/// trailing `/`, no empty or `.` segments. `..` is refused by the caller's
/// [`hpc_core::Path`] where paths come from users; here it is passed on.
pub(crate) fn normalise(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_paths() {
        assert_eq!(with_query("https://h/x", &[]), "https://h/x");
        assert_eq!(
            with_query("https://h/x", &[("tags", "a b,c".into()), ("num", "5".into())]),
            "https://h/x?tags=a%20b%2Cc&num=5"
        );
        assert_eq!(
            with_query("https://h/x?port=1", &[("host", "n".into())]),
            "https://h/x?port=1&host=n"
        );
        assert_eq!(path_only("https://h:8/S/rest/core/jobs?token=x"), "/S/rest/core/jobs");
        assert_eq!(last_segment("https://h/S/rest/core/jobs/abc/"), "abc");
        assert_eq!(normalise("a//b/./c/"), "/a/b/c");
        assert_eq!(normalise("/"), "/");
        assert_eq!(encode_path("/dir with space/ü#?.txt"), "/dir%20with%20space/%C3%BC%23%3F.txt");
    }
}
