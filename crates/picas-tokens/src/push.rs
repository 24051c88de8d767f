//! Token specifications from files: picas' text files (one command per line)
//! and JSON lines (one object per line, any extra fields).

use hpc_core::{Error, Result};
use serde_json::{Map, Value};

/// One token to create: an `_id` if the line gave one, and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    /// The id, if given (`_id` in a JSON line); else the pool numbers it.
    pub id: Option<String>,
    /// Fields over picas' defaults (`input` at least, usually).
    pub fields: Map<String, Value>,
}

/// How to read a token file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Each non-empty line is a command (the token's `input`), like picas'
    /// `quickExample.txt`; a trailing `\r` is dropped.
    Lines,
    /// Each non-empty line is a JSON object of token fields (`input`,
    /// `cores`, ...; an `_id` is kept).
    JsonLines,
}

/// Parse `text`; a bad JSON line is an error naming its line number (nothing
/// is pushed from a file with a bad line).
pub fn parse_tokens(text: &str, format: InputFormat) -> Result<Vec<NewToken>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        match format {
            InputFormat::Lines => {
                let mut fields = Map::new();
                fields.insert("input".into(), Value::String(line.to_owned()));
                out.push(NewToken { id: None, fields });
            }
            InputFormat::JsonLines => {
                let bad = |why: String| Error::InvalidInput(format!("token line {}: {why}", n + 1));
                let value: Value =
                    serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
                let Value::Object(mut fields) = value else {
                    return Err(bad("not a JSON object".into()));
                };
                if fields.contains_key("_rev") {
                    return Err(bad("a new token cannot carry a _rev".into()));
                }
                let id = match fields.remove("_id") {
                    None => None,
                    Some(Value::String(s)) if !s.is_empty() && !s.starts_with('_') => Some(s),
                    Some(other) => {
                        return Err(bad(format!(
                            "_id must be a string not starting with _: {other}"
                        )));
                    }
                };
                out.push(NewToken { id, fields });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json_lines() {
        let t = parse_tokens("echo a\r\n\n  \necho 'b c'\n", InputFormat::Lines).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].fields["input"], "echo 'b c'");
        let t = parse_tokens(
            "{\"input\": \"echo 1\", \"cores\": 4}\n{\"_id\": \"mine\", \"input\": \"x\"}",
            InputFormat::JsonLines,
        )
        .unwrap();
        assert_eq!(t[0].fields["cores"], 4);
        assert_eq!(t[1].id.as_deref(), Some("mine"));
        let e = parse_tokens("{\"input\": 1}\n[1]\n", InputFormat::JsonLines).unwrap_err();
        assert!(e.to_string().contains("token line 2: not a JSON object"), "{e}");
        assert!(parse_tokens("{\"_id\": \"_design/x\"}", InputFormat::JsonLines).is_err());
    }
}
