//! [`Token`]: one token document, with the fields and values Python picas 1.1.2
//! writes and reads, and the state its views compute.
//!
//! A token is kept as the JSON object the server sent, so fields this crate does
//! not know (an application's own, another client's) survive every write.

use std::fmt;

use base64::Engine as _;
use hpc_core::{Error, Result};
use serde_json::{Map, Value, json};

/// Job-id fields picas adds at claim time and removes at scrub time.
pub const JOB_ID_FIELDS: [&str; 5] =
    ["dirac_job_id", "wms_job_id", "cream_job_id", "pbs_job_id", "slurm_job_id"];

/// Owner of the current lease (a worker's claim id); hpckit's own field.
pub const LEASE_OWNER: &str = "lease_owner";
/// Unix time in seconds until which the lease holds; hpckit's own field.
pub const LEASE_UNTIL: &str = "lease_until";

/// `lock` and `done` of a token marked as failed by picas' `error()`.
pub const ERROR_MARK: i64 = 99;

/// Where a token stands, as the `Monitor` views see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    /// `lock == 0 && done == 0`: waiting for a worker.
    Todo,
    /// `lock > 0 && done == 0`: claimed, running (or its worker died).
    Locked,
    /// `lock > 0 && done > 0 && parseInt(exit_code) == 0`.
    Done,
    /// `lock > 0 && done > 0 && parseInt(exit_code) != 0` (also `""`).
    Error,
    /// In no view (`lock == 0 && done > 0`, a missing `lock`, not a token).
    Other,
}

impl TokenState {
    /// The view that lists tokens in this state.
    pub fn view(self) -> Option<&'static str> {
        match self {
            TokenState::Todo => Some("todo"),
            TokenState::Locked => Some("locked"),
            TokenState::Done => Some("done"),
            TokenState::Error => Some("error"),
            TokenState::Other => None,
        }
    }
}

impl fmt::Display for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.view().unwrap_or("other"))
    }
}

/// One entry of a token's `error` list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenError {
    /// Unix time in seconds.
    pub time: i64,
    /// What went wrong.
    pub message: String,
    /// Details (Python writes a traceback; hpckit the end of stderr).
    pub exception: String,
}

/// A token document.
#[derive(Clone, PartialEq)]
pub struct Token {
    doc: Map<String, Value>,
}

impl Token {
    /// A new token with picas' defaults (`type` token, `lock`/`done` 0,
    /// `hostname` "", `scrub_count` 0, `exit_code` "", empty `output`,
    /// `uploads` and `error`) and this `input`.
    pub fn new(id: impl Into<String>, input: impl Into<Value>) -> Token {
        let mut t = Token::defaults();
        t.doc.insert("_id".into(), Value::String(id.into()));
        t.doc.insert("input".into(), input.into());
        t
    }

    /// picas' defaults, no `_id`, `input` `{}`.
    fn defaults() -> Token {
        let Value::Object(doc) = json!({
            "type": "token",
            "lock": 0,
            "done": 0,
            "hostname": "",
            "scrub_count": 0,
            "input": {},
            "exit_code": "",
            "output": {},
            "uploads": {},
            "error": [],
        }) else {
            unreachable!("a JSON object literal")
        };
        Token { doc }
    }

    /// A new token from application fields over picas' defaults (as picas'
    /// `Task(dict)` merges a dict over its base). `_rev` is refused.
    pub fn from_fields(id: impl Into<String>, fields: Map<String, Value>) -> Result<Token> {
        if fields.contains_key("_rev") {
            return Err(Error::InvalidInput("a new token cannot carry a _rev".into()));
        }
        let mut t = Token::defaults();
        t.doc.extend(fields);
        t.doc.insert("_id".into(), Value::String(id.into()));
        Ok(t)
    }

    /// A token from a document the server sent (must be an object with `_id`).
    pub fn from_value(value: Value) -> Result<Token> {
        match value {
            Value::Object(doc) if doc.get("_id").is_some_and(Value::is_string) => Ok(Token { doc }),
            other => Err(Error::parse(
                "reading a token",
                "a token is a JSON object with a string _id",
                snippet(&other),
            )),
        }
    }

    /// The document.
    pub fn as_value(&self) -> &Map<String, Value> {
        &self.doc
    }

    /// The document, owned.
    pub fn into_value(self) -> Value {
        Value::Object(self.doc)
    }

    /// `_id`.
    pub fn id(&self) -> &str {
        self.doc.get("_id").and_then(Value::as_str).unwrap_or("")
    }

