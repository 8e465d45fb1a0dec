//! Retries of throttled requests (429 Too Many Requests, 503 Service
//! Unavailable) as the server asks: `Retry-After` in seconds or as an HTTP
//! date, else Okta's `X-Rate-Limit-Reset` (epoch seconds, read against the
//! response's own `Date` so clock skew does not matter), else a short
//! backoff. Capped: at most [`MAX_TRIES`] tries and [`MAX_WAIT`] per wait.
//! When the cap is reached the response goes back to the plugin, which can
//! ask `schedule.run-again-in` for a later run instead of hammering.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// Tries per request, the first included.
pub const MAX_TRIES: u32 = 3;
/// The longest the host waits before one retry; a server asking for more
/// gets its answer passed to the plugin.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// How long to wait before trying again, or `None` to hand the response
/// to the plugin. `attempt` is 1 for the first try.
pub fn wait_before_retry(
    status: u16,
    headers: &HeaderMap,
    attempt: u32,
    now: SystemTime,
) -> Option<Duration> {
    if !matches!(status, 429 | 503) || attempt >= MAX_TRIES {
        return None;
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let wait = if let Some(ra) = text("retry-after") {
        match ra.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => httpdate::parse_http_date(ra)
                .ok()?
                .duration_since(now)
                .unwrap_or_default(),
        }
    } else if let Some(reset) = text("x-rate-limit-reset").and_then(|r| r.parse::<u64>().ok()) {
        let server_now = text("date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .unwrap_or(now);
        // A reset beyond what SystemTime holds is a wait too long anyway.
        let reset = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(reset))?;
        reset.duration_since(server_now).unwrap_or_default()
    } else {
        Duration::from_secs(1 << (attempt - 1))
    };
    (wait <= MAX_WAIT).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = headers(&[("retry-after", "2")]);
        assert_eq!(
            wait_before_retry(429, &h, 1, now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            wait_before_retry(503, &h, 2, now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            wait_before_retry(429, &h, MAX_TRIES, now),
            None,
            "capped tries"
        );
        assert_eq!(wait_before_retry(500, &h, 1, now), None, "not throttling");
        let date = httpdate::fmt_http_date(now + Duration::from_secs(5));
        let h = headers(&[("retry-after", &date)]);
        assert_eq!(
            wait_before_retry(429, &h, 1, now),
            Some(Duration::from_secs(5))
        );
        let h = headers(&[("retry-after", "3600")]);
        assert_eq!(
            wait_before_retry(429, &h, 1, now),
            None,
            "too long: the plugin decides"
        );
    }

    #[test]
    fn okta_reset_is_read_against_the_server_date() {
        // The server's clock is 100 s behind ours: only the difference counts.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        let date =
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let h = headers(&[("x-rate-limit-reset", "1700000004"), ("date", &date)]);
        assert_eq!(
            wait_before_retry(429, &h, 1, now),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            wait_before_retry(429, &HeaderMap::new(), 2, now),
            Some(Duration::from_secs(2)),
            "no hint: short backoff"
        );
    }

    #[test]
    fn absurd_rate_limit_hints_give_up_instead_of_panicking() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for (name, value) in [
            ("x-rate-limit-reset", "18446744073709551615"),
            ("retry-after", "18446744073709551615"),
        ] {
            let h = headers(&[(name, value)]);
            assert_eq!(wait_before_retry(429, &h, 1, now), None, "{name}");
        }
    }
}
