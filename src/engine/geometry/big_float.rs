//! Places in the plane to any depth: `BigFloat`, a binary floating-point number with as
//! many bits as a view's depth needs (dashu-float underneath), and its decimal text.
//!
//! A view's centre and span are `BigFloat`s, so a location keeps every digit down to spans
//! far below what double-double (about 1e-31) or even f64's range (1e-308) can hold. The
//! precision travels with each number: arithmetic keeps the larger of its operands', and
//! `View` rounds its centre to the bits its span needs (`View::center_bits`). Decimal text
//! reads to the nearest number at a precision (`parse_decimal_with_bits`), and each number
//! prints as the shortest decimal that reads back to it exactly (`to_decimal`), so `-0.6`
//! stays `-0.6` and a copied location pastes back bit for bit.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use dashu_float::FBig;
use dashu_float::round::mode::HalfEven;

use num_bigint::BigInt;
use num_traits::Signed;

use super::decimal::{DecimalError, decimal_parts, decimal_text, round_digits, rounded_division};
use super::double_double::Dd;
use super::wide_float::WideFloat;

type Binary = FBig<HalfEven, 2>;
type Decimal = FBig<HalfEven, 10>;

/// The fewest bits any `BigFloat` carries (more than double-double's 106).
pub const MIN_BITS: usize = 128;
/// log10(2): decimal digits per bit.
const DIGITS_PER_BIT: f64 = std::f64::consts::LOG10_2;

/// A binary floating-point number of arbitrary precision (at least `MIN_BITS` bits).
#[derive(Debug, Clone)]
pub struct BigFloat(Binary);

impl BigFloat {
    /// Zero (at the least precision).
    pub fn zero() -> Self {
        Self(Binary::ZERO.with_precision(MIN_BITS).value())
    }

    /// The f64 `value` exactly; a value that is not finite reads as 0 (views refuse such
    /// numbers before they get here: see `View::try_new`).
    pub fn from_f64(value: f64) -> Self {
        Binary::try_from(value).map_or_else(|_| Self::zero(), Self::at_least_min_bits)
    }

    /// The decimal number an f64 prints as (`-0.6` for the f64 nearest -0.6), at `bits`:
    /// how a number a person wrote in a kernel (`home`) becomes a place.
    pub fn from_f64_as_written(value: f64, bits: usize) -> Self {
        if !value.is_finite() {
            return Self::zero();
        }
        // `{:e}` prints the shortest text that reads back to the same f64.
        Self::parse_decimal_with_bits(&format!("{value:e}"), bits)
            .unwrap_or_else(|_| Self::from_f64(value))
    }

    /// A double-double's value exactly.
    pub fn from_dd(value: Dd) -> Self {
        &Self::from_f64(value.hi()) + &Self::from_f64(value.lo())
    }

    fn at_least_min_bits(value: Binary) -> Self {
        let bits = value.precision().max(MIN_BITS);
        Self(value.with_precision(bits).value())
    }

    /// Reads decimal text (`-0.74364388703715870475219150611477`, `1.5e-400`) with as many
    /// bits as its digits need (at least `MIN_BITS`).
    pub fn parse_decimal(text: &str) -> Result<Self, DecimalError> {
        let (_, digits, _) = decimal_parts(text)?;
        let bits = (digits.len() as f64 / DIGITS_PER_BIT).ceil() as usize + 8;
        Self::parse_decimal_with_bits(text, bits)
    }

    /// Reads decimal text to the nearest number of `bits` bits (at least `MIN_BITS`).
    pub fn parse_decimal_with_bits(text: &str, bits: usize) -> Result<Self, DecimalError> {
        let bits = bits.max(MIN_BITS);
        let (negative, digits, exponent) = decimal_parts(text)?;
        if digits.is_empty() {
            return Ok(Self(Binary::ZERO.with_precision(bits).value()));
        }
        let sign = if negative { "-" } else { "" };
        let decimal = Decimal::from_str(&format!("{sign}{digits}e{exponent}"))
            .map_err(|_| DecimalError::new(text, "unreadable"))?;
        Ok(Self(decimal.with_base_and_precision::<2>(bits).value()))
    }

    /// The value as dashu-float's binary number (for arithmetic the engine does in it).
    pub fn as_binary(&self) -> &FBig<HalfEven, 2> {
        &self.0
    }

    /// The bits of precision it carries.
    pub fn bits(&self) -> usize {
        self.0.precision()
    }

    /// The same value rounded (or extended) to `bits` bits (at least `MIN_BITS`).
    pub fn with_bits(self, bits: usize) -> Self {
        Self(self.0.with_precision(bits.max(MIN_BITS)).value())
    }

    /// The nearest f64 (0 or ±infinity beyond f64's range).
    pub fn to_f64(&self) -> f64 {
        self.0.to_f64().value()
    }

