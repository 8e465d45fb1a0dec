//! The bytes of a signed file, as the WebAssembly tool conventions'
//! Signatures.md lay them out and wasmsign2 writes them: a custom section
//! `signature` first, whose payload is
//!
//! ```text
//! version 0x01 ‖ content type 0x01 ‖ hash fn 0x01 (SHA-256) ‖ count ‖ count × len ‖ signed hashes
//! signed hashes = count ‖ hashes (32 bytes each) ‖ count ‖ count × len ‖ signature
//! signature     = len ‖ key id ‖ algorithm 0x01 (ed25519) ‖ len ‖ 64 bytes
//! ```
//!
//! (every count and len an unsigned LEB128). A signature covers
//! `"wasmsig" ‖ 01 01 01 ‖ its hashes`; a hash is the SHA-256 of the
//! sections after the `signature` section, up to a `signature_delimiter`
//! section or the end of the file.

pub const SECTION: &str = "signature";
pub const DELIMITER: &str = "signature_delimiter";
const DOMAIN: &[u8] = b"wasmsig";
const SPEC_VERSION: u8 = 0x01;
const CONTENT_TYPE: u8 = 0x01;
const HASH_SHA256: u8 = 0x01;
pub const ALG_ED25519: u8 = 0x01;
/// wasmsign2's limits: more is refused as malformed.
const MAX_HASHES: u32 = 64;
const MAX_SIGNATURES: u32 = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureEntry {
    /// Empty when the signer gave no key id (wasmsign2 without `--public-key`).
    pub key_id: Vec<u8>,
    pub alg: u8,
    pub signature: Vec<u8>,
}

/// Hashes of the file's parts and the signatures over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHashes {
    pub hashes: Vec<[u8; 32]>,
    pub signatures: Vec<SignatureEntry>,
}

impl SignedHashes {
    /// What each signature of this set signs.
    pub fn message(&self) -> Vec<u8> {
        let mut m = DOMAIN.to_vec();
        m.extend([SPEC_VERSION, CONTENT_TYPE, HASH_SHA256]);
        for h in &self.hashes {
            m.extend_from_slice(h);
        }
        m
    }
}

/// The payload of a `signature` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureData {
    pub sets: Vec<SignedHashes>,
}

impl SignatureData {
    pub fn parse(payload: &[u8]) -> Result<SignatureData, String> {
        let mut r = Reader::new(payload);
        if r.bytes(3)? != [SPEC_VERSION, CONTENT_TYPE, HASH_SHA256] {
            return Err("unsupported version, content type or hash function".into());
        }
        let count = r.count(MAX_HASHES, "signed hash sets")?;
        let mut sets = Vec::new();
        for _ in 0..count {
            let mut s = Reader::new(r.slice()?);
            let n = s.count(MAX_HASHES, "hashes")?;
            let hashes = (0..n)
                .map(|_| Ok(s.bytes(32)?.try_into().expect("32 bytes")))
                .collect::<Result<_, String>>()?;
            let n = s.count(MAX_SIGNATURES, "signatures")?;
            let mut signatures = Vec::new();
            for _ in 0..n {
                let mut e = Reader::new(s.slice()?);
                let key_id = e.slice()?.to_vec();
                let alg = e.bytes(1)?[0];
                let signature = e.slice()?.to_vec();
                signatures.push(SignatureEntry {
                    key_id,
                    alg,
                    signature,
                });
            }
            sets.push(SignedHashes { hashes, signatures });
        }
        if r.at != payload.len() {
            return Err("trailing bytes after the last signature".into());
        }
        Ok(SignatureData { sets })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SPEC_VERSION, CONTENT_TYPE, HASH_SHA256];
        leb(&mut out, self.sets.len() as u32);
        for set in &self.sets {
            let mut s = Vec::new();
            leb(&mut s, set.hashes.len() as u32);
            for h in &set.hashes {
                s.extend_from_slice(h);
            }
            leb(&mut s, set.signatures.len() as u32);
            for sig in &set.signatures {
                let mut e = Vec::new();
                put_slice(&mut e, &sig.key_id);
                e.push(sig.alg);
                put_slice(&mut e, &sig.signature);
                put_slice(&mut s, &e);
            }
            put_slice(&mut out, &s);
        }
        out
    }
}

pub struct Section<'a> {
    /// The name of a custom section.
    pub name: Option<&'a str>,
    pub payload: &'a [u8],
    /// Offset just past this section in the file.
    pub end: usize,
}

/// The first section of a module or component, if the file has one.
pub fn first_section(wasm: &[u8]) -> Option<Section<'_>> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return None;
    }
    section(&mut Reader { bytes: wasm, at: 8 }).ok()
}

/// The top-level sections of a module or component (custom sections named).
pub fn sections(wasm: &[u8]) -> Result<Vec<Section<'_>>, String> {
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
    let body = r.slice()?;
    let (name, payload) = if id == 0 {
        let mut inner = Reader::new(body);
        let name = std::str::from_utf8(inner.slice()?).ok();
        (name, &body[inner.at..])
    } else {
        (None, body)
    };
    Ok(Section {
        name,
        payload,
        end: r.at,
    })
}

pub fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put_slice(&mut body, name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = vec![0u8];
    put_slice(&mut out, &body);
    out
}

fn put_slice(out: &mut Vec<u8>, bytes: &[u8]) {
    leb(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
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
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("the file ends in the middle of a section")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// A length-prefixed run of bytes.
    fn slice(&mut self) -> Result<&'a [u8], String> {
        let n = self.leb()? as usize;
        self.bytes(n)
    }

    fn count(&mut self, max: u32, what: &str) -> Result<u32, String> {
        let n = self.leb()?;
        if n > max {
            return Err(format!("more than {max} {what}"));
        }
        Ok(n)
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
