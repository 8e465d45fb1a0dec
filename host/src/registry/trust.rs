//! Whether a plugin's signature satisfies a scope's rule
//! (`[plugins] require_signature`, `trusted_keys`).

use crate::config::Trust;
use crate::runtime::signature::Verdict;

/// `Ok` if a file with this signature may serve under `trust`, else why not.
/// A signature that does not match its file is refused whatever the rule:
/// the file was changed after its vendor signed it.
pub fn admit(verdict: &Verdict, trust: &Trust) -> Result<(), String> {
    match verdict {
        Verdict::Tampered { reason } => Err(format!(
            "its signature is bad ({reason}); get an intact copy from its vendor"
        )),
        _ if !trust.require_signature => Ok(()),
        Verdict::Unsigned => Err(
            "it is not signed, and plugins.require_signature = true; use a build its vendor signed \
             (check it with `usersync plugins verify FILE`), or sign it with `usersync plugins sign FILE --key KEY` \
             and add that key's public half to trusted_keys"
                .into(),
        ),
        Verdict::UnknownKey { key_ids } => Err(format!(
            "it is signed by key {}, which is not in trusted_keys (plugins.require_signature = true); \
             add the vendor's public key to trusted_keys if you trust it",
            key_ids.join(", ")
        )),
        Verdict::Signed { by } => {
            if by
                .iter()
                .any(|s| trust.keys.iter().any(|k| k.key.fingerprint() == s.key_id))
            {
                Ok(())
            } else {
                Err(format!(
                    "it is signed by {}, which this tenant's trusted_keys do not hold (plugins.require_signature = true)",
                    by.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }
}
