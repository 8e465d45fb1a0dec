//! Ed25519 keys as usersync and wasmsign2 write them: the same binary
//! layouts (public `0x01 ‖ 32 bytes`, pair `0x81 ‖ secret ‖ public`) and
//! the same key id, so keys and signed files move between the two tools.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Serialized key prefixes (public: 0x01 ‖ 32 bytes; pair: 0x81 ‖ secret ‖ public).
const PUBLIC_KEY_ID: u8 = 0x01;
const KEY_PAIR_ID: u8 = 0x81;
/// DER (SubjectPublicKeyInfo) of an ed25519 key, before its 32 bytes.
const DER_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// How a public key is written in configs: `ed25519:` and 64 hex digits.
pub const KEY_PREFIX: &str = "ed25519:";

/// A public key the operator trusts, with the name `plugins list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub name: String,
    pub key: PublicKey,
}

#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(pub(super) VerifyingKey);

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
        Self::from_raw(&bytes)
    }

    /// A public key file: usersync's `.pub` (`ed25519:...`), or wasmsign2's
    /// (`0x01 ‖ 32 bytes`, as `wasmsign2 keygen` writes it) or DER.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<PublicKey, String> {
        if let Ok(text) = std::str::from_utf8(bytes) {
            if text.trim().starts_with(KEY_PREFIX) {
                return Self::parse(text);
            }
        }
        match bytes {
            [PUBLIC_KEY_ID, raw @ ..] if raw.len() == 32 => Self::from_raw(raw),
            _ if bytes.len() == 44 && bytes.starts_with(&DER_PREFIX) => Self::from_raw(&bytes[12..]),
            _ => Err("it is not an ed25519 public key: expected a `.pub` of `usersync plugins keygen` \
                 (`ed25519:` and 64 hex digits), a wasmsign2 public key (33 bytes starting 0x01) or DER"
                .into()),
        }
    }

    fn from_raw(raw: &[u8]) -> Result<PublicKey, String> {
        let bytes: [u8; 32] = raw.try_into().map_err(|_| "a public key has 32 bytes")?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| {
                format!(
                    "{KEY_PREFIX}{} is not a valid ed25519 public key",
                    hex::encode(bytes)
                )
            })
    }

    /// The key id written next to each signature, shown as hex.
    pub fn fingerprint(&self) -> String {
        hex::encode(self.key_id())
    }

    /// wasmsign2's default key id: the first 12 bytes of
    /// HMAC-SHA256(key = the public key, "key_id"). The same id lets
    /// `wasmsign2 verify` (which attaches it to the key) match our signatures.
    pub(super) fn key_id(&self) -> Vec<u8> {
        let mut mac = <Hmac<Sha256>>::new_from_slice(self.0.as_bytes()).expect("any key length");
        mac.update(b"key_id");
        mac.finalize().into_bytes()[..12].to_vec()
    }

    /// `0x01 ‖ public`, wasmsign2's public key file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![PUBLIC_KEY_ID];
        out.extend_from_slice(self.0.as_bytes());
        out
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

    /// `0x81 ‖ secret ‖ public`: the tool conventions' serialized key pair,
    /// which is also wasmsign2's secret key file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![KEY_PAIR_ID];
        out.extend_from_slice(&self.0.to_keypair_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<KeyPair, String> {
        let bad = || {
            "it is not a signing key (65 bytes starting 0x81, as `usersync plugins keygen` and `wasmsign2 keygen` write)".to_string()
        };
        let pair: [u8; 64] = match bytes.split_first() {
            Some((&KEY_PAIR_ID, rest)) => rest.try_into().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        SigningKey::from_keypair_bytes(&pair)
            .map(KeyPair)
            .map_err(|_| "its secret and public halves do not match".to_string())
    }

    /// Ed25519 (deterministic, RFC 8032) over `message`.
    pub(super) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).to_vec()
    }
}
