//! Signed plugins: ed25519 signatures embedded in the `.wasm` itself, in the
//! format of the WebAssembly tool conventions' "Signatures.md", byte for
//! byte as wasmsign2 writes it (`format.rs`; proven both ways in
//! `interop.rs`). The signature covers the SHA-256 of every section after
//! the `signature` section, so a vendor ships one file and an atomic rename
//! swaps file and signature together.

mod format;
mod keys;

use serde::Serialize;
use sha2::{Digest, Sha256};

use format::{SignatureData, SignatureEntry, SignedHashes, ALG_ED25519, DELIMITER, SECTION};
pub use keys::{KeyPair, PublicKey, TrustedKey, KEY_PREFIX};

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

/// Check the embedded signature of `wasm` against `keys`, as wasmsign2's
/// `PublicKey::verify` does: a key is a signer if one of its signatures
/// covers a hash set that holds the hash of the whole file after the
/// `signature` section.
pub fn verify(wasm: &[u8], keys: &[TrustedKey]) -> Verdict {
    let tampered = |reason: &str| Verdict::Tampered {
        reason: reason.to_string(),
    };
    // Only the first section decides whether the file is signed; a file
    // that is not WebAssembly at all is left for the loader to refuse.
    let Some(first) = format::first_section(wasm).filter(|s| s.name == Some(SECTION)) else {
        return Verdict::Unsigned;
    };
    let data = match SignatureData::parse(first.payload) {
        Ok(d) => d,
        Err(e) => {
            return tampered(&format!(
                "the signature section cannot be read ({e}); sign the unsigned build again with \
                 `usersync plugins sign` or wasmsign2"
            ))
        }
    };
    let whole: [u8; 32] = Sha256::digest(&wasm[first.end..]).into();
    let covering: Vec<&SignedHashes> = data
        .sets
        .iter()
        .filter(|s| s.hashes.contains(&whole))
        .collect();
    if covering.is_empty() {
        return tampered(
            "the file was changed after it was signed (its SHA-256 is not the signed one)",
        );
    }
    let mut by = Vec::new();
    for key in keys {
        // The key id is only a hint (wasmsign2 may write none): the
        // signature itself decides.
        let valid = covering.iter().any(|set| {
            let message = set.message();
            set.signatures.iter().any(|s| {
                s.alg == ALG_ED25519
                    && ed25519_dalek::Signature::from_slice(&s.signature)
                        .is_ok_and(|sig| key.key.0.verify_strict(&message, &sig).is_ok())
            })
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
    let key_ids = covering
        .iter()
        .flat_map(|set| &set.signatures)
        .map(|s| match s.key_id.is_empty() {
            true => "(no key id)".to_string(),
            false => hex::encode(&s.key_id),
        })
        .collect();
    Verdict::UnknownKey { key_ids }
}

/// `wasm` with a signature by `key` added, as `wasmsign2 sign` writes it
/// (`sign_multi` with the key's default id): a `signature` section first,
/// then the file's sections unchanged. A file already signed keeps its
/// signatures and gets one more (several vendors may sign one file);
/// signing twice with one key changes nothing.
pub fn sign(wasm: &[u8], key: &KeyPair) -> Result<Vec<u8>, String> {
    // Signing a file that does not parse would only make a refusal later.
    format::sections(wasm)?;
    let (mut data, body) = match format::first_section(wasm).filter(|s| s.name == Some(SECTION)) {
        Some(first) => {
            let data = SignatureData::parse(first.payload).map_err(|e| {
                format!("its signature section cannot be read ({e}); sign the unsigned build")
            })?;
            let body = &wasm[first.end..];
            let whole: [u8; 32] = Sha256::digest(body).into();
            if !data.sets.iter().any(|s| s.hashes.contains(&whole)) {
                return Err("it was changed after it was signed; sign the unchanged build, or strip the `signature` section first".into());
            }
            (data, body)
        }
        None => (SignatureData::default(), &wasm[8..]),
    };
    let hashes = part_hashes(body)?;
    let mut signed = SignedHashes {
        hashes,
        signatures: Vec::new(),
    };
    let entry = SignatureEntry {
        key_id: key.public().key_id(),
        alg: ALG_ED25519,
        signature: key.sign(&signed.message()),
    };
    match data.sets.iter_mut().find(|s| s.hashes == signed.hashes) {
        Some(set) if set.signatures.contains(&entry) => {}
        Some(set) => set.signatures.push(entry),
        None => {
            signed.signatures.push(entry);
            data.sets.push(signed);
        }
    }
    let mut out = wasm[..8].to_vec();
    out.extend(format::custom_section(SECTION, &data.encode()));
    out.extend_from_slice(body);
    Ok(out)
}

/// The hashes a new signature covers, as wasmsign2 computes them: the
/// SHA-256 of the sections up to each `signature_delimiter`, and of all of
/// them unless the last section is a delimiter.
fn part_hashes(body: &[u8]) -> Result<Vec<[u8; 32]>, String> {
    let mut file = b"\0asm\0\0\0\0".to_vec();
    file.extend_from_slice(body);
    let mut hashes = Vec::new();
    let mut last_was_delimiter = false;
    for s in format::sections(&file)? {
        last_was_delimiter = s.name == Some(DELIMITER);
        if last_was_delimiter {
            hashes.push(Sha256::digest(&file[8..s.end]).into());
        }
    }
    if !last_was_delimiter {
        hashes.push(Sha256::digest(body).into());
    }
    Ok(hashes)
}

#[cfg(test)]
mod interop;
#[cfg(test)]
mod tests;
