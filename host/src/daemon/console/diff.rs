//! What a dry run (or a candidate mapper's preview) would change, field by
//! field: the plan flattened once into rows when the run ends, kept in
//! memory for the last few dry runs, and shown searchable, 100 rows a page,
//! so a plan of 100k users never reaches the browser at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use crate::config::JobKey;
use crate::daemon::lock;
use crate::engine::Plan;

/// How many dry runs' diffs are kept.
const KEEP: usize = 20;
pub const PAGE_ROWS: usize = 100;

#[derive(Debug, Clone)]
pub struct DiffRow {
    pub kind: &'static str,
    pub action: String,
    pub subject: String,
    pub field: String,
    pub old: String,
    pub new: String,
}

impl DiffRow {
    fn matches(&self, q: &str) -> bool {
        [
            &self.subject,
            &self.field,
            &self.old,
            &self.new,
            &self.action,
        ]
        .iter()
        .any(|s| s.to_lowercase().contains(q))
            || self.kind.contains(q)
    }
}

/// A flattened plan and the deletion threshold's verdict.
#[derive(Debug, Default)]
pub struct DiffSet {
    pub rows: Vec<DiffRow>,
    pub deactivations: usize,
    /// `(stopped, text)`: whether the plan stops, and why or why not.
    pub verdict: (bool, String),
    pub warnings: Vec<String>,
}

/// The diffs of the last dry runs, and how many users each job's last
/// run read (for a running run's time left).
#[derive(Default)]
pub struct DryRuns {
    diffs: Mutex<VecDeque<(String, Arc<DiffSet>)>>,
    reads: Mutex<HashMap<JobKey, u64>>,
}

impl DryRuns {
    /// A run of `job` read `users` users.
    pub fn note_read(&self, job: &JobKey, users: u64) {
        if users > 0 {
            lock(&self.reads).insert(job.clone(), users);
        }
    }

    pub fn last_read(&self, job: &JobKey) -> Option<u64> {
        lock(&self.reads).get(job).copied()
    }

    /// Keep the diff of dry run `run_id` of `job`.
    pub fn keep(&self, run_id: &str, job: &str, plan: &Plan) {
        match serde_json::to_value(plan) {
            Ok(v) => self.keep_value(run_id, job, &v),
            Err(e) => tracing::warn!("console: cannot keep the dry run's diff: {e}"),
        }
    }

    /// Keep a plan as JSON (a preview's report carries it so).
    pub fn keep_value(&self, run_id: &str, job: &str, plan: &Value) {
        let set = Arc::new(flatten(plan, job));
        let mut runs = lock(&self.diffs);
        runs.retain(|(id, _)| id != run_id);
        runs.push_back((run_id.to_string(), set));
        while runs.len() > KEEP {
            runs.pop_front();
        }
    }

