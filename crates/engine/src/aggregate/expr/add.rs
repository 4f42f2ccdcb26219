//! `$add`: numbers and at most one date, summed left to right as `mongod` sums them.
//!
//! Integers are summed as a `long` until it would overflow, from which point the sum is a
//! double; the result is an `int` when every operand was one and the sum fits. Once a date has
//! been seen, everything is added to its milliseconds, doubles rounded to the nearest integer
//! one by one.

use bson::{Bson, DateTime};

use super::num::{Num, Width, integer};
use super::{Value, nullish, type_name};
use crate::error::{CommandError, CommandResult, ErrorCode};

/// The running state of an `$add`.
#[derive(Debug, Default)]
struct AddState {
    width: Width,
    long_total: i64,
    double_total: f64,
    /// The exact sum of the decimal operands, once there is one.
    decimal_total: Option<Num>,
    is_date: bool,
}

impl AddState {
    fn add_number(&mut self, n: Num) -> CommandResult<()> {
        if self.is_date {
            return self.add_to_date(n);
        }
        if let Num::Decimal(_) = n {
            self.decimal_total = Some(match self.decimal_total {
                Some(total) => total.decimal_sum(n),
                None => n,
            });
            return Ok(());
        }
        let old = self.width;
        self.width = old.max(n.width());
        if old <= Width::Long && self.width >= Width::Double {
            self.double_total = self.long_total as f64;
        }
        match (self.width, n.as_integer()) {
            (Width::Int | Width::Long, Some(i)) => match self.long_total.checked_add(i) {
                Some(total) => self.long_total = total,
                None => {
                    self.width = Width::Double;
                    self.double_total = self.long_total as f64 + n.as_f64();
                }
            },
            _ => self.double_total += n.as_f64(),
        }
        Ok(())
    }

    fn add_date(&mut self, millis: i64) -> CommandResult<()> {
        if self.is_date {
            return Err(CommandError::with_code(
                16612,
                "only one date allowed in an $add expression",
            ));
        }
        let so_far = self.result();
        self.long_total = 0;
        self.decimal_total = None;
        self.is_date = true;
        self.add_to_date(so_far)?;
        self.add_to_date(Num::Long(millis))
    }

    /// Adds `n` to the milliseconds of the date, rounding a fractional `n`.
    fn add_to_date(&mut self, n: Num) -> CommandResult<()> {
        // 2^63: every i64 is below it, and it is exactly representable.
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        let step = match n {
            Num::Int(i) => Some(i64::from(i)),
            Num::Long(i) => Some(i),
            Num::Double(_) | Num::Decimal(_) => {
                let f = n.as_f64();
                let rounded = if n.width() == Width::Decimal {
                    f.round_ties_even()
                } else {
                    f.round()
                };
                (-TWO_63..TWO_63)
                    .contains(&rounded)
                    .then_some(rounded as i64)
            }
        };
        self.long_total = step
            .and_then(|step| self.long_total.checked_add(step))
            .ok_or_else(|| CommandError::new(ErrorCode::Overflow, "date overflow"))?;
        Ok(())
    }

    fn result(&self) -> Num {
        // `width` is that of the operands other than decimals, which are summed apart.
        let others = match self.width {
            Width::Int | Width::Long => integer(self.width, i128::from(self.long_total)),
            Width::Double | Width::Decimal => Num::Double(self.double_total),
        };
        match self.decimal_total {
            Some(decimals) => decimals.decimal_sum(others),
            None => others,
        }
    }
}

/// Evaluates `$add` on evaluated arguments.
pub(super) fn add(values: &[Value]) -> CommandResult<Value> {
    let mut state = AddState::default();
    for value in values {
        if nullish(value) {
            return Ok(Some(Bson::Null));
        }
        match value {
            Some(Bson::DateTime(d)) => state.add_date(d.timestamp_millis())?,
            _ => {
                let n = value.as_ref().and_then(Num::of).ok_or_else(|| {
                    CommandError::type_mismatch(format!(
                        "$add only supports numeric or date types, not {}",
                        type_name(value)
                    ))
                })?;
                state.add_number(n)?;
            }
        }
    }
    Ok(Some(if state.is_date {
        Bson::DateTime(DateTime::from_millis(state.long_total))
    } else {
        state.result().to_bson()
    }))
}
