//! Contract 0.2's packed batch layout (see `wit/v0.2/PACKED.md`).
//!
//! A page of records crosses the component boundary as one `list<u8>`:
//! one guest allocation per page instead of one per string. This crate
//! holds the primitives (header, little-endian length-prefixed fields);
//! the SDK and the host each map their own record types onto them.
//! [`Reader`] borrows strings from the buffer, so a decoder allocates at
//! most once per string, when it keeps one.

/// The layout's version, in every header. A reader refuses any other.
pub const FORMAT: u16 = 1;
/// Header size: magic (2) + format (2) + page kind (2) + reserved (2) + count (4).
pub const HEADER_LEN: usize = 12;
const MAGIC: [u8; 2] = *b"UP";

/// What a page holds; a reader checks it is the kind it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum PageKind {
    /// `source-object`s (target put-users / put-groups, mapper input).
    SourceObjects = 1,
    /// LDAP `entry`s (a search page).
    Entries = 2,
    /// One group's member refs (target put-members).
    Members = 3,
    /// Mapper results for users.
    UserResults = 4,
    /// Mapper results for groups.
    GroupResults = 5,
}

/// Appends fields to a page; [`Writer::finish`] writes the record count.
pub struct Writer {
    buf: Vec<u8>,
    count: u32,
}

impl Writer {
    pub fn new(kind: PageKind, capacity: usize) -> Writer {
        let mut buf = Vec::with_capacity(capacity.max(HEADER_LEN));
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&FORMAT.to_le_bytes());
        buf.extend_from_slice(&(kind as u16).to_le_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&0u32.to_le_bytes());
        Writer { buf, count: 0 }
    }

    /// Count one more record in the header.
    pub fn record(&mut self) {
        self.count += 1;
    }

    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A list's length (the items follow).
    #[inline]
    pub fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("a packed list holds at most u32::MAX items"));
    }

    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }

    #[inline]
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// `option<string>`: a 0/1 tag, then the string when 1.
    #[inline]
    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    /// A list's length not known yet: a placeholder, filled by
    /// [`Writer::set_len`] with the position this returns.
    pub fn len_later(&mut self) -> usize {
        let at = self.buf.len();
        self.u32(0);
        at
    }

    /// Fill the placeholder [`Writer::len_later`] left at `at`.
    pub fn set_len(&mut self, at: usize, n: usize) {
        let n = u32::try_from(n).expect("a packed list holds at most u32::MAX items");
        self.buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }

    /// Bytes written so far, header included.
    pub fn written(&self) -> usize {
        self.buf.len()
    }

    pub fn strs<S: AsRef<str>>(&mut self, list: &[S]) {
        self.len(list.len());
        for s in list {
            self.str(s.as_ref());
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf[8..12].copy_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed packed page: {}", self.0)
    }
}
impl std::error::Error for Malformed {}

impl From<Malformed> for String {
    fn from(m: Malformed) -> String {
        m.to_string()
    }
}

/// Reads fields from a page, borrowing strings and bytes from it.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn bad<T>(what: &str) -> Result<T, Malformed> {
    Err(Malformed(what.to_string()))
}

impl<'a> Reader<'a> {
    /// Check the header; returns the reader and the record count.
    pub fn open(buf: &'a [u8], kind: PageKind) -> Result<(Reader<'a>, u32), Malformed> {
        if buf.len() < HEADER_LEN || buf[..2] != MAGIC {
            return bad("no header");
        }
        let format = u16::from_le_bytes([buf[2], buf[3]]);
        if format != FORMAT {
            return Err(Malformed(format!(
                "format {format}, this side reads format {FORMAT}"
            )));
        }
        let got = u16::from_le_bytes([buf[4], buf[5]]);
        if got != kind as u16 {
            return Err(Malformed(format!(
                "page kind {got}, expected {}",
                kind as u16
            )));
        }
        let count = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
        Ok((
            Reader {
                buf,
                pos: HEADER_LEN,
            },
            count,
        ))
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| Malformed("truncated".into()))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    #[inline]
    pub fn bool(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => bad("bool not 0 or 1"),
        }
    }

    #[inline(always)]
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A list's length, checked against what is left (each item takes at
    /// least `min_item` bytes), so a forged length cannot make a decoder
    /// reserve more than the page could hold.
    #[inline]
    pub fn len(&mut self, min_item: usize) -> Result<usize, Malformed> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item.max(1)) > self.buf.len() - self.pos {
            return bad("a list is longer than the page");
        }
        Ok(n)
    }

    #[inline(always)]
    pub fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    #[inline(always)]
    pub fn str(&mut self) -> Result<&'a str, Malformed> {
        let b = self.bytes()?;
        if b.is_ascii() {
            // SAFETY: ASCII is valid UTF-8. Most directory values are
            // ASCII, and this check is several times cheaper in a wasm
            // guest than full validation (issue 14's mapper target).
            return Ok(unsafe { std::str::from_utf8_unchecked(b) });
        }
        std::str::from_utf8(b).map_err(|_| Malformed("a string is not UTF-8".into()))
    }

    #[inline]
    pub fn opt_str(&mut self) -> Result<Option<&'a str>, Malformed> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            _ => bad("option tag not 0 or 1"),
        }
    }

    /// A list of strings, each owned (one allocation per string).
    pub fn strings(&mut self) -> Result<Vec<String>, Malformed> {
        let n = self.len(4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.str()?.to_owned());
        }
        Ok(out)
    }

    /// After the last record: nothing may be left over.
    pub fn end(&self) -> Result<(), Malformed> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            bad("bytes after the last record")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut w = Writer::new(PageKind::Members, 0);
        w.record();
        w.str("cn=admins");
        w.strs(&["a", "bé"]);
        w.opt_str(None);
        w.opt_str(Some("x"));
        w.bool(true);
        let page = w.finish();
        let (mut r, count) = Reader::open(&page, PageKind::Members).unwrap();
        assert_eq!(count, 1);
        assert_eq!(r.str().unwrap(), "cn=admins");
        assert_eq!(r.strings().unwrap(), vec!["a", "bé"]);
        assert_eq!(r.opt_str().unwrap(), None);
        assert_eq!(r.opt_str().unwrap(), Some("x"));
        assert!(r.bool().unwrap());
        r.end().unwrap();
    }

    #[test]
    fn refuses_other_kinds_versions_and_forged_lengths() {
        let page = Writer::new(PageKind::Entries, 0).finish();
        assert!(Reader::open(&page, PageKind::SourceObjects).is_err());
        let mut v2 = page.clone();
        v2[2] = 2;
        assert!(Reader::open(&v2, PageKind::Entries).is_err());
        let mut forged = page;
        forged.extend_from_slice(&u32::MAX.to_le_bytes());
        let (mut r, _) = Reader::open(&forged, PageKind::Entries).unwrap();
        assert!(r.len(4).is_err());
    }

    #[test]
    fn strings_that_are_not_utf8_are_refused_ascii_or_not() {
        let mut w = Writer::new(PageKind::Members, 0);
        w.record();
        w.str("plain");
        w.str("Jöhn Smïth 山田");
        w.bytes(&[b'a', 0xff, b'b']);
        let page = w.finish();
        let (mut r, _) = Reader::open(&page, PageKind::Members).unwrap();
        assert_eq!(r.str().unwrap(), "plain");
        assert_eq!(r.str().unwrap(), "Jöhn Smïth 山田");
        assert!(r.str().is_err());
    }
}
