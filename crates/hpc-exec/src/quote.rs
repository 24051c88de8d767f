//! The one function that turns an argument vector into a POSIX shell command line.
//!
//! Every argument is passed through [`quote`]: words made only of
//! `A-Za-z0-9` and `_-./:,@+` stay as they are, everything else is wrapped in
//! single quotes, with each `'` written as `'\''`. Inside single quotes a POSIX
//! shell interprets nothing (`$`, backticks, `\`, newlines, non-UTF-8 bytes all
//! survive), so the remote program receives exactly the bytes given.
//! The only byte no process can receive is NUL; [`command_line`] rejects it.
//!
//! Assumes a POSIX login shell (sh, bash, dash, ksh, zsh). csh-family shells
//! treat newlines inside quotes differently.

use std::borrow::Cow;

use hpc_core::{Error, Result};

fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b':' | b',' | b'@' | b'+')
}

/// Quote one argument for a POSIX shell. The result is never empty.
pub fn quote(arg: &[u8]) -> Cow<'_, [u8]> {
    if !arg.is_empty() && arg.iter().copied().all(is_safe) {
        return Cow::Borrowed(arg);
    }
    let mut out = Vec::with_capacity(arg.len() + 2);
    out.push(b'\'');
    for &b in arg {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    Cow::Owned(out)
}

/// Quote a UTF-8 argument (convenience for scripts built as text).
pub fn quote_str(arg: &str) -> String {
    // Quoting only adds ASCII around and inside the bytes, so UTF-8 stays UTF-8.
    String::from_utf8(quote(arg.as_bytes()).into_owned()).unwrap_or_default()
}

/// Join an argument vector into one command line, each word quoted.
///
/// Fails on an empty vector and on NUL bytes.
pub fn command_line<A: AsRef<[u8]>>(argv: &[A]) -> Result<Vec<u8>> {
    if argv.is_empty() {
        return Err(Error::InvalidInput("empty command".into()));
    }
    let mut out = Vec::new();
    for (i, a) in argv.iter().enumerate() {
        let a = a.as_ref();
        if a.contains(&0) {
            return Err(Error::InvalidInput(format!(
                "argument {i} contains a NUL byte, which no process can receive"
            )));
        }
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(&quote(a));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (input, want) in [
            ("plain", "plain"),
            ("/usr/bin/env", "/usr/bin/env"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", "'it'\\''s'"),
            ("$HOME", "'$HOME'"),
            ("`id`", "'`id`'"),
            ("$(id)", "'$(id)'"),
            ("a\nb", "'a\nb'"),
            ("~", "'~'"),
            ("A=B", "'A=B'"),
            ("*", "'*'"),
            ("-n", "-n"),
            ("\\", "'\\'"),
            ("'", "''\\'''"),
        ] {
            assert_eq!(quote_str(input), want, "{input:?}");
        }
        assert_eq!(&*quote(b"\xff\xfe"), b"'\xff\xfe'");
    }

    #[test]
    fn lines() {
        assert_eq!(command_line(&["echo", "a b", ""]).unwrap(), b"echo 'a b' ''");
        assert!(command_line::<&str>(&[]).is_err());
        assert!(command_line(&["echo", "a\0b"]).unwrap_err().to_string().contains("NUL"));
    }
}
