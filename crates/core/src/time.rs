//! Durations (`250ms`, `1h30m`) and RFC 3339 timestamps, parsed without a
//! clock: the core only compares instants it is given.

/// Parses a duration such as `250ms`, `30s`, `1h30m`, `1.5h` or `7d` into
/// milliseconds. `0` alone is allowed; every other number needs a unit.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err("it is empty".into());
    }
    let mut total: f64 = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!("expected a number at {rest:?}"));
        }
        let (number, after) = rest.split_at(number_len);
        let amount: f64 = number
            .parse()
            .map_err(|_| format!("{number:?} is not a number"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let millis = match unit {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            "" => return Err(format!("{number} has no unit (use ms, s, m, h or d)")),
            other => return Err(format!("unknown unit {other:?} (use ms, s, m, h or d)")),
        };
        total += amount * millis;
        rest = next;
    }
    // About 285 million years: anything larger is a typo, and the bound keeps
    // the conversion below exact.
    if !(0.0..=9.0e18).contains(&total) {
        return Err("it is too long".into());
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "range checked above; sub-millisecond parts are dropped on purpose"
    )]
    Ok(total as u64)
}

/// Parses an RFC 3339 timestamp (`2026-03-01T12:00:00Z`,
/// `2026-03-01T13:00:00.5+01:00`) into milliseconds since the Unix epoch.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let bytes = text.as_bytes();
    let bad = || format!("{text:?} is not an RFC 3339 timestamp like 2026-03-01T12:00:00Z");
    if bytes.len() < 20 {
        return Err(bad());
    }
    let digits = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = text.get(range).ok_or_else(bad)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let year = digits(0..4)?;
    let month = digits(5..7)?;
    let day = digits(8..10)?;
    let hour = digits(11..13)?;
    let minute = digits(14..16)?;
    let second = digits(17..19)?;
    if bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return Err(bad());
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(format!("{text:?} is not a real date and time"));
    }

    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if len == 0 {
            return Err(bad());
        }
        let padded = format!("{:0<3}", &fraction[..len.min(3)]);
        millis = padded.parse().map_err(|_| bad())?;
        rest = &fraction[len..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let hours: i64 = rest[1..3].parse().map_err(|_| bad())?;
            let minutes: i64 = rest[4..6].parse().map_err(|_| bad())?;
            if hours > 23 || minutes > 59 {
                return Err(bad());
            }
            sign * (hours * 60 + minutes)
        }
        _ => return Err(bad()),
    };
    // A leap second is folded into the next second's start.
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_minutes * 60;
    Ok(seconds * 1_000 + millis)
}

/// Formats milliseconds since the Unix epoch as RFC 3339 in UTC with
/// millisecond precision (`2026-03-01T12:00:00.000Z`). The fixed width makes
/// stored timestamps sort as text in time order.
pub fn format_timestamp(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000));
        assert_eq!(parse_duration("7d"), Ok(604_800_000));
        for bad in ["", "5", "5x", "ms", "-5s", "1..2s", "1e9999d", "h1"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for ms in [
            0,
            1_772_366_400_500,
            951_782_400_000,
            -1_000,
            4_102_444_799_999,
        ] {
            let text = format_timestamp(ms);
            assert_eq!(parse_timestamp(&text), Ok(ms), "{text}");
        }
        assert_eq!(
            format_timestamp(1_772_366_400_500),
            "2026-03-01T12:00:00.500Z"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_timestamp("2026-03-01T12:00:00Z"),
            Ok(1_772_366_400_000)
        );
        assert_eq!(
            parse_timestamp("2026-03-01T13:00:00.5+01:00"),
            Ok(1_772_366_400_500)
        );
        assert_eq!(parse_timestamp("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Ok(-1_000));
        for bad in [
            "",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+1:00",
            "2026-01-01X00:00:00Z",
            "2026-01-01T00:00:00.Z",
            "२०२६-01-01T00:00:00Z",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad} should be rejected");
        }
    }
}
