//! `cargo xtask tidy` (and a unit test of the same name, rust-analyzer's
//! habit; the shell-script rule is [`crate::shell_lint`]): the rule "One shape for every adaptor" of `ARCHITECTURE.md`,
//! which no compiler checks.
//!
//! An adaptor folder is
//! - every folder under `src/` of `sched-adaptors` and `fs-adaptors`, but
//!   the shared pieces of [`SHARED`];
//! - `src/scheduler/` and `src/filesystem/` of any other crate (a domain
//!   crate such as `unicore-rest` has at most one adaptor of each kind).
//!
//! Each has `mod.rs` (docs and `pub use` lines, no logic), `docs.md`,
//! `backend.rs` with `<Name>Scheduler` or `<Name>FileSystem`, `config.rs`
//! with `<Name>Config`; `parse.rs`, `error.rs` and `script.rs` only for their
//! roles; no synonyms of those names, no `*Settings`/`*Options`/`*Fs` types,
//! no file past [`MAX_LINES`]. An adaptor outside such a folder, a flat
//! `<name>.rs` beside `<name>/`, and test data in `fixtures/` instead of
//! `testdata/<adaptor>/` are errors too.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Folders of the adaptor crates that are shared machinery, not adaptors.
const SHARED: &[(&str, &str)] = &[
    ("sched-adaptors", "batch"), // the generic batch back end (`batch::Backend<A>`)
    ("fs-adaptors", "copy"),     // the copy engine over any two file systems
    ("fs-adaptors", "fuse"),     // `hpckit fs mount` over any file system
];

/// A file longer than this is split by role (ARCHITECTURE.md says ~500).
const MAX_LINES: usize = 600;

/// File names that stand for a role with a canonical name: `(wrong, right)`.
const SYNONYMS: &[(&str, &str)] = &[
    ("errors.rs", "error.rs"),
    ("err.rs", "error.rs"),
    ("parser.rs", "parse.rs"),
    ("parsers.rs", "parse.rs"),
    ("parsing.rs", "parse.rs"),
    ("xml.rs", "parse.rs"),
    ("jobscript.rs", "script.rs"),
    ("job_script.rs", "script.rs"),
    ("scripts.rs", "script.rs"),
    ("settings.rs", "config.rs"),
    ("options.rs", "config.rs"),
    ("opts.rs", "config.rs"),
    ("cfg.rs", "config.rs"),
    ("configuration.rs", "config.rs"),
    ("adaptor.rs", "backend.rs"),
    ("scheduler.rs", "backend.rs"),
    ("filesystem.rs", "backend.rs"),
    ("fs.rs", "backend.rs"),
    ("imp.rs", "backend.rs"),
    ("README.md", "docs.md"),
    ("doc.md", "docs.md"),
];

/// Role file names that belong in an adaptor folder, not at a crate root.
const ROLE_FILES: &[&str] =
    &["backend.rs", "config.rs", "parse.rs", "error.rs", "script.rs", "jobscript.rs", "xml.rs"];

/// Which trait an adaptor implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scheduler,
    FileSystem,
}

impl Kind {
    fn suffix(self) -> &'static str {
        match self {
            Kind::Scheduler => "Scheduler",
            Kind::FileSystem => "FileSystem",
        }
    }
}

/// One adaptor folder to check.
#[derive(Debug)]
struct Adaptor {
    dir: PathBuf,
    kind: Kind,
    /// `<Name>` the folder name prescribes (`sftp` -> `Sftp`); `None` in
    /// domain crates, whose folder is named after the kind.
    name: Option<String>,
}

