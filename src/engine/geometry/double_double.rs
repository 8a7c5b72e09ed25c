//! `Dd`, a double-double number (an unevaluated sum `hi + lo` of two f64s, about 106 bits),
//! which the view's centre is held in so that panning and zooming keep their precision far
//! below f64's limit; and its exact decimal text (parsing and printing), so a location
//! copied as text, typed on the command line or stored in a document is the same number
//! bit for bit.
//!
//! Every `Dd` this module hands out lies on a fixed grid: `lo` is a whole multiple of
//! `ulp(hi) / 2^53`. Arithmetic rounds its result to that grid (a change of at most
//! 2^-107 relative), and parsing rounds decimal text to the nearest grid value, so the
//! shortest decimal text that reads back to a value (34-36 significant digits) exists
//! and `to_decimal` finds it. Magnitudes below 2^-900 keep only `hi` (no view needs them).
//!
//! The arithmetic is the classic error-free transformations (Knuth's two-sum, the fused
//! multiply-add two-product) as in the QD library; the decimal conversions are exact, in
//! big integers.

use std::fmt;
use std::str::FromStr;

use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{Signed, ToPrimitive, Zero};
use serde::{Deserialize, Serialize};

/// A double-double number: `hi + lo` with `|lo| <= ulp(hi) / 2` (see the module's grid).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dd {
    hi: f64,
    lo: f64,
}

/// Below this magnitude a `Dd` keeps only `hi`: the grid's step would be subnormal.
const SMALLEST_WITH_LOW_PART: f64 = 7.0e-271; // about 2^-897
/// The most significant digits `to_decimal` tries before printing every digit.
const MAX_ROUND_TRIP_DIGITS: usize = 40;
/// Decimal exponents this far from 0 are refused when parsing (f64 cannot hold them).
const MAX_DECIMAL_EXPONENT: i64 = 400;

/// Why text is not a decimal number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{text:?} is not a decimal number ({reason})")]
pub struct DecimalError {
    text: String,
    reason: &'static str,
}

// a + b = s + err exactly (Knuth).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

// a + b = s + err exactly when |a| >= |b| (or a is 0).
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

// a * b = p + err exactly (the fused multiply-add rounds once).
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// 2^exponent as an f64 (exact for exponents in f64's normal and subnormal range).
fn power_of_two(exponent: i32) -> f64 {
    // Two steps, so that exponents down to -1074 stay exact.
    if exponent < -1000 {
        2.0_f64.powi(exponent + 100) * 2.0_f64.powi(-100)
    } else {
        2.0_f64.powi(exponent)
    }
}

/// The grid step of the low part for a high part `hi`, ulp(hi) / 2^53, as its power of two.
fn grid_exponent(hi: f64) -> Option<i32> {
    if !hi.is_finite() || hi.abs() < SMALLEST_WITH_LOW_PART {
        return None;
    }
    let (_, exponent) = mantissa_and_exponent(hi);
    // hi = mantissa * 2^exponent with a 53-bit mantissa, so ulp(hi) = 2^exponent.
    Some(exponent - 53)
}

/// `value` (finite, non-zero) as mantissa * 2^exponent, the mantissa an integer of at most
/// 53 bits (53 exactly for normal numbers).
fn mantissa_and_exponent(value: f64) -> (i64, i32) {
    let bits = value.to_bits();
    let sign = if bits >> 63 == 0 { 1 } else { -1 };
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = (bits & ((1_u64 << 52) - 1)) as i64;
    if biased == 0 {
        (sign * fraction, -1074)
    } else {
        (sign * (fraction | (1_i64 << 52)), biased - 1075)
    }
}

impl Dd {
    /// Zero.
    pub const ZERO: Dd = Dd { hi: 0.0, lo: 0.0 };

    /// The f64 `value`, exactly.
    pub const fn from_f64(value: f64) -> Self {
        Self { hi: value, lo: 0.0 }
    }

    /// `hi + lo` normalised and rounded to the grid.
    fn from_parts(hi: f64, lo: f64) -> Self {
        let (hi, lo) = quick_two_sum(hi, lo);
        let lo = match grid_exponent(hi).map(power_of_two) {
            Some(step) => (lo / step).round_ties_even() * step,
            None => 0.0,
        };
        // Rounding can carry into hi (lo at half an ulp): normalise once more (exact).
        let (hi, lo) = quick_two_sum(hi, lo);
        Self { hi, lo }
    }

    /// The high part (the value rounded to an f64).
    pub fn hi(self) -> f64 {
        self.hi
    }

