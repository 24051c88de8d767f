//! S3 error answers (`<Error><Code>..</Code><Message>..</Message></Error>`) to [`Error`].

use hpc_core::{Error, Path, Result};
use hpc_http::{Response, StatusCode, retry_for_status};

/// The text of `<tag>` in a small XML document (error bodies only: never
/// used for anything that becomes a path).
pub(crate) fn xml_tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + end])
}

/// The error in a 200 answer: S3 answers CopyObject, UploadPartCopy and
/// CompleteMultipartUpload with 200 before the work is done, and when that
/// work fails the body is an error document. `what` names the request.
/// Marked permanent, as every 2xx status is.
pub(crate) fn error_in_body(body: &str, what: &str) -> Result<()> {
    match xml_tag(body, "Code") {
        Some(code) => Err(Error::remote(
            "s3",
            Some(200),
            format!("{what}: {code}: {}", xml_tag(body, "Message").unwrap_or("")),
        )),
        None => Ok(()),
    }
}

/// Map a failed S3 answer about `path` in `bucket`.
pub(crate) async fn s3_error(resp: Response, path: &Path, bucket: &str, access_key: &str) -> Error {
    let status = resp.status();
    let line = resp.request_line();
    let body = resp.text().await.unwrap_or_default();
    let code = xml_tag(&body, "Code").unwrap_or("").to_owned();
    let message = xml_tag(&body, "Message").unwrap_or("").to_owned();
    classify(status, &code, &message, &line, path, bucket, access_key)
}

pub(crate) fn classify(
    status: StatusCode,
    code: &str,
    message: &str,
    line: &str,
    path: &Path,
    bucket: &str,
    access_key: &str,
) -> Error {
    let detail = if message.is_empty() { code.to_owned() } else { format!("{code}: {message}") };
    match (status.as_u16(), code) {
        // The bucket is the root of every path here: a missing one is a
        // missing path, named so that the message says which bucket.
        (_, "NoSuchBucket") => Error::path_not_found(format!("{bucket} (no such bucket)")),
        (_, "NoSuchKey") | (404, _) => Error::path_not_found(path),
        (
            _,
            "SignatureDoesNotMatch"
            | "InvalidAccessKeyId"
            | "InvalidToken"
            | "ExpiredToken"
            | "NotSignedUp"
            | "AuthorizationQueryParametersError"
            | "RequestTimeTooSkewed",
        )
        | (401, _) => Error::Authentication {
            user: access_key.to_owned(),
            host: format!("s3 bucket {bucket}"),
            reason: format!("{line} refused: {detail}"),
        },
        (403, _) => Error::PermissionDenied { what: format!("{line} ({path})"), message: detail },
        _ => Error::remote("s3", Some(u32::from(status.as_u16())), format!("{line}: {detail}"))
            .with_retry(retry_for_status(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let p = Path::new("/k").unwrap();
        let c = |s: u16, code: &str| {
            classify(StatusCode::from_u16(s).unwrap(), code, "m", "GET /b/k", &p, "b", "AK")
        };
        let e = c(404, "NoSuchBucket");
        assert!(
            matches!(&e, Error::NotFound { kind: hpc_core::NotFoundKind::Path, name } if name == "b (no such bucket)"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "path not found: b (no such bucket)");
        assert!(c(404, "NoSuchKey").is_not_found());
        assert!(matches!(c(403, "SignatureDoesNotMatch"), Error::Authentication { .. }));
        assert!(matches!(c(403, "AccessDenied"), Error::PermissionDenied { .. }));
        assert!(c(503, "SlowDown").is_retryable());
        assert!(!c(400, "InvalidRequest").is_retryable());
        let xml =
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
        assert_eq!(xml_tag(xml, "Code"), Some("NoSuchKey"));
        assert_eq!(xml_tag(xml, "Resource"), None);
    }

    #[test]
    fn an_error_document_in_a_200_answer_is_an_error() {
        let failed = "<Error><Code>InternalError</Code><Message>try again</Message></Error>";
        let e = error_in_body(failed, "copy /a to /b").unwrap_err();
        assert_eq!(e.to_string().lines().count(), 1);
        assert!(e.to_string().contains("copy /a to /b: InternalError: try again"), "{e}");
        let done = "<CopyPartResult><ETag>&quot;9b2c&quot;</ETag></CopyPartResult>";
        assert!(error_in_body(done, "copy /a to /b").is_ok());
    }
}
