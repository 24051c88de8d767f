use super::*;

#[test]
fn command_failed_shows_last_stderr_line_only() {
    let e = Error::CommandFailed {
        command: "sbatch --parsable".into(),
        exit_code: Some(1),
        stderr: "sbatch: warning: x\nsbatch: error: Batch job submission failed: Invalid partition name specified\n\n".into(),
    };
    assert_eq!(
        e.to_string(),
        "`sbatch --parsable` failed (exit code 1): sbatch: error: Batch job submission failed: Invalid partition name specified"
    );
    assert_eq!(e.kind(), ErrorKind::Remote);
    assert!(!e.to_string().contains('\n'));
}

#[test]
fn kinds_and_retry() {
    assert!(Error::job_not_found("42").is_not_found());
    assert_eq!(Error::job_not_found("42").to_string(), "job not found: 42");
    let refused = Error::Connect { host: "h".into(), reason: "refused".into(), source: None };
    assert!(refused.is_retryable());
    assert!(Error::connection_lost("h", io::Error::from(io::ErrorKind::BrokenPipe)).is_retryable());
    // Remote errors are as the adaptor marked them, whatever the service or status.
    let remote = |service, status| Error::remote(service, Some(status), "m");
    assert!(!remote("s3", 503).is_retryable(), "permanent unless marked");
    assert!(remote("s3", 503).with_retry(Retry::Temporary).is_retryable());
    assert!(remote("ftp", 450).with_retry(Retry::Temporary).is_retryable());
    assert!(!remote("ftp", 550).with_retry(Retry::Permanent).is_retryable());
    assert!(!Error::InvalidInput("x".into()).is_retryable());
    let no_slot = Error::InvalidInput("x".into()).with_retry(Retry::Temporary);
    assert!(!no_slot.is_retryable(), "only remote errors carry a mark");
}

#[test]
fn causes_are_kept_shared_and_said_once() {
    use std::error::Error as _;
    let e = Error::connection_lost("h:21", io::Error::from(io::ErrorKind::ConnectionReset))
        .during("RETR /x");
    let text = e.to_string();
    assert!(text.starts_with("connection to h:21 lost: RETR /x: "), "{text}");
    let source = e.source().expect("the io error is the source");
    assert_eq!(
        source.downcast_ref::<io::Error>().map(io::Error::kind),
        Some(io::ErrorKind::ConnectionReset),
        "the source is the library's error itself, not a wrapper"
    );
    let copy = e.clone();
    assert!(std::ptr::addr_eq(&**copy.cause().unwrap(), &**e.cause().unwrap()), "shared");
    assert_eq!(chain_text(&e), text, "the cause is in the message already: said once");

    let json = serde_json::from_str::<u8>("x").unwrap_err();
    let e = Error::parse("GET /jobs", format!("invalid JSON: {json}"), "x").with_source(json);
    assert!(e.source().is_some_and(|s| s.is::<serde_json::Error>()));
    let e = Error::io("reading /x", io::Error::other("disk on fire"));
    assert_eq!(e.to_string(), "reading /x: disk on fire");
    assert!(e.source().is_some_and(|s| s.is::<io::Error>()));
}

#[test]
fn error_stays_small() {
    // reqwest keeps its error one pointer; ours carries context by value, but
    // must not grow each time a variant gains a field: box that field instead.
    assert!(std::mem::size_of::<Error>() <= 80, "{} bytes", std::mem::size_of::<Error>());
}

#[test]
fn a_resource_not_found_names_its_kind() {
    let e = Error::NotFound { kind: NotFoundKind::Resource("workspace"), name: "scratch".into() };
    assert_eq!(e.to_string(), "workspace not found: scratch");
    assert!(e.is_not_found());
}

#[test]
fn io_mapping() {
    let e = Error::from_io_path("open", "/x", io::Error::from(io::ErrorKind::NotFound));
    assert!(matches!(e, Error::NotFound { kind: NotFoundKind::Path, .. }));
    let e = Error::from_io_path("open", "/x", io::Error::from(io::ErrorKind::PermissionDenied));
    assert_eq!(e.to_string(), "permission denied: open /x");
}

#[test]
fn timeout_text() {
    let e = Error::Timeout { what: "waiting for job 3".into(), after: Duration::from_millis(1500) };
    assert_eq!(e.to_string(), "waiting for job 3 timed out after 1.500s");
}

#[test]
fn all_kinds_are_listed_once() {
    // A new kind breaks this match (no wildcard), and its position must then
    // be given here and in `ErrorKind::ALL`.
    let position = |k: ErrorKind| match k {
        ErrorKind::InvalidInput => 0,
        ErrorKind::NotFound => 1,
        ErrorKind::AlreadyExists => 2,
        ErrorKind::PermissionDenied => 3,
        ErrorKind::Authentication => 4,
        ErrorKind::HostKey => 5,
        ErrorKind::Connection => 6,
        ErrorKind::Remote => 7,
        ErrorKind::Parse => 8,
        ErrorKind::Unsupported => 9,
        ErrorKind::Timeout => 10,
        ErrorKind::Cancelled => 11,
        ErrorKind::Changed => 12,
        ErrorKind::Io => 13,
    };
    for (i, k) in ErrorKind::ALL.into_iter().enumerate() {
        assert_eq!(position(k), i, "{k:?}");
    }
}

/// A 10 MB squeue line became a 10 MB error line, a 100 KB URL was echoed
/// whole: every message quotes at most `QUOTE_LIMIT` of what it got.
#[test]
fn huge_input_is_quoted_in_part() {
    let huge = "x".repeat(10 << 20);
    let errors = [
        Error::CommandFailed { command: "squeue".into(), exit_code: Some(1), stderr: huge.clone() },
        Error::parse("squeue", "bad line", huge.clone()),
        Error::InvalidLocation { location: format!("sftp://h/{huge}"), reason: huge.clone() },
    ];
    for e in errors {
        let text = e.to_string();
        assert!(text.len() < 3 * crate::text::QUOTE_LIMIT, "{} bytes", text.len());
    }
}
