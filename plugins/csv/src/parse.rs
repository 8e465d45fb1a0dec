//! Turning CSV rows into source objects. Pure: no host calls, so the unit
//! tests run natively; `lib.rs` does the sending.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use csv::ByteRecord;
use usersync_sdk::{ObjectKind, SourceObject};

use crate::config::Config;
use crate::layout::Layout;

/// What one data row became.
#[derive(Debug)]
pub enum Row {
    User(SourceObject),
    /// The row is unusable; `record_ref` is "line N".
    Reject {
        record_ref: String,
        message: String,
    },
}

/// Values that mark an account disabled; anything else (even empty) is enabled.
pub fn is_disabled(value: &str) -> bool {
    ["false", "0", "no", "n", "disabled", "inactive"]
        .iter()
        .any(|d| value.eq_ignore_ascii_case(d))
}

/// Split, trim, drop empty parts and duplicates (order kept).
pub fn split_values(value: &str, separator: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in value
        .split(separator)
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !out.iter().any(|o| o == part) {
            out.push(part.to_string());
        }
    }
    out
}

/// Reads a CSV file row by row into [`Row`]s, remembering ids and groups.
pub struct Reader<R> {
    csv: csv::Reader<LineIndex<R>>,
    layout: Layout,
    groups_separator: String,
    multi_separator: String,
    record: ByteRecord,
    /// id -> line it was first seen on, to reject duplicates.
    seen: HashMap<String, u64>,
    groups: Vec<String>,
    group_set: HashSet<String>,
    rows: u64,
}

impl<R: Read> Reader<R> {
    /// Reads the header row and resolves the configured columns against it.
    pub fn new(input: R, config: &Config) -> Result<Self, String> {
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(config.delimiter as u8)
            .has_headers(false) // we read the header ourselves, as bytes
            .flexible(true) // a short/long row is one bad record, not the end of the read
            .from_reader(LineIndex::new(input));
        let mut header = ByteRecord::new();
        match csv.read_byte_record(&mut header) {
            Ok(true) => {}
            Ok(false) => {
                return Err("the file is empty; expected a header row naming the columns".into())
            }
            Err(e) => return Err(format!("cannot read the header row: {e}")),
        }
        Ok(Reader {
            csv,
            layout: Layout::new(config, &header)?,
            groups_separator: config.groups_separator.clone(),
            multi_separator: config.multi_value_separator.clone(),
            record: ByteRecord::new(),
            seen: HashMap::new(),
            groups: Vec::new(),
            group_set: HashSet::new(),
            rows: 0,
        })
    }

    pub fn headers(&self) -> &[String] {
        &self.layout.headers
    }

    /// Header problems worth a log line (unknown `columns` keys, unnamed columns).
    pub fn warnings(&self) -> &[String] {
        &self.layout.warnings
    }

