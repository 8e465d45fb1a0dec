//! Property tests of the DN code against RFC 4514: what we write reads
//! back the same, and every spelling a server may return for one DN
//! normalizes to the same string.

use proptest::prelude::*;

use super::*;

/// Characters that stress escaping: every RFC 4514 special, spaces, `#`,
/// hex digits (so `\` + char could be misread as a hex pair), non-ASCII.
const VALUE_CHARS: &[char] = &[
    'a', 'B', 'c', 'F', '0', '2', '9', ' ', ',', '+', '"', '\\', '<', '>', ';', '=', '#', '-', '.',
    'é', 'Ł', '田', '\'', '*', '(', ')', '\0',
];
const TYPE_CHARS: &[char] = &['c', 'N', 'o', 'u', 'I', 'd', '-', '1'];

fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VALUE_CHARS), 0..10)
        .prop_map(|cs| cs.into_iter().collect())
}

fn attribute_type() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&['c', 'O', 'u', 'D'][..]),
        prop::collection::vec(prop::sample::select(TYPE_CHARS), 0..5),
    )
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect())
}

fn dn() -> impl Strategy<Value = Dn> {
    prop::collection::vec(
        prop::collection::vec((attribute_type(), value()), 1..3),
        1..4,
    )
}

/// How one character of a value may be written. Choices are indexes into
/// the forms allowed for it at its position.
fn spell_char(c: char, at_start: bool, at_end: bool, choice: u8) -> String {
    let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | '\0')
        || (at_start && (c == ' ' || c == '#'))
        || (at_end && c == ' ');
    let mut utf8 = [0u8; 4];
    let bytes = c.encode_utf8(&mut utf8).as_bytes().to_vec();
    let upper: String = bytes.iter().map(|b| format!("\\{b:02X}")).collect();
    let lower: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
    // A backslash before a character is allowed for the specials and
    // space (RFC 4514 `escaped`); before a hex digit it would be hex.
    let backslash_char = matches!(
        c,
        ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | ' ' | '#'
    )
    .then(|| format!("\\{c}"));
    let mut forms = vec![upper, lower];
    forms.extend(backslash_char);
    if !special {
        let flipped = if c.is_ascii_lowercase() {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        };
        forms.push(c.to_string());
        forms.push(flipped.to_string());
    }
    forms[choice as usize % forms.len()].clone()
}

/// Some spelling of `dn` a server could send: any escape form per
/// character, attribute types in any case, spaces around `=`, `,`, `+`.
fn spell(dn: &Dn, choices: &[u8]) -> String {
    let mut next = choices.iter().copied().cycle();
    let spaces = |next: &mut dyn Iterator<Item = u8>| {
        " ".repeat(usize::from(next_choice(next).is_multiple_of(3)))
    };
    let mut out = String::new();
    for (i, rdn) in dn.iter().enumerate() {
        if i > 0 {
            out.push_str(&spaces(&mut next));
            out.push(',');
            out.push_str(&spaces(&mut next));
        }
        for (j, (ty, v)) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let ty: String = ty
                .chars()
                .map(|c| {
                    if next_choice(&mut next).is_multiple_of(2) {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            out.push_str(&ty);
            out.push_str(&spaces(&mut next));
            out.push('=');
            out.push_str(&spaces(&mut next));
            let n = v.chars().count();
            for (k, c) in v.chars().enumerate() {
                out.push_str(&spell_char(c, k == 0, k + 1 == n, next_choice(&mut next)));
            }
        }
    }
    out
}

fn next_choice(it: &mut dyn Iterator<Item = u8>) -> u8 {
    it.next().unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_reads_back_what_serialize_writes(dn in dn()) {
        prop_assert_eq!(parse(&serialize(&dn)), dn);
    }

    #[test]
    fn every_spelling_of_a_dn_normalizes_equal(
        dn in dn(),
        a in prop::collection::vec(any::<u8>(), 1..64),
        b in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let (one, other) = (spell(&dn, &a), spell(&dn, &b));
        prop_assert_eq!(normalize(&one), normalize(&other), "{:?} vs {:?}", one, other);
        prop_assert_eq!(normalize(&one), normalize(&serialize(&dn)));
    }

    #[test]
    fn a_normalized_dn_is_a_fixed_point(dn in dn(), a in prop::collection::vec(any::<u8>(), 1..64)) {
        let once = normalize(&spell(&dn, &a));
        prop_assert_eq!(normalize(&once), once.clone());
    }

    #[test]
    fn the_plain_path_agrees_with_the_general_one(
        s in prop::collection::vec(prop::sample::select(&['c', 'N', '=', ',', ' ', 'x', '\\', '+', 'é', '2'][..]), 0..20)
    ) {
        let s: String = s.into_iter().collect();
        let general = normalize_general(&s);
        if let Some(plain) = normalize_plain(&s) {
            prop_assert_eq!(plain, general.clone());
        }
        if lowercase_is_normal(&s) {
            prop_assert_eq!(s.to_ascii_lowercase(), general.clone());
        }
        prop_assert_eq!(normalize(&s), general);
    }
}