    /// The nearest double-double (its low part is what the f64 leaves out).
    pub fn to_dd(&self) -> Dd {
        let hi = self.to_f64();
        if !hi.is_finite() {
            return Dd::from_f64(hi);
        }
        Dd::from_f64(hi).add_f64((self - &Self::from_f64(hi)).to_f64())
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.0.repr().is_zero()
    }

    /// True when below zero.
    pub fn is_negative(&self) -> bool {
        self.0 < Binary::ZERO
    }

    /// The magnitude.
    pub fn abs(&self) -> Self {
        if self.is_negative() {
            -self
        } else {
            self.clone()
        }
    }

    /// floor(log2(|self|)), or None for zero: the binary exponent of the leading bit.
    pub fn exponent_log2(&self) -> Option<i64> {
        if self.is_zero() {
            return None;
        }
        let repr = self.0.repr();
        Some(repr.exponent() as i64 + repr.digits() as i64 - 1)
    }

    /// log2(|self|) (-infinity for zero), accurate to about 1e-15 at any magnitude.
    pub fn log2(&self) -> f64 {
        let Some(exponent) = self.exponent_log2() else {
            return f64::NEG_INFINITY;
        };
        // The leading bits as a number in [1, 2): exact scaling by a power of two.
        let repr = self.0.repr();
        let leading = Binary::from_parts(
            repr.significand().clone(),
            repr.exponent() - exponent as isize,
        );
        exponent as f64 + leading.to_f64().value().abs().log2()
    }

    /// 2^`log2` (at least `MIN_BITS` bits); 0 for -infinity or NaN.
    pub fn from_log2(log2: f64) -> Self {
        if !log2.is_finite() {
            return Self::zero();
        }
        let whole = log2.floor();
        let mantissa = Self::from_f64((log2 - whole).exp2());
        let Ok(shift) = isize::try_from(whole as i64) else {
            return Self::zero();
        };
        let (significand, exponent) = mantissa.0.into_repr().into_parts();
        Self::at_least_min_bits(Binary::from_parts(
            significand,
            exponent.saturating_add(shift),
        ))
    }

    /// `self + other` for an f64 `other` (exact, then rounded to `self`'s precision).
    pub fn add_f64(&self, other: f64) -> Self {
        self + &Self::from_f64(other)
    }

    /// `self * factor` for an f64 `factor`.
    pub fn mul_f64(&self, factor: f64) -> Self {
        Self(&self.0 * &Self::from_f64(factor).0)
    }

    /// `self / divisor` for an f64 `divisor` (non-zero; dividing by 0 gives `self`).
    pub fn div_f64(&self, divisor: f64) -> Self {
        if divisor == 0.0 || !divisor.is_finite() {
            return self.clone();
        }
        Self(&self.0 / &Self::from_f64(divisor).0)
    }

    /// `self * 2^shift`, exactly.
    pub fn times_power_of_two(&self, shift: i64) -> Self {
        let Ok(shift) = isize::try_from(shift) else {
            return self.clone();
        };
        let repr = self.0.repr();
        Self(
            Binary::from_parts(
                repr.significand().clone(),
                repr.exponent().saturating_add(shift),
            )
            .with_precision(self.bits())
            .value(),
        )
    }

    /// The value with f64's 53 bits and an exponent of its own (no underflow or overflow).
    pub fn to_wide(&self) -> WideFloat {
        let Some(exponent) = self.exponent_log2() else {
            return WideFloat::ZERO;
        };
        // The leading bits as a number in [1, 2): exact scaling by a power of two.
        let leading = self.times_power_of_two(-exponent).to_f64();
        WideFloat::new(leading, i32::try_from(exponent).unwrap_or(i32::MAX / 2))
    }

    /// The nearest multiple of 2^`exponent` (exact).
    pub fn snapped_to_power_of_two(&self, exponent: i64) -> Self {
        let Ok(shift) = isize::try_from(exponent) else {
            return self.clone();
        };
        let bits = self.bits();
        // Scaling by a power of two is exact; rounding to an integer then drops the rest.
        let scaled = Binary::from_parts(self.0.repr().significand().clone(), {
            self.0.repr().exponent().saturating_sub(shift)
        });
        let rounded = scaled.round();
        let (significand, scaled_exponent) = rounded.into_repr().into_parts();
        Self(
            Binary::from_parts(significand, scaled_exponent.saturating_add(shift))
                .with_precision(bits)
                .value(),
        )
    }

