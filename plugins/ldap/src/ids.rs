//! Sets of ids, compact: an entryUUID or objectGUID (every id OpenLDAP and
//! Active Directory give) as its 16 bytes, anything else as text. A
//! million ids take 16 MB here, against ~80 MB as a `BTreeSet<String>`.

use crate::bytes::Bytes;

/// The layout [`Ids::encode`] writes (format 1 cut ids at 255 bytes).
const FORMAT: u8 = 2;

/// Ids, sorted and deduplicated by [`Ids::finish`]; `contains` needs that.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Ids {
    uuids: Vec<[u8; 16]>,
    other: Vec<String>,
}

impl Ids {
    pub fn insert(&mut self, id: &str) {
        match uuid_bytes(id) {
            Some(b) => self.uuids.push(b),
            None => self.other.push(id.to_string()),
        }
    }

    /// Sort and drop repeats (after inserting, before `contains`).
    pub fn finish(&mut self) {
        self.uuids.sort_unstable();
        self.uuids.dedup();
        self.other.sort_unstable();
        self.other.dedup();
    }

    pub fn contains(&self, id: &str) -> bool {
        match uuid_bytes(id) {
            Some(b) => self.uuids.binary_search(&b).is_ok(),
            None => self.other.binary_search_by(|o| o.as_str().cmp(id)).is_ok(),
        }
    }

    pub fn len(&self) -> usize {
        self.uuids.len() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add `more` (then sorted again).
    pub fn extend(&mut self, more: &Ids) {
        self.uuids.extend_from_slice(&more.uuids);
        self.other.extend(more.other.iter().cloned());
        self.finish();
    }

    /// Every id as text, as [`crate::entries::id_of`] writes it.
    pub fn iter(&self) -> impl Iterator<Item = String> + '_ {
        self.uuids
            .iter()
            .map(uuid_text)
            .chain(self.other.iter().cloned())
    }

    /// Version byte 2, then per id: 0 + 16 bytes, or 1 + u32 length + text.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.uuids.len() * 17 + 1);
        out.push(FORMAT);
        for b in &self.uuids {
            out.push(0);
            out.extend_from_slice(b);
        }
        for id in &self.other {
            out.push(1);
            out.extend_from_slice(&(id.len() as u32).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
        }
        out
    }

    /// An unknown or cut format gives no ids (the next check starts over).
    pub fn decode(b: &[u8]) -> Ids {
        Ids::read(b).unwrap_or_default()
    }

    fn read(b: &[u8]) -> Option<Ids> {
        let mut r = Bytes::new(b);
        if r.u8()? != FORMAT {
            return None;
        }
        let mut ids = Ids::default();
        while !r.is_empty() {
            match r.u8()? {
                0 => ids.uuids.push(r.take(16)?.try_into().ok()?),
                1 => {
                    let len = r.u32()? as usize;
                    ids.other
                        .push(String::from_utf8(r.take(len)?.to_vec()).ok()?);
                }
                _ => return None,
            }
        }
        ids.finish();
        Some(ids)
    }
}

/// `8-4-4-4-12` lowercase hex, as [`crate::entries::id_of`] writes ids.
pub fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let b = id.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 16];
    let mut hex = b.iter().copied().filter(|&c| c != b'-');
    for byte in out.iter_mut() {
        *byte = digit(hex.next()?)? << 4 | digit(hex.next()?)?;
    }
    Some(out)
}

pub fn uuid_text(b: &[u8; 16]) -> String {
    let h = crate::cursor::hex(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Ids {
        let mut ids = Ids::default();
        v.iter().for_each(|id| ids.insert(id));
        ids.finish();
        ids
    }

    #[test]
    fn ids_round_trip_compactly() {
        let ids = ids(&[
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "not-a-uuid",
            "0F8FAD5B-D9CB-469F-A165-70867728950E-x",
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        ]);
        assert_eq!(ids.len(), 4);
        let bytes = ids.encode();
        assert_eq!(Ids::decode(&bytes), ids);
        assert!(bytes.len() < 2 * 17 + 60);
        assert!(ids.contains("not-a-uuid"));
        assert!(ids.contains("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!ids.contains("0f8fad5b-d9cb-469f-a165-70867728950f"));
    }

    #[test]
    fn an_id_longer_than_255_bytes_round_trips_whole() {
        let long = format!("cn={},ou=people,dc=example,dc=org", "x".repeat(300));
        let ids = ids(&[&long]);
        let back = Ids::decode(&ids.encode());
        assert!(back.contains(&long));
        // A cut value is refused whole, not misread.
        let bytes = ids.encode();
        assert!(Ids::decode(&bytes[..bytes.len() - 1]).is_empty());
    }

    #[test]
    fn only_lowercase_dashed_uuids_are_packed() {
        let u = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(uuid_text(&uuid_bytes(u).unwrap()), u);
        assert!(uuid_bytes("0F8FAD5B-D9CB-469F-A165-70867728950E").is_none());
        assert!(uuid_bytes("0f8fad5bd-9cb-469f-a165-70867728950e").is_none());
        assert!(uuid_bytes("0f8fad5b-d9cb-469f-a165-70867728950").is_none());
    }
}
