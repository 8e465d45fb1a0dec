//! How long a run's phases took, kept in its record: operators see where a
//! slow run spends its time (`usersync runs show`, `/runs`), and the
//! benchmark divides the read by a plain dump of the same directory.

use serde::{Deserialize, Serialize};

/// Milliseconds per phase of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// The connector's read through the mapper chain; the store's rows
    /// for planning load alongside, so this ends when both are done.
    pub read_ms: u64,
    /// Comparing what was read with what the store holds.
    pub plan_ms: u64,
    /// Writing the changes, up to the commit (`None`: nothing was
    /// applied, as in a dry run or a run the plan stopped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_ms: Option<u64>,
}

impl Phases {
    /// `read 2.7 s, plan 0.4 s, apply 7.0 s`, for people.
    pub fn describe(&self) -> String {
        let s = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
        let mut text = format!("read {}, plan {}", s(self.read_ms), s(self.plan_ms));
        if let Some(ms) = self.apply_ms {
            text.push_str(&format!(", apply {}", s(ms)));
        }
        text
    }
}

impl super::RunRecord {
    /// The run applied its changes in `apply_ms`: its end and duration
    /// move past the writing (they were taken when it planned).
    pub fn applied(&mut self, apply_ms: u64) {
        self.finished_at = Some(super::now());
        self.duration_ms = self
            .duration_ms
            .map(|d| d.saturating_add(i64::try_from(apply_ms).unwrap_or(i64::MAX)));
        self.phases = self.phases.map(|p| Phases {
            apply_ms: Some(apply_ms),
            ..p
        });
    }
}

/// Milliseconds since `started`, as stored.
pub fn ms_since(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_read_as_json_and_as_text() {
        let p = Phases {
            read_ms: 2_700,
            plan_ms: 380,
            apply_ms: None,
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"read_ms":2700,"plan_ms":380}"#);
        assert_eq!(serde_json::from_str::<Phases>(&json).unwrap(), p);
        assert_eq!(p.describe(), "read 2.7 s, plan 0.4 s");
        let applied = Phases {
            apply_ms: Some(7_000),
            ..p
        };
        assert_eq!(applied.describe(), "read 2.7 s, plan 0.4 s, apply 7.0 s");
    }
}
