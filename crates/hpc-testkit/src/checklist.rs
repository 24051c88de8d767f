//! The capability checklist of an adaptor's `docs.md` against the code.
//!
//! Each adaptor's `docs.md` (its module docs) has a table
//!
//! ```text
//! | capability | value |
//! |---|---|
//! | rename | true (`MOVE`, `Overwrite: F`) |
//! | read_parts / write_parts | 1 (in order) / false |
//! | credentials | default/anonymous, password/basic (HTTP Basic), bearer, oidc |
//! ```
//!
//! whose values carry the reason beside them, so they are written by hand,
//! not generated; [`disagreements`] keeps them honest: a literal value
//! (`true`, `false`, a number) must be the code's, the credential kinds
//! named must be the ones the code takes, and every capability of the code
//! must have its row.

use std::collections::BTreeSet;

use hpc_core::CredentialKind;

/// Every way the checklist in `docs` disagrees with `rows` (an adaptor's
/// `capabilities().rows()`), one line each; empty when they agree.
///
/// A row may name several capabilities (`a / b`); its value is then split
/// the same way, or, without ` / `, holds for each. A value that does not
/// begin with a literal (`` `download_concurrency` (16 by default) ``) is a
/// formula the reader must follow and is not compared.
pub fn disagreements(docs: &str, rows: &[(&'static str, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(table) = checklist(docs) else {
        return vec!["no `| capability | value |` table".to_owned()];
    };
    let mut seen = BTreeSet::new();
    for (names, value) in table {
        let names: Vec<&str> = names.split(" / ").map(str::trim).collect();
        let parts: Vec<&str> = value.split(" / ").map(str::trim).collect();
        for (i, name) in names.iter().enumerate() {
            let value = if parts.len() == names.len() { parts[i] } else { value };
            let Some((_, code)) = rows.iter().find(|(row, _)| row == name) else {
                out.push(format!("`{name}` is no capability of the code"));
                continue;
            };
            seen.insert(*name);
            if *name == "credentials" {
                out.extend(credential_disagreement(value, code));
            } else if let Some(literal) = literal(value)
                && literal != code
            {
                out.push(format!("`{name}`: the docs say {literal}, the code {code}"));
            }
        }
    }
    for (name, _) in rows {
        if !seen.contains(name) {
            out.push(format!("`{name}` has no row"));
        }
    }
    out
}

/// The `(capability, value)` cells of the table under `| capability | value |`.
fn checklist(docs: &str) -> Option<Vec<(&str, &str)>> {
    let mut lines = docs.lines().skip_while(|l| l.trim() != "| capability | value |").skip(1);
    lines.next().filter(|l| l.starts_with("|-"))?;
    let rows = lines
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells = l.trim().strip_prefix('|')?.strip_suffix('|')?;
            let (name, value) = cells.split_once(" | ")?;
            Some((name.trim(), value.trim()))
        })
        .collect();
    Some(rows)
}

/// `true`, `false` or a number at the start of `value`.
fn literal(value: &str) -> Option<&str> {
    let word = value.split([' ', '(', ';', ',']).next()?;
    (word == "true" || word == "false" || word.parse::<u64>().is_ok()).then_some(word)
}

/// The credential kinds named in `value` against the code's list
/// (`default, password, ...`).
fn credential_disagreement(value: &str, code: &str) -> Option<String> {
    let named: BTreeSet<&str> = value
        .split(|c: char| !(c.is_ascii_lowercase() || c == '-'))
        .filter(|w| CredentialKind::ALL.iter().any(|k| k.name() == *w))
        .collect();
    let taken: BTreeSet<&str> = code.split(", ").filter(|w| !w.is_empty()).collect();
    if named == taken {
        return None;
    }
    let missing: Vec<&str> = taken.difference(&named).copied().collect();
    let extra: Vec<&str> = named.difference(&taken).copied().collect();
    Some(format!(
        "`credentials`: the code takes {code}; the docs miss [{}] and name [{}] it does not take",
        missing.join(", "),
        extra.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<(&'static str, String)> {
        vec![
            ("rename", "true".into()),
            ("read_parts", "16".into()),
            ("write_parts", "false".into()),
            ("checksum", "false".into()),
            ("credentials", "default, password, key-file".into()),
        ]
    }

    const DOCS: &str = "Intro.\n\n| capability | value |\n|---|---|\n\
        | rename | true (`MOVE`) |\n\
        | read_parts / write_parts | `download_concurrency` (16 by default) / false |\n\
        | checksum | false for SHA-256; the ETag for MD5 |\n\
        | credentials | default (env), password, key-file (`~/.ssh`) |\n\nMore.\n";

    #[test]
    fn an_honest_checklist_agrees() {
        assert_eq!(disagreements(DOCS, &rows()), Vec::<String>::new());
    }

    #[test]
    fn each_lie_is_named() {
        let docs = DOCS
            .replace("| rename | true", "| rename | false")
            .replace("/ false |", "/ true |")
            .replace("key-file (`~/.ssh`)", "agent")
            .replace("| checksum | false for SHA-256; the ETag for MD5 |\n", "| copy | true |\n");
        let found = disagreements(&docs, &rows());
        assert_eq!(
            found,
            [
                "`rename`: the docs say false, the code true",
                "`write_parts`: the docs say true, the code false",
                "`copy` is no capability of the code",
                "`credentials`: the code takes default, password, key-file; the docs miss \
                 [key-file] and name [agent] it does not take",
                "`checksum` has no row",
            ]
        );
        assert_eq!(disagreements("no table\n", &rows()), ["no `| capability | value |` table"]);
    }
}
