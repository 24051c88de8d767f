//! A small element tree over quick-xml, for the XML that `qstat -xml` (Grid
//! Engine) and `qstat -x` (Torque) print.
//!
//! Why a tree and not serde: both formats nest elements of the same name
//! (`<job_info>` inside `<job_info>`), carry attributes that decide meaning
//! (`<job_list state="pending">`), and differ between versions. Walking a tree
//! keeps each parser a few lines of lookups, and every structural fault
//! (truncated output, mismatched tags, text after the root) becomes one error
//! with the offending fragment. See `docs/adr/0450-scheduler-xml-parsing.md`.

use hpc_core::Error;
use hpc_core::error::Cause;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Nesting deeper than this is not scheduler output.
const MAX_DEPTH: usize = 64;

/// One element: name, attributes, text (of leaves), children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Text of the first child named `name`.
    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Value of attribute `name`.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every descendant (depth first, document order) named `name`; does not
    /// look inside a match.
    pub(crate) fn descendants<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            } else {
                c.descendants(name, out);
            }
        }
    }
}

/// A structural fault, with the byte offset where it was noticed and
/// quick-xml's own error where it found the fault.
#[derive(Debug, Clone)]
pub(crate) struct XmlError {
    pub(crate) reason: String,
    pub(crate) offset: usize,
    pub(crate) cause: Option<Cause>,
}

impl XmlError {
    /// Up to 120 characters of `doc` around the fault, for error messages.
    pub(crate) fn fragment(&self, doc: &str) -> String {
        fragment(doc, self.offset)
    }

    /// The [`Error::Parse`] for this fault in the output `doc` of `command`.
    pub(crate) fn into_error(self, command: &str, doc: &str) -> Error {
        let e =
            Error::parse(command, format!("malformed XML: {}", self.reason), self.fragment(doc));
        match self.cause {
            Some(cause) => e.with_source(cause),
            None => e,
        }
    }
}

/// Up to 120 characters of `doc` around byte `offset`.
pub(crate) fn fragment(doc: &str, offset: usize) -> String {
    let offset = offset.min(doc.len());
    let mut start = offset.saturating_sub(80);
    while !doc.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (offset + 40).min(doc.len());
    while !doc.is_char_boundary(end) {
        end += 1;
    }
    doc[start..end].to_owned()
}

/// Parse a whole document. `Ok(None)` when it holds no element at all (only
/// whitespace, a declaration or comments).
pub(crate) fn parse(doc: &str) -> Result<Option<Element>, XmlError> {
    let mut reader = Reader::from_str(doc);
    // Leaf text is kept exactly; whitespace between elements is dropped below.
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let err =
        |reason: String, offset: u64| XmlError { reason, offset: offset as usize, cause: None };
    loop {
        let event = reader.read_event().map_err(|e| XmlError {
            reason: e.to_string(),
            offset: reader.error_position().max(reader.buffer_position()) as usize,
            cause: Some(e.into()),
        })?;
        let pos = reader.buffer_position();
        match event {
            Event::Start(e) => {
                if root.is_some() {
                    return Err(err("element after the end of the document".into(), pos));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(err(format!("elements nested deeper than {MAX_DEPTH}"), pos));
                }
                stack.push(element(&e, pos)?);
            }
            Event::Empty(e) => {
                let el = element(&e, pos)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(err("element after the end of the document".into(), pos)),
                }
            }
            Event::End(_) => {
                // quick-xml has checked that the name matches the open element.
                let Some(mut el) = stack.pop() else {
                    return Err(err("closing tag without an open element".into(), pos));
                };
                if !el.children.is_empty() {
                    // Indentation between child elements is not content.
                    el.text.clear();
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(err("text outside the root element".into(), pos)),
                }
            }
            Event::CData(t) => match stack.last_mut() {
                Some(el) => el.text.push_str(&t.xml10_content()),
                None => return Err(err("CDATA outside the root element".into(), pos)),
            },
            Event::GeneralRef(r) => {
                let Some(el) = stack.last_mut() else {
                    return Err(err("entity reference outside the root element".into(), pos));
                };
                match r.resolve_char_ref() {
                    Ok(Some(c)) => el.text.push(c),
                    Ok(None) => {
                        let name = r.xml10_content();
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => el.text.push_str(s),
                            // An entity the schedulers never declare: keep it verbatim
                            // rather than guess.
                            None => {
                                el.text.push('&');
                                el.text.push_str(&name);
                                el.text.push(';');
                            }
                        }
                    }
                    Err(e) => {
                        return Err(XmlError {
                            reason: format!("bad character reference: {e}"),
                            offset: pos as usize,
                            cause: Some(e.into()),
                        });
                    }
                }
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(err(
                        format!("output ends inside <{}> (truncated?)", open.name),
                        doc.len() as u64,
                    ));
                }
                return Ok(root);
            }
        }
    }
}

