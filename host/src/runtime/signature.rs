//! Signed plugins: ed25519 signatures embedded in the `.wasm` itself, in the
//! format of the WebAssembly tool conventions' "Signatures.md" (the one
//! wasmsign2 implements): a custom section `signature` first, the signed
//! sections, then a `signature_delimiter` section. The signature covers the
//! SHA-256 of every section after the `signature` section, so a vendor ships
//! one file and an atomic rename swaps file and signature together.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

const SECTION: &str = "signature";
const DELIMITER: &str = "signature_delimiter";
const DOMAIN: &[u8] = b"wasmsig";
const SPEC_VERSION: u8 = 0x01;
const CONTENT_TYPE: u8 = 0x01;
const HASH_SHA256: u8 = 0x01;
const ALG_ED25519: u8 = 0x01;
/// Serialized key prefixes (public: 0x01 ‖ 32 bytes; pair: 0x81 ‖ secret ‖ public).
const PUBLIC_KEY_ID: u8 = 0x01;
const KEY_PAIR_ID: u8 = 0x81;
/// How a public key is written in configs: `ed25519:` and 64 hex digits.
pub const KEY_PREFIX: &str = "ed25519:";

/// A public key the operator trusts, with the name `plugins list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub name: String,
    pub key: PublicKey,
}

#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// `ed25519:<64 hex digits>`, as `plugins keygen` prints it.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let hint = "a public key is written `ed25519:` and 64 hex digits, as `usersync plugins keygen` prints it";
        let hex_part = text
            .trim()
            .strip_prefix(KEY_PREFIX)
            .ok_or_else(|| format!("{text:?} is not a public key: {hint}"))?;
        let bytes: [u8; 32] = hex::decode(hex_part)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("{text:?} is not a public key: {hint}"))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| format!("{text:?} is not a valid ed25519 public key"))
    }

    /// The key id written next to each signature: 8 bytes of the key's
    /// SHA-256, shown as 16 hex digits.
    pub fn fingerprint(&self) -> String {
        hex::encode(self.key_id())
    }

    fn key_id(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes())[..8].to_vec()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_PREFIX}{}", hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// A signing key (kept by the vendor, never by the host).
pub struct KeyPair(SigningKey);

impl KeyPair {
    pub fn generate() -> Result<KeyPair, String> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
        Ok(KeyPair(SigningKey::from_bytes(&seed)))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// `0x81 ‖ secret ‖ public`, the tool conventions' serialized key pair.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![KEY_PAIR_ID];
        out.extend_from_slice(&self.0.to_keypair_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<KeyPair, String> {
        let bad = || {
            "it is not a usersync signing key (65 bytes starting 0x81, as `usersync plugins keygen` writes)".to_string()
        };
        let pair: [u8; 64] = match bytes.split_first() {
            Some((&KEY_PAIR_ID, rest)) => rest.try_into().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        SigningKey::from_keypair_bytes(&pair)
            .map(KeyPair)
            .map_err(|_| "its secret and public halves do not match".to_string())
    }

    /// `0x01 ‖ public`, the serialized public key.
    pub fn public_bytes(&self) -> Vec<u8> {
        let mut out = vec![PUBLIC_KEY_ID];
        out.extend_from_slice(self.0.verifying_key().as_bytes());
        out
    }
}

/// A key whose signature on a file is valid: its configured name and id.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Signer {
    pub name: String,
    pub key_id: String,
}

/// What a file's signature says, against a set of keys.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// No `signature` section.
    Unsigned,
    /// Signed, and these keys' signatures are valid.
    Signed { by: Vec<Signer> },
    /// Signed and intact, but by no key given: the key ids that signed.
    UnknownKey { key_ids: Vec<String> },
    /// A signature section that does not match the content or cannot be read.
    Tampered { reason: String },
}

