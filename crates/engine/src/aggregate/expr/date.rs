//! Dates: `$year $month $dayOfMonth $hour $minute $second $millisecond $dayOfWeek $dayOfYear
//! $week $isoWeek $isoWeekYear $isoDayOfWeek` and `$dateToString`, in the proleptic Gregorian
//! calendar.
//!
//! Time zones are UTC (`"UTC"`, `"GMT"`, `"Etc/UTC"`, `"Etc/GMT"`) or fixed offsets
//! (`"+05:30"`, `"-0800"`, `"+03"`); named zones with daylight-saving rules are refused.

use bson::{Bson, Document};

use super::op::Op;
use super::{Expr, Value, nullish, parse_at, type_name};
use crate::aggregate::show::{self, Style};
use crate::error::{CommandError, CommandResult};

const MILLIS_PER_DAY: i64 = 86_400_000;
const DEFAULT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S.%LZ";

/// A moment broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millisecond: u32,
    /// 0 for Sunday to 6 for Saturday.
    weekday: u32,
    /// 1 to 366.
    day_of_year: u32,
}

impl Parts {
    /// The calendar fields of `millis` since the epoch, shifted by `offset_minutes`.
    fn of(millis: i64, offset_minutes: i64) -> Parts {
        let local = i128::from(millis) + i128::from(offset_minutes) * 60_000;
        let day_ms = i128::from(MILLIS_PER_DAY);
        // |local| < 2^64, so the day count fits an i64 comfortably.
        let days = local.div_euclid(day_ms) as i64;
        let in_day = local.rem_euclid(day_ms) as u32;
        let (year, month, day) = civil_from_days(days);
        Parts {
            year,
            month,
            day,
            hour: in_day / 3_600_000,
            minute: in_day / 60_000 % 60,
            second: in_day / 1000 % 60,
            millisecond: in_day % 1000,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
            day_of_year: (days - days_from_civil(year, 1, 1) + 1) as u32,
        }
    }

    /// The week of the year, weeks starting on Sunday, days before the first Sunday in week 0.
    fn week(&self) -> u32 {
        (self.day_of_year + 6 - self.weekday) / 7
    }

    /// Monday 1 to Sunday 7.
    fn iso_weekday(&self) -> u32 {
        if self.weekday == 0 { 7 } else { self.weekday }
    }

    /// The ISO 8601 week-numbering year and week (1 to 53).
    fn iso_week(&self) -> (i64, u32) {
        let week = (self.day_of_year + 10 - self.iso_weekday()) / 7;
        if week == 0 {
            let previous = self.year - 1;
            return (previous, iso_weeks_in(previous));
        }
        if week > iso_weeks_in(self.year) {
            return (self.year + 1, 1);
        }
        (self.year, week)
    }
}

/// The number of ISO weeks (52 or 53) in `year`.
fn iso_weeks_in(year: i64) -> u32 {
    // A year has 53 weeks when it starts on a Thursday, or is a leap year starting on a Wednesday.
    let jan1 = (days_from_civil(year, 1, 1) + 4).rem_euclid(7);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if jan1 == 4 || (leap && jan1 == 3) {
        53
    } else {
        52
    }
}

/// The date `days` after 1970-01-01 as (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The number of days from 1970-01-01 to the given date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The moment a value names, in milliseconds since the epoch: a date, a timestamp (its
/// seconds) or an object id (its creation second); `None` for `null` and missing.
fn date_millis(value: &Value) -> CommandResult<Option<i64>> {
    match value {
        _ if nullish(value) => Ok(None),
        Some(Bson::DateTime(d)) => Ok(Some(d.timestamp_millis())),
        Some(Bson::Timestamp(ts)) => Ok(Some(i64::from(ts.time) * 1000)),
        Some(Bson::ObjectId(oid)) => Ok(Some(oid.timestamp().timestamp_millis())),
        _ => Err(CommandError::with_code(
            16006,
            format!("can't convert from BSON type {} to Date", type_name(value)),
        )),
    }
}

/// The offset from UTC, in minutes, a time zone names; `None` for `null` and missing.
fn time_zone(value: &Value) -> CommandResult<Option<i64>> {
    let name = match value {
        _ if nullish(value) => return Ok(None),
        Some(Bson::String(name)) => name,
        _ => {
            return Err(CommandError::with_code(
                40517,
                format!(
                    "timezone must evaluate to a string, found {}",
                    type_name(value)
                ),
            ));
        }
    };
    if matches!(name.as_str(), "UTC" | "GMT" | "Etc/UTC" | "Etc/GMT") {
        return Ok(Some(0));
    }
    if let Some(offset) = parse_offset(name) {
        return Ok(Some(offset));
    }
    if name.contains('/') {
        return Err(CommandError::bad_value(format!(
            "time zone \"{name}\" is not supported by this engine; use UTC or a fixed offset \
             such as \"+05:30\""
        )));
    }
    Err(CommandError::with_code(
        40485,
        format!("unrecognized time zone identifier: \"{name}\""),
    ))
}

