//! The table printed at the end: one row per figure, with its floor or reference, the ratio,
//! the target and whether it is met.

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Met,
    Missed,
    Info,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub value: String,
    pub reference: String,
    pub ratio: String,
    pub target: String,
    pub status: Status,
    json: Value,
}

fn fmt(v: f64, unit: &str) -> String {
    match unit {
        "s" => format!("{v:.3} s"),
        "µs" => format!("{v:.2} µs"),
        "MB" => format!("{v:.0} MB"),
        _ => format!("{v:.2} {unit}"),
    }
}

impl Row {
    /// A figure divided by the floor measured beside it; met when the ratio ≤ `limit`.
    pub fn ratio(
        name: &str,
        value_s: f64,
        floor_s: f64,
        ratio: f64,
        limit: f64,
        target: &str,
    ) -> Row {
        Row {
            name: name.into(),
            value: fmt(value_s, "s"),
            reference: format!("floor {}", fmt(floor_s, "s")),
            ratio: format!("{ratio:.2}×"),
            target: target.into(),
            status: if ratio <= limit {
                Status::Met
            } else {
                Status::Missed
            },
            json: json!({ "name": name, "value_s": value_s, "floor_s": floor_s, "ratio": ratio, "target_ratio": limit }),
        }
    }

    /// An absolute figure; met when ≤ `limit` (or `<` for "< x" targets).
    pub fn target(name: &str, value: f64, unit: &str, limit: f64, target: &str) -> Row {
        let met = if target.starts_with('<') {
            value < limit
        } else {
            value <= limit
        };
        Row {
            name: name.into(),
            value: fmt(value, unit),
            reference: String::new(),
            ratio: format!("{:.2}× target", value / limit),
            target: target.into(),
            status: if met { Status::Met } else { Status::Missed },
            json: json!({ "name": name, "value": value, "unit": unit, "target": limit, "met": met }),
        }
    }

    /// usersync's time against another tool's on the same data: the speed-up.
    pub fn speedup(name: &str, usersync_s: f64, other_s: f64) -> Row {
        Row {
            name: name.into(),
            value: fmt(usersync_s, "s"),
            reference: format!("ldap2pg {}", fmt(other_s, "s")),
            ratio: format!("{:.1}× faster", other_s / usersync_s),
            target: String::new(),
            status: Status::Info,
            json: json!({ "name": name, "usersync_s": usersync_s, "other_s": other_s, "speedup": other_s / usersync_s }),
        }
    }

    pub fn check(name: &str, ok: bool, detail: &str) -> Row {
        Row {
            name: name.into(),
            value: if ok { "yes" } else { "NO" }.into(),
            reference: detail.into(),
            ratio: String::new(),
            target: "equal".into(),
            status: if ok { Status::Met } else { Status::Missed },
            json: json!({ "name": name, "ok": ok, "detail": detail }),
        }
    }

    pub fn info(name: &str, detail: &str) -> Row {
        Row {
            name: name.into(),
            value: detail.into(),
            reference: String::new(),
            ratio: String::new(),
            target: String::new(),
            status: Status::Info,
            json: json!({ "name": name, "detail": detail }),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = self.json.clone();
        v["status"] = json!(match self.status {
            Status::Met => "met",
            Status::Missed => "missed",
            Status::Info => "info",
        });
        v
    }
}

/// A plain-text table (fixed-width columns, Markdown-compatible).
pub fn table(rows: &[Row]) -> String {
    let header = [
        "measure",
        "usersync",
        "floor / reference",
        "ratio",
        "target",
        "",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.value.clone(),
                r.reference.clone(),
                r.ratio.clone(),
                r.target.clone(),
                match r.status {
                    Status::Met => "met".into(),
                    Status::Missed => "MISSED".into(),
                    Status::Info => String::new(),
                },
            ]
        })
        .collect();
    let mut width = header.map(|h| h.chars().count());
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: &[String]| {
        let mut s = String::from("|");
        for (v, w) in c.iter().zip(width) {
            s.push_str(&format!(" {v}{} |", " ".repeat(w - v.chars().count())));
        }
        s
    };
    let mut out = line(&header.map(String::from));
    out.push('\n');
    out.push('|');
    for w in width {
        out.push_str(&format!("{}|", "-".repeat(w + 2)));
    }
    for c in &cells {
        out.push('\n');
        out.push_str(&line(c));
    }
    out
}
