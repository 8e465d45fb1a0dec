//! The kit's verdicts: one line per check (✓ passed, ✗ failed, - skipped)
//! with the reason and, for a failure, the fix; or the same as JSON for CI.

use anyhow::Result;
use serde::Serialize;

use crate::runtime::LoadedPlugin;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Stable and short: what CI greps for.
    pub check: &'static str,
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// For a failure: what the plugin must do instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Verdict {
    pub fn pass(check: &'static str, detail: impl Into<String>) -> Self {
        Verdict {
            check,
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Verdict {
            check,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn skip(check: &'static str, why: impl Into<String>) -> Self {
        Verdict {
            check,
            status: Status::Skip,
            detail: why.into(),
            fix: None,
        }
    }

    /// Pass with `ok` when `problem` is `None`, else fail with it and `fix`.
    pub fn judge(
        check: &'static str,
        problem: Option<String>,
        ok: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        match problem {
            None => Verdict::pass(check, ok),
            Some(p) => Verdict::fail(check, p, fix),
        }
    }
}

/// Print the checklist (or JSON); whether every check passed or was skipped.
pub fn print(
    plugin: &LoadedPlugin,
    fixture: Option<&str>,
    verdicts: &[Verdict],
    json: bool,
) -> Result<bool> {
    let passed = verdicts.iter().all(|v| v.status != Status::Fail);
    let count = |s: Status| verdicts.iter().filter(|v| v.status == s).count();
    if json {
        let doc = serde_json::json!({
            "plugin": plugin.manifest,
            "file": plugin.path,
            "fixture": fixture,
            "passed": passed,
            "counts": { "pass": count(Status::Pass), "fail": count(Status::Fail), "skip": count(Status::Skip) },
            "checks": verdicts,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(passed);
    }
    outln!(
        "conformance of {} {} ({}, {}){}",
        plugin.manifest.name,
        plugin.manifest.version,
        plugin.manifest.kind,
        plugin.path.display(),
        fixture
            .map(|f| format!(" with fixture {f}"))
            .unwrap_or_default()
    )?;
    for v in verdicts {
        let mark = match v.status {
            Status::Pass => "✓",
            Status::Fail => "✗",
            Status::Skip => "-",
        };
        outln!("{mark} {}: {}", v.check, v.detail)?;
        if let Some(fix) = &v.fix {
            outln!("    fix: {fix}")?;
        }
    }
    outln!(
        "{}: {} passed, {} failed, {} skipped",
        if passed { "PASS" } else { "FAIL" },
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip)
    )?;
    Ok(passed)
}
