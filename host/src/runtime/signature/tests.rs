use super::format::custom_section;
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
    assert_eq!(by[0].key_id.len(), 24, "wasmsign2's 12-byte key id");
    assert_eq!(
        verify(&component(), &[trusted(&pair, "acme")]),
        Verdict::Unsigned
    );
    // The file's own sections follow the signature unchanged.
    assert!(signed.ends_with(&component()[8..]));
}

#[test]
fn changed_byte_unknown_key_and_second_signer() {
    let (a, b) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let signed = sign(&component(), &a).unwrap();
    let mut changed = signed.clone();
    *changed.last_mut().unwrap() ^= 1;
    assert!(matches!(
        verify(&changed, &[trusted(&a, "a")]),
        Verdict::Tampered { .. }
    ));
    assert!(
        sign(&changed, &b).is_err(),
        "a changed file is not signed again"
    );
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
    assert_eq!(
        sign(&both, &b).unwrap(),
        both,
        "signing twice changes nothing"
    );
}

#[test]
fn delimited_parts_are_hashed_as_wasmsign2_does() {
    // Two parts: a signature must cover the prefix and the whole file.
    let mut w = component();
    w.extend(custom_section(format::DELIMITER, &[7; 16]));
    w.extend(custom_section("extra", b"y"));
    let pair = KeyPair::generate().unwrap();
    let signed = sign(&w, &pair).unwrap();
    let first = format::first_section(&signed).unwrap();
    let data = SignatureData::parse(first.payload).unwrap();
    assert_eq!(data.sets[0].hashes.len(), 2);
    assert!(matches!(
        verify(&signed, &[trusted(&pair, "p")]),
        Verdict::Signed { .. }
    ));
}

#[test]
fn an_unreadable_signature_section_says_how_to_fix_it() {
    let mut w = b"\0asm\x0d\0\x01\0".to_vec();
    w.extend(custom_section("signature", &[1, 1, 1, 1, 9]));
    w.extend_from_slice(&component()[8..]);
    let Verdict::Tampered { reason } = verify(&w, &[]) else {
        panic!("read as valid");
    };
    assert!(reason.contains("sign the unsigned build again"), "{reason}");
}

#[test]
fn keys_round_trip_through_their_text_and_bytes() {
    let pair = KeyPair::generate().unwrap();
    let text = pair.public().to_string();
    assert_eq!(PublicKey::parse(&text).unwrap(), pair.public());
    assert!(PublicKey::parse("ed25519:abc").is_err());
    let again = KeyPair::from_bytes(&pair.to_bytes()).unwrap();
    assert_eq!(again.public(), pair.public());
    // Key files: usersync's text, wasmsign2's 0x01 ‖ key, DER.
    let raw = pair.public().to_bytes();
    let mut der = hex::decode("302a300506032b6570032100").unwrap();
    der.extend_from_slice(&raw[1..]);
    for file in [format!("{text}\n").into_bytes(), raw, der] {
        assert_eq!(PublicKey::from_file_bytes(&file).unwrap(), pair.public());
    }
    let err = PublicKey::from_file_bytes(b"hello").unwrap_err();
    assert!(err.contains("wasmsign2 public key"), "{err}");
}
