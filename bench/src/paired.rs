//! Timed usersync syncs, each next to a floor measured just before it, so every ratio compares
//! two runs made under the same machine load.

use anyhow::Result;
use serde_json::{json, Value};

use crate::directory::Directory;
use crate::runner::{SyncRun, Usersync};
use crate::say;

/// The middle sample (the upper one of an even count): robust to one slow outlier.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

/// Timed usersync runs, each next to a floor measurement.
pub struct Paired {
    pub floors: Vec<f64>,
    pub runs: Vec<SyncRun>,
}

impl Paired {
    pub fn times(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.child.wall_s).collect()
    }

    /// Median of the per-pair ratios (each run divided by the floor measured beside it).
    pub fn ratio(&self) -> f64 {
        median(
            self.runs
                .iter()
                .zip(&self.floors)
                .map(|(r, f)| r.child.wall_s / f)
                .collect(),
        )
    }

    /// The runs' read phases (see [`SyncRun::read_s`]); empty if a record has none.
    pub fn read_times(&self) -> Vec<f64> {
        self.runs.iter().filter_map(|r| r.read_s).collect()
    }

    /// Median of the per-pair ratios of the read phase to the floor.
    pub fn read_ratio(&self) -> f64 {
        median(
            self.runs
                .iter()
                .zip(&self.floors)
                .filter_map(|(r, f)| Some(r.read_s? / f))
                .collect(),
        )
    }

    pub fn max_rss(&self) -> f64 {
        self.runs
            .iter()
            .map(|r| r.child.max_rss_mb)
            .fold(0.0, f64::max)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "usersync_s": self.times(),
            "usersync_median_s": median(self.times()),
            "usersync_cpu_s": self.runs.iter().map(|r| r.child.cpu_s).collect::<Vec<_>>(),
            "host_duration_ms": self.runs.iter().map(|r| r.duration_ms).collect::<Vec<_>>(),
            "read_phase_s": self.read_times(),
            "floor_s": self.floors,
            "floor_median_s": median(self.floors.clone()),
            "ratio": self.ratio(),
            "max_rss_mb": self.runs.iter().map(|r| r.child.max_rss_mb).collect::<Vec<_>>(),
            "mode": self.runs.first().map(|r| r.mode.clone()),
            "outcome": self.runs.first().map(|r| r.outcome.clone()),
            "counts": self.runs.last().map(|r| r.counts.clone()),
        })
    }
}

/// `repeat` × (floor, then a full sync): into an empty store when `reset_store` (the full
/// sync), else over the store as it is (the no-op re-sync of an unchanged directory). `label`
/// names the step in the progress lines.
pub fn timed_syncs(
    d: &Directory,
    us: &Usersync,
    rt: &tokio::runtime::Runtime,
    repeat: usize,
    reset_store: bool,
    label: &str,
) -> Result<Paired> {
    let mut p = Paired {
        floors: Vec::new(),
        runs: Vec::new(),
    };
    for i in 0..repeat {
        let floor = d.floor()?;
        if reset_store {
            us.reset_store()?;
        }
        let run = us.sync(rt, true)?;
        say(format!(
            "  {label} {}/{repeat}: {:.2} s (floor {:.2} s, {:.2}×), peak RSS {:.0} MB",
            i + 1,
            run.child.wall_s,
            floor,
            run.child.wall_s / floor,
            run.child.max_rss_mb
        ));
        p.floors.push(floor);
        p.runs.push(run);
    }
    Ok(p)
}
