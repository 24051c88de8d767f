//! What every log subscriber of hpckit adds to the user's filter.

/// Filter directives added after the user's (`HPCKIT_LOG`), so that no level
/// the user asks for shows a secret that a dependency logs: suppaftp traces
/// each control command, `PASS <password>` included, at trace level.
pub const SECRET_SAFE_DIRECTIVES: &[&str] = &["suppaftp=debug"];