    /// |self| as `N * 10^exponent` exactly, with the sign: a binary fraction `s * 2^-k` is
    /// `s * 5^k * 10^-k`.
    fn exact_decimal(&self) -> (bool, BigInt, i64) {
        let repr = self.0.repr();
        let significand: BigInt = repr.significand().to_string().parse().unwrap_or_default();
        let exponent = repr.exponent() as i64;
        let magnitude = significand.abs();
        if exponent >= 0 {
            (self.is_negative(), magnitude << exponent as usize, 0)
        } else {
            let five = BigInt::from(5);
            (
                self.is_negative(),
                magnitude * five.pow((-exponent) as u32),
                exponent,
            )
        }
    }

    /// The shortest decimal text that `parse_decimal_with_bits` reads back to this very
    /// value at its own precision: plain for ordinary magnitudes (`-0.6`), else scientific
    /// (`1.5e-400`).
    pub fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_owned();
        }
        let (negative, exact, exponent) = self.exact_decimal();
        let digits = exact.to_string();
        // A decimal reads back to this number when it is nearer to it than half the gap to
        // its neighbours at this precision (a quarter below a power of two, where the gap
        // below is half). In units of 10^exponent, times 2^(bits + 1) to stay whole:
        // half a gap is 2^(significand bits + max(binary exponent, 0)) * 5^k.
        let repr = self.0.repr();
        let significand_bits = repr.digits() as u64;
        let binary_exponent = repr.exponent() as i64;
        let power_of_two = repr.significand().to_string().trim_start_matches('-') == "1";
        let precision_bits = self.bits() as u64;
        let mut half_gap = BigInt::from(1)
            << (significand_bits + binary_exponent.max(0) as u64 - u64::from(power_of_two));
        if binary_exponent < 0 {
            half_gap *= BigInt::from(5).pow((-binary_exponent) as u32);
        }
        let reads_back = |significant: usize| {
            let (kept, kept_exponent) = round_digits(&digits, exponent, significant);
            let kept: BigInt = kept.parse().unwrap_or_default();
            let candidate = kept * BigInt::from(10).pow((kept_exponent - exponent) as u32);
            ((candidate - &exact).abs() << (precision_bits + 1)) < half_gap
        };
        // All the digits always read back; fewer may: search for the fewest.
        let mut most = digits.len();
        let mut fewest = 1;
        while fewest < most {
            let middle = (fewest + most) / 2;
            if reads_back(middle) {
                most = middle;
            } else {
                fewest = middle + 1;
            }
        }
        let (kept, kept_exponent) = round_digits(&digits, exponent, fewest);
        decimal_text(negative, &kept, kept_exponent)
    }

    /// The value rounded to `significant` decimal digits, as text (`1.23e-300`, `0.25`).
    pub fn to_significant(&self, significant: usize) -> String {
        if self.is_zero() {
            return "0".to_owned();
        }
        let (negative, exact, exponent) = self.exact_decimal();
        let digits = exact.to_string();
        let (kept, kept_exponent) =
            round_digits(&digits, exponent, significant.clamp(1, digits.len()));
        decimal_text(negative, &kept, kept_exponent)
    }

    /// The value rounded to `places` digits after the decimal point, with a sign always
    /// (`+0.1318259042053119704931`), for readouts whose digits follow the pixel size.
    pub fn to_fixed(&self, places: usize) -> String {
        let sign = if self.is_negative() { "-" } else { "+" };
        let (_, exact, exponent) = self.exact_decimal();
        // exact * 10^exponent * 10^places, rounded half to even.
        let shift = exponent + places as i64;
        let rounded = if shift >= 0 {
            exact * BigInt::from(10).pow(shift as u32)
        } else {
            rounded_division(&exact, &BigInt::from(10).pow((-shift) as u32))
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

impl PartialEq for BigFloat {
    /// Equal values (whatever their precision).
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl PartialOrd for BigFloat {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.0.partial_cmp(&other.0)
    }
}

impl std::ops::Add for &BigFloat {
    type Output = BigFloat;
    fn add(self, other: &BigFloat) -> BigFloat {
        BigFloat(&self.0 + &other.0)
    }
}

impl std::ops::Sub for &BigFloat {
    type Output = BigFloat;
    fn sub(self, other: &BigFloat) -> BigFloat {
        BigFloat(&self.0 - &other.0)
    }
}

impl std::ops::Mul for &BigFloat {
    type Output = BigFloat;
    fn mul(self, other: &BigFloat) -> BigFloat {
        BigFloat(&self.0 * &other.0)
    }
}

impl std::ops::Add for BigFloat {
    type Output = BigFloat;
    fn add(self, other: BigFloat) -> BigFloat {
        &self + &other
    }
}

impl std::ops::Sub for BigFloat {
    type Output = BigFloat;
    fn sub(self, other: BigFloat) -> BigFloat {
        &self - &other
    }
}

impl std::ops::Div for &BigFloat {
    type Output = BigFloat;
    fn div(self, other: &BigFloat) -> BigFloat {
        if other.is_zero() {
            return self.clone();
        }
        BigFloat(&self.0 / &other.0)
    }
}

impl std::ops::Neg for &BigFloat {
    type Output = BigFloat;
    fn neg(self) -> BigFloat {
        BigFloat(-&self.0)
    }
}

impl fmt::Display for BigFloat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_decimal())
    }
}

