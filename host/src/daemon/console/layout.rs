//! The page shell (skip link, navigation, sign-out, messages) and small
//! formatting helpers shared by the pages.

use chrono::{DateTime, Local, Utc};
use maud::{html, Markup, DOCTYPE};

use super::Ctx;

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · usersync" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                (main)
            }
        }
    }
}

const NAV: [(&str, &str); 5] = [
    ("jobs", "Jobs"),
    ("runs", "Runs"),
    ("users", "Users and groups"),
    ("plugins", "Plugins"),
    ("licenses", "Licenses"),
];

/// A signed-in page: navigation with `active` marked, the flash message,
/// then `main`.
pub fn page(ctx: &Ctx, title: &str, active: &str, main: Markup) -> Markup {
    let who = match ctx.tenant_only() {
        Some(t) => format!("tenant {t}"),
        None => "operator".to_string(),
    };
    bare(
        title,
        html! {
            header class="top" {
                a class="brand" href="/console/jobs" { "usersync" }
                nav aria-label="Main" {
                    ul {
                        @for (slug, label) in NAV {
                            li {
                                @if slug == active {
                                    a href={ "/console/" (slug) } aria-current="page" { (label) }
                                } @else {
                                    a href={ "/console/" (slug) } { (label) }
                                }
                            }
                        }
                    }
                }
                form method="post" action="/console/logout" class="signout" {
                    (csrf(ctx))
                    span class="who" { "Signed in as " (who) }
                    button type="submit" class="link" { "Sign out" }
                }
            }
            main id="main" {
                @if let Some(f) = &ctx.flash {
                    p role="status" class={ "flash " (if f.ok { "good" } else { "bad" }) } id="flash" { (f.text) }
                }
                h1 { (title) }
                (main)
            }
        },
    )
}

/// The hidden CSRF field every form carries.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// A time in the server's local zone, with the UTC instant as a tooltip.
pub fn when(t: &DateTime<Utc>) -> Markup {
    let local = t.with_timezone(&Local);
    html! {
        time datetime=(t.to_rfc3339()) { (local.format("%Y-%m-%d %H:%M:%S")) }
    }
}

/// An RFC 3339 text from the store, shown like [`when`].
pub fn when_text(t: &str) -> Markup {
    match DateTime::parse_from_rfc3339(t) {
        Ok(t) => when(&t.with_timezone(&Utc)),
        Err(_) => html! { (t) },
    }
}

/// A badge for a run outcome or job status.
pub fn badge(text: &str) -> Markup {
    let class = match text {
        "succeeded" | "ok" | "idle" | "active" => "good",
        "running" | "warning" | "skipped" | "dry run" => "info",
        _ => "bad",
    };
    html! { span class={ "badge " (class) } { (text.replace('_', " ")) } }
}

/// Milliseconds as "1.2 s" / "3 min 4 s".
pub fn duration_ms(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// A job's schedule in words: "every 15 minutes", "every day at 02:00".
pub fn schedule_words(cron: Option<&str>, interval: Option<u64>) -> String {
    if let Some(c) = cron {
        return cron_words(c).unwrap_or_else(|| format!("cron {c}"));
    }
    match interval {
        Some(s) if s % 3600 == 0 => plural(s / 3600, "hour"),
        Some(s) if s % 60 == 0 => plural(s / 60, "minute"),
        Some(s) => plural(s, "second"),
        None => "by hand only".into(),
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("every {unit}")
    } else {
        format!("every {n} {unit}s")
    }
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The common five-field shapes in words; `None` for the rest.
pub fn cron_words(expr: &str) -> Option<String> {
    let f: Vec<&str> = expr.split_whitespace().collect();
    let [min, hour, dom, mon, dow] = f.as_slice() else {
        return None;
    };
    let every = |s: &str| s.strip_prefix("*/").and_then(|n| n.parse::<u64>().ok());
    let num = |s: &str| s.parse::<u32>().ok();
    let rest_any = *dom == "*" && *mon == "*";
    match (num(min), num(hour)) {
        _ if *min == "*" && *hour == "*" && rest_any && *dow == "*" => Some("every minute".into()),
        _ if every(min).is_some() && *hour == "*" && rest_any && *dow == "*" => {
            Some(plural(every(min)?, "minute"))
        }
        (Some(m), None) if every(hour).is_some() && rest_any && *dow == "*" => {
            Some(format!("{} at minute {m}", plural(every(hour)?, "hour")))
        }
        (Some(m), None) if *hour == "*" && rest_any && *dow == "*" => {
            Some(format!("every hour at minute {m}"))
        }
        (Some(m), Some(h)) if rest_any && *dow == "*" => {
            Some(format!("every day at {h:02}:{m:02}"))
        }
        (Some(m), Some(h)) if rest_any && *dow == "1-5" => {
            Some(format!("every weekday at {h:02}:{m:02}"))
        }
        (Some(m), Some(h)) if rest_any => {
            let d = num(dow).filter(|d| *d < 7)?;
            Some(format!("every {} at {h:02}:{m:02}", DAYS[d as usize]))
        }
        (Some(m), Some(h)) if *mon == "*" && *dow == "*" => {
            let d = num(dom)?;
            Some(format!("on day {d} of every month at {h:02}:{m:02}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_in_words() {
        assert_eq!(cron_words("*/15 * * * *").unwrap(), "every 15 minutes");
        assert_eq!(cron_words("0 2 * * *").unwrap(), "every day at 02:00");
        assert_eq!(cron_words("30 6 * * 1").unwrap(), "every Monday at 06:30");
        assert_eq!(cron_words("5 * * * *").unwrap(), "every hour at minute 5");
        assert_eq!(
            cron_words("0 */2 * * *").unwrap(),
            "every 2 hours at minute 0"
        );
        assert_eq!(cron_words("0 7 * * 1-5").unwrap(), "every weekday at 07:00");
        assert_eq!(
            cron_words("0 0 1 * *").unwrap(),
            "on day 1 of every month at 00:00"
        );
        assert!(cron_words("0 0 1 1 *").is_none());
        assert_eq!(schedule_words(None, Some(900)), "every 15 minutes");
        assert_eq!(schedule_words(None, None), "by hand only");
    }
}