impl Verdict {
    /// One line for listings and errors.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Unsigned => "unsigned".into(),
            Verdict::Signed { by } => format!(
                "signed by {}",
                by.iter()
                    .map(|s| format!("{} ({})", s.name, s.key_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Verdict::UnknownKey { key_ids } => {
                format!("signed by unknown key {}", key_ids.join(", "))
            }
            Verdict::Tampered { reason } => format!("bad signature: {reason}"),
        }
    }
}

/// Check the embedded signature of `wasm` against `keys`.
pub fn verify(wasm: &[u8], keys: &[TrustedKey]) -> Verdict {
    let tampered = |reason: &str| Verdict::Tampered {
        reason: reason.to_string(),
    };
    // Only the first section decides whether the file is signed; a file
    // that is not WebAssembly at all is left for the loader to refuse.
    let Some(first) = first_section(wasm).filter(|s| s.name == Some(SECTION)) else {
        return Verdict::Unsigned;
    };
    let data = match SignatureData::parse(first.payload) {
        Ok(d) => d,
        Err(e) => return tampered(&format!("the signature section cannot be read: {e}")),
    };
    // The signed hash covers everything after the signature section, the
    // trailing delimiter included.
    let hash: [u8; 32] = Sha256::digest(&wasm[first.end..]).into();
    if data.hashes != hash {
        return tampered(
            "the file was changed after it was signed (its SHA-256 is not the signed one)",
        );
    }
    let message = signed_message(&data.hashes);
    let mut by = Vec::new();
    for key in keys {
        let valid = data.signatures.iter().any(|s| {
            ed25519_dalek::Signature::from_slice(&s.signature)
                .is_ok_and(|sig| key.key.0.verify_strict(&message, &sig).is_ok())
        });
        let key_id = key.key.fingerprint();
        if valid && !by.iter().any(|s: &Signer| s.key_id == key_id) {
            by.push(Signer {
                name: key.name.clone(),
                key_id,
            });
        }
    }
    if !by.is_empty() {
        return Verdict::Signed { by };
    }
    let key_ids = data
        .signatures
        .iter()
        .map(|s| hex::encode(&s.key_id))
        .collect();
    Verdict::UnknownKey { key_ids }
}

/// `wasm` with a signature by `key` added: a new `signature` section and a
/// trailing delimiter for an unsigned file, or one more signature beside
/// the existing ones (several vendors may sign one file).
pub fn sign(wasm: &[u8], key: &KeyPair) -> Result<Vec<u8>, String> {
    // Signing a file that does not parse would only make a refusal later.
    sections(wasm)?;
    let (mut data, body) = match first_section(wasm).filter(|s| s.name == Some(SECTION)) {
        Some(first) => {
            let data = SignatureData::parse(first.payload)
                .map_err(|e| format!("its signature section cannot be read: {e}"))?;
            let body = wasm[first.end..].to_vec();
            let hash: [u8; 32] = Sha256::digest(&body).into();
            if hash != data.hashes {
                return Err("it was changed after it was signed; sign the unchanged build, or strip the `signature` section first".into());
            }
            (data, body)
        }
        None => {
            let mut body = wasm[8..].to_vec();
            let mut delimiter = [0u8; 16];
            getrandom::getrandom(&mut delimiter).map_err(|e| format!("no randomness: {e}"))?;
            body.extend(custom_section(DELIMITER, &delimiter));
            let hashes = Sha256::digest(&body).into();
            let data = SignatureData {
                hashes,
                signatures: Vec::new(),
            };
            (data, body)
        }
    };
    let key_id = key.public().key_id();
    data.signatures.retain(|s| s.key_id != key_id);
    data.signatures.push(SignatureEntry {
        key_id,
        signature: key.0.sign(&signed_message(&data.hashes)).to_vec(),
    });
    let mut out = wasm[..8].to_vec();
    out.extend(custom_section(SECTION, &data.encode()));
    out.extend(body);
    Ok(out)
}

fn signed_message(hashes: &[u8]) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend([SPEC_VERSION, CONTENT_TYPE, HASH_SHA256]);
    m.extend_from_slice(hashes);
    m
}

struct SignatureEntry {
    key_id: Vec<u8>,
    signature: Vec<u8>,
}

/// The payload of a `signature` section: one set of hashes (the whole
/// file as one part) and its signatures.
struct SignatureData {
    hashes: [u8; 32],
    signatures: Vec<SignatureEntry>,
}

impl SignatureData {
    fn parse(payload: &[u8]) -> Result<SignatureData, String> {
        let mut r = Reader {
            bytes: payload,
            at: 0,
        };
        if r.bytes(3)? != [SPEC_VERSION, CONTENT_TYPE, HASH_SHA256] {
            return Err("unsupported version, content type or hash function".into());
        }
        if r.leb()? != 1 {
            return Err("only signatures of the whole file are supported".into());
        }
        if r.leb()? != 1 {
            return Err("only signatures of the whole file (one hash) are supported".into());
        }
        let hashes = r.bytes(32)?.try_into().expect("32 bytes");
        let count = r.leb()?;
        let mut signatures = Vec::new();
        for _ in 0..count {
            let len = r.leb()? as usize;
            let key_id = r.bytes(len)?.to_vec();
            if r.bytes(1)?[0] != ALG_ED25519 {
                return Err("a signature uses an algorithm other than ed25519".into());
            }
            let len = r.leb()? as usize;
            let signature = r.bytes(len)?.to_vec();
            signatures.push(SignatureEntry { key_id, signature });
        }
        if r.at != payload.len() {
            return Err("trailing bytes after the last signature".into());
        }
        Ok(SignatureData { hashes, signatures })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![SPEC_VERSION, CONTENT_TYPE, HASH_SHA256];
        leb(&mut out, 1);
        leb(&mut out, 1);
        out.extend_from_slice(&self.hashes);
        leb(&mut out, self.signatures.len() as u32);
        for s in &self.signatures {
            leb(&mut out, s.key_id.len() as u32);
            out.extend_from_slice(&s.key_id);
            out.push(ALG_ED25519);
            leb(&mut out, s.signature.len() as u32);
            out.extend_from_slice(&s.signature);
        }
        out
    }
}