/// `cargo xtask tidy`: fails with every problem found below `root`: the
/// adaptor shape, the Markdown links ([`crate::links`]) and the shell scripts
/// built from data ([`crate::shell_lint`]).
pub(crate) fn check(root: &Path) -> Result<()> {
    let shape = problems(root)?;
    let links = crate::links::problems(root)?;
    let shell = crate::shell_lint::problems(root)?;
    let mut sections = Vec::new();
    if !shape.is_empty() {
        sections.push(format!(
            "{} problem(s) with the adaptor shape of ARCHITECTURE.md (\"One shape for every \
             adaptor\"):\n  {}",
            shape.len(),
            shape.join("\n  ")
        ));
    }
    if !links.is_empty() {
        sections.push(format!(
            "{} broken Markdown link(s):\n  {}",
            links.len(),
            links.join("\n  ")
        ));
    }
    if !shell.is_empty() {
        sections.push(format!(
            "{} shell script(s) built from data (see xtask/src/shell_lint.rs):\n  {}",
            shell.len(),
            shell.join("\n  ")
        ));
    }
    if sections.is_empty() {
        return Ok(());
    }
    bail!("{}", sections.join("\n"))
}

/// Every problem below `root`, one line each, paths relative to `root`.
fn problems(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let crates = root.join("crates");
    for krate in sorted_entries(&crates)?.into_iter().filter(|p| p.is_dir()) {
        let name = file_name(&krate);
        let src = krate.join("src");
        if !src.is_dir() {
            continue;
        }
        let adaptors = adaptors_of(&name, &src)?;
        for adaptor in &adaptors {
            check_adaptor(adaptor, &mut out)?;
        }
        if matches!(name.as_str(), "sched-adaptors" | "fs-adaptors") {
            check_crate_root(&src, &mut out)?;
            check_testdata(&krate, &adaptors, &mut out)?;
        }
        if name != "hpc-core" {
            check_strays(&src, &adaptors, &name, &mut out)?;
        }
        check_no_fixtures(&krate, &mut out)?;
    }
    Ok(out.into_iter().map(|p| p.replace(&format!("{}/", root.display()), "")).collect())
}

/// The adaptor folders of crate `name`.
fn adaptors_of(name: &str, src: &Path) -> Result<Vec<Adaptor>> {
    let kind = match name {
        "sched-adaptors" => Some(Kind::Scheduler),
        "fs-adaptors" => Some(Kind::FileSystem),
        _ => None,
    };
    let mut adaptors = Vec::new();
    for dir in sorted_entries(src)?.into_iter().filter(|p| p.is_dir()) {
        let folder = file_name(&dir);
        if let Some(kind) = kind {
            if !SHARED.contains(&(name, folder.as_str())) {
                adaptors.push(Adaptor { name: Some(camel(&folder)), dir, kind });
            }
        } else if folder == "scheduler" {
            adaptors.push(Adaptor { dir, kind: Kind::Scheduler, name: None });
        } else if folder == "filesystem" {
            adaptors.push(Adaptor { dir, kind: Kind::FileSystem, name: None });
        }
    }
    Ok(adaptors)
}

