//! PROPFIND multistatus responses, read by namespace (servers pick any prefix:
//! Apache writes `D:` and `lp1:`, wsgidav `ns0:`, others a default namespace).

use std::time::SystemTime;

use hpc_core::{Error, Result};
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

use crate::remote::{parse_http_date, parse_iso8601};

const DAV: &str = "DAV:";

/// The request body: only the properties we use.
pub(crate) const REQUEST_BODY: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<D:propfind xmlns:D="DAV:"><D:prop>"#,
    "<D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:creationdate/><D:getetag/>",
    "</D:prop></D:propfind>"
);

/// One `<response>` with its successful properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DavEntry {
    /// The `href` exactly as sent (percent-encoded, maybe a full URL).
    pub(crate) href: String,
    pub(crate) is_collection: bool,
    pub(crate) size: Option<u64>,
    pub(crate) modified: Option<SystemTime>,
    pub(crate) created: Option<SystemTime>,
    pub(crate) etag: Option<String>,
}

/// Properties of one `<propstat>`, kept only if its status is 200.
#[derive(Default)]
struct PropStat {
    is_collection: bool,
    size: Option<u64>,
    modified: Option<SystemTime>,
    created: Option<SystemTime>,
    etag: Option<String>,
    ok: bool,
}

/// Elements whose text we keep.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Href,
    Status,
    Length,
    Modified,
    Created,
    Etag,
}

