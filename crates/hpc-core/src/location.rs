//! [`Location`]: the one parser for every scheduler and file-system URL.
//!
//! Grammar (documented for users in `docs/guide.md`):
//!
//! ```text
//! location := adaptor ["+" transport] "://" [user "@"] [host [":" port]] [path] ["?" query] (" via:" hop)*
//! hop      := [user "@"] host [":" port]
//! ```
//!
//! * `local://`, `slurm://`, `sge://`: run on this host (no host part).
//! * `ssh://alice@hpc:2222/work`: the ssh adaptor; `slurm+ssh://alice@hpc/` runs
//!   Slurm's commands on `hpc` over SSH.
//! * Jump hosts: ` via:gw1 via:bob@gw2:2200` after the URL (Xenon's form), or
//!   `?via=gw1,bob@gw2:2200`. The first hop is connected to first.
//! * User and path are percent-decoded (`%20` is a space).
//! * Passwords in URLs (`user:secret@host`) are refused: URLs end up in logs
//!   and shell history. Use a credential instead.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// One SSH hop (target or jump host).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hop {
    /// Login name, if given.
    pub user: Option<String>,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{}@", encode(u))?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// A parsed scheduler or file-system location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Adaptor scheme (`slurm`, `ssh`, `local`, `sftp`, `s3`, ...), lower-case.
    pub scheme: String,
    /// Transport after `+` (`ssh` in `slurm+ssh://`), lower-case.
    pub transport: Option<String>,
    /// Login name.
    pub user: Option<String>,
    /// Host (empty authority: `None`).
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Path after the authority, percent-decoded; `None` if absent.
    pub path: Option<String>,
    /// Query parameters other than `via`, in order, percent-decoded.
    pub query: Vec<(String, String)>,
    /// Jump hosts, first to last.
    pub via: Vec<Hop>,
}

impl Location {
    /// The target as a hop (user, host, port), if there is a host.
    pub fn hop(&self) -> Option<Hop> {
        self.host.as_ref().map(|h| Hop {
            user: self.user.clone(),
            host: h.clone(),
            port: self.port,
        })
    }

    /// The first query value for `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Refuse any query parameter not in `known`: the one parameter check
    /// of every scheme. The error names the first unknown key and the known
    /// ones; it never shows a query value (an unknown `password=` may be a
    /// secret), nor more than a short piece of a long key.
    pub fn check_params(&self, known: &[&str]) -> Result<()> {
        let Some((key, _)) = self.query.iter().find(|(k, _)| !known.contains(&k.as_str())) else {
            return Ok(());
        };
        let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
        Err(Error::InvalidLocation {
            location: self.without_query_values(),
            reason: format!(
                "unknown parameter {:?} (known: {known})",
                crate::text::cap(key, PARAM_SHOWN)
            ),
        })
    }

    /// This location as text with every query value hidden (`?key=***`).
    pub fn without_query_values(&self) -> String {
        let mut shown = self.clone();
        for (_, v) in &mut shown.query {
            "***".clone_into(v);
        }
        crate::text::cap(&shown.to_string(), crate::text::QUOTE_LIMIT).into_owned()
    }

    /// Whether commands run over SSH: `ssh://` or `x+ssh://`.
    pub fn is_ssh(&self) -> bool {
        self.scheme == "ssh" || self.transport.as_deref() == Some("ssh")
    }

    /// Fail with a clear error when the location has parts this adaptor cannot use.
    pub fn expect_no_host(&self) -> Result<()> {
        if self.host.is_some() || !self.via.is_empty() {
            return Err(Error::InvalidLocation {
                location: self.to_string(),
                reason: format!(
                    "{}:// runs on this host and takes no host; use {}+ssh://user@host for a remote one",
                    self.scheme, self.scheme
                ),
            });
        }
        Ok(())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        if let Some(t) = &self.transport {
            write!(f, "+{t}")?;
        }
        f.write_str("://")?;
        if let Some(hop) = self.hop() {
            write!(f, "{hop}")?;
        }
        if let Some(p) = &self.path {
            f.write_str(&encode_path(p))?;
        }
        for (i, (k, v)) in self.query.iter().enumerate() {
            write!(f, "{}{}={}", if i == 0 { '?' } else { '&' }, encode(k), encode(v))?;
        }
        for hop in &self.via {
            write!(f, " via:{hop}")?;
        }
        Ok(())
    }
}

