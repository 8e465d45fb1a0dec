//! usersync patch (see PATCHED.md): framing of LDAP messages, and search
//! entries kept as their raw content.
//!
//! `lber`'s parser builds a tree with one allocation per element, and a
//! directory's search entries are most of what a client reads (millions of
//! values for a large directory). A SearchResultEntry (`[APPLICATION 4]`)
//! is therefore handed on as a primitive tag holding its encoded content
//! (objectName, then the attribute list); whoever reads it walks the bytes
//! once. [`expand`] turns it back into the tree `lber` would have built, for
//! `SearchEntry::construct` and any other reader of the tree.

use lber::common::TagClass;
use lber::parse::{parse_tag, parse_uint};
use lber::structure::{PL, StructureTag};

use crate::RequestId;

/// What the front of a read buffer holds.
pub(crate) enum Frame {
    /// Part of a message: at least this many more bytes are needed.
    Incomplete(usize),
    /// A whole SearchResultEntry message.
    Entry(RawEntry),
    /// Anything else (whole, or not a definite-length SEQUENCE): for the
    /// general parser, which also reports errors.
    Other,
}

pub(crate) struct RawEntry {
    pub id: RequestId,
    /// `[APPLICATION 4]`, its content unparsed (`PL::P`).
    pub op: StructureTag,
    /// The message's `[0]` controls, parsed.
    pub controls: Option<StructureTag>,
    /// The message's length in the buffer.
    pub len: usize,
}

/// The most a partial message reserves at once (16 MiB): a header that
/// claims terabytes must not make the client allocate them.
pub(crate) const MAX_RESERVE: usize = 16 << 20;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const SEARCH_RESULT_ENTRY: u8 = 0x64;
const CONTROLS: u8 = 0xa0;