/// Parses `±HH`, `±HHMM` or `±HH:MM` into minutes.
fn parse_offset(text: &str) -> Option<i64> {
    let (sign, rest) = match text.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let digits = match rest.len() {
        5 if rest.as_bytes()[2] == b':' => rest.replacen(':', "", 1),
        2 | 4 => rest.to_owned(),
        _ => return None,
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    (minutes < 60).then_some(sign * (hours * 60 + minutes))
}

/// Whether the argument of a date operator is its `{date, timezone}` form.
pub(super) fn is_part_object(spec: &Document) -> bool {
    spec.keys().next().is_none_or(|name| !name.starts_with('$'))
}

/// Parses `{date, timezone}` into the arguments `[date]` or `[date, timezone]`.
pub(super) fn parse_part_object(op: Op, spec: &Document, depth: usize) -> CommandResult<Vec<Expr>> {
    let mut date = None;
    let mut zone = None;
    for (name, value) in spec {
        let slot = match name.as_str() {
            "date" => &mut date,
            "timezone" => &mut zone,
            _ => {
                return Err(CommandError::with_code(
                    40535,
                    format!("unrecognized option to {}: \"{name}\"", op.name()),
                ));
            }
        };
        *slot = Some(parse_at(value, depth + 1)?);
    }
    let date = date.ok_or_else(|| {
        CommandError::with_code(
            40539,
            format!("missing 'date' argument to {}, provided: {spec}", op.name()),
        )
    })?;
    Ok(std::iter::once(date).chain(zone).collect())
}

/// Evaluates a date-part operator on `[date]` or `[date, timezone]`.
pub(super) fn eval_part(op: Op, values: &[Value]) -> CommandResult<Value> {
    let (date, zone) = match values {
        [date] => (date, None),
        [date, zone] => (date, Some(zone)),
        _ => return Err(CommandError::bad_value("a date operator takes one date")),
    };
    if nullish(date) {
        return Ok(Some(Bson::Null));
    }
    let offset = match zone {
        None => 0,
        Some(zone) => match time_zone(zone)? {
            Some(offset) => offset,
            None => return Ok(Some(Bson::Null)),
        },
    };
    let millis = date_millis(date)?.unwrap_or_default();
    let parts = Parts::of(millis, offset);
    let int = |n: u32| Some(Bson::Int32(i32::try_from(n).unwrap_or(i32::MAX)));
    let year = |y: i64| Some(i32::try_from(y).map_or(Bson::Int64(y), Bson::Int32));
    Ok(match op {
        Op::Year => year(parts.year),
        Op::Month => int(parts.month),
        Op::DayOfMonth => int(parts.day),
        Op::Hour => int(parts.hour),
        Op::Minute => int(parts.minute),
        Op::Second => int(parts.second),
        Op::Millisecond => int(parts.millisecond),
        Op::DayOfWeek => int(parts.weekday + 1),
        Op::DayOfYear => int(parts.day_of_year),
        Op::Week => int(parts.week()),
        Op::IsoWeek => int(parts.iso_week().1),
        Op::IsoWeekYear => year(parts.iso_week().0),
        _ => int(parts.iso_weekday()),
    })
}

/// A date written as `mongod` writes one in strings: `2024-05-06T07:08:09.010Z`.
pub(super) fn format_iso(millis: i64) -> CommandResult<String> {
    format_date(DEFAULT_FORMAT, &Parts::of(millis, 0), 0)
}

/// `$dateToString`.
#[derive(Debug, Clone)]
pub(crate) struct DateToString {
    format: Option<Expr>,
    date: Expr,
    timezone: Option<Expr>,
    on_null: Option<Expr>,
}

impl DateToString {
    /// Parses `{format, date, timezone, onNull}`.
    pub(super) fn parse(arg: &Bson, depth: usize) -> CommandResult<DateToString> {
        let Bson::Document(spec) = arg else {
            return Err(CommandError::with_code(
                18629,
                "$dateToString only supports an object as its argument",
            ));
        };
        let (mut format, mut date, mut timezone, mut on_null) = (None, None, None, None);
        for (name, value) in spec {
            let slot = match name.as_str() {
                "format" => &mut format,
                "date" => &mut date,
                "timezone" => &mut timezone,
                "onNull" => &mut on_null,
                _ => {
                    return Err(CommandError::with_code(
                        18534,
                        format!("Unrecognized argument to $dateToString: {name}"),
                    ));
                }
            };
            *slot = Some(parse_at(value, depth + 1)?);
        }
        if let Some(Expr::Const(Bson::String(text))) = &format {
            check_format(text)?;
        }
        let date = date.ok_or_else(|| {
            CommandError::with_code(18628, "Missing 'date' parameter to $dateToString")
        })?;
        Ok(DateToString {
            format,
            date,
            timezone,
            on_null,
        })
    }

    /// Formats the date `root` gives.
    pub(super) fn eval(&self, root: &Document) -> CommandResult<Value> {
        let date = self.date.eval(root)?;
        let format = match &self.format {
            None => None,
            Some(expr) => Some(expr.eval(root)?),
        };
        if let Some(format) = format.as_ref().filter(|f| !nullish(f)) {
            let Some(Bson::String(text)) = format else {
                return Err(CommandError::with_code(
                    18533,
                    format!(
                        "$dateToString requires that 'format' be a string, found: {} with value \
                         {}",
                        type_name(format),
                        format
                            .as_ref()
                            .map_or_else(String::new, |v| show::value_in(v, Style::Document))
                    ),
                ));
            };
            check_format(text)?;
        }
        let offset = match &self.timezone {
            None => Some(0),
            Some(expr) => time_zone(&expr.eval(root)?)?,
        };
        if nullish(&date) {
            return match &self.on_null {
                Some(on_null) => on_null.eval(root),
                None => Ok(Some(Bson::Null)),
            };
        }
        let Some(offset) = offset else {
            return Ok(Some(Bson::Null));
        };
        let format = match format {
            None => DEFAULT_FORMAT.to_owned(),
            Some(Some(Bson::String(text))) => text,
            Some(_) => return Ok(Some(Bson::Null)),
        };
        let millis = date_millis(&date)?.unwrap_or_default();
        let text = format_date(&format, &Parts::of(millis, offset), offset)?;
        Ok(Some(Bson::String(text)))
    }
}

/// Refuses a format with an unknown specifier or a lone `%` at its end.
fn check_format(format: &str) -> CommandResult<()> {
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            None => {
                return Err(CommandError::with_code(
                    18535,
                    "Unmatched '%' at end of format string",
                ));
            }
            Some(
                '%' | 'Y' | 'm' | 'd' | 'H' | 'M' | 'S' | 'L' | 'j' | 'w' | 'U' | 'G' | 'V' | 'u'
                | 'z' | 'Z',
            ) => {}
            Some(other) => {
                return Err(CommandError::with_code(
                    18536,
                    format!("Invalid format character '%{other}' in format string"),
                ));
            }
        }
    }
    Ok(())
}

