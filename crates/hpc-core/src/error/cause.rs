//! The error underneath an [`Error`](super::Error), and its text on one line.

use std::error::Error as StdError;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The error a library (russh, hyper, suppaftp, quick-xml, io, ...) gave,
/// kept beneath an [`Error`](super::Error) so that `source()` chains show it
/// and callers can downcast to it.
///
/// Shared, so that `Error` is `Clone`; one thin pointer, so that keeping a
/// cause does not make every `Result` larger. It dereferences to the error
/// itself (`cause.downcast_ref::<std::io::Error>()`), and
/// [`Error::source`](std::error::Error::source) returns that error, not this
/// wrapper.
#[derive(Clone)]
pub struct Cause(Arc<Box<dyn StdError + Send + Sync + 'static>>);

impl Cause {
    /// Keep `error` as a cause.
    pub fn new(error: impl StdError + Send + Sync + 'static) -> Self {
        Cause(Arc::new(Box::new(error)))
    }

    /// The cause and its own causes on one line (see [`chain_text`]).
    pub fn text(&self) -> String {
        chain_text(&**self)
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Cause {
    fn from(error: E) -> Self {
        Cause::new(error)
    }
}

impl Deref for Cause {
    type Target = dyn StdError + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &**self.0
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An error and its sources on one line, each said once: a source whose text
/// the line already contains (many errors repeat their source in their own
/// message) is left out. Multi-line messages are joined with spaces.
pub fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let part = one_line(&e.to_string());
        if !part.is_empty() && !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        next = e.source();
    }
    text
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("request failed")]
    struct Hides(#[source] io::Error);

    #[test]
    fn each_cause_once() {
        let io = || io::Error::other("reset\nby peer");
        assert_eq!(chain_text(&Repeats(io())), "outer: reset by peer");
        assert_eq!(chain_text(&Hides(io())), "request failed: reset by peer");
    }

    #[test]
    fn a_cause_can_be_downcast_and_is_one_pointer() {
        let c = Cause::new(io::Error::from(io::ErrorKind::ConnectionReset));
        let io = c.downcast_ref::<io::Error>().map(io::Error::kind);
        assert_eq!(io, Some(io::ErrorKind::ConnectionReset));
        assert_eq!(std::mem::size_of::<Option<Cause>>(), std::mem::size_of::<usize>());
        assert_eq!(c.text(), c.clone().to_string());
    }
}
