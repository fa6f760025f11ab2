//! `--to-datetime` values: an ISO-8601 date-time or milliseconds since the
//! epoch, without a date-time dependency.

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn number(s: &str, what: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    let n: i64 = s
        .parse()
        .ok()
        .filter(|_| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("{what} {s:?} is not a number"))?;
    if !range.contains(&n) {
        return Err(format!("{what} {n} is out of range"));
    }
    Ok(n)
}

/// Milliseconds since the epoch for `s`: all digits (already milliseconds),
/// or `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z`, `+HH:MM` or `-HH:MM`
/// (no zone means UTC).
pub(super) fn parse_datetime(s: &str) -> Result<i64, String> {
    let bad = |why: String| {
        format!(
            "--to-datetime {s:?}: {why} (expected e.g. 2026-12-01T10:00:00Z or milliseconds since the epoch)"
        )
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad("too large".into()));
    }
    let (date, rest) = s
        .split_once(['T', ' '])
        .ok_or_else(|| bad("no 'T' between date and time".into()))?;
    let mut d = date.splitn(3, '-');
    let (Some(y), Some(m), Some(day)) = (d.next(), d.next(), d.next()) else {
        return Err(bad("the date is not YYYY-MM-DD".into()));
    };
    let year = number(y, "year", 0..=9999).map_err(bad)?;
    let month = number(m, "month", 1..=12).map_err(bad)?;
    let day = number(day, "day", 1..=days_in_month(year, month)).map_err(bad)?;

    // The zone: Z, +HH:MM, -HH:MM, or none (UTC).
    let (time, offset_minutes) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else if let Some(at) = rest.rfind(['+', '-']) {
        let (t, zone) = rest.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = &zone[1..];
        let (h, m) = zone
            .split_once(':')
            .unwrap_or_else(|| zone.split_at(zone.len().min(2)));
        let minutes = number(h, "zone hours", 0..=23).map_err(bad)? * 60
            + number(m, "zone minutes", 0..=59).map_err(bad)?;
        (t, sign * minutes)
    } else {
        (rest, 0)
    };
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':');
    let hour = number(t.next().unwrap_or(""), "hour", 0..=23).map_err(bad)?;
    let minute = number(t.next().unwrap_or(""), "minute", 0..=59).map_err(bad)?;
    let second = match t.next() {
        Some(sec) => number(sec, "second", 0..=60).map_err(bad)?,
        None => 0,
    };
    if t.next().is_some() {
        return Err(bad("too many ':' in the time".into()));
    }
    let millis = if fraction.is_empty() {
        0
    } else if fraction.len() <= 9 && fraction.bytes().all(|b| b.is_ascii_digit()) {
        let digits: String = fraction.chars().chain("00".chars()).take(3).collect();
        number(&digits, "fraction", 0..=999).map_err(bad)?
    } else {
        return Err(bad(format!("fraction {fraction:?} is not 1 to 9 digits")));
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1_000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_zones_and_millis() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_datetime("2026-12-01T10:00:00Z"),
            Ok(1_796_119_200_000)
        );
        assert_eq!(
            parse_datetime("2026-12-01T10:00:00.250Z"),
            Ok(1_796_119_200_250)
        );
        assert_eq!(
            parse_datetime("2026-12-01T12:00:00+02:00"),
            Ok(1_796_119_200_000)
        );
        assert_eq!(
            parse_datetime("2026-12-01T05:30-04:30"),
            Ok(1_796_119_200_000)
        );
        assert_eq!(parse_datetime("2026-12-01T10:00:00"), Ok(1_796_119_200_000));
        assert_eq!(parse_datetime("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
        assert_eq!(parse_datetime("1700000000123"), Ok(1_700_000_000_123));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-12-01",
            "2026-12-01T25:00:00Z",
            "2026-12-01T10:00:00:00Z",
            "2026-12-01T10:00:00.x5Z",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