    /// `_rev`, if the token came from the server.
    pub fn rev(&self) -> Option<&str> {
        self.doc.get("_rev").and_then(Value::as_str)
    }

    /// Set `_rev` (after a write).
    pub fn set_rev(&mut self, rev: impl Into<String>) {
        self.doc.insert("_rev".into(), Value::String(rev.into()));
    }

    /// Any field.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.doc.get(field)
    }

    /// Set any field (for application data; the state fields have their own methods).
    pub fn set(&mut self, field: impl Into<String>, value: impl Into<Value>) {
        self.doc.insert(field.into(), value.into());
    }

    /// Remove a field.
    pub fn remove(&mut self, field: &str) -> Option<Value> {
        self.doc.remove(field)
    }

    /// `input` (picas' examples: a shell command as a string).
    pub fn input(&self) -> Option<&Value> {
        self.doc.get("input")
    }

    /// `input` when it is a string: the command a worker runs.
    pub fn command(&self) -> Result<&str> {
        match self.doc.get("input") {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) => Err(malformed(self.id(), "its input is an empty command")),
            Some(other) => Err(malformed(
                self.id(),
                &format!("its input is {}, not a command string", kind(other)),
            )),
            None => Err(malformed(self.id(), "it has no input field")),
        }
    }

    /// `lock` as picas' views read it (0 when absent or not a number).
    pub fn lock(&self) -> i64 {
        self.int("lock")
    }

    /// `done` as picas' views read it.
    pub fn done(&self) -> i64 {
        self.int("done")
    }

    /// `scrub_count` (0 when absent).
    pub fn scrub_count(&self) -> i64 {
        self.int("scrub_count")
    }

    /// `hostname`.
    pub fn hostname(&self) -> &str {
        self.doc.get("hostname").and_then(Value::as_str).unwrap_or("")
    }

    /// `exit_code` read like JavaScript's `parseInt` (None for `""`).
    pub fn exit_code(&self) -> Option<i64> {
        self.doc.get("exit_code").and_then(parse_int)
    }

    /// The lease of this token: owner and until when (Unix seconds), if any.
    pub fn lease(&self) -> Option<(&str, i64)> {
        let owner = self.doc.get(LEASE_OWNER)?.as_str()?;
        let until = self.doc.get(LEASE_UNTIL).and_then(js_number)? as i64;
        Some((owner, until))
    }

    /// The state the `Monitor` views give this token, with JavaScript's loose
    /// comparisons (`"0" == 0`, `parseInt("")` is NaN, a missing field matches nothing).
    pub fn state(&self) -> TokenState {
        if self.doc.get("type").and_then(Value::as_str) != Some("token") {
            return TokenState::Other;
        }
        let lock = self.doc.get("lock");
        let done = self.doc.get("done");
        let (lock0, done0) = (js_eq_zero(lock), js_eq_zero(done));
        let (lock_pos, done_pos) = (js_gt_zero(lock), js_gt_zero(done));
        if lock0 && done0 {
            TokenState::Todo
        } else if lock_pos && done0 {
            TokenState::Locked
        } else if lock_pos && done_pos {
            if self.exit_code() == Some(0) { TokenState::Done } else { TokenState::Error }
        } else {
            TokenState::Other
        }
    }

    /// The `error` list (entries that are not objects are skipped).
    pub fn errors(&self) -> Vec<TokenError> {
        let Some(Value::Array(items)) = self.doc.get("error") else { return Vec::new() };
        items
            .iter()
            .filter_map(Value::as_object)
            .map(|e| TokenError {
                time: e.get("time").and_then(js_number).unwrap_or(0.0) as i64,
                message: e.get("message").map(text_of).unwrap_or_default(),
                exception: e.get("exception").map(text_of).unwrap_or_default(),
            })
            .collect()
    }

    /// Names of the attachments.
    pub fn attachment_names(&self) -> Vec<String> {
        match self.doc.get("_attachments") {
            Some(Value::Object(a)) => a.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Claim: `lock` = now, host name and batch job id (picas' `lock()`), plus
    /// hpckit's lease (`lease_owner`, `lease_until`).
    pub fn lock_for(&mut self, claim: &ClaimInfo, now: i64, lease_until: i64) {
        self.doc.insert("lock".into(), now.max(1).into());
        self.doc.insert("hostname".into(), claim.hostname.clone().into());
        if let Some((field, value)) = &claim.job_id {
            self.doc.insert(field.clone(), value.clone());
        }
        self.doc.insert(LEASE_OWNER.into(), claim.owner.clone().into());
        self.doc.insert(LEASE_UNTIL.into(), lease_until.into());
    }

    /// Move the lease on (heartbeat).
    pub fn extend_lease(&mut self, until: i64) {
        self.doc.insert(LEASE_UNTIL.into(), until.into());
    }

    /// `lock` 0 and job ids removed (picas' `unlock`).
    pub fn unlock(&mut self) {
        self.doc.insert("lock".into(), 0.into());
        self.drop_job_ids();
        self.drop_lease();
    }

    /// `done` = now (picas' `close`/`done()`).
    pub fn close(&mut self, now: i64) {
        self.doc.insert("done".into(), now.max(1).into());
    }

    /// `done` 0 (picas' `unclose`).
    pub fn unclose(&mut self) {
        self.doc.insert("done".into(), 0.into());
    }

    /// Record a finished command: `exit_code`, `done` = now.
    /// The lease owner stays, as a record of which worker ran it.
    pub fn finish(&mut self, exit_code: i64, now: i64) {
        self.doc.insert("exit_code".into(), exit_code.into());
        self.close(now);
        self.doc.remove(LEASE_UNTIL);
    }

    /// Merge `output` into the `output` object (picas' `add_output`).
    pub fn add_output(&mut self, output: Map<String, Value>) {
        match self.doc.get_mut("output") {
            Some(Value::Object(o)) => o.extend(output),
            _ => {
                self.doc.insert("output".into(), Value::Object(output));
            }
        }
    }

    /// Back to todo after a failure (picas' `scrub`): `scrub_count` + 1, `lock`
    /// and `done` 0, job ids removed, `hostname` = this host; `exit_code`,
    /// `error` and attachments stay.
    pub fn scrub(&mut self, hostname: &str) {
        // A server's count can be anything: the largest stays the largest.
        let n = self.scrub_count().saturating_add(1);
        self.doc.insert("scrub_count".into(), n.into());
        self.doc.insert("done".into(), 0.into());
        self.doc.insert("lock".into(), 0.into());
        self.drop_job_ids();
        self.drop_lease();
        self.doc.insert("hostname".into(), hostname.into());
    }

    /// picas' `resetTokens.py`: `lock`/`done` 0, `scrub_count` + 1, `hostname`
    /// and `exit_code` "", attachments removed.
    pub fn reset(&mut self) {
        // A server's count can be anything: the largest stays the largest.
        let n = self.scrub_count().saturating_add(1);
        self.doc.insert("lock".into(), 0.into());
        self.doc.insert("done".into(), 0.into());
        self.doc.insert("scrub_count".into(), n.into());
        self.doc.insert("hostname".into(), "".into());
        self.doc.insert("exit_code".into(), "".into());
        self.doc.remove("_attachments");
        self.drop_lease();
    }

    /// Mark as failed (picas' `error()`): `lock` = `done` = 99 and one entry
    /// appended to `error`; `exit_code` is left as it is (the lease owner too).
    pub fn set_error(&mut self, message: &str, detail: &str, now: i64) {
        self.doc.insert("lock".into(), ERROR_MARK.into());
        self.doc.insert("done".into(), ERROR_MARK.into());
        self.push_error(message, detail, now);
        self.doc.remove(LEASE_UNTIL);
    }

    /// Append one entry to `error` without changing the state.
    pub fn push_error(&mut self, message: &str, detail: &str, now: i64) {
        let entry = json!({ "time": now, "message": message, "exception": detail });
        match self.doc.get_mut("error") {
            Some(Value::Array(list)) => list.push(entry),
            _ => {
                self.doc.insert("error".into(), Value::Array(vec![entry]));
            }
        }
    }

    /// Embed an attachment in the document (written with the next save, as
    /// picas does): `_attachments.<name> = {content_type, data: base64}`.
    pub fn attach(&mut self, name: &str, content_type: &str, data: &[u8]) {
        let entry = json!({
            "content_type": content_type,
            "data": base64::engine::general_purpose::STANDARD.encode(data),
        });
        match self.doc.get_mut("_attachments") {
            Some(Value::Object(a)) => {
                a.insert(name.into(), entry);
            }
            _ => {
                let mut a = Map::new();
                a.insert(name.into(), entry);
                self.doc.insert("_attachments".into(), Value::Object(a));
            }
        }
    }

    /// The data of an attachment embedded in this document (not a stub).
    pub fn inline_attachment(&self, name: &str) -> Option<Vec<u8>> {
        let data = self.doc.get("_attachments")?.get(name)?.get("data")?.as_str()?;
        base64::engine::general_purpose::STANDARD.decode(data).ok()
    }

    fn drop_job_ids(&mut self) {
        for f in JOB_ID_FIELDS {
            self.doc.remove(f);
        }
    }

    fn drop_lease(&mut self) {
        self.doc.remove(LEASE_OWNER);
        self.doc.remove(LEASE_UNTIL);
    }

    fn int(&self, field: &str) -> i64 {
        self.doc.get(field).and_then(js_number).map(|n| n as i64).unwrap_or(0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id())
            .field("rev", &self.rev())
            .field("state", &self.state())
            .field("lock", &self.lock())
            .field("done", &self.done())
            .field("scrub_count", &self.scrub_count())
            .finish_non_exhaustive()
    }
}

/// Who claims: written into a token at claim time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimInfo {
    /// This worker's unique claim id (`host:pid:random`), the lease owner.
    pub owner: String,
    /// The host name (`hostname` field).
    pub hostname: String,
    /// The batch job id field picas would add, with its value.
    pub job_id: Option<(String, Value)>,
}

impl ClaimInfo {
    /// For this process: host name, batch job id from the environment, and a
    /// fresh random owner id.
    pub fn for_this_process() -> ClaimInfo {
        let hostname = crate::host::hostname();
        let owner = format!("{hostname}:{}:{:016x}", std::process::id(), crate::host::random_u64());
        ClaimInfo { owner, hostname, job_id: job_id_from(|k| std::env::var(k).ok()) }
    }
}

/// The batch job id field and value picas' `add_job_id` derives from the
/// environment (the outermost batch system wins).
pub fn job_id_from(env: impl Fn(&str) -> Option<String>) -> Option<(String, Value)> {
    if let Some(v) = env("DIRACJOBID") {
        return Some(("dirac_job_id".into(), v.into()));
    }
    if let Some(v) = env("GLITE_WMS_JOBID") {
        let value = if v.starts_with("http") { Value::String(v) } else { Value::Null };
        return Some(("wms_job_id".into(), value));
    }
    if let Some(v) = env("CREAM_JOBID") {
        return Some(("cream_job_id".into(), v.into()));
    }
    if let Some(v) = env("PBS_JOBID") {
        return Some(("pbs_job_id".into(), v.into()));
    }
    if let Some(array) = env("SLURM_ARRAY_JOB_ID") {
        let task = env("SLURM_ARRAY_TASK_ID").unwrap_or_default();
        return Some(("slurm_job_id".into(), format!("{array}_{task}").into()));
    }
    env("SLURM_JOB_ID").map(|v| ("slurm_job_id".into(), v.into()))
}

fn malformed(id: &str, why: &str) -> Error {
    Error::InvalidInput(format!("malformed token {id}: {why}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn snippet(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// A value as JavaScript's `Number()` would read it in a loose comparison;
/// None where the comparison is always false (undefined, null, NaN, objects).
fn js_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() { Some(0.0) } else { t.parse::<f64>().ok() }
        }
        _ => None,
    }
}

/// `x == 0` in JavaScript.
fn js_eq_zero(v: Option<&Value>) -> bool {
    v.and_then(js_number) == Some(0.0)
}

/// `x > 0` in JavaScript (`null > 0` is false, like undefined).
fn js_gt_zero(v: Option<&Value>) -> bool {
    v.and_then(js_number).is_some_and(|n| n > 0.0)
}

/// JavaScript's `parseInt` on a number or string (leading integer digits).
fn parse_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(|f| f.trunc() as i64),
        Value::String(s) => {
            let t = s.trim_start();
            let (sign, digits) = match t.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, t.strip_prefix('+').unwrap_or(t)),
            };
            let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
            digits[..end].parse::<i64>().ok().map(|n| sign * n)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(fields: Value) -> Token {
        let Value::Object(m) = fields else { panic!() };
        Token::from_fields("t", m).unwrap()
    }

    #[test]
    fn a_huge_scrub_count_from_a_server_stays_the_largest() {
        // Found by the couch_responses fuzz target: 2^63 + ... overflowed `+ 1`.
        for count in [json!(9_233_720_368_547_758_070u64), json!(i64::MAX), json!(1e300)] {
            let mut t = token(json!({"input": "x", "scrub_count": count}));
            t.scrub("h");
            assert_eq!(t.scrub_count(), i64::MAX);
            t.reset();
            assert_eq!(t.scrub_count(), i64::MAX);
        }
    }

    #[test]
    fn new_tokens_look_like_picas_tokens() {
        let t = Token::new("token_1", "echo hi");
        assert_eq!(
            t.clone().into_value(),
            json!({"_id": "token_1", "type": "token", "lock": 0, "done": 0, "hostname": "",
                   "scrub_count": 0, "input": "echo hi", "exit_code": "", "output": {},
                   "uploads": {}, "error": []})
        );
        assert_eq!(t.state(), TokenState::Todo);
        assert_eq!(t.command().unwrap(), "echo hi");
    }

    #[test]
    fn states_follow_javascript_loose_comparisons() {
        let cases = [
            (json!({"lock": 0, "done": 0}), TokenState::Todo),
            (json!({"lock": "0", "done": ""}), TokenState::Todo),
            (json!({"lock": 5, "done": 0}), TokenState::Locked),
            (json!({"lock": 5, "done": 6, "exit_code": 0}), TokenState::Done),
            (json!({"lock": 5, "done": 6, "exit_code": "0"}), TokenState::Done),
            (json!({"lock": 5, "done": 6, "exit_code": 2}), TokenState::Error),
            (json!({"lock": 99, "done": 99, "exit_code": ""}), TokenState::Error),
            (json!({"lock": 99, "done": 99, "exit_code": 0}), TokenState::Done),
            (json!({"lock": 0, "done": 7}), TokenState::Other),
            (json!({"lock": null, "done": 0}), TokenState::Other),
            (json!({"type": "task"}), TokenState::Other),
        ];
        for (fields, want) in cases {
            let mut t = token(fields.clone());
            if fields.get("lock").is_some_and(Value::is_null) {
                t.remove("lock");
            }
            assert_eq!(t.state(), want, "{fields}");
        }
    }

    #[test]
    fn transitions_match_picas() {
        let mut t = Token::new("a", "true");
        let claim = ClaimInfo {
            owner: "h:1:x".into(),
            hostname: "h".into(),
            job_id: Some(("slurm_job_id".into(), "7_1".into())),
        };
        t.lock_for(&claim, 1000, 1600);
        assert_eq!(t.state(), TokenState::Locked);
        assert_eq!(t.lease(), Some(("h:1:x", 1600)));
        assert_eq!(t.get("slurm_job_id"), Some(&json!("7_1")));
        t.finish(3, 1010);
        assert_eq!(t.state(), TokenState::Error);
        assert!(t.lease().is_none(), "a finished token holds no lease");
        assert_eq!(t.get(LEASE_OWNER), Some(&json!("h:1:x")), "but says who ran it");
        t.scrub("h2");
        assert_eq!((t.state(), t.scrub_count(), t.hostname()), (TokenState::Todo, 1, "h2"));
        assert!(t.get("slurm_job_id").is_none());
        assert_eq!(t.exit_code(), Some(3), "scrub keeps the exit code");
        t.set_error("boom", "trace", 1020);
        assert_eq!((t.lock(), t.done(), t.state()), (99, 99, TokenState::Error));
        assert_eq!(t.errors()[0].message, "boom");
        t.attach("logs_a.out", "text/plain", b"hello");
        assert_eq!(t.inline_attachment("logs_a.out").unwrap(), b"hello");
        t.reset();
        assert_eq!((t.state(), t.scrub_count(), t.hostname()), (TokenState::Todo, 2, ""));
        assert!(t.attachment_names().is_empty());
    }

    #[test]
    fn malformed_inputs_are_named() {
        let t = token(json!({"input": {"a": 1}}));
        assert!(t.command().unwrap_err().to_string().contains("an object, not a command"));
        let mut t = Token::new("x", "");
        assert!(t.command().unwrap_err().to_string().contains("empty command"));
        t.remove("input");
        assert!(t.command().unwrap_err().to_string().contains("no input field"));
        assert!(Token::from_value(json!([1])).is_err());
    }

    #[test]
    fn job_ids_like_picas() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            job_id_from(env(&[("SLURM_ARRAY_JOB_ID", "5"), ("SLURM_ARRAY_TASK_ID", "2")])),
            Some(("slurm_job_id".into(), json!("5_2")))
        );
        assert_eq!(
            job_id_from(env(&[("GLITE_WMS_JOBID", "x"), ("PBS_JOBID", "1")])),
            Some(("wms_job_id".into(), Value::Null))
        );
        assert_eq!(job_id_from(env(&[])), None);
        assert_eq!(parse_int(&json!(" 12abc")), Some(12));
        assert_eq!(parse_int(&json!("")), None);
    }
}