impl From<f64> for BigFloat {
    fn from(value: f64) -> Self {
        BigFloat::from_f64(value)
    }
}

impl From<Dd> for BigFloat {
    fn from(value: Dd) -> Self {
        BigFloat::from_dd(value)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    const SEAHORSE_X: &str = "-0.743643887037158704752191506114774";

    #[test]
    fn decimal_text_keeps_every_digit_typed() {
        let digits = format!("0.{}7", "1".repeat(299));
        let value = BigFloat::parse_decimal(&digits).expect("decimal");
        assert_eq!(value.to_decimal(), digits);
        let x = BigFloat::parse_decimal(SEAHORSE_X).expect("decimal");
        assert_eq!(x.to_decimal(), SEAHORSE_X);
    }

    #[test]
    fn numbers_print_as_the_shortest_decimal_that_reads_back() {
        assert_eq!(
            BigFloat::from_f64_as_written(-0.6, 256).to_decimal(),
            "-0.6"
        );
        assert_eq!(
            BigFloat::from_f64_as_written(2.5e-9, 256).to_decimal(),
            "2.5e-9"
        );
        assert_eq!(BigFloat::zero().to_decimal(), "0");
        let tiny = BigFloat::parse_decimal_with_bits("1.5e-400", 64).expect("decimal");
        assert_eq!(tiny.to_decimal(), "1.5e-400");
        assert_eq!(tiny.to_f64(), 0.0, "below f64's range");
        assert_eq!(tiny.exponent_log2(), Some(-1329));
        let third = BigFloat::from_f64(1.0).with_bits(400).div_f64(3.0);
        let text = third.to_decimal();
        assert!(text.len() > 110, "{text}");
        assert_eq!(
            BigFloat::parse_decimal_with_bits(&text, 400).expect("own text"),
            third
        );
    }

    #[test]
    fn arithmetic_keeps_the_precision_of_its_operands() {
        let x = BigFloat::parse_decimal_with_bits(SEAHORSE_X, 1100).expect("decimal");
        let moved = x.add_f64(1.0e-300).add_f64(1.0e-300);
        let difference = (&moved - &x).to_f64();
        assert!((difference - 2.0e-300).abs() < 1e-310, "{difference:e}");
        assert_eq!(moved.bits(), 1100);
        let scaled = (&moved - &x).mul_f64(3.0).div_f64(2.0).to_f64();
        assert!((scaled - 3.0e-300).abs() < 1e-310, "{scaled:e}");
        assert!(BigFloat::from_f64(-1.0) < BigFloat::zero());
        let dd = x.to_dd();
        assert_eq!(dd.hi(), x.to_f64());
        assert_eq!(
            BigFloat::from_dd(dd).to_significant(30),
            "-0.743643887037158704752191506115"
        );
    }

    #[test]
    fn snapping_rounds_to_a_multiple_of_the_power_of_two() {
        let x = BigFloat::from_f64(5.75).with_bits(200);
        assert_eq!(x.snapped_to_power_of_two(1).to_f64(), 6.0);
        assert_eq!(x.snapped_to_power_of_two(-1).to_f64(), 6.0);
        assert_eq!(x.snapped_to_power_of_two(-2).to_f64(), 5.75);
        let deep = BigFloat::parse_decimal_with_bits(SEAHORSE_X, 1200).expect("decimal");
        let snapped = deep.snapped_to_power_of_two(-1000);
        let gap = (&deep - &snapped).abs();
        assert!(gap.exponent_log2().is_some_and(|log2| log2 < -1000));
    }

    #[test]
    fn fixed_readouts_round_to_the_places_asked_for() {
        let x = BigFloat::parse_decimal(SEAHORSE_X).expect("decimal");
        assert_eq!(x.to_fixed(3), "-0.744");
        assert_eq!(x.to_fixed(25), "-0.7436438870371587047521915");
        assert_eq!(BigFloat::from_f64(2.5).to_fixed(0), "+2");
        assert_eq!(BigFloat::from_f64(0.004).to_fixed(2), "+0.00");
        assert_eq!(BigFloat::from_f64(123.456).to_fixed(1), "+123.5");
    }

    #[test]
    fn bad_decimal_text_is_refused_with_a_reason() {
        for text in ["", "-", "1.2.3", "0x10", "1e", "nan", "inf", "12a"] {
            assert!(BigFloat::parse_decimal(text).is_err(), "{text:?} read");
        }
    }
}
