//! The few ssh_config(5) keywords hpckit honours.
//!
//! `HostName`, `Port`, `User`, `IdentityFile`, `ProxyJump` and
//! `UserKnownHostsFile`, in `Host` blocks (patterns with `*`, `?` and `!`),
//! with `Key Value` or `Key=Value` syntax, quoted arguments, options before the
//! first `Host` applying to every host, the first value winning (except
//! `IdentityFile`, which accumulates), and `Include` (relative to `~/.ssh`,
//! `*` allowed in the file name). `Match` blocks other than `Match all` are
//! skipped. Everything else is ignored. See ADR 0102 for why this is not
//! russh-config.

use std::path::{Path, PathBuf};

/// The values found for one host; `None`/empty where the file says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostConfig {
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// Unexpanded: `~` and `%` tokens are resolved by the caller.
    pub identity_files: Vec<String>,
    pub proxy_jump: Option<String>,
    pub user_known_hosts: Vec<String>,
}

#[derive(Debug, Clone)]
struct Block {
    /// `None`: applies to every host (options before the first `Host`, `Match all`).
    patterns: Option<Vec<String>>,
    options: Vec<(String, Vec<String>, usize)>,
}

/// A parsed ssh config file.
#[derive(Debug, Clone, Default)]
pub(crate) struct SshConfig {
    blocks: Vec<Block>,
    source: String,
}

const MAX_INCLUDE_DEPTH: usize = 8;

impl SshConfig {
    /// Parse the file at `path`; a missing file is an empty config.
    pub(crate) fn load(path: &Path, home: Option<&Path>) -> Result<SshConfig, String> {
        let mut cfg = SshConfig { blocks: Vec::new(), source: path.display().to_string() };
        cfg.blocks.push(Block { patterns: None, options: Vec::new() });
        match std::fs::read_to_string(path) {
            Ok(text) => cfg.parse_into(&text, &path.display().to_string(), home, 0)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read ssh config {}: {e}", path.display())),
        }
        Ok(cfg)
    }