    /// The low part (what `hi` leaves out).
    pub fn lo(self) -> f64 {
        self.lo
    }

    /// The value rounded to an f64.
    pub fn to_f64(self) -> f64 {
        self.hi + self.lo
    }

    /// True when both parts are finite.
    pub fn is_finite(self) -> bool {
        self.hi.is_finite() && self.lo.is_finite()
    }

    /// `self + other` for an f64 `other`.
    pub fn add_f64(self, other: f64) -> Dd {
        let (s, e) = two_sum(self.hi, other);
        Self::from_parts(s, e + self.lo)
    }

    /// `self + other` exactly as the `dd` library in Lua adds a number (no rounding to the
    /// grid): the coordinates a kernel's `pixel_deep` receives.
    pub fn add_f64_as_lua(self, other: f64) -> Dd {
        let (s, e) = two_sum(self.hi, other);
        let (hi, lo) = quick_two_sum(s, e + self.lo);
        Dd { hi, lo }
    }

    /// `self * factor` for an f64 `factor`.
    pub fn mul_f64(self, factor: f64) -> Dd {
        let (p, e) = two_prod(self.hi, factor);
        Self::from_parts(p, e + self.lo * factor)
    }

    /// `self / divisor` for an f64 `divisor`.
    pub fn div_f64(self, divisor: f64) -> Dd {
        let first = self.hi / divisor;
        let (p, p_error) = two_prod(first, divisor);
        let (s, e) = two_sum(self.hi, -p);
        let remainder = s + (e - p_error + self.lo);
        Self::from_parts(first, remainder / divisor)
    }

    /// The nearest multiple of 2^`exponent` to this value, or (when that multiple would
    /// need more bits than a double-double holds) a nearby value on the grid: a
    /// deterministic rounding, so every value within the same cell gives the same result.
    pub(crate) fn snapped_to_power_of_two(self, exponent: i32) -> Dd {
        if self.hi == 0.0 || !self.is_finite() {
            return Dd::ZERO;
        }
        let cell = power_of_two(exponent);
        let (_, hi_ulp_exponent) = mantissa_and_exponent(self.hi);
        if hi_ulp_exponent >= exponent {
            // hi is already a multiple of the cell: round the low part.
            Self::from_parts(self.hi, (self.lo / cell).round_ties_even() * cell)
        } else {
            // lo is below half an ulp of hi, so below half a cell: hi decides.
            Dd::from_f64((self.hi / cell).round_ties_even() * cell)
        }
    }

    /// The exact value as a big-integer fraction `numerator * 2^exponent`.
    fn exact_binary(self) -> (BigInt, i32) {
        let parts: Vec<(i64, i32)> = [self.hi, self.lo]
            .into_iter()
            .filter(|part| *part != 0.0)
            .map(mantissa_and_exponent)
            .collect();
        let Some(lowest) = parts.iter().map(|(_, exponent)| *exponent).min() else {
            return (BigInt::zero(), 0);
        };
        let numerator = parts
            .iter()
            .map(|(mantissa, exponent)| BigInt::from(*mantissa) << (exponent - lowest) as usize)
            .sum();
        (numerator, lowest)
    }

    /// The nearest grid value to the exact rational `numerator / denominator`
    /// (denominator > 0), given `hi`, the nearest f64 to it.
    fn nearest_to_fraction(hi: f64, numerator: &BigInt, denominator: &BigInt) -> Dd {
        let Some(step_exponent) = grid_exponent(hi) else {
            return Dd::from_f64(hi);
        };
        // (value - hi) / step, rounded: step = 2^step_exponent, hi = m * 2^e.
        let (hi_mantissa, hi_exponent) = mantissa_and_exponent(hi);
        // Scale everything by 2^-step_exponent (a non-negative shift: step <= ulp(hi)).
        let hi_scaled = BigInt::from(hi_mantissa) << (hi_exponent - step_exponent) as usize;
        let shift = -step_exponent;
        let (scaled_numerator, scaled_denominator) = if shift >= 0 {
            (numerator << shift as usize, denominator.clone())
        } else {
            (numerator.clone(), denominator << (-shift) as usize)
        };
        let difference = scaled_numerator - &hi_scaled * &scaled_denominator;
        let low_steps = rounded_division(&difference, &scaled_denominator);
        let low_steps = low_steps.to_f64().unwrap_or(0.0);
        Self::from_parts(hi, low_steps * power_of_two(step_exponent))
    }

