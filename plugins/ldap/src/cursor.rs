//! The incremental cursor, committed by the host together with the data it
//! covers. JSON, so a person reading a run record can tell what it means.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Cursor {
    /// RFC 4533 cookies (hex) of the users' and the groups' searches.
    ContentSync { users: String, groups: String },
    /// The newest `modifyTimestamp` seen (generalized time).
    Timestamp { since: String },
    /// Active Directory: the highestCommittedUSN before the last read.
    Usn { usn: u64 },
    /// Incremental runs are off: every run is a full read.
    #[default]
    None,
}

impl Cursor {
    pub fn parse(text: &str) -> Result<Cursor, String> {
        serde_json::from_str(text).map_err(|_| {
            format!(
                "the saved cursor {text:?} is not one this connector wrote; run once with --full"
            )
        })
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("a cursor serializes")
    }
}

pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * b.len());
    for x in b {
        out.push(char::from(DIGITS[usize::from(x >> 4)]));
        out.push(char::from(DIGITS[usize::from(x & 15)]));
    }
    out
}

pub fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("odd-length cookie in the cursor; run once with --full".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| "the cursor's cookie is not hex; run once with --full".to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for c in [
            Cursor::ContentSync {
                users: hex(b"rid=000,csn=1"),
                groups: hex(b"x"),
            },
            Cursor::Timestamp {
                since: "20261125060000Z".into(),
            },
            Cursor::Usn { usn: 12345 },
        ] {
            assert_eq!(Cursor::parse(&c.to_text()).unwrap(), c);
        }
        assert_eq!(unhex(&hex(b"abc")).unwrap(), b"abc");
        assert!(Cursor::parse("garbage").is_err());
    }
}