struct Section<'a> {
    /// The name of a custom section.
    name: Option<&'a str>,
    payload: &'a [u8],
    /// Offset just past this section in the file.
    end: usize,
}

/// The first section of a module or component, if the file has one.
fn first_section(wasm: &[u8]) -> Option<Section<'_>> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return None;
    }
    let mut r = Reader { bytes: wasm, at: 8 };
    section(&mut r).ok()
}

/// The top-level sections of a module or component (custom sections named).
fn sections(wasm: &[u8]) -> Result<Vec<Section<'_>>, String> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("it is not a WebAssembly file (no `\\0asm` header)".into());
    }
    let mut r = Reader { bytes: wasm, at: 8 };
    let mut out = Vec::new();
    while r.at < wasm.len() {
        out.push(section(&mut r)?);
    }
    Ok(out)
}

fn section<'a>(r: &mut Reader<'a>) -> Result<Section<'a>, String> {
    let id = r.bytes(1)?[0];
    let len = r.leb()? as usize;
    let start = r.at;
    let body = r.bytes(len)?;
    let (name, payload) = if id == 0 {
        let mut inner = Reader { bytes: body, at: 0 };
        let n = inner.leb()? as usize;
        let name = std::str::from_utf8(inner.bytes(n)?).ok();
        (name, &body[inner.at..])
    } else {
        (None, body)
    };
    Ok(Section {
        name,
        payload,
        end: start + len,
    })
}

fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    leb(&mut body, name.len() as u32);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = vec![0u8];
    leb(&mut out, body.len() as u32);
    out.extend(body);
    out
}

fn leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("the file ends in the middle of a section")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn leb(&mut self) -> Result<u32, String> {
        let mut v: u32 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.bytes(1)?[0];
            v |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a malformed length".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: header only, plus one custom section.
    fn component() -> Vec<u8> {
        let mut w = b"\0asm\x0d\0\x01\0".to_vec();
        w.extend(custom_section("producers", b"x"));
        w
    }

    fn trusted(pair: &KeyPair, name: &str) -> TrustedKey {
        TrustedKey {
            name: name.into(),
            key: pair.public(),
        }
    }

    #[test]
    fn signed_file_verifies_and_names_its_signer() {
        let pair = KeyPair::generate().unwrap();
        let signed = sign(&component(), &pair).unwrap();
        let Verdict::Signed { by } = verify(&signed, &[trusted(&pair, "acme")]) else {
            panic!("not signed");
        };
        assert_eq!(by[0].name, "acme");
        assert_eq!(by[0].key_id, pair.public().fingerprint());
        assert_eq!(
            verify(&component(), &[trusted(&pair, "acme")]),
            Verdict::Unsigned
        );
    }

    #[test]
    fn changed_byte_unknown_key_and_second_signer() {
        let (a, b) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
        let signed = sign(&component(), &a).unwrap();
        let mut changed = signed.clone();
        *changed.iter_mut().rev().nth(20).unwrap() ^= 1;
        assert!(matches!(
            verify(&changed, &[trusted(&a, "a")]),
            Verdict::Tampered { .. }
        ));
        assert_eq!(
            verify(&signed, &[trusted(&b, "b")]),
            Verdict::UnknownKey {
                key_ids: vec![a.public().fingerprint()]
            }
        );
        let both = sign(&signed, &b).unwrap();
        let Verdict::Signed { by } = verify(&both, &[trusted(&a, "a"), trusted(&b, "b")]) else {
            panic!("not signed");
        };
        assert_eq!(by.len(), 2);
    }

    #[test]
    fn keys_round_trip_through_their_text_and_bytes() {
        let pair = KeyPair::generate().unwrap();
        let text = pair.public().to_string();
        assert_eq!(PublicKey::parse(&text).unwrap(), pair.public());
        assert!(PublicKey::parse("ed25519:abc").is_err());
        let again = KeyPair::from_bytes(&pair.to_bytes()).unwrap();
        assert_eq!(again.public(), pair.public());
    }
}