    /// Reads decimal text (`-0.7436438870371587047521915`, `1.5e-20`): the nearest grid
    /// value to the exact decimal number.
    pub fn parse_decimal(text: &str) -> Result<Dd, DecimalError> {
        let error = |reason| DecimalError {
            text: text.chars().take(60).collect(),
            reason,
        };
        let trimmed = text.trim();
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
        if digits.is_empty() {
            return Ok(Dd::ZERO);
        }
        if (decimal_exponent + digits.len() as i64).abs() > MAX_DECIMAL_EXPONENT {
            return Err(error("too large or too small for a view"));
        }
        // Rust's parser rounds correctly to the nearest f64.
        let hi: f64 = format!(
            "{}{digits}e{decimal_exponent}",
            if negative { "-" } else { "" }
        )
        .parse()
        .map_err(|_| error("unreadable"))?;
        if !hi.is_finite() {
            return Err(error("too large for a view"));
        }
        let mut numerator: BigInt = digits.parse().map_err(|_| error("unreadable"))?;
        if negative {
            numerator = -numerator;
        }
        let ten = BigInt::from(10);
        let (numerator, denominator) = if decimal_exponent >= 0 {
            (
                numerator * ten.pow(decimal_exponent as u32),
                BigInt::from(1),
            )
        } else {
            (numerator, ten.pow((-decimal_exponent) as u32))
        };
        Ok(Self::nearest_to_fraction(hi, &numerator, &denominator))
    }

    /// The shortest decimal text (at least 17 significant digits) that `parse_decimal`
    /// reads back to this very value, plain for ordinary magnitudes, else scientific.
    pub fn to_decimal(self) -> String {
        if !self.is_finite() {
            return format!("{}", self.hi);
        }
        if self.hi == 0.0 {
            return "0".to_owned();
        }
        let (numerator, exponent) = self.exact_binary();
        // value = numerator * 2^exponent = numerator * 5^-exponent / 10^-exponent.
        let (all_digits, mut decimal_exponent) = if exponent >= 0 {
            ((numerator << exponent as usize).abs().to_string(), 0_i64)
        } else {
            let five = BigInt::from(5);
            (
                (numerator * five.pow((-exponent) as u32)).abs().to_string(),
                i64::from(exponent),
            )
        };
        let negative = self.hi < 0.0;
        for significant in 17..=MAX_ROUND_TRIP_DIGITS.min(all_digits.len()) {
            let (digits, exponent) = round_digits(&all_digits, decimal_exponent, significant);
            let text = decimal_text(negative, &digits, exponent);
            if Dd::parse_decimal(&text).as_ref() == Ok(&self) {
                return text;
            }
        }
        // Every digit: exact, so it reads back (this point is reached only in odd cases).
        let trimmed = all_digits.trim_end_matches('0');
        decimal_exponent += (all_digits.len() - trimmed.len()) as i64;
        decimal_text(negative, trimmed, decimal_exponent)
    }
}

impl Dd {
    /// The value rounded to `places` digits after the decimal point, with a sign always
    /// (`+0.1318259042053119704931`), for readouts whose digits follow the pixel size.
    pub fn to_fixed(self, places: usize) -> String {
        let sign = if self.hi < 0.0 { "-" } else { "+" };
        if !self.is_finite() {
            return format!("{}", self.hi);
        }
        let (numerator, exponent) = self.exact_binary();
        let scaled = numerator.abs() * BigInt::from(10).pow(places as u32);
        let rounded = if exponent >= 0 {
            scaled << exponent as usize
        } else {
            rounded_division(&scaled, &(BigInt::from(1) << (-exponent) as usize))
        };
        let digits = format!("{rounded:0>width$}", width = places + 1);
        let (whole, fraction) = digits.split_at(digits.len() - places);
        if places == 0 {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{fraction}")
        }
    }
}

/// `numerator / denominator` rounded to the nearest integer, ties to even.
fn rounded_division(numerator: &BigInt, denominator: &BigInt) -> BigInt {
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
fn round_digits(digits: &str, exponent: i64, significant: usize) -> (String, i64) {
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
fn decimal_text(negative: bool, digits: &str, exponent: i64) -> String {
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

/// Double-double sums, accurate to a few units in 2^-104 (QD's "ieee" addition).
impl std::ops::Add for Dd {
    type Output = Dd;
    fn add(self, other: Dd) -> Dd {
        let (s, e) = two_sum(self.hi, other.hi);
        let (t, f) = two_sum(self.lo, other.lo);
        let (s, e) = quick_two_sum(s, e + t);
        Dd::from_parts(s, e + f)
    }
}

impl std::ops::Sub for Dd {
    type Output = Dd;
    fn sub(self, other: Dd) -> Dd {
        self + -other
    }
}

impl std::ops::Neg for Dd {
    type Output = Dd;
    fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl PartialOrd for Dd {
    fn partial_cmp(&self, other: &Dd) -> Option<std::cmp::Ordering> {
        match self.hi.partial_cmp(&other.hi)? {
            std::cmp::Ordering::Equal => self.lo.partial_cmp(&other.lo),
            unequal => Some(unequal),
        }
    }
}

impl From<f64> for Dd {
    fn from(value: f64) -> Self {
        Dd::from_f64(value)
    }
}

impl fmt::Display for Dd {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_decimal())
    }
}

impl FromStr for Dd {
    type Err = DecimalError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Dd::parse_decimal(text)
    }
}

/// Written as its exact decimal text; read from that text or from a plain number (settings
/// written before the centre was a double-double).
impl Serialize for Dd {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_decimal())
    }
}

