//! `encode = "hex" | "base64" | "guid"`: text forms of binary attribute
//! values (AD `objectGUID`, `objectSid`), which are otherwise ignored.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encode {
    /// Lowercase hex, two digits per byte.
    Hex,
    /// Standard base64 with padding.
    Base64,
    /// A 16-byte Microsoft GUID in its canonical string form.
    Guid,
}

impl Encode {
    pub fn apply(self, bytes: &[u8]) -> Result<String, String> {
        match self {
            Encode::Hex => Ok(hex(bytes)),
            Encode::Base64 => Ok(STANDARD.encode(bytes)),
            Encode::Guid => guid(bytes),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// The first three fields are stored little-endian (as Windows does), the
/// last two as written: bytes 00112233-4455-… read "33221100-5544-…".
fn guid(b: &[u8]) -> Result<String, String> {
    let b: &[u8; 16] = b
        .try_into()
        .map_err(|_| format!("a GUID has 16 bytes, this value has {}", b.len()))?;
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut out = String::with_capacity(36);
    for (i, &at) in order.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&hex(&[b[at]]));
    }
    Ok(out)
}