/// Writes `parts` by a checked format.
fn format_date(format: &str, parts: &Parts, offset_minutes: i64) -> CommandResult<String> {
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (value, width) = match chars.next() {
            Some('%') | None => {
                out.push('%');
                continue;
            }
            Some('Y') => (parts.year, 4),
            Some('m') => (i64::from(parts.month), 2),
            Some('d') => (i64::from(parts.day), 2),
            Some('H') => (i64::from(parts.hour), 2),
            Some('M') => (i64::from(parts.minute), 2),
            Some('S') => (i64::from(parts.second), 2),
            Some('L') => (i64::from(parts.millisecond), 3),
            Some('j') => (i64::from(parts.day_of_year), 3),
            Some('w') => (i64::from(parts.weekday + 1), 1),
            Some('U') => (i64::from(parts.week()), 2),
            Some('G') => (parts.iso_week().0, 4),
            Some('V') => (i64::from(parts.iso_week().1), 2),
            Some('u') => (i64::from(parts.iso_weekday()), 1),
            Some('z') => {
                out.push(if offset_minutes < 0 { '-' } else { '+' });
                let minutes = offset_minutes.abs();
                push_padded(&mut out, minutes / 60, 2)?;
                (minutes % 60, 2)
            }
            Some('Z') => {
                out.push_str(&offset_minutes.to_string());
                continue;
            }
            Some(other) => {
                return Err(CommandError::with_code(
                    18536,
                    format!("Invalid format character '%{other}' in format string"),
                ));
            }
        };
        push_padded(&mut out, value, width)?;
    }
    Ok(out)
}

/// Appends `value` zero-padded to `width` digits; values outside 0–9999 cannot be written.
fn push_padded(out: &mut String, value: i64, width: usize) -> CommandResult<()> {
    if !(0..=9999).contains(&value) {
        return Err(CommandError::with_code(
            18537,
            format!(
                "Could not convert date to string: date component was outside the supported \
                 range of 0-9999: {value}"
            ),
        ));
    }
    out.push_str(&format!("{value:0width$}"));
    Ok(())
}