fn check_adaptor(a: &Adaptor, out: &mut Vec<String>) -> Result<()> {
    let d = a.dir.display();
    for file in ["mod.rs", "docs.md", "backend.rs", "config.rs"] {
        if !a.dir.join(file).is_file() {
            out.push(format!(
                "{d}: no {file} (every adaptor folder has mod.rs, docs.md, backend.rs, config.rs)"
            ));
        }
    }
    let flat = a.dir.with_extension("rs");
    if flat.is_file() {
        out.push(format!("{}: an adaptor is a folder; move it to {d}/mod.rs", flat.display()));
    }
    for entry in sorted_entries(&a.dir)? {
        let file = file_name(&entry);
        if let Some((_, right)) = SYNONYMS.iter().find(|(wrong, _)| *wrong == file) {
            out.push(format!("{}: this role's file is named {right}", entry.display()));
        }
        if entry.is_dir() && entry.join("mod.rs").is_file() {
            out.push(format!(
                "{}/mod.rs: a module inside an adaptor is `{file}.rs` (+ `{file}/`)",
                entry.display()
            ));
        }
    }
    if let Some(text) = read_if_file(&a.dir.join("mod.rs"))? {
        if !text.contains("#![doc = include_str!(\"docs.md\")]") {
            out.push(format!("{d}/mod.rs: lacks #![doc = include_str!(\"docs.md\")]"));
        }
        if code_lines(&text).any(|l| starts_item(l, "fn ") || starts_item(l, "impl")) {
            out.push(format!(
                "{d}/mod.rs: holds logic (fn or impl); mod.rs has docs, mod and pub use lines only"
            ));
        }
    }
    let script = a.dir.join("script.rs");
    if script.is_file() && a.kind == Kind::FileSystem {
        out.push(format!("{}: script.rs is the job script of a scheduler", script.display()));
    }
    if let Some(text) = read_if_file(&a.dir.join("error.rs"))?
        && !text.contains("-> Error")
        && !text.contains("-> hpc_core::Error")
    {
        out.push(format!(
            "{d}/error.rs: maps nothing onto hpc_core::Error (no `-> Error` function)"
        ));
    }
    if let Some(text) = read_if_file(&a.dir.join("parse.rs"))?
        && code_lines(&text).any(|l| l.contains("async fn") || l.contains(".await"))
    {
        // Parsers turn recorded output into values; I/O belongs in the backend.
        out.push(format!("{d}/parse.rs: does I/O (async); parsers are plain functions over what the remote side sent"));
    }
    check_names(a, out)?;
    for file in rust_files(&a.dir)? {
        let text = std::fs::read_to_string(&file)?;
        let lines = text.lines().count();
        if lines > MAX_LINES {
            out.push(format!(
                "{}: {lines} lines; split it by role (at most {MAX_LINES})",
                file.display()
            ));
        }
        for ty in declared(&text, &["struct", "enum", "type", "trait"]) {
            if ty.ends_with("Settings") || ty.ends_with("Options") {
                out.push(format!(
                    "{}: type {ty}: configuration types are named <Name>Config",
                    file.display()
                ));
            } else if ty.ends_with("Fs") {
                out.push(format!(
                    "{}: type {ty}: file systems are named <Name>FileSystem",
                    file.display()
                ));
            }
        }
    }
    Ok(())
}

/// `<Name>Scheduler`/`<Name>FileSystem` in backend.rs, `<Name>Config` in
/// config.rs, both exported by mod.rs with `capabilities` (each file that
/// exists is checked; a missing one is reported as such).
fn check_names(a: &Adaptor, out: &mut Vec<String>) -> Result<()> {
    let d = a.dir.display();
    let suffix = a.kind.suffix();
    let mut name = a.name.clone();
    if let Some(backend) = read_if_file(&a.dir.join("backend.rs"))? {
        let types: Vec<String> = declared(&backend, &["struct", "type"])
            .into_iter()
            .filter(|t| t.len() > suffix.len() && t.ends_with(suffix))
            .collect();
        let prefix = |t: &String| t[..t.len() - suffix.len()].to_owned();
        let found = match &a.name {
            // `S3FileSystem` for `s3/`, `WebdavFileSystem` for `webdav/`.
            Some(want) => types.iter().find(|t| prefix(t).eq_ignore_ascii_case(want)).map(prefix),
            None if types.len() == 1 => types.first().map(prefix),
            None => None,
        };
        if found.is_none() {
            let want = a.name.as_deref().unwrap_or("<Name>");
            out.push(format!(
                "{d}/backend.rs: declares no `pub struct {want}{suffix}` (or `pub type`)"
            ));
        }
        name = found.or(name);
    }
    let Some(name) = name else { return Ok(()) };
    let config_type = format!("{name}Config");
    if let Some(config) = read_if_file(&a.dir.join("config.rs"))?
        && !declared(&config, &["struct"]).contains(&config_type)
        && !exported(&config).contains(&config_type)
    {
        out.push(format!("{d}/config.rs: declares no `pub struct {config_type}`"));
    }
    if let Some(module) = read_if_file(&a.dir.join("mod.rs"))? {
        let exports = exported(&module);
        for want in [format!("{name}{suffix}"), config_type, "capabilities".to_owned()] {
            if !exports.contains(&want) {
                out.push(format!("{d}/mod.rs: does not `pub use` {want}"));
            }
        }
    }
    Ok(())
}

