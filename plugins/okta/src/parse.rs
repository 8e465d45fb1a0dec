//! Okta JSON to source objects, `Link` headers, timestamps and error
//! bodies. Pure, so it is unit-tested natively.

use serde_json::Value;
use usersync_sdk::{ObjectKind, SourceObject};

/// The `rel="next"` URL among `Link` header values (Okta sends one header
/// per link; several links in one header are split too).
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    for value in values {
        let mut rest = value;
        while let Some(start) = rest.find('<') {
            let end = start + rest[start..].find('>')?;
            let url = &rest[start + 1..end];
            let params_end = rest[end..].find('<').map_or(rest.len(), |i| end + i);
            let params = &rest[end + 1..params_end];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if is_next {
                return Some(url.to_string());
            }
            rest = &rest[params_end..];
        }
    }
    None
}

/// An Okta user: profile properties under their Okta names, `login` as the
/// reference key (so a `managerId` holding a login resolves), and only
/// status ACTIVE counts as enabled.
pub fn user(item: &Value) -> Option<SourceObject> {
    let id = item["id"].as_str()?;
    let mut o = SourceObject::new(ObjectKind::User, id);
    let status = item["status"].as_str().unwrap_or("");
    o.enabled = status == "ACTIVE";
    o.push_text("id", vec![id.to_string()]);
    o.push_text("status", vec![status.to_string()]);
    if let Some(profile) = item["profile"].as_object() {
        for (name, value) in profile {
            let values: Vec<String> = match value {
                Value::String(s) if !s.is_empty() => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                Value::Number(n) => vec![n.to_string()],
                Value::Bool(b) => vec![b.to_string()],
                _ => continue,
            };
            if !values.is_empty() {
                o.push_text(name.clone(), values);
            }
        }
    }
    if let Some(login) = item["profile"]["login"].as_str() {
        o.ref_key = login.to_string();
    }
    // The default mapper maps `manager`; Okta's profile calls it managerId.
    if let Some(m) = item["profile"]["managerId"]
        .as_str()
        .filter(|m| !m.is_empty())
    {
        o.push_text("manager", vec![m.to_string()]);
    }
    Some(o)
}

/// An Okta group with its member user ids.
pub fn group(item: &Value, members: Vec<String>) -> Option<SourceObject> {
    let id = item["id"].as_str()?;
    let name = item["profile"]["name"].as_str().unwrap_or(id);
    let mut o = SourceObject::new(ObjectKind::Group, id).with_text("name", vec![name.to_string()]);
    if let Some(d) = item["profile"]["description"]
        .as_str()
        .filter(|d| !d.is_empty())
    {
        o.push_text("description", vec![d.to_string()]);
    }
    if let Some(t) = item["type"].as_str() {
        o.push_text("type", vec![t.to_string()]);
    }
    o.members = members;
    Some(o)
}

/// `errorCode: errorSummary` from an Okta error body.
pub fn error_text(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (v["errorCode"].as_str(), v["errorSummary"].as_str()) {
        (Some(c), Some(s)) => format!("{c}: {s}"),
        (Some(c), None) => c.to_string(),
        (None, Some(s)) => s.to_string(),
        (None, None) => "no error details".into(),
    }
}

/// An HTTP date (`Tue, 15 Nov 1994 08:12:31 GMT`) as the ISO 8601 form Okta
/// filters take (`1994-11-15T08:12:31.000Z`).
pub fn iso_from_http_date(date: &str) -> Option<String> {
    let parts: Vec<&str> = date.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| *x == month)? + 1;
    let day: u32 = day.parse().ok()?;
    let year: u32 = year.parse().ok()?;
    if time.len() != 8 || !time.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    Some(format!("{year:04}-{m:02}-{day:02}T{time}.000Z"))
}

/// A cursor is an ISO timestamp as written by [`iso_from_http_date`].
pub fn valid_cursor(c: &str) -> bool {
    c.len() == 24 && c.ends_with('Z') && c.as_bytes()[10] == b'T'
}

/// Seconds until Okta's rate-limit window resets, by the server's clock.
pub fn reset_in(reset: Option<&str>, date: Option<&str>) -> Option<u32> {
    let reset: i64 = reset?.trim().parse().ok()?;
    let now = epoch_from_http_date(date?)?;
    Some((reset - now).clamp(1, 3600) as u32)
}

fn epoch_from_http_date(date: &str) -> Option<i64> {
    let iso = iso_from_http_date(date)?;
    let n = |r: std::ops::Range<usize>| iso[r].parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hh * 3600 + mm * 60 + ss)
}