impl<'de> Deserialize<'de> for Dd {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Text(String),
            Number(f64),
        }
        match Stored::deserialize(deserializer)? {
            Stored::Number(value) => Ok(Dd::from_f64(value)),
            Stored::Text(text) => Dd::parse_decimal(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    const SEAHORSE_X: &str = "-0.743643887037158704752191506114774";

    #[test]
    fn decimal_text_keeps_31_digits_that_an_f64_drops() {
        let x = Dd::parse_decimal(SEAHORSE_X).expect("decimal");
        assert_eq!(x.hi(), -0.743_643_887_037_158_7);
        assert!(x.lo() != 0.0, "the digits past f64's 17 are kept in lo");
        let text = x.to_decimal();
        assert!(
            text.starts_with("-0.7436438870371587047521915061147"),
            "{text}"
        );
        assert_eq!(Dd::parse_decimal(&text), Ok(x), "bit-exact round trip");
    }

    #[test]
    fn results_of_arithmetic_print_and_read_back_bit_for_bit() {
        let mut value = Dd::parse_decimal("0.131825904205311970493132056385139").expect("decimal");
        for step in 1..200 {
            value = value
                .add_f64(1.234_567e-19 * f64::from(step))
                .mul_f64(1.000_000_1)
                .div_f64(1.000_000_3);
            let back = Dd::parse_decimal(&value.to_decimal()).expect("own text reads");
            assert_eq!(back, value, "{}", value.to_decimal());
        }
        for plain in [0.1, -2.5, 1.0e-30, 6.02e23, 0.0] {
            let value = Dd::from_f64(plain);
            assert_eq!(Dd::parse_decimal(&value.to_decimal()), Ok(value));
        }
    }

    #[test]
    fn fixed_readouts_round_to_the_places_asked_for() {
        let x = Dd::parse_decimal(SEAHORSE_X).expect("decimal");
        assert_eq!(x.to_fixed(3), "-0.744");
        assert_eq!(x.to_fixed(25), "-0.7436438870371587047521915");
        assert_eq!(Dd::from_f64(2.5).to_fixed(0), "+2");
        assert_eq!(Dd::from_f64(0.004).to_fixed(2), "+0.00");
    }

    #[test]
    fn small_steps_are_not_lost_against_a_large_value() {
        let start = Dd::from_f64(-0.75);
        let moved = start.add_f64(1.0e-25).add_f64(1.0e-25);
        assert_eq!(moved.hi(), -0.75);
        let difference = (moved - start).to_f64();
        assert!((difference - 2.0e-25).abs() < 1.0e-31, "{difference}");
        let scaled = (moved - start).mul_f64(3.0).div_f64(2.0).to_f64();
        assert!((scaled - 3.0e-25).abs() < 1.0e-31, "{scaled}");
    }

    #[test]
    fn bad_decimal_text_is_refused_with_a_reason() {
        for text in ["", "-", "1.2.3", "0x10", "1e", "nan", "inf", "1e999", "12a"] {
            assert!(Dd::parse_decimal(text).is_err(), "{text:?} read");
        }
        assert_eq!(Dd::parse_decimal(" +1.5e-3 "), Dd::parse_decimal("0.0015"));
    }

    #[test]
    fn stored_numbers_and_texts_both_read() {
        let from_number: Dd = serde_json::from_str("-0.5").expect("number");
        assert_eq!(from_number, Dd::from_f64(-0.5));
        let from_text: Dd = serde_json::from_str(&format!("\"{SEAHORSE_X}\"")).expect("text");
        let written = serde_json::to_string(&from_text).expect("write");
        assert_eq!(
            serde_json::from_str::<Dd>(&written).expect("read"),
            from_text
        );
    }
}