    /// Data rows read so far, rejected ones included.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next row; `Ok(None)` at the end. `Err` only when the file itself
    /// cannot be read any more (an I/O error): one bad row is a `Row::Reject`.
    pub fn next_row(&mut self) -> Result<Option<Row>, String> {
        match self.csv.read_byte_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                self.rows += 1;
                let byte = self.record.position().map(|p| p.byte());
                let line = self.line_of(byte);
                Ok(Some(match self.user(line) {
                    Ok(user) => Row::User(user),
                    Err(message) => Row::Reject {
                        record_ref: format!("line {line}"),
                        message: format!("line {line}: {message}"),
                    },
                }))
            }
            Err(e) if e.is_io_error() => Err(format!("reading stopped: {e}")),
            Err(e) => {
                self.rows += 1;
                let line = self.line_of(e.position().map(|p| p.byte()));
                Ok(Some(Row::Reject {
                    record_ref: format!("line {line}"),
                    message: format!("line {line}: {e}; check quoting"),
                }))
            }
        }
    }

    /// The line a record starts on, counted from the file's bytes: the csv
    /// crate's own line count drifts with CRLF endings (one low per CRLF
    /// record, more after blank lines).
    fn line_of(&mut self, byte: Option<u64>) -> u64 {
        byte.map_or(0, |b| self.csv.get_mut().line_at(b))
    }

    /// The current record as a user, or why it cannot be one.
    fn user(&mut self, line: u64) -> Result<SourceObject, String> {
        let layout = &self.layout;
        if self.record.len() != layout.headers.len() {
            return Err(format!(
                "has {} fields but the header has {}; check quoting and delimiters",
                self.record.len(),
                layout.headers.len()
            ));
        }
        let mut fields = Vec::with_capacity(self.record.len());
        for (i, raw) in self.record.iter().enumerate() {
            let text = std::str::from_utf8(raw).map_err(|_| {
                format!(
                    "column `{}` is not valid UTF-8; save the file as UTF-8",
                    layout.headers[i]
                )
            })?;
            fields.push(text.trim());
        }
        let id = fields[layout.id];
        if id.is_empty() {
            return Err(format!(
                "the id column `{}` is empty; every row needs an id",
                layout.headers[layout.id]
            ));
        }
        if let Some(first) = self.seen.get(id) {
            return Err(format!("id `{id}` already used on line {first}; ids must be unique, so this row is skipped"));
        }
        self.seen.insert(id.to_string(), line);

        let mut user = SourceObject::new(ObjectKind::User, id);
        user.enabled = layout.enabled.is_none_or(|i| !is_disabled(fields[i]));
        for (i, value) in fields.iter().enumerate() {
            let Some((name, multi)) = &layout.attrs[i] else {
                continue;
            };
            if value.is_empty() {
                continue; // empty cells are "no value", not an empty string
            }
            let values = if *multi {
                split_values(value, &self.multi_separator)
            } else {
                vec![value.to_string()]
            };
            if !values.is_empty() {
                user.push_text(name.clone(), values);
            }
        }
        // The match field is the username and the reference managers use.
        if let Some(m) = layout.matching.filter(|&m| !fields[m].is_empty()) {
            user.ref_key = fields[m].to_string();
            if user.attribute("username").is_none() {
                user.push_text("username", vec![fields[m].to_string()]);
            }
        }
        if let Some(m) = layout.manager.filter(|&m| !fields[m].is_empty()) {
            if user.attribute("manager").is_none() {
                user.push_text("manager", vec![fields[m].to_string()]);
            }
        }
        if let Some(g) = layout.groups {
            user.member_of = split_values(fields[g], &self.groups_separator);
            for group in &user.member_of {
                if self.group_set.insert(group.clone()) {
                    self.groups.push(group.clone());
                }
            }
        }
        Ok(user)
    }

    /// One group object per distinct group name seen so far, in first-seen order.
    pub fn group_objects(&self) -> Vec<SourceObject> {
        self.groups
            .iter()
            .map(|name| {
                let mut group = SourceObject::new(ObjectKind::Group, name.clone());
                group.ref_key = name.clone();
                group.with_text("cn", vec![name.clone()])
            })
            .collect()
    }
}

/// Passes bytes through and notes where each line break byte is, so that
/// the line a record starts on is known whatever the line endings. The csv
/// crate's positions point just past the previous record's terminator
/// (the `\n` of a CRLF, or a blank line), so the record really starts at
/// the first byte from there that is not `\r` or `\n`. Queries come in
/// increasing order (records do); only breaks not yet passed are kept.
pub struct LineIndex<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Offsets of `\r` and `\n` bytes read but not yet passed, and whether
    /// each is a `\n`.
    pending: std::collections::VecDeque<(u64, bool)>,
    /// `\n` bytes passed so far.
    passed: u64,
}

impl<R> LineIndex<R> {
    fn new(inner: R) -> Self {
        LineIndex {
            inner,
            offset: 0,
            pending: Default::default(),
            passed: 0,
        }
    }

    /// The 1-based line of the first byte at or after `byte` that is not a
    /// line break.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = byte;
        while let Some(&(at, newline)) = self.pending.front() {
            if at > start {
                break;
            }
            if at == start {
                start += 1; // a break right where the record "starts": skip it
            }
            self.passed += u64::from(newline);
            self.pending.pop_front();
        }
        self.passed + 1
    }
}

impl<R: Read> Read for LineIndex<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.pending.push_back((self.offset + i as u64, b == b'\n'));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}
