//! The `ws_*` stand-ins: workspaces under `<home>/ws/`, one JSON database
//! entry per workspace, messages and exit codes of hpc-workspace 1.x.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::config::{FsConfig, StandinConfig};
use super::ws_print;

/// One workspace's database entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) user: String,
    pub(super) filesystem: String,
    pub(super) workspace: String,
    pub(super) creation: u64,
    pub(super) expiration: u64,
    pub(super) extensions: i64,
    pub(super) reminder: u32,
    pub(super) mailaddress: String,
    pub(super) comment: String,
    pub(super) released: u64,
}

/// Parsed command line: options with values, flags, positional words.
#[derive(Debug, Default)]
struct Args {
    values: Vec<(char, String)>,
    flags: Vec<char>,
    words: Vec<String>,
}

impl Args {
    fn value(&self, k: char) -> Option<&str> {
        self.values.iter().rev().find(|(c, _)| *c == k).map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: char) -> bool {
        self.flags.contains(&k)
    }
}

/// Short options only (`-F fs`, `-Fscratch`, clustered flags), as the tools' users write them.
fn parse_args(args: &[String], with_value: &str, flags: &str) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(w) = it.next() {
        let long = |name: &str| match name {
            "filesystem" => Some('F'),
            "reminder" => Some('r'),
            "mailaddress" => Some('m'),
            "comment" => Some('c'),
            "duration" => Some('d'),
            "name" => Some('n'),
            _ => None,
        };
        if let Some(l) = w.strip_prefix("--") {
            let (name, inline) =
                l.split_once('=').map_or((l, None), |(n, v)| (n, Some(v.to_owned())));
            match name {
                "help" => a.flags.push('h'),
                "extension" => a.flags.push('x'),
                _ => {
                    let k = long(name).ok_or_else(|| format!("unrecognised option '--{name}'"))?;
                    let v = inline
                        .or_else(|| it.next().cloned())
                        .ok_or_else(|| format!("option '--{name}' needs a value"))?;
                    a.values.push((k, v));
                }
            }
        } else if w.len() > 1 && w.starts_with('-') {
            let mut chars = w[1..].chars();
            while let Some(c) = chars.next() {
                if with_value.contains(c) {
                    let rest: String = chars.collect();
                    let v = if rest.is_empty() { it.next().cloned() } else { Some(rest) };
                    a.values.push((c, v.ok_or_else(|| format!("option '-{c}' needs a value"))?));
                    break;
                } else if flags.contains(c) {
                    a.flags.push(c);
                } else {
                    return Err(format!("unrecognised option '-{c}'"));
                }
            }
        } else {
            a.words.push(w.clone());
        }
    }
    Ok(a)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('-')
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

struct Ctx<'a> {
    home: &'a Path,
    config: &'a StandinConfig,
    user: String,
}

