//! `"{givenName} {sn}"` templates, parsed once at configure time.

use crate::slots::{Slots, Values};

#[derive(Debug)]
enum Piece {
    Text(Box<str>),
    Attr(u16),
}

#[derive(Debug)]
pub struct Template {
    pieces: Vec<Piece>,
    /// The template as written, for error messages.
    source: String,
}

impl Template {
    /// Parses `{attr}` placeholders; `{{` and `}}` are literal braces.
    pub fn parse(text: &str, slots: &mut Slots) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let brace = rest.as_bytes()[i];
            let after = &rest[i + 1..];
            if after.as_bytes().first() == Some(&brace) {
                // `{{` or `}}`: one literal brace.
                literal.push(brace as char);
                rest = &after[1..];
            } else if brace == b'}' {
                // A lone `}` cannot start anything; keep it as written.
                literal.push('}');
                rest = after;
            } else {
                let end = after.find('}').ok_or_else(|| {
                    format!("template `{text}` has a `{{` without its closing `}}`; write `{{{{` for a literal brace")
                })?;
                let name = after[..end].trim();
                if name.is_empty() || name.contains('{') {
                    return Err(format!("template `{text}` has an empty or nested placeholder; write `{{attribute}}`"));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal).into()));
                }
                pieces.push(Piece::Attr(slots.intern(name)));
                rest = &after[end + 1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal.into()));
        }
        Ok(Template {
            pieces,
            source: text.to_string(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The slots the template reads, in order.
    pub fn attrs(&self) -> impl Iterator<Item = u16> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Attr(s) => Some(*s),
            Piece::Text(_) => None,
        })
    }

    /// Renders into `out` (appending). Returns false, writing nothing, when
    /// the template has placeholders and none of them has a value. Missing
    /// values render empty; the output is trimmed and runs of spaces are
    /// collapsed, so `"{givenName} {middleName} {sn}"` never leaves a gap.
    pub fn render(&self, values: &Values, out: &mut String) -> bool {
        // First pass: is there any value, and how long can the output get
        // (reserving once avoids regrowing the string per piece).
        let (mut any_attr, mut any_value, mut len) = (false, false, 0);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => len += t.len(),
                Piece::Attr(slot) => {
                    any_attr = true;
                    if let Some(v) = values.get(*slot) {
                        any_value = true;
                        len += v.len();
                    }
                }
            }
        }
        if any_attr && !any_value {
            return false;
        }
        out.reserve(len);
        let start = out.len();
        for piece in &self.pieces {
            let text = match piece {
                Piece::Text(t) => t,
                Piece::Attr(slot) => values.get(*slot).unwrap_or(""),
            };
            push_collapsed(out, start, text);
        }
        if out.len() > start && out.ends_with(' ') {
            out.pop();
        }
        true
    }
}

/// Appends `text` to `out` with no space at `start` and no two spaces in a row.
#[inline]
fn push_collapsed(out: &mut String, start: usize, text: &str) {
    let mut rest = text;
    loop {
        let (word, tail) = match rest.find(' ') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        out.push_str(word);
        let Some(tail) = tail else { return };
        if out.len() > start && !out.ends_with(' ') {
            out.push(' ');
        }
        rest = tail;
    }
}