/// Parse a `207 Multi-Status` body.
pub(crate) fn parse(xml: &str) -> Result<Vec<DavEntry>> {
    let mut reader = NsReader::from_str(xml);
    let mut out = Vec::new();
    // (is DAV: element, local name) of each open element.
    let mut stack: Vec<(bool, String)> = Vec::new();
    let mut entry: Option<DavEntry> = None;
    let mut entry_ok = false;
    let mut propstat: Option<PropStat> = None;
    let mut field: Option<Field> = None;
    let mut text = String::new();
    // A 207 whose body is not a DAV: multistatus (an HTML page, plain text)
    // is a protocol error, not an empty listing.
    let mut multistatus = false;

    loop {
        let (ns, event) =
            reader.read_resolved_event().map_err(|e| parse_error(&e.to_string()).with_source(e))?;
        let is_dav = matches!(ns, ResolveResult::Bound(Namespace(n)) if n == DAV);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name().as_ref().to_owned();
                let parent = stack.last().filter(|(d, _)| *d).map(|(_, n)| n.as_str());
                if is_dav {
                    match (parent, local.as_str()) {
                        (None, "multistatus") if stack.is_empty() => multistatus = true,
                        (_, "response") => {
                            entry = Some(DavEntry::default());
                            entry_ok = false;
                        }
                        (Some("response"), "href") => field = Some(Field::Href),
                        (_, "propstat") => propstat = Some(PropStat::default()),
                        (Some("propstat"), "status") => field = Some(Field::Status),
                        (Some("response"), "status") => field = Some(Field::Status),
                        (Some("resourcetype"), "collection") => {
                            if let Some(p) = propstat.as_mut() {
                                p.is_collection = true;
                            }
                        }
                        (Some("prop"), "getcontentlength") => field = Some(Field::Length),
                        (Some("prop"), "getlastmodified") => field = Some(Field::Modified),
                        (Some("prop"), "creationdate") => field = Some(Field::Created),
                        (Some("prop"), "getetag") => field = Some(Field::Etag),
                        _ => {}
                    }
                }
                text.clear();
                if empty {
                    field = None;
                } else {
                    stack.push((is_dav, local));
                }
            }
            Event::Text(t) if field.is_some() => text.push_str(&t.xml10_content()),
            Event::CData(t) if field.is_some() => text.push_str(&t.into_inner()),
            Event::GeneralRef(r) if field.is_some() => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => {
                        let name = r.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| parse_error(&format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                text.push_str(&resolved);
            }
            Event::End(_) => {
                let Some((was_dav, local)) = stack.pop() else {
                    return Err(parse_error("unbalanced end tag"));
                };
                if let Some(f) = field.take() {
                    let value = text.trim().to_owned();
                    text.clear();
                    store(f, value, entry.as_mut(), propstat.as_mut(), &mut entry_ok);
                }
                if was_dav {
                    match local.as_str() {
                        "propstat" => {
                            if let (Some(p), Some(e)) = (propstat.take(), entry.as_mut())
                                && p.ok
                            {
                                entry_ok = true;
                                e.is_collection |= p.is_collection;
                                e.size = e.size.or(p.size);
                                e.modified = e.modified.or(p.modified);
                                e.created = e.created.or(p.created);
                                e.etag = e.etag.take().or(p.etag);
                            }
                        }
                        "response" => {
                            if let Some(e) = entry.take()
                                && entry_ok
                            {
                                if e.href.is_empty() {
                                    return Err(parse_error("a response without href"));
                                }
                                out.push(e);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !multistatus {
        return Err(parse_error("the answer has no DAV: multistatus element"));
    }
    if let Some((_, open)) = stack.last() {
        return Err(parse_error(&format!("the answer ends inside <{open}>")));
    }
    Ok(out)
}

fn store(
    f: Field,
    value: String,
    entry: Option<&mut DavEntry>,
    propstat: Option<&mut PropStat>,
    entry_ok: &mut bool,
) {
    match f {
        Field::Href => {
            if let Some(e) = entry {
                e.href = value;
            }
        }
        Field::Status => {
            let ok = value.split_whitespace().nth(1).is_some_and(|code| code.starts_with('2'));
            match propstat {
                Some(p) => p.ok = ok,
                // A status right in the response (no propstat) describes the whole entry.
                None => *entry_ok = ok,
            }
        }
        Field::Length => {
            if let Some(p) = propstat {
                p.size = value.parse().ok();
            }
        }
        Field::Modified => {
            if let Some(p) = propstat {
                p.modified = parse_http_date(&value).or_else(|| parse_iso8601(&value));
            }
        }
        Field::Created => {
            if let Some(p) = propstat {
                p.created = parse_iso8601(&value).or_else(|| parse_http_date(&value));
            }
        }
        Field::Etag => {
            if let Some(p) = propstat {
                p.etag = Some(value);
            }
        }
    }
}

fn parse_error(reason: &str) -> Error {
    Error::parse("PROPFIND", format!("invalid multistatus XML: {reason}"), String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from Apache 2.4 mod_dav_fs (Depth: 1), shortened.
    const APACHE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:ns0="DAV:">
<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">
<D:href>/dav/d%c3%a9j%c3%a0%20vu/</D:href>
<D:propstat>
<D:prop>
<lp1:resourcetype><D:collection/></lp1:resourcetype>
<lp1:getlastmodified>Fri, 27 Nov 2026 13:21:05 GMT</lp1:getlastmodified>
<lp1:creationdate>2026-11-27T13:21:05Z</lp1:creationdate>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
<D:propstat>
<D:prop>
<D:getcontentlength/>
</D:prop>
<D:status>HTTP/1.1 404 Not Found</D:status>
</D:propstat>
</D:response>
<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">
<D:href>/dav/d%c3%a9j%c3%a0%20vu/a%20b&amp;c.txt</D:href>
<D:propstat>
<D:prop>
<lp1:resourcetype/>
<lp1:getcontentlength>12</lp1:getcontentlength>
<lp1:getetag>"c-5f1"</lp1:getetag>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
</D:response>
</D:multistatus>
"#;

    #[test]
    fn apache_dialect() {
        let e = parse(APACHE).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].href, "/dav/d%c3%a9j%c3%a0%20vu/");
        assert!(e[0].is_collection && e[0].size.is_none() && e[0].modified.is_some());
        assert_eq!(e[1].href, "/dav/d%c3%a9j%c3%a0%20vu/a%20b&c.txt");
        assert!(!e[1].is_collection);
        assert_eq!(e[1].size, Some(12));
        assert_eq!(e[1].etag.as_deref(), Some("\"c-5f1\""));
    }

    #[test]
    fn other_prefixes_and_default_namespace() {
        let wsgidav = r#"<?xml version="1.0" encoding="utf-8" ?><ns0:multistatus xmlns:ns0="DAV:"><ns0:response><ns0:href>/dav/x/</ns0:href><ns0:propstat><ns0:prop><ns0:resourcetype><ns0:collection /></ns0:resourcetype></ns0:prop><ns0:status>HTTP/1.1 200 OK</ns0:status></ns0:propstat></ns0:response></ns0:multistatus>"#;
        let e = parse(wsgidav).unwrap();
        assert!(e[0].is_collection);
        let default_ns = r#"<multistatus xmlns="DAV:"><response><href>/a</href><propstat><prop><getcontentlength>3</getcontentlength></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#;
        assert_eq!(parse(default_ns).unwrap()[0].size, Some(3));
    }

    #[test]
    fn same_local_names_in_other_namespaces_are_ignored() {
        let tricky = r#"<D:multistatus xmlns:D="DAV:" xmlns:X="urn:evil"><D:response><D:href>/a</D:href><X:href>/etc/passwd</X:href><D:propstat><D:prop><X:collection/><D:resourcetype/><X:getcontentlength>99</X:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#;
        let e = parse(tricky).unwrap();
        assert_eq!(e[0].href, "/a");
        assert!(!e[0].is_collection);
        assert_eq!(e[0].size, None);
    }

    #[test]
    fn failed_propstats_and_garbage() {
        let failed = r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/gone</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response></D:multistatus>"#;
        assert!(parse(failed).unwrap().is_empty());
        let truncated = parse("<D:multistatus xmlns:D=\"DAV:\"><D:response>").unwrap_err();
        assert!(truncated.to_string().contains("ends inside <response>"), "{truncated}");
        assert!(parse("<a></b>").is_err());
        for not_dav in
            ["", "hello, world", "<html><body>207 Multi-Status</body></html>", "<multistatus/>"]
        {
            let e = parse(not_dav).unwrap_err();
            assert_eq!(e.kind(), hpc_core::ErrorKind::Parse, "{not_dav}: {e}");
            assert!(e.to_string().contains("no DAV: multistatus"), "{e}");
        }
        assert!(parse(r#"<D:multistatus xmlns:D="DAV:"/>"#).unwrap().is_empty());
        let e = parse(
            r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>&bogus;</D:href></D:response></D:multistatus>"#,
        );
        assert!(e.is_err());
    }
}