impl Ctx<'_> {
    fn db_file(&self, fs: &FsConfig, name: &str) -> PathBuf {
        self.home.join(&fs.db).join(format!("{}-{name}", self.user))
    }

    fn read(&self, fs: &FsConfig, name: &str) -> Option<Entry> {
        let text = fs::read_to_string(self.db_file(fs, name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write(&self, fs: &FsConfig, e: &Entry) -> std::io::Result<()> {
        let f = self.db_file(fs, &e.id);
        let tmp = f.with_extension("tmp");
        fs::write(&tmp, serde_json::to_string_pretty(e).unwrap_or_default())?;
        fs::rename(&tmp, &f)
    }

    fn filesystem(&self, name: Option<&str>) -> Result<&FsConfig, i32> {
        self.config.filesystem(name).ok_or_else(|| {
            eprintln!("Error: please specify an existing filesystem with -F!");
            255
        })
    }

    /// Where `name` lives: the given file system, or the first that has it.
    fn find(&self, fs: Option<&str>, name: &str) -> Option<(&FsConfig, Entry)> {
        let candidates: Vec<&FsConfig> = match fs {
            Some(f) => self.config.filesystem(Some(f)).into_iter().collect(),
            None => self.config.filesystems.iter().collect(),
        };
        candidates.into_iter().find_map(|f| self.read(f, name).map(|e| (f, e)))
    }
}

pub(super) fn main(home: &Path, config: &StandinConfig, cmd: &str, args: &[String]) -> i32 {
    let ctx = Ctx { home, config, user: super::user_name() };
    let r = match cmd {
        "ws_allocate" => allocate(&ctx, args, false),
        "ws_extend" => extend(&ctx, args),
        "ws_list" => list(&ctx, args),
        "ws_find" => find(&ctx, args),
        "ws_release" => release(&ctx, args),
        "ws_restore" => restore(&ctx, args),
        _ => Err(2),
    };
    r.err().unwrap_or(0)
}

fn usage(text: &str) -> Result<(), i32> {
    eprintln!("Usage: {text}");
    Err(1)
}

fn allocate(ctx: &Ctx<'_>, args: &[String], extension: bool) -> Result<(), i32> {
    let a = parse_args(args, "Fdnrmcu", "xhgV").map_err(|e| {
        eprintln!("Error: {e}");
        1
    })?;
    let extension = extension || a.flag('x');
    let name = a.value('n').map(str::to_owned).or_else(|| a.words.first().cloned());
    let days = a.value('d').map(str::to_owned).or_else(|| a.words.get(1).cloned());
    if a.flag('h') || name.is_none() {
        return usage("ws_allocate: [options] workspace_name duration");
    }
    let name = name.unwrap_or_default();
    if !valid_name(&name) {
        eprintln!("Error: Illegal workspace name, use characters and numbers, -,. and _ only!");
        return Err(1);
    }
    let mut days: i64 = match days.as_deref().map(str::parse) {
        Some(Ok(d)) => d,
        Some(Err(_)) => return usage("ws_allocate: [options] workspace_name duration"),
        None => 1,
    };
    let reminder: u32 = a.value('r').and_then(|r| r.parse().ok()).unwrap_or(0);
    let mail = a.value('m').unwrap_or("").to_owned();
    if !mail.is_empty() && reminder == 0 {
        eprintln!("Error: You can't use the mailaddress (-m) without the reminder (-r) option.");
        return Err(1);
    }
    let existing = ctx.find(a.value('F'), &name);
    let fs = match &existing {
        Some((f, _)) => *f,
        None => ctx.filesystem(a.value('F'))?,
    };
    if days <= 0 || days > i64::from(fs.max_duration) {
        days = i64::from(fs.max_duration);
        eprintln!("Error: Duration longer than allowed for this workspace");
        eprintln!("       setting to allowed maximum of {days}");
    }
    let entry = match existing {
        Some((_, mut e)) if extension => {
            if e.extensions <= 0 {
                eprintln!("Info: extending workspace.");
                eprintln!("Error: no more extensions.");
                return Err(255);
            }
            eprintln!("Info: extending workspace.");
            e.extensions -= 1;
            e.expiration = now() + days as u64 * 86_400;
            if reminder != 0 {
                e.reminder = reminder;
            }
            if !mail.is_empty() {
                e.mailaddress = mail;
            }
            ctx.write(fs, &e).map_err(io_fail)?;
            e
        }
        Some((_, e)) => {
            eprintln!("Info: reusing workspace.");
            e
        }
        None if extension => {
            eprintln!("Error: workspace does not exist, can not be extended!");
            return Err(255);
        }
        None => {
            eprintln!("Info: creating workspace.");
            let dir = ctx.home.join(&fs.space).join(format!("{}-{name}", ctx.user));
            if let Err(e) = fs::create_dir(&dir)
                && e.kind() != std::io::ErrorKind::AlreadyExists
            {
                eprintln!("Error: could not create workspace directory <{}>!", dir.display());
                return Err(255);
            }
            let e = Entry {
                id: name.clone(),
                user: ctx.user.clone(),
                filesystem: fs.name.clone(),
                workspace: dir.to_string_lossy().into_owned(),
                creation: now(),
                expiration: now() + days as u64 * 86_400,
                extensions: i64::from(fs.extensions),
                reminder,
                mailaddress: mail,
                comment: a.value('c').unwrap_or("").to_owned(),
                released: 0,
            };
            ctx.write(fs, &e).map_err(io_fail)?;
            e
        }
    };
    println!("{}", entry.workspace);
    eprintln!("remaining extensions  : {}", entry.extensions);
    eprintln!("remaining time in days: {}", entry.expiration.saturating_sub(now()) / 86_400);
    Ok(())
}

fn io_fail(e: std::io::Error) -> i32 {
    eprintln!("Error: could not write DB file! ({e})");
    255
}

/// `ws_extend [-F filesystem] workspace days`, as the 1.x shell script.
fn extend(ctx: &Ctx<'_>, args: &[String]) -> Result<(), i32> {
    match args {
        [_, _] | [_, _, _, _] if args.len() == 2 || args[0] == "-F" => allocate(ctx, args, true),
        _ => {
            println!("Usage: ws_extend [-F filesystem] workspace days");
            Ok(())
        }
    }
}

fn find(ctx: &Ctx<'_>, args: &[String]) -> Result<(), i32> {
    let a = parse_args(args, "F", "l").map_err(|e| {
        eprintln!("{e}");
        2
    })?;
    if a.flag('l') {
        println!("available filesystems:");
        for f in &ctx.config.filesystems {
            println!("{}", f.name);
        }
        return Ok(());
    }
    let Some(name) = a.words.first() else {
        eprintln!("Usage: ws_find [options] [workspacename]");
        return Err(255);
    };
    match ctx.find(a.value('F'), name) {
        Some((_, e)) => {
            println!("{}", e.workspace);
            Ok(())
        }
        None => {
            eprintln!("Error: no such workspace");
            Err(255)
        }
    }
}

fn release(ctx: &Ctx<'_>, args: &[String]) -> Result<(), i32> {
    let a = parse_args(args, "Fn", "hV").map_err(|e| {
        eprintln!("Error: {e}");
        1
    })?;
    let Some(name) = a.value('n').map(str::to_owned).or_else(|| a.words.first().cloned()) else {
        return usage("ws_release: [options] workspace_name");
    };
    if !valid_name(&name) {
        eprintln!("Error: Illegal workspace name, use characters and numbers, -,. and _ only!");
        return Err(1);
    }
    let Some((fs, mut e)) = ctx.find(a.value('F'), &name) else {
        eprintln!("Error: workspace does not exist!");
        return Err(255);
    };
    let stamp = now();
    let removed = format!("{}-{name}-{stamp}", ctx.user);
    let target = ctx.home.join(&fs.space).join(".removed").join(&removed);
    if fs::rename(&e.workspace, &target).is_err() {
        eprintln!("Error: could not remove workspace!");
        return Err(255);
    }
    e.released = stamp;
    e.workspace = target.to_string_lossy().into_owned();
    let db = ctx.home.join(&fs.db);
    let moved = fs::write(
        db.join(".removed").join(&removed),
        serde_json::to_string_pretty(&e).unwrap_or_default(),
    )
    .and_then(|()| fs::remove_file(ctx.db_file(fs, &name)));
    if moved.is_err() {
        eprintln!("Error: database entry could not be deleted.");
        return Err(255);
    }
    Ok(())
}

fn restore(ctx: &Ctx<'_>, args: &[String]) -> Result<(), i32> {
    let a = parse_args(args, "Fntu", "lbhV").map_err(|e| {
        eprintln!("Error: {e}");
        1
    })?;
    if a.flag('l') {
        for fs in &ctx.config.filesystems {
            if a.value('F').is_some_and(|f| f != fs.name) {
                continue;
            }
            println!("{}:", fs.name);
            let prefix = format!("{}-", ctx.user);
            let mut names: Vec<String> = fs::read_dir(ctx.home.join(&fs.db).join(".removed"))
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            for n in names.into_iter().filter(|n| n.starts_with(&prefix)) {
                println!("{n}");
                if !a.flag('b') {
                    let stamp = n.rsplit('-').next().and_then(|s| s.parse().ok()).unwrap_or(0);
                    println!("\tunavailable since {}", ws_print::ctime(stamp));
                }
            }
        }
        return Ok(());
    }
    let (Some(id), Some(target)) = (a.words.first(), a.words.get(1)) else {
        println!("Error: no target given.");
        println!("ws_restore: [options] workspace_name target_name | -l");
        return Err(1);
    };
    if !valid_name(id) || !valid_name(target) || !id.starts_with(&format!("{}-", ctx.user)) {
        eprintln!("Error: only root can do this, or invalid workspace name!");
        return Err(255);
    }
    let fs = ctx.filesystem(a.value('F'))?;
    let Some((_, t)) = ctx.find(Some(&fs.name), target) else {
        eprintln!("Error: target workspace does not exist!");
        return Err(1);
    };
    let db_entry = ctx.home.join(&fs.db).join(".removed").join(id);
    if !db_entry.exists() {
        // 1.x says so and still exits 0.
        eprintln!("Error: workspace does not exist.");
        return Ok(());
    }
    let source = ctx.home.join(&fs.space).join(".removed").join(id);
    if fs::rename(&source, Path::new(&t.workspace).join(id)).is_ok() {
        let _ = fs::remove_file(&db_entry);
        eprintln!("Info: restore successful, database entry removed.");
    } else {
        eprintln!("Error: moving data failed, database entry kept! -1");
    }
    Ok(())
}

fn list(ctx: &Ctx<'_>, args: &[String]) -> Result<(), i32> {
    let a = parse_args(args, "Fp", "glsNCRrtvaTPh").map_err(|e| {
        eprintln!("Usage: ws_list [options] [pattern]\n{e}");
        2
    })?;
    if a.flag('l') {
        println!("available filesystems:");
        for (i, f) in ctx.config.filesystems.iter().enumerate() {
            println!("{}{}", f.name, if i == 0 { " (default)" } else { "" });
        }
        return Ok(());
    }
    let fss: Vec<&FsConfig> = match a.value('F') {
        Some(f) => match ctx.config.filesystem(Some(f)) {
            Some(f) => vec![f],
            None => {
                eprintln!("Error: no such filesystem.");
                return Err(255);
            }
        },
        None => ctx.config.filesystems.iter().collect(),
    };
    let pattern = a.value('p').or(a.words.first().map(String::as_str)).unwrap_or("*");
    let mut entries = Vec::new();
    for fs in fss {
        let Ok(dir) = fs::read_dir(ctx.home.join(&fs.db)) else { continue };
        for d in dir.flatten() {
            let n = d.file_name().to_string_lossy().into_owned();
            let Some(id) = n.strip_prefix(&format!("{}-", ctx.user)) else { continue };
            if n.ends_with(".tmp") || !glob(pattern, id) {
                continue;
            }
            if let Some(e) = fs::read_to_string(d.path())
                .ok()
                .and_then(|t| serde_json::from_str::<Entry>(&t).ok())
            {
                entries.push(e);
            }
        }
    }
    if a.flag('N') {
        entries.sort_by(|x, y| x.id.cmp(&y.id));
    } else if a.flag('C') {
        entries.sort_by_key(|e| e.creation);
    } else if a.flag('R') {
        entries.sort_by_key(|e| e.expiration);
    }
    if a.flag('r') {
        entries.reverse();
    }
    let layout = std::env::var("HPCKIT_WS_LAYOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ctx.config.ws_layout);
    let opts = ws_print::Style {
        terse: a.flag('t'),
        verbose: a.flag('v'),
        table: a.flag('T'),
        short: a.flag('s'),
        layout,
    };
    print!("{}", ws_print::render(&entries, &opts, now()));
    Ok(())
}

/// `*` and `?` globbing, enough for workspace names.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_globs() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let a = parse_args(
            &s(&["-Fscratch", "-r", "3", "-m", "a@b", "x", "7", "-x"]),
            "Fdnrmcu",
            "xhgV",
        )
        .unwrap();
        assert_eq!(
            (a.value('F'), a.value('r'), a.value('m')),
            (Some("scratch"), Some("3"), Some("a@b"))
        );
        assert!(a.flag('x'));
        assert_eq!(a.words, s(&["x", "7"]));
        assert!(parse_args(&s(&["-q"]), "F", "").is_err());
        assert!(glob("*", "cache") && glob("ca?he", "cache") && !glob("c*x", "cache"));
    }
}