/// Role files belong in adaptor folders, not at the root of an adaptor crate.
fn check_crate_root(src: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in sorted_entries(src)? {
        let file = file_name(&entry);
        if ROLE_FILES.contains(&file.as_str()) {
            out.push(format!(
                "{}: a role file at the crate root; it belongs in the folder of the adaptor (or shared piece) it serves",
                entry.display()
            ));
        }
    }
    Ok(())
}

/// `testdata/<adaptor>/` names an adaptor (or shared piece) of the crate.
fn check_testdata(krate: &Path, adaptors: &[Adaptor], out: &mut Vec<String>) -> Result<()> {
    let testdata = krate.join("testdata");
    if !testdata.is_dir() {
        return Ok(());
    }
    let krate_name = file_name(krate);
    for entry in sorted_entries(&testdata)? {
        let name = file_name(&entry);
        let known = adaptors.iter().any(|a| file_name(&a.dir) == name)
            || SHARED.contains(&(krate_name.as_str(), name.as_str()));
        if !entry.is_dir() || !known {
            out.push(format!("{}: test data lives in testdata/<adaptor>/", entry.display()));
        }
    }
    Ok(())
}

/// An adaptor type (or its trait impl) outside an adaptor folder, shared
/// pieces and test files aside.
fn check_strays(
    src: &Path,
    adaptors: &[Adaptor],
    krate: &str,
    out: &mut Vec<String>,
) -> Result<()> {
    for file in rust_files(src)? {
        let inside = adaptors.iter().any(|a| file.starts_with(&a.dir))
            || SHARED.iter().any(|(c, f)| *c == krate && file.starts_with(src.join(f)))
            || file_name(&file) == "tests.rs"
            || file.components().any(|c| c.as_os_str() == "tests");
        if inside {
            continue;
        }
        let text = std::fs::read_to_string(&file)?;
        let code: String = code_lines(&text)
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .collect::<Vec<_>>()
            .join("\n");
        for kind in [Kind::Scheduler, Kind::FileSystem] {
            let suffix = kind.suffix();
            let implements = code.contains(&format!(" {suffix} for "));
            let declares = declared(&code, &["struct", "type"])
                .iter()
                .any(|t| t.len() > suffix.len() && t.ends_with(suffix));
            if implements || declares {
                out.push(format!(
                    "{}: a {} adaptor outside an adaptor folder (src/<name>/ in the adaptor crates, src/{}/ elsewhere)",
                    file.display(),
                    suffix,
                    suffix.to_lowercase()
                ));
            }
        }
    }
    Ok(())
}

/// Test data is in `testdata/`, never `fixtures/`.
fn check_no_fixtures(krate: &Path, out: &mut Vec<String>) -> Result<()> {
    let mut dirs = vec![krate.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in sorted_entries(&dir)?.into_iter().filter(|p| p.is_dir()) {
            let name = file_name(&entry);
            if name == "fixtures" {
                out.push(format!("{}: test data lives in testdata/", entry.display()));
            } else if name != "target" && !name.starts_with('.') {
                dirs.push(entry);
            }
        }
    }
    Ok(())
}

/// Names after `pub <keyword> ` on lines outside comments (`pub(crate)` too).
fn declared(text: &str, keywords: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for line in code_lines(text) {
        let Some(rest) = line.strip_prefix("pub") else { continue };
        let rest = rest.strip_prefix("(crate)").or(rest.strip_prefix("(super)")).unwrap_or(rest);
        let mut words = rest.split_whitespace();
        if let (Some(kw), Some(name)) = (words.next(), words.next())
            && keywords.contains(&kw)
        {
            out.push(identifier(name).to_owned());
        }
    }
    out
}

