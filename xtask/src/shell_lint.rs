//! Part of `cargo xtask tidy`: no shell script is built from data outside the
//! reviewed places. hpckit runs shell code in one safe shape: the script after
//! `sh -c` is a constant and the data follows it as positional parameters
//! (`"$1"`), or the argv is quoted by `hpc_exec::quote`. This check finds every
//! `"-c"` in the library code of `crates/*/src` (tests excluded) and accepts it
//! only when the script after it is a literal or a `SCREAMING_CASE` constant, or
//! when the place is in [`REVIEWED`] with the reason it is safe.

use std::path::Path;

use anyhow::Result;

/// Places where the text after `-c` is an expression, each reviewed:
/// `(file under crates/, the expression, why it is safe and what tests it)`.
const REVIEWED: &[(&str, &str, &str)] = &[
    (
        "picas-tokens/src/worker/run_one.rs",
        "command",
        "a token's input is a shell command line by the picas protocol, written by the pool's owner",
    ),
    (
        "sched-adaptors/src/slurm/script.rs",
        "prelude",
        "constant text plus `export NAME=\"$1\"` for names checked by hpc_core::is_env_name; values are positional (script.rs tests with nasty values)",
    ),
    (
        "sched-adaptors/src/sge/backend.rs",
        "&program",
        "format! of two constants only; job ids are positional parameters",
    ),
    (
        "sched-adaptors/src/ssh/backend.rs",
        "program",
        "callers pass constant scripts (script::submit_program, interactive_program, CANCEL); data is positional",
    ),
    (
        "zih-datamover/src/workspace/tools.rs",
        "c",
        "`-c` is ws_allocate's comment option, not a shell; the argv is quoted by hpc_exec",
    ),
];

/// Crates whose sources are test machinery (fake servers and commands), not hpckit.
const EXEMPT_CRATES: &[&str] = &["hpc-testkit", "itests"];

/// Problems of every crate under `root/crates`.
pub(crate) fn problems(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let crates = root.join("crates");
    let mut used = vec![false; REVIEWED.len()];
    for krate in std::fs::read_dir(&crates)? {
        let krate = krate?.path();
        let name = krate.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if EXEMPT_CRATES.contains(&name.as_str()) || !krate.join("src").is_dir() {
            continue;
        }
        for file in rust_files(&krate.join("src"))? {
            let rel = file.strip_prefix(&crates).unwrap_or(&file).to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&file)?;
            for (line, script) in scripts_after_dash_c(&text) {
                if is_constant(&script) {
                    continue;
                }
                match REVIEWED.iter().position(|(f, e, _)| *f == rel && *e == script) {
                    Some(i) => used[i] = true,
                    None => out.push(format!(
                        "crates/{rel}:{line}: the script after `-c` is built at run time (`{script}`): \
                         keep the script constant and pass data as positional parameters, or \
                         review it and add it to REVIEWED in xtask/src/shell_lint.rs"
                    )),
                }
            }
        }
    }
    for (i, (file, expr, _)) in REVIEWED.iter().enumerate() {
        // Only where the file exists: a tree without it (a test's) has nothing to review.
        if !used[i] && crates.join(file).is_file() {
            out.push(format!(
                "xtask/src/shell_lint.rs: REVIEWED names `{expr}` in crates/{file}, which no longer has it"
            ));
        }
    }
    Ok(out)
}

/// `(line number, expression)` of what follows each `"-c"` in the code before
/// the file's `#[cfg(test)]` module.
fn scripts_after_dash_c(text: &str) -> Vec<(usize, String)> {
    let code: Vec<&str> = text.lines().take_while(|l| l.trim() != "#[cfg(test)]").collect();
    let mut found = Vec::new();
    for (i, line) in code.iter().enumerate() {
        let Some(at) = line.find("\"-c\"") else { continue };
        let rest = format!("{} {}", &line[at + 4..], code.get(i + 1).copied().unwrap_or(""));
        found.push((i + 1, next_expression(&rest)));
    }
    found
}

/// The expression after `"-c"`: past `.to_owned()`, `.into()`, `)`, `,` and
/// `.arg(`, up to the next `,` or `)` outside brackets.
fn next_expression(rest: &str) -> String {
    let mut s = rest.trim_start();
    loop {
        let before = s;
        for skip in [".to_owned()", ".to_string()", ".into()", ")", ",", ".arg(", "\n"] {
            s = s.strip_prefix(skip).unwrap_or(s).trim_start();
        }
        if s == before {
            break;
        }
    }
    let mut depth = 0i32;
    let mut end = s.len();
    let mut in_str = false;
    for (i, ch) in s.char_indices() {
        match ch {
            '"' => in_str = !in_str,
            '(' | '[' if !in_str => depth += 1,
            ')' | ']' if !in_str && depth == 0 => {
                end = i;
                break;
            }
            ')' | ']' if !in_str => depth -= 1,
            ',' if !in_str && depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    s[..end].trim().to_string()
}

/// A string literal or a path ending in a `SCREAMING_CASE` constant.
fn is_constant(expr: &str) -> bool {
    if expr.starts_with('"') || expr.starts_with("r\"") || expr.starts_with("r#\"") {
        return true;
    }
    let mut path = expr.trim_start_matches('&');
    for suffix in [".into()", ".to_owned()", ".to_string()", ".clone()"] {
        path = path.strip_suffix(suffix).unwrap_or(path);
    }
    let last = path.rsplit("::").next().unwrap_or("");
    !last.is_empty()
        && last.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && last.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

fn rust_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_after_dash_c_are_found_in_each_shape() {
        let text = "let a = Command::new(\"sh\").arg(\"-c\").arg(script::STATUS).arg(x);\n\
                    let b = [\"sh\", \"-c\", &program, \"sh\"];\n\
                    argv.extend([\"/bin/sh\".to_owned(), \"-c\".to_owned(), prelude, \"x\".into()]);\n\
                    let c = Command::new(\"sh\")\n    .arg(\"-c\")\n    .arg(format!(\"rm {}\", p));\n\
                    #[cfg(test)]\nlet d = [\"-c\", user_text];\n";
        let found: Vec<String> = scripts_after_dash_c(text).into_iter().map(|(_, e)| e).collect();
        assert_eq!(found, ["script::STATUS", "&program", "prelude", "format!(\"rm {}\", p)"]);
    }

    #[test]
    fn literals_and_constants_pass_expressions_do_not() {
        for ok in
            ["\"exit 0\"", "script::STATUS", "REDIRECT", "&SUBMIT", "SUBMIT.into()", "r#\"x\"#"]
        {
            assert!(is_constant(ok), "{ok}");
        }
        for bad in ["program", "&program", "format!(\"x {y}\")", "script::submit_program()", ""] {
            assert!(!is_constant(bad), "{bad}");
        }
    }

    #[test]
    fn this_workspace_builds_no_unreviewed_shell_script() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let problems = problems(root).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