/// The element `e` starts, read at byte `pos`.
fn element(e: &BytesStart<'_>, pos: u64) -> Result<Element, XmlError> {
    let name = e.name().as_ref().to_owned();
    let fault = |what: &str, cause: Cause| XmlError {
        reason: format!("{what} in <{name}>: {cause}"),
        offset: pos as usize,
        cause: Some(cause),
    };
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| fault("bad attribute", e.into()))?;
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| fault("bad attribute value", e.into()))?;
        attrs.push((a.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok(Element { name, attrs, text: String::new(), children: Vec::new() })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn tree_text_attrs_entities() {
        let doc = "<?xml version='1.0'?>\n<a x=\"1&amp;2\">\n  <b>it&apos;s &lt;&#65;&#x42;&gt;</b>\n  <c/><b><![CDATA[<raw>]]></b>\n  <d>&nbsp;</d>\n</a>\n";
        let a = parse(doc).unwrap().unwrap();
        assert_eq!(a.name, "a");
        assert_eq!(a.attr("x"), Some("1&2"));
        assert_eq!(a.text, "");
        assert_eq!(a.child_text("b"), Some("it's <AB>"));
        assert_eq!(a.children[1].name, "c");
        assert_eq!(a.children[2].text, "<raw>");
        assert_eq!(a.child_text("d"), Some("&nbsp;"));
        let mut bs = Vec::new();
        a.descendants("b", &mut bs);
        assert_eq!(bs.len(), 2);
    }

    #[test]
    fn empty_documents_have_no_root() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("  \n").unwrap(), None);
        assert_eq!(parse("<?xml version=\"1.0\"?>").unwrap(), None);
        assert_eq!(parse("<Data/>").unwrap().unwrap().name, "Data");
    }

    #[test]
    fn structural_faults_are_errors() {
        for bad in [
            "<a><b>1</b>",
            "<a><b>1</a>",
            "<a></a><a></a>",
            "<a></a>trailing",
            "garbage",
            "<a><b>1</b></a></c>",
            "<a x=1></a>",
            "<a>&#0;</a>",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.reason.is_empty(), "{bad}");
            assert!(e.offset <= bad.len(), "{bad}");
        }
        // quick-xml's own error stays beneath the parse error.
        let e = parse("<a><b>1</a>").unwrap_err().into_error("qstat -xml", "<a><b>1</a>");
        let source = std::error::Error::source(&e).expect("quick-xml's error");
        assert!(source.is::<quick_xml::Error>(), "{source:?}");
        assert!(matches!(e, Error::Parse { .. }), "{e}");
        let e = parse("<Data><Job><Job_Id>1.s</Job_Id>").unwrap_err();
        assert!(e.reason.contains("truncated"), "{e:?}");
    }

    #[test]
    fn fragment_respects_char_boundaries() {
        let doc = "é".repeat(200);
        for off in [0, 1, 2, 3, 201, 399, 400, 1000] {
            let f = fragment(&doc, off);
            assert!(f.chars().count() <= 121);
        }
    }

    proptest! {
        #[test]
        fn never_panics(doc in ".{0,200}") {
            let _ = parse(&doc);
        }

        #[test]
        fn never_panics_on_xmlish(doc in "[<>/a-c =\"'&;#x0-9!?\\[\\]-]{0,120}") {
            let _ = parse(&doc);
        }

        #[test]
        fn every_prefix_of_a_document_is_an_error_or_complete(cut in 0usize..180) {
            let doc = "<a><b k=\"v\">x&amp;y</b><c><d>1</d></c></a>";
            let cut = cut.min(doc.len());
            match parse(&doc[..cut]) {
                Ok(Some(root)) => prop_assert_eq!(cut, doc.len(), "{:?}", root),
                Ok(None) => prop_assert!(doc[..cut].trim().is_empty()),
                Err(_) => {}
            }
        }
    }
}