impl FromStr for Location {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let err = |reason: &str| Error::InvalidLocation {
            location: crate::text::quote("location", &redact(text)),
            reason: reason.to_owned(),
        };
        // Jump hosts follow as ` via:hop` words; anything else (spaces in a
        // path included) belongs to the URL itself.
        let mut pieces = split_via(text.trim());
        let main = pieces.remove(0);
        if main.is_empty() {
            return Err(err("empty location"));
        }
        let mut via = Vec::new();
        for hop in pieces {
            via.push(parse_hop(hop.trim()).map_err(|r| err(&r))?);
        }

        let (scheme_part, rest) = main.split_once("://").ok_or_else(|| {
            err("missing `scheme://` (for example local://, ssh://host, slurm+ssh://host)")
        })?;
        let (scheme, transport) = match scheme_part.split_once('+') {
            Some((s, t)) => (s, Some(t)),
            None => (scheme_part, None),
        };
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        };
        if !valid_name(scheme) || transport.is_some_and(|t| !valid_name(t)) {
            return Err(err(&format!("{scheme_part:?} is not a valid scheme")));
        }

        let (before_query, query_text) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], Some(&before_query[i..])),
            None => (before_query, None),
        };

        let (user, host, port) = if authority.is_empty() {
            (None, None, None)
        } else {
            let hop = parse_hop(authority).map_err(|r| err(&r))?;
            (hop.user, Some(hop.host), hop.port)
        };

        let path = path.map(|p| decode(p).map_err(|r| err(&r))).transpose()?;
        if path.as_deref().is_some_and(|p| p.contains('\0')) {
            return Err(err("path contains a NUL byte"));
        }

        let mut query = Vec::new();
        if let Some(q) = query_text {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k = decode(k).map_err(|r| err(&r))?;
                let v = decode(v).map_err(|r| err(&r))?;
                if k == "via" {
                    for hop in v.split(',').filter(|h| !h.is_empty()) {
                        via.push(parse_hop(hop).map_err(|r| err(&r))?);
                    }
                } else {
                    query.push((k, v));
                }
            }
        }

        Ok(Location {
            scheme: scheme.to_ascii_lowercase(),
            transport: transport.map(str::to_ascii_lowercase),
            user,
            host,
            port,
            path,
            query,
            via,
        })
    }
}

/// Split `url via:a via:b` into `["url", "a", "b"]`.
fn split_via(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let found = rest
            .char_indices()
            .find(|&(i, c)| c.is_whitespace() && rest[i..].trim_start().starts_with("via:"));
        match found {
            Some((i, _)) => {
                out.push(&rest[..i]);
                rest = rest[i..].trim_start().strip_prefix("via:").unwrap_or_default();
            }
            None => {
                out.push(rest);
                return out;
            }
        }
    }
}

/// Parse `[user@]host[:port]`.
fn parse_hop(text: &str) -> std::result::Result<Hop, String> {
    let (user, hostport) = match text.rsplit_once('@') {
        Some((u, h)) => {
            if u.contains(':') {
                return Err("passwords are not accepted in locations; use a credential".into());
            }
            if u.is_empty() {
                return Err("empty user name before '@'".into());
            }
            (Some(decode(u)?), h)
        }
        None => (None, text),
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed '[' in IPv6 address")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("expected ':port' after ']'")?),
        };
        (h.to_owned(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (hostport.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err("empty host name".into());
    }
    if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '%'))
    {
        return Err(format!("{host:?} is not a valid host name"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("port {p:?} is not a number from 1 to 65535"))?,
        ),
    };
    Ok(Hop { user, host, port })
}

/// Percent-decode (UTF-8).
fn decode(s: &str) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex =
                s.get(i + 1..i + 3).ok_or_else(|| format!("incomplete escape at {:?}", &s[i..]))?;
            let v = u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape %{hex}"))?;
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "escaped bytes are not UTF-8".to_owned())
}

const UNRESERVED: &[u8] = b"-._~";