    pub fn get(&self, run_id: &str) -> Option<Arc<DiffSet>> {
        lock(&self.diffs)
            .iter()
            .find(|(id, _)| id == run_id)
            .map(|(_, s)| s.clone())
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn changes(out: &mut Vec<DiffRow>, kind: &'static str, action: &str, subject: &str, v: &Value) {
    for c in v["changes"].as_array().into_iter().flatten() {
        out.push(DiffRow {
            kind,
            action: action.into(),
            subject: subject.into(),
            field: s(c, "field").into(),
            old: text(&c["old"]),
            new: text(&c["new"]),
        });
    }
}

fn flatten(plan: &Value, job: &str) -> DiffSet {
    let mut rows = Vec::new();
    let row = |kind, action: &str, subject: &str, field: &str, old: String, new: String| DiffRow {
        kind,
        action: action.into(),
        subject: subject.into(),
        field: field.into(),
        old,
        new,
    };
    let mut deactivations = 0;
    for u in plan["users"].as_array().into_iter().flatten() {
        let action = s(u, "action");
        match action {
            "create" => {
                let fields = &u["fields"];
                let name = s(fields, "username");
                for (k, v) in fields.as_object().into_iter().flatten() {
                    if k == "custom" {
                        for pair in v.as_array().into_iter().flatten() {
                            rows.push(row(
                                "user",
                                action,
                                name,
                                &text(&pair[0]),
                                String::new(),
                                text(&pair[1]),
                            ));
                        }
                    } else if !v.is_null() {
                        rows.push(row("user", action, name, k, String::new(), text(v)));
                    }
                }
            }
            "deactivate" => {
                deactivations += 1;
                let why = format!("false ({})", s(u, "reason").replace('_', " "));
                rows.push(row(
                    "user",
                    action,
                    s(u, "username"),
                    "active",
                    "true".into(),
                    why,
                ));
            }
            _ => {
                let name = match s(u, "username") {
                    "" => s(u, "source_id"),
                    n => n,
                };
                let before = rows.len();
                changes(&mut rows, "user", action, name, u);
                if rows.len() == before {
                    rows.push(row("user", action, name, "", String::new(), String::new()));
                }
            }
        }
    }
    for g in plan["groups"].as_array().into_iter().flatten() {
        let action = s(g, "action");
        let before = rows.len();
        changes(&mut rows, "group", action, s(g, "name"), g);
        if rows.len() == before {
            rows.push(row(
                "group",
                action,
                s(g, "name"),
                "",
                String::new(),
                text(&g["description"]),
            ));
        }
    }
    for m in plan["memberships"].as_array().into_iter().flatten() {
        let add = m["add"].as_bool().unwrap_or(false);
        let group = s(m, "group_name").to_string();
        let (action, old, new) = if add {
            ("add", String::new(), group)
        } else {
            ("remove", group, String::new())
        };
        rows.push(row(
            "membership",
            action,
            s(m, "username"),
            "group",
            old,
            new,
        ));
    }
    for (key, kind, field) in [("roles", "role", "role"), ("licenses", "license", "kind")] {
        for r in plan[key].as_array().into_iter().flatten() {
            let grant = r["grant"].as_bool().unwrap_or(false);
            let value = s(r, field).to_string();
            let (action, old, new) = if grant {
                ("grant", String::new(), value)
            } else {
                ("revoke", value, String::new())
            };
            rows.push(row(kind, action, s(r, "username"), field, old, new));
        }
    }
    for c in plan["conflicts"].as_array().into_iter().flatten() {
        rows.push(row(
            "conflict",
            "skip",
            s(c, "username"),
            "",
            String::new(),
            s(c, "message").into(),
        ));
    }
    for e in plan["errors"].as_array().into_iter().flatten() {
        rows.push(row(
            "error",
            "reject",
            s(e, "record"),
            s(e, "field"),
            String::new(),
            s(e, "message").into(),
        ));
    }
    let verdict = match plan.get("stop").filter(|v| !v.is_null()) {
        Some(stop) => (true, stop_text(stop, job)),
        None => (
            false,
            format!("within the deletion threshold: {deactivations} deactivation(s); a real run would apply these changes"),
        ),
    };
    DiffSet {
        rows,
        deactivations,
        verdict,
        warnings: plan["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect(),
    }
}

/// The engine's own message for a stop.
fn stop_text(stop: &Value, job: &str) -> String {
    match serde_json::from_value::<StopJson>(stop.clone()) {
        Ok(StopJson::Threshold {
            deactivations,
            limit,
        }) => crate::engine::Stop::Threshold {
            deactivations,
            limit,
        }
        .message(job),
        _ => format!(
            "a real run would stop before changing anything: {}",
            text(&stop["stop"]).replace('_', " ")
        ),
    }
}

#[derive(Deserialize)]
#[serde(tag = "stop", rename_all = "snake_case")]
enum StopJson {
    Threshold {
        deactivations: usize,
        limit: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Deserialize)]
pub struct DiffQuery {
    pub q: Option<String>,
    pub page: Option<usize>,
}

/// The diff table: search form, one page of rows, pager. `base` is the
/// page's own path.
pub fn render(set: &DiffSet, query: &DiffQuery, base: &str) -> Markup {
    let q = query.q.clone().unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let matching: Vec<&DiffRow> = set
        .rows
        .iter()
        .filter(|r| needle.is_empty() || r.matches(&needle))
        .collect();
    let pages = matching.len().div_ceil(PAGE_ROWS).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let first = (page - 1) * PAGE_ROWS;
    let shown = &matching[first.min(matching.len())..(first + PAGE_ROWS).min(matching.len())];
    let link = |p: usize| format!("{base}?q={}&page={p}#diff", super::seg(&q));
    html! {
        section id="diff" aria-labelledby="diff-h" {
            h2 id="diff-h" { "What a run would change" }
            p class={ "flash " (if set.verdict.0 { "bad" } else { "good" }) } id="verdict" { (set.verdict.1) }
            @for w in &set.warnings { p class="flash info" { "Warning: " (w) } }
            form method="get" action=(base) class="search" role="search" {
                label for="diff-q" { "Search the changes" }
                input type="search" id="diff-q" name="q" value=(q) placeholder="username, field or value";
                button type="submit" { "Search" }
            }
            p id="diff-count" aria-live="polite" {
                @if matching.is_empty() { "No changes" @if !needle.is_empty() { " match" } "." }
                @else { "Rows " (first + 1) "–" (first + shown.len()) " of " (matching.len())
                    @if !needle.is_empty() { " matching (of " (set.rows.len()) ")" } }
            }
            @if !shown.is_empty() {
                div class="scroll" {
                    table id="diff-table" {
                        caption class="sr-only" { "Changes, page " (page) " of " (pages) }
                        thead { tr { th scope="col" { "Kind" } th scope="col" { "Action" } th scope="col" { "Subject" } th scope="col" { "Field" } th scope="col" { "Old" } th scope="col" { "New" } } }
                        tbody {
                            @for r in shown {
                                tr { td { (r.kind) } td { (r.action) } td { (r.subject) } td { (r.field) } td class="old" { (r.old) } td class="new" { (r.new) } }
                            }
                        }
                    }
                }
            }
            @if pages > 1 {
                nav class="pager" aria-label="Pages of changes" {
                    @if page > 1 { a href=(link(page - 1)) rel="prev" { "Previous" } }
                    span { "Page " (page) " of " (pages) }
                    @if page < pages { a href=(link(page + 1)) rel="next" id="diff-next" { "Next" } }
                }
            }
        }
    }
}