    /// Parse `text`.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Result<SshConfig, String> {
        let mut cfg = SshConfig { blocks: Vec::new(), source: "ssh config".into() };
        cfg.blocks.push(Block { patterns: None, options: Vec::new() });
        cfg.parse_into(text, "ssh config", None, 0)?;
        Ok(cfg)
    }

    fn parse_into(
        &mut self,
        text: &str,
        file: &str,
        home: Option<&Path>,
        depth: usize,
    ) -> Result<(), String> {
        for (i, raw) in text.lines().enumerate() {
            let lineno = i + 1;
            let at = || format!("{file}:{lineno}");
            let Some((key, args)) = split_line(raw).map_err(|e| format!("{}: {e}", at()))? else {
                continue;
            };
            match key.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(format!("{}: Host needs at least one pattern", at()));
                    }
                    self.blocks.push(Block { patterns: Some(args), options: Vec::new() });
                }
                "match" => {
                    let all = args.len() == 1 && args[0].eq_ignore_ascii_case("all");
                    // A pattern no host name can match keeps the block inert.
                    let patterns = if all { None } else { Some(vec!["\0".to_owned()]) };
                    self.blocks.push(Block { patterns, options: Vec::new() });
                }
                "include" => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(format!("{}: Include nested too deeply", at()));
                    }
                    for pattern in &args {
                        for path in expand_include(pattern, home) {
                            let Ok(inner) = std::fs::read_to_string(&path) else { continue };
                            self.parse_into(&inner, &path.display().to_string(), home, depth + 1)?;
                        }
                    }
                }
                _ => {
                    if args.is_empty() {
                        return Err(format!("{}: {key} needs a value", at()));
                    }
                    if key == "port" && args[0].parse::<u16>().ok().filter(|p| *p != 0).is_none() {
                        return Err(format!("{}: bad Port {:?}", at(), args[0]));
                    }
                    if let Some(block) = self.blocks.last_mut() {
                        block.options.push((key, args, lineno));
                    }
                }
            }
        }
        Ok(())
    }

    /// The values that apply to `host` (the name as the user typed it).
    pub(crate) fn lookup(&self, host: &str) -> HostConfig {
        let mut out = HostConfig::default();
        let host = host.to_ascii_lowercase();
        for block in &self.blocks {
            if let Some(patterns) = &block.patterns
                && !patterns_match(patterns, &host)
            {
                continue;
            }
            for (key, args, _) in &block.options {
                let first = args[0].clone();
                match key.as_str() {
                    "hostname" => {
                        out.hostname.get_or_insert(first);
                    }
                    "port" if out.port.is_none() => out.port = first.parse().ok(),
                    "user" => {
                        out.user.get_or_insert(first);
                    }
                    "identityfile" => out.identity_files.push(first),
                    "proxyjump" => {
                        out.proxy_jump.get_or_insert(first);
                    }
                    "userknownhostsfile" if out.user_known_hosts.is_empty() => {
                        out.user_known_hosts = args.clone();
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// Where this config came from (for messages).
    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

/// Split one line into a lower-case keyword and its arguments; `None` for
/// blank lines and comments.
fn split_line(line: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let key_end = line.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(line.len());
    let key = line[..key_end].to_ascii_lowercase();
    let mut rest = line[key_end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        if c == '#' {
            break;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                word.push(c);
            }
            if !closed {
                return Err("unclosed quote".into());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        args.push(word);
    }
    Ok(Some((key, args)))
}

/// Whether `host` matches a `Host` line: at least one pattern matches and no
/// negated one does.
fn patterns_match(patterns: &[String], host: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        let (negated, p) = match p.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, p.as_str()),
        };
        if glob_match(&p.to_ascii_lowercase(), host) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

/// Shell-style match with `*` (any run) and `?` (one character).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn expand_include(pattern: &str, home: Option<&Path>) -> Vec<PathBuf> {
    let path = match (pattern.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ if Path::new(pattern).is_absolute() => PathBuf::from(pattern),
        _ => match home {
            Some(h) => h.join(".ssh").join(pattern),
            None => PathBuf::from(pattern),
        },
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return vec![path] };
    if !name.contains(['*', '?']) {
        return vec![path];
    }
    let Some(dir) = path.parent() else { return Vec::new() };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| glob_match(name, n)))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
# global options come first in many real files
ServerAliveInterval 30
User=globaluser

Host hpc login-*  !login-bad
    HostName login.example.org
    Port 2222
    IdentityFile ~/.ssh/id_hpc
    ProxyJump gw.example.org

Host *.example.org "quoted host"
	User  alice
	IdentityFile "/keys/with space"
	Port 22

Match exec "false"
    User never

Host *
    IdentityFile ~/.ssh/id_default
    UserKnownHostsFile /tmp/kh1 /tmp/kh2
"#;

    #[test]
    fn first_value_wins_identity_files_accumulate() {
        let cfg = SshConfig::parse(SAMPLE).unwrap();
        let c = cfg.lookup("hpc");
        assert_eq!(c.hostname.as_deref(), Some("login.example.org"));
        assert_eq!(c.port, Some(2222));
        assert_eq!(c.user.as_deref(), Some("globaluser"));
        assert_eq!(c.proxy_jump.as_deref(), Some("gw.example.org"));
        assert_eq!(c.identity_files, vec!["~/.ssh/id_hpc", "~/.ssh/id_default"]);
        assert_eq!(c.user_known_hosts, vec!["/tmp/kh1", "/tmp/kh2"]);
    }

    #[test]
    fn patterns_negation_and_quotes() {
        let cfg = SshConfig::parse(SAMPLE).unwrap();
        assert_eq!(cfg.lookup("login-3").hostname.as_deref(), Some("login.example.org"));
        assert_eq!(cfg.lookup("LOGIN-3").port, Some(2222));
        let bad = cfg.lookup("login-bad");
        assert_eq!(bad.hostname, None);
        let other = cfg.lookup("x.example.org");
        assert_eq!(other.port, Some(22));
        assert_eq!(other.identity_files, vec!["/keys/with space", "~/.ssh/id_default"]);
        assert_eq!(cfg.lookup("quoted host").port, Some(22));
        // The Match block never applies.
        assert_ne!(cfg.lookup("anything").user.as_deref(), Some("never"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = SshConfig::parse("Host a\n  Port notanumber\n").unwrap_err();
        assert!(e.contains(":2: bad Port"), "{e}");
        let e = SshConfig::parse("Host\n").unwrap_err();
        assert!(e.contains(":1:"), "{e}");
        let e = SshConfig::parse("User \"unclosed\n").unwrap_err();
        assert!(e.contains("unclosed quote"), "{e}");
    }

    #[test]
    fn include_is_read_in_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".ssh/conf.d")).unwrap();
        std::fs::write(dir.path().join(".ssh/conf.d/a.conf"), "Host inc\n  Port 2020\n").unwrap();
        std::fs::write(
            dir.path().join(".ssh/config"),
            "Include conf.d/*.conf\nHost inc\n  Port 1010\n",
        )
        .unwrap();
        let cfg = SshConfig::load(&dir.path().join(".ssh/config"), Some(dir.path())).unwrap();
        assert_eq!(cfg.lookup("inc").port, Some(2020));
        let missing = SshConfig::load(&dir.path().join("nope"), Some(dir.path())).unwrap();
        assert_eq!(missing.lookup("x"), HostConfig::default());
    }

    #[test]
    fn glob() {
        assert!(glob_match("*", ""));
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*.example.org", "x.y.example.org"));
        assert!(!glob_match("*.example.org", "example.org"));
        assert!(glob_match("[10.0.0.*]:22*", "[10.0.0.5]:2222"));
    }
}
