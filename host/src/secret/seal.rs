//! Secrets given through the admin API are sealed before they reach the
//! store: ChaCha20-Poly1305 under a 32-byte key from `USERSYNC_SECRET_KEY`
//! (base64 or hex) or `[server] secret_key_file`. The tenant, job and key
//! path are the associated data, so a sealed value copied into another
//! tenant's or job's row (or under another key) does not open.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

pub const KEY_ENV: &str = "USERSYNC_SECRET_KEY";
const PREFIX: &str = "v1:";

/// How to give a key, for every message that needs one.
pub const HOW_TO_SET_A_KEY: &str = "set USERSYNC_SECRET_KEY to 32 random bytes in base64 or hex (e.g. `openssl rand -base64 32`) on every node, or [server] secret_key_file = \"<file of mode 0600 holding it>\"";

/// The key secrets are sealed with. Never printed.
#[derive(Clone)]
pub struct SealKey(ChaCha20Poly1305);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(***)")
    }
}

impl SealKey {
    /// The key from `USERSYNC_SECRET_KEY`, else from `file` (which must be
    /// readable by its owner only); `None` if neither is given.
    pub fn load(file: Option<&Path>) -> Result<Option<SealKey>> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            if !text.trim().is_empty() {
                return SealKey::parse(&text).with_context(|| KEY_ENV).map(Some);
            }
        }
        let Some(path) = file else { return Ok(None) };
        let key = format!("server.secret_key_file {}", path.display());
        let meta = std::fs::metadata(path)
            .with_context(|| format!("{key}: cannot read it; {HOW_TO_SET_A_KEY}"))?;
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!("{key} has mode {mode:04o}: others could read the key; chmod 600 it");
        }
        let text = std::fs::read_to_string(path).with_context(|| key.clone())?;
        SealKey::parse(&text).with_context(|| key).map(Some)
    }

    /// 32 bytes written as base64 or hex.
    pub fn parse(text: &str) -> Result<SealKey> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .filter(|b| b.len() == 32)
            .or_else(|| {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .ok()
                    .filter(|b| b.len() == 32)
            })
            .ok_or_else(|| {
                anyhow!(
                    "the secret key must be 32 bytes written as base64 or hex; {HOW_TO_SET_A_KEY}"
                )
            })?;
        Ok(SealKey(ChaCha20Poly1305::new(Key::from_slice(&bytes))))
    }

    /// `plaintext` sealed for `context` (tenant, job, key path), as text.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; 12];
        getrandom::getrandom(&mut nonce).expect("the system's random source works");
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 seals any message this size");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// The plaintext of `sealed`, if it was sealed with this key for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String> {
        let wrong = || {
            anyhow!("a sealed secret does not open with this key (another key, or a value copied from another tenant or job); give the secret again or use the key it was sealed with")
        };
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .filter(|b| b.len() > 12)
            .ok_or_else(wrong)?;
        let (nonce, ct) = bytes.split_at(12);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| wrong())?;
        String::from_utf8(plain).map_err(|_| wrong())
    }
}

/// The associated data of one secret: where it belongs.
pub fn context(tenant: &str, job: &str, path: &str) -> String {
    format!("usersync-secret\0{tenant}\0{job}\0{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealKey {
        SealKey::parse(&hex::encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_place() {
        let k = key(7);
        let sealed = k.seal("hunter2", &context("acme", "people", "secrets.api"));
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            k.open(&sealed, &context("acme", "people", "secrets.api"))
                .unwrap(),
            "hunter2"
        );
        for other in [
            context("globex", "people", "secrets.api"),
            context("acme", "other", "secrets.api"),
            context("acme", "people", "secrets.x"),
        ] {
            let err = k.open(&sealed, &other).unwrap_err().to_string();
            assert!(err.contains("does not open") && !err.contains("hunter2"));
        }
        assert!(key(8)
            .open(&sealed, &context("acme", "people", "secrets.api"))
            .is_err());
    }

    #[test]
    fn keys_are_base64_or_hex_of_32_bytes() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(SealKey::parse(&b64).is_ok());
        assert!(SealKey::parse(&hex::encode([1u8; 32])).is_ok());
        let err = SealKey::parse("short").unwrap_err().to_string();
        assert!(err.contains("32 bytes") && err.contains(KEY_ENV), "{err}");
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, hex::encode([2u8; 32])).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        if std::env::var(KEY_ENV).is_err() {
            let err = SealKey::load(Some(&path)).unwrap_err().to_string();
            assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(SealKey::load(Some(&path)).unwrap().is_some());
        }
    }
}