/// A single-byte identifier and a definite length at the front of
/// `input`: (identifier, header length, content length). `None` when the
/// header is incomplete or not of that form.
pub fn header(input: &[u8]) -> Option<(u8, usize, usize)> {
    let (&id, rest) = input.split_first()?;
    if id & 0x1f == 0x1f {
        return None; // multi-byte tag number: not in LDAP's messages
    }
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return Some((id, 2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 8 || rest.len() < n {
        return None; // indefinite, absurd, or incomplete
    }
    let len = rest[..n].iter().fold(0u64, |acc, &b| (acc << 8) | b as u64);
    Some((id, 2 + n, usize::try_from(len).ok()?))
}

/// Classify the message at the front of `buf`.
pub(crate) fn frame(buf: &[u8]) -> Frame {
    let Some((SEQUENCE, head, len)) = header(buf) else {
        return Frame::Other;
    };
    let Some(total) = head.checked_add(len) else {
        return Frame::Other;
    };
    if buf.len() < total {
        return Frame::Incomplete(total - buf.len());
    }
    match entry(&buf[head..total]) {
        Some((id, op, controls)) => Frame::Entry(RawEntry {
            id,
            op,
            controls,
            len: total,
        }),
        None => Frame::Other,
    }
}

/// A message's content, if it is a well-formed SearchResultEntry.
fn entry(msg: &[u8]) -> Option<(RequestId, StructureTag, Option<StructureTag>)> {
    let (INTEGER, head, len) = header(msg)? else {
        return None;
    };
    let id = msg.get(head..head.checked_add(len)?)?;
    let (_, id) = parse_uint(id).ok()?;
    let op = &msg[head + len..]; // in range: `get` above checked it
    let (SEARCH_RESULT_ENTRY, head, len) = header(op)? else {
        return None;
    };
    let content = op.get(head..head.checked_add(len)?)?;
    let rest = &op[head + len..]; // in range: `get` above checked it
    let controls = match rest.first() {
        None => None,
        Some(&CONTROLS) => match parse_tag(rest) {
            Ok((after, tag)) if after.is_empty() && matches!(tag.payload, PL::C(_)) => Some(tag),
            _ => return None,
        },
        Some(_) => return None,
    };
    let op = StructureTag {
        class: TagClass::Application,
        id: 4,
        payload: PL::P(content.to_vec()),
    };
    Some((id as RequestId, op, controls))
}

/// A raw SearchResultEntry as the tree `lber` builds; any other tag as it
/// is. `None` if the raw content is malformed.
pub fn expand(tag: StructureTag) -> Option<StructureTag> {
    let StructureTag {
        class: TagClass::Application,
        id: 4,
        payload: PL::P(raw),
    } = tag
    else {
        return Some(tag);
    };
    let mut items = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let (after, item) = parse_tag(rest).ok()?;
        items.push(item);
        rest = after;
    }
    Some(StructureTag {
        class: TagClass::Application,
        id: 4,
        payload: PL::C(items),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lber::structures::{ASNTag, OctetString, Sequence, Set, Tag};
    use lber::write;

    fn octets(s: &str) -> Tag {
        Tag::OctetString(OctetString {
            inner: s.as_bytes().to_vec(),
            ..Default::default()
        })
    }

    /// A SearchResultEntry message as a server encodes it.
    fn message(id: i32, controls: bool) -> Vec<u8> {
        let attrs = Tag::Sequence(Sequence {
            inner: vec![Tag::Sequence(Sequence {
                inner: vec![
                    octets("cn"),
                    Tag::Set(Set {
                        inner: vec![octets("a"), octets("b")],
                        ..Default::default()
                    }),
                ],
                ..Default::default()
            })],
            ..Default::default()
        });
        let op = Tag::Sequence(Sequence {
            id: 4,
            class: TagClass::Application,
            inner: vec![octets("cn=x,dc=example"), attrs],
        });
        let mut inner = vec![
            Tag::Integer(lber::structures::Integer {
                inner: id as i64,
                ..Default::default()
            }),
            op,
        ];
        if controls {
            inner.push(Tag::Sequence(Sequence {
                id: 0,
                class: TagClass::Context,
                inner: vec![Tag::Sequence(Sequence {
                    inner: vec![octets("1.2.3")],
                    ..Default::default()
                })],
            }));
        }
        let msg = Tag::Sequence(Sequence {
            inner,
            ..Default::default()
        });
        let mut buf = bytes::BytesMut::new();
        write::encode_into(&mut buf, msg.into_structure()).unwrap();
        buf.to_vec()
    }

    #[test]
    fn an_entry_is_framed_raw_and_expands_to_what_lber_parses() {
        for controls in [false, true] {
            let msg = message(300, controls);
            let Frame::Entry(entry) = frame(&msg) else {
                panic!("not framed as an entry");
            };
            assert_eq!((entry.id, entry.len), (300, msg.len()));
            assert_eq!(entry.controls.is_some(), controls);
            let (_, parsed) = parse_tag(&msg).unwrap();
            let PL::C(parts) = parsed.payload else {
                panic!()
            };
            assert_eq!(expand(entry.op), Some(parts[1].clone()));
        }
    }

    #[test]
    fn a_partial_message_asks_for_the_rest_and_others_go_to_the_parser() {
        let msg = message(7, true);
        // A header cut short is the general parser's to wait for.
        assert!(matches!(frame(&msg[..1]), Frame::Other));
        for cut in [5, msg.len() - 1] {
            match frame(&msg[..cut]) {
                Frame::Incomplete(n) => assert_eq!(n, msg.len() - cut),
                _ => panic!("a partial message not waited for"),
            }
        }
        // A message id that claims 2^64 - 1 bytes is the general parser's.
        let huge_id = [
            0x30, 0x0a, 0x02, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        assert!(matches!(frame(&huge_id), Frame::Other));
        // A header that claims a terabyte only waits for it.
        let huge = [0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01];
        assert!(matches!(frame(&huge), Frame::Incomplete(n) if n > MAX_RESERVE));
        let bind_response = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ];
        assert!(matches!(frame(&bind_response), Frame::Other));
    }
}