fn encode_with(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || UNRESERVED.contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode(s: &str) -> String {
    encode_with(s, b"")
}

fn encode_path(s: &str) -> String {
    encode_with(s, b"/")
}

/// The location text with any `user:password@` part blanked out, for error messages.
/// How much of an unknown parameter name an error shows.
const PARAM_SHOWN: usize = 40;

fn redact(text: &str) -> String {
    let mut out = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let (prefix, rest) = match word.split_once("://") {
            Some((s, r)) => (format!("{s}://"), r),
            None => match word.strip_prefix("via:") {
                Some(r) => ("via:".to_owned(), r),
                None => (String::new(), word),
            },
        };
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (auth, tail) = rest.split_at(auth_end);
        let auth = match auth.rsplit_once('@') {
            Some((ui, host)) if ui.contains(':') => {
                format!("{}:***@{host}", ui.split(':').next().unwrap_or(""))
            }
            _ => auth.to_owned(),
        };
        out.push_str(&format!("{prefix}{auth}{tail}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn unknown_params_are_refused_without_their_values() {
        let l = loc("sftp://u@h/~?in_flight=4&password=S3cret&kown_hosts=x");
        assert_eq!(
            l.check_params(&["in_flight", "password", "kown_hosts"]).map_err(|e| e.to_string()),
            Ok(())
        );
        let e = l.check_params(&["in_flight"]).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::InvalidLocation { .. }), "{text}");
        assert!(text.contains("unknown parameter \"password\" (known: in_flight)"), "{text}");
        assert!(!text.contains("S3cret"), "{text}");
        let e = loc("file:///tmp?bogus=1").check_params(&[]).unwrap_err().to_string();
        assert!(e.contains("\"bogus\" (known: none)"), "{e}");
        let long = format!("file:///tmp?{}=1", "k".repeat(100_000));
        let e = loc(&long).check_params(&[]).unwrap_err().to_string();
        assert!(e.len() < 600, "{}", e.len());
    }

    #[test]
    fn a_huge_location_is_quoted_in_part() {
        let url = format!("sftp://h:port/{}", "a".repeat(100_000));
        let e = url.parse::<Location>().map(|_| ()).unwrap_err().to_string();
        assert!(e.len() < 600 && e.contains("more bytes"), "{e}");
    }

    #[test]
    fn forms() {
        let l = loc("local://");
        assert_eq!((l.scheme.as_str(), l.host.clone(), l.path.clone()), ("local", None, None));
        let l = loc("local:///tmp/work dir");
        assert_eq!(l.path.as_deref(), Some("/tmp/work dir"));
        let l = loc("slurm+ssh://alice@login.example.org:2222/scratch/a%20b?poll=0.5");
        assert_eq!(l.scheme, "slurm");
        assert_eq!(l.transport.as_deref(), Some("ssh"));
        assert_eq!(l.user.as_deref(), Some("alice"));
        assert_eq!(l.host.as_deref(), Some("login.example.org"));
        assert_eq!(l.port, Some(2222));
        assert_eq!(l.path.as_deref(), Some("/scratch/a b"));
        assert_eq!(l.param("poll"), Some("0.5"));
        assert!(l.is_ssh());
        let l = loc("ssh://[::1]:22");
        assert_eq!(l.host.as_deref(), Some("::1"));
        assert_eq!(l.port, Some(22));
    }

    #[test]
    fn jump_hosts_both_spellings() {
        let a = loc("ssh://target:2200 via:gw1 via:bob@gw2:2022");
        let b = loc("ssh://target:2200?via=gw1,bob@gw2:2022");
        assert_eq!(a, b);
        assert_eq!(a.via.len(), 2);
        assert_eq!(
            a.via[1],
            Hop { user: Some("bob".into()), host: "gw2".into(), port: Some(2022) }
        );
        assert_eq!(a.to_string(), "ssh://target:2200 via:gw1 via:bob@gw2:2022");
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "local://",
            "local:///tmp/x",
            "slurm+ssh://u@h:1/a%20b?k=v%26w",
            "sftp://h/%C3%BC",
            "ssh://h via:g",
        ] {
            let l = loc(s);
            assert_eq!(loc(&l.to_string()), l, "{s}");
        }
    }

    #[test]
    fn bad_input_is_a_typed_error_without_secrets() {
        for (s, needle) in [
            ("", "empty"),
            ("hostonly", "missing `scheme://`"),
            ("1x://h", "not a valid scheme"),
            ("ssh://h:99999", "port"),
            ("ssh://h:0", "port"),
            ("ssh://@h", "empty user"),
            ("ssh://h junk", "not a valid host"),
            ("ssh://h via:", "empty host"),
            ("ssh://[::1", "unclosed"),
            ("ssh://ho$t", "not a valid host"),
            ("ssh://h/%zz", "bad escape"),
        ] {
            let e = s.parse::<Location>().unwrap_err();
            assert!(matches!(e, Error::InvalidLocation { .. }), "{s}");
            assert!(e.to_string().contains(needle), "{s}: {e}");
        }
        let e = "sftp://bob:hunter2@host/x".parse::<Location>().unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.contains("passwords are not accepted"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn local_rejects_host() {
        assert!(loc("local://").expect_no_host().is_ok());
        let e = loc("slurm://login").expect_no_host().unwrap_err();
        assert!(e.to_string().contains("slurm+ssh://"), "{e}");
    }
}
