//! Decimal text, read and written exactly: the checks every number a user types goes
//! through (`decimal_parts`: digits, one point, a sign and an exponent, nothing else) and
//! the digit-string helpers `BigFloat` prints with.

use num_bigint::BigInt;
use num_integer::Integer;

/// The longest decimal text read (a location 100,000 digits deep is far past any view).
const MAX_DECIMAL_TEXT: usize = 100_000;
/// Decimal exponents this far from 0 are refused in any number.
const MAX_DECIMAL_EXPONENT: i64 = 100_000;

/// Why text is not a decimal number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{text:?} is not a decimal number ({reason})")]
pub struct DecimalError {
    text: String,
    reason: &'static str,
}

impl DecimalError {
    pub(super) fn new(text: &str, reason: &'static str) -> Self {
        Self {
            text: text.chars().take(60).collect(),
            reason,
        }
    }
}

/// Decimal text's sign, significant digits (no leading zeros; empty for zero) and the
/// power of ten they are scaled by: `-0.0125e3` is (true, "125", -1). Only digits, one
/// point, a sign and an exponent are allowed; at most `MAX_DECIMAL_TEXT` characters and
/// exponents within `MAX_DECIMAL_EXPONENT`.
pub(super) fn decimal_parts(text: &str) -> Result<(bool, String, i64), DecimalError> {
    let error = |reason| DecimalError::new(text, reason);
    let trimmed = text.trim();
    if trimmed.len() > MAX_DECIMAL_TEXT {
        return Err(error("too many digits"));
    }
    let (negative, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (mantissa_text, exponent_text) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa_text.split_once('.').unwrap_or((mantissa_text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(error("no digits"));
    }
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return Err(error("only digits, one point, a sign and an exponent"));
    }
    let exponent: i64 = match exponent_text {
        Some(exponent) => exponent.parse().map_err(|_| error("a bad exponent"))?,
        None => 0,
    };
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let decimal_exponent = exponent - fraction.len() as i64;
    if !digits.is_empty() && (decimal_exponent + digits.len() as i64).abs() > MAX_DECIMAL_EXPONENT {
        return Err(error("too large or too small for a view"));
    }
    Ok((negative, digits.to_owned(), decimal_exponent))
}

/// `numerator / denominator` rounded to the nearest integer, ties to even.
pub(super) fn rounded_division(numerator: &BigInt, denominator: &BigInt) -> BigInt {
    let (quotient, remainder) = numerator.div_mod_floor(denominator);
    let twice = remainder * 2;
    if twice > *denominator || (twice == *denominator && quotient.is_odd()) {
        quotient + 1
    } else {
        quotient
    }
}

/// The first `significant` digits of `digits * 10^exponent`, rounded half up, as
/// (digits, exponent) with trailing zeros dropped.
pub(super) fn round_digits(digits: &str, exponent: i64, significant: usize) -> (String, i64) {
    let dropped = digits.len() - significant;
    let mut kept: BigInt = digits[..significant].parse().unwrap_or_default();
    if digits
        .as_bytes()
        .get(significant)
        .is_some_and(|digit| *digit >= b'5')
    {
        kept += 1;
    }
    let text = kept.to_string();
    let trimmed = text.trim_end_matches('0');
    let exponent = exponent + dropped as i64 + (text.len() - trimmed.len()) as i64;
    (trimmed.to_owned(), exponent)
}

/// `digits * 10^exponent` as text: plain when the point falls near the digits, else
/// scientific.
pub(super) fn decimal_text(negative: bool, digits: &str, exponent: i64) -> String {
    let sign = if negative { "-" } else { "" };
    let point_at = digits.len() as i64 + exponent; // digits before the decimal point
    if (-6..=21).contains(&point_at) {
        if exponent >= 0 {
            format!("{sign}{digits}{}", "0".repeat(exponent as usize))
        } else if point_at > 0 {
            let (whole, fraction) = digits.split_at(point_at as usize);
            format!("{sign}{whole}.{fraction}")
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-point_at) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        format!("{sign}{first}{point}{rest}e{}", point_at - 1)
    }
}