/// Identifiers named by `pub use` items (each item may span lines).
fn exported(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut item: Option<String> = None;
    for line in code_lines(text) {
        if item.is_none() && line.starts_with("pub use ") {
            item = Some(String::new());
        }
        if let Some(buf) = item.as_mut() {
            buf.push_str(line);
            buf.push(' ');
            if line.ends_with(';') {
                let body = buf.trim_start_matches("pub use ");
                let names = body
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned);
                out.extend(names);
                item = None;
            }
        }
    }
    out
}

/// Trimmed lines that are not comments.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.starts_with("//"))
}

/// Whether `line` begins an item `what` (`fn `, `impl`), with or without `pub`.
fn starts_item(line: &str, what: &str) -> bool {
    let line = line.strip_prefix("pub(crate) ").or(line.strip_prefix("pub ")).unwrap_or(line);
    let line = line.strip_prefix("async ").unwrap_or(line);
    line.starts_with(what) && (what.ends_with(' ') || line[what.len()..].starts_with([' ', '<']))
}

/// The identifier at the start of `word` (`Foo<A>` -> `Foo`).
fn identifier(word: &str) -> &str {
    let end = word.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(word.len());
    &word[..end]
}

/// `webdav` -> `Webdav`, `job_dir` -> `JobDir`.
fn camel(folder: &str) -> String {
    folder
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn read_if_file(path: &Path) -> Result<Option<String>> {
    if !path.is_file() {
        return Ok(None);
    }
    std::fs::read_to_string(path)
        .map(Some)
        .with_context(|| format!("cannot read {}", path.display()))
}

/// Every `*.rs` below `dir`.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in sorted_entries(&dir)? {
            if entry.is_dir() {
                dirs.push(entry);
            } else if entry.extension().is_some_and(|e| e == "rs") {
                files.push(entry);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real tree keeps the rule.
    #[test]
    fn adaptor_folders_of_the_workspace_have_the_prescribed_shape() {
        let root = crate::cmd::workspace_root();
        assert!(root.join("crates/sched-adaptors/src").is_dir(), "{root:?}");
        let crates = root.join("crates");
        let sched = adaptors_of("sched-adaptors", &crates.join("sched-adaptors/src")).unwrap();
        let fs = adaptors_of("fs-adaptors", &crates.join("fs-adaptors/src")).unwrap();
        // The checker sees the adaptors (a checker that finds none passes anything).
        assert!(sched.len() >= 6 && fs.len() >= 5, "{sched:?} {fs:?}");
        assert!(
            sched.iter().any(|a| a.dir.ends_with("slurm") && a.name.as_deref() == Some("Slurm"))
        );
        let problems = problems(&root).unwrap();
        assert!(problems.is_empty(), "cargo xtask tidy:\n{}", problems.join("\n"));
    }

    /// Writes `files` (path, text) below `root`.
    fn write(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    const MOD: &str = "#![doc = include_str!(\"docs.md\")]\nmod backend;\nmod config;\n";

    /// A well-formed file-system adaptor `name` (`Name` its type prefix).
    fn good_fs(root: &Path, name: &str, ty: &str) {
        let dir = format!("crates/fs-adaptors/src/{name}");
        write(
            root,
            &[
                (
                    &format!("{dir}/mod.rs"),
                    &format!(
                        "{MOD}pub use backend::{{{ty}FileSystem, capabilities}};\npub use config::{ty}Config;\n"
                    ),
                ),
                (&format!("{dir}/docs.md"), "# docs\n"),
                (
                    &format!("{dir}/backend.rs"),
                    &format!("/// x\npub struct {ty}FileSystem {{}}\npub fn capabilities() {{}}\n"),
                ),
                (&format!("{dir}/config.rs"), &format!("pub struct {ty}Config {{}}\n")),
                (&format!("{dir}/parse.rs"), "pub(crate) fn parse_line(line: &str) {}\n"),
            ],
        );
    }

    #[test]
    fn a_well_formed_tree_passes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, &[("crates/fs-adaptors/src/lib.rs", "pub mod webdav;\n")]);
        good_fs(root, "webdav", "Webdav");
        good_fs(root, "s3", "S3");
        write(
            root,
            &[
                ("crates/fs-adaptors/src/copy/mod.rs", "pub fn copy() {}\n"),
                ("crates/fs-adaptors/testdata/s3/list.xml", "<x/>"),
                // A domain crate: its adaptors are src/scheduler/ and src/filesystem/.
                ("crates/unicore-rest/src/lib.rs", "pub mod scheduler;\n"),
                (
                    "crates/unicore-rest/src/scheduler/mod.rs",
                    &format!(
                        "{MOD}pub use backend::{{UnicoreScheduler, capabilities}};\npub use config::UnicoreConfig;\n"
                    ),
                ),
                ("crates/unicore-rest/src/scheduler/docs.md", "x\n"),
                (
                    "crates/unicore-rest/src/scheduler/backend.rs",
                    "pub struct UnicoreScheduler {}\n",
                ),
                ("crates/unicore-rest/src/scheduler/config.rs", "pub struct UnicoreConfig {}\n"),
                ("crates/unicore-rest/src/scheduler/script.rs", "pub fn script() {}\n"),
                (
                    "crates/unicore-rest/src/filesystem/mod.rs",
                    &format!(
                        "{MOD}pub use backend::{{UnicoreFileSystem, capabilities}};\npub use config::UnicoreConfig;\n"
                    ),
                ),
                ("crates/unicore-rest/src/filesystem/docs.md", "x\n"),
                (
                    "crates/unicore-rest/src/filesystem/backend.rs",
                    "pub struct UnicoreFileSystem {}\n",
                ),
                (
                    "crates/unicore-rest/src/filesystem/config.rs",
                    "pub use crate::scheduler::UnicoreConfig;\n",
                ),
            ],
        );
        assert_eq!(problems(root).unwrap(), Vec::<String>::new());
        check(root).unwrap();
    }

    #[test]
    fn every_deliberate_mistake_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        good_fs(root, "good", "Good");
        write(
            root,
            &[
                // Flat module beside its folder, no mod.rs/docs.md/config.rs,
                // a synonym, a script in a file system, an `Fs` type name.
                ("crates/fs-adaptors/src/flat.rs", "pub struct FlatFs;\n"),
                ("crates/fs-adaptors/src/flat/owners.rs", "pub fn owner() {}\n"),
                ("crates/fs-adaptors/src/flat/backend.rs", "pub struct FlatFs {}\n"),
                ("crates/fs-adaptors/src/flat/settings.rs", "pub struct FlatSettings {}\n"),
                ("crates/fs-adaptors/src/flat/script.rs", "pub fn script() {}\n"),
                // Logic in mod.rs, a parse.rs that parses nothing, an error.rs
                // that maps nothing, a nested mod.rs, a long file.
                ("crates/fs-adaptors/src/busy/mod.rs", "//! busy\npub fn helper() {}\nimpl X {}\n"),
                ("crates/fs-adaptors/src/busy/docs.md", "x"),
                ("crates/fs-adaptors/src/busy/backend.rs", "pub struct BusyFileSystem {}\n"),
                ("crates/fs-adaptors/src/busy/config.rs", "pub struct BusyOptions {}\n"),
                ("crates/fs-adaptors/src/busy/parse.rs", "pub async fn fetch() {}\n"),
                ("crates/fs-adaptors/src/busy/error.rs", "pub const CODE: u32 = 1;\n"),
                ("crates/fs-adaptors/src/busy/inner/mod.rs", "pub fn inner() {}\n"),
                ("crates/fs-adaptors/src/busy/reader.rs", &"// line\n".repeat(MAX_LINES + 1)),
                // Role files at the crate root, an adaptor in a domain crate
                // outside src/filesystem/, fixtures instead of testdata.
                ("crates/sched-adaptors/src/jobscript.rs", "pub fn render() {}\n"),
                ("crates/sched-adaptors/src/xml.rs", "pub fn parse(x: &str) {}\n"),
                ("crates/sched-adaptors/testdata/slurm/squeue.txt", "x"),
                ("crates/sched-adaptors/testdata/loose.txt", "x"),
                (
                    "crates/uftp/src/client.rs",
                    "pub struct UftpFileSystem;\nimpl FileSystem for UftpFileSystem {}\n",
                ),
                ("crates/uftp/tests/fixtures/a.txt", "x"),
            ],
        );
        let found = problems(root).unwrap();
        let text = found.join("\n");
        for needle in [
            "crates/fs-adaptors/src/flat: no mod.rs",
            "crates/fs-adaptors/src/flat: no docs.md",
            "crates/fs-adaptors/src/flat: no config.rs",
            "crates/fs-adaptors/src/flat.rs: an adaptor is a folder; move it to crates/fs-adaptors/src/flat/mod.rs",
            "crates/fs-adaptors/src/flat/settings.rs: this role's file is named config.rs",
            "crates/fs-adaptors/src/flat/script.rs: script.rs is the job script of a scheduler",
            "crates/fs-adaptors/src/flat/backend.rs: type FlatFs: file systems are named <Name>FileSystem",
            "crates/fs-adaptors/src/flat/backend.rs: declares no `pub struct FlatFileSystem`",
            "crates/fs-adaptors/src/flat/settings.rs: type FlatSettings: configuration types are named <Name>Config",
            "crates/fs-adaptors/src/busy/mod.rs: lacks #![doc = include_str!(\"docs.md\")]",
            "crates/fs-adaptors/src/busy/mod.rs: holds logic",
            "crates/fs-adaptors/src/busy/mod.rs: does not `pub use` BusyFileSystem",
            "crates/fs-adaptors/src/busy/mod.rs: does not `pub use` capabilities",
            "crates/fs-adaptors/src/busy/config.rs: declares no `pub struct BusyConfig`",
            "crates/fs-adaptors/src/busy/parse.rs: does I/O (async)",
            "crates/fs-adaptors/src/busy/error.rs: maps nothing onto hpc_core::Error",
            "crates/fs-adaptors/src/busy/inner/mod.rs: a module inside an adaptor is `inner.rs`",
            &format!(
                "crates/fs-adaptors/src/busy/reader.rs: {} lines; split it by role",
                MAX_LINES + 1
            ),
            "crates/sched-adaptors/src/jobscript.rs: a role file at the crate root",
            "crates/sched-adaptors/src/xml.rs: a role file at the crate root",
            "crates/sched-adaptors/testdata/slurm: test data lives in testdata/<adaptor>/",
            "crates/sched-adaptors/testdata/loose.txt: test data lives in testdata/<adaptor>/",
            "crates/uftp/src/client.rs: a FileSystem adaptor outside an adaptor folder",
            "crates/uftp/tests/fixtures: test data lives in testdata/",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        // The good adaptor beside them is not blamed.
        assert!(!text.contains("src/good"), "{text}");
        let e = format!("{:#}", check(root).unwrap_err());
        assert!(e.contains(&format!("{} problem(s)", found.len())), "{e}");
        assert!(e.contains("ARCHITECTURE.md"), "{e}");
    }

    #[test]
    fn item_scanning() {
        let text = "// pub struct Commented;\npub struct A<T> {}\npub(crate) type B = C;\n\
                    pub use x::{\n    D,\n    E as F,\n};\npub use g::H;\nfn private() {}\n";
        assert_eq!(declared(text, &["struct", "type"]), ["A", "B"]);
        let exports = exported(text);
        for name in ["D", "F", "H"] {
            assert!(exports.contains(&name.to_owned()), "{exports:?}");
        }
        assert!(starts_item("pub(crate) async fn x()", "fn "));
        assert!(starts_item("impl<A> X for Y", "impl"));
        assert!(starts_item("pub async fn x()", "fn "));
        assert!(!starts_item("implied", "impl"));
        assert_eq!(camel("job_dir"), "JobDir");
        assert_eq!(camel("s3"), "S3");
    }
}
