//! `WideFloat`: an f64 significand with an exponent of its own, for the few values of deep
//! rendering that leave f64's range (a table of skips' radii and coefficients at spans far
//! below 1e-308, a pixel's distance from the reference there), and the f64 helpers
//! that split and scale numbers by powers of two exactly (`frexp`, `ldexp`).
//!
//! Pixels iterate in plain f64 wherever they can (scaled by a power of two where they
//! would underflow); this type is for the arithmetic done once per reference, not per
//! iteration, so it favours being simple and exact in its exponent over being fast.

use std::cmp::Ordering;

/// `value` as (significand, exponent) with `value = significand * 2^exponent` and the
/// significand's magnitude in [0.5, 1); zero, infinities and NaN come back as they are
/// with exponent 0.
pub fn frexp(value: f64) -> (f64, i32) {
    if value == 0.0 || !value.is_finite() {
        return (value, 0);
    }
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first (exact).
        let (significand, exponent) = frexp(value * 2f64.powi(64));
        return (significand, exponent - 64);
    }
    let significand = f64::from_bits((bits & !(0x7ff_u64 << 52)) | (1022_u64 << 52));
    (significand, biased - 1022)
}

/// `value * 2^exponent`, rounded once like any f64 product: 0 below f64's range, an
/// infinity above it.
pub fn ldexp(value: f64, exponent: i32) -> f64 {
    // 2^±1000 and every power between are exact f64s; a larger shift goes in steps.
    let mut value = value;
    let mut exponent = exponent;
    while exponent > 1000 && value.is_finite() && value != 0.0 {
        value *= 2f64.powi(1000);
        exponent -= 1000;
    }
    while exponent < -1000 && value != 0.0 && value.is_finite() {
        value *= 2f64.powi(-1000);
        exponent += 1000;
    }
    if exponent.abs() > 1000 {
        return value;
    }
    value * 2f64.powi(exponent)
}

/// A number `significand * 2^exponent`, with the significand's magnitude in [0.5, 1) (or
/// 0): any magnitude an i32 exponent reaches, at f64's 53 bits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WideFloat {
    significand: f64,
    exponent: i32,
}

impl WideFloat {
    /// Zero.
    pub const ZERO: Self = Self {
        significand: 0.0,
        exponent: 0,
    };

    /// `significand * 2^exponent` (any finite f64 significand; a NaN or infinity reads
    /// as the largest number, so a bound never shrinks by accident).
    pub fn new(significand: f64, exponent: i32) -> Self {
        if !significand.is_finite() {
            return Self {
                significand: 0.5,
                exponent: i32::MAX / 2,
            };
        }
        let (significand, shift) = frexp(significand);
        if significand == 0.0 {
            return Self::ZERO;
        }
        Self {
            significand,
            exponent: exponent.saturating_add(shift),
        }
    }

    /// An f64's value.
    pub fn from_f64(value: f64) -> Self {
        Self::new(value, 0)
    }

    /// The nearest f64: 0 below its range, an infinity above.
    pub fn to_f64(self) -> f64 {
        ldexp(self.significand, self.exponent)
    }

    /// The significand, in [0.5, 1) in magnitude (or 0).
    pub fn significand(self) -> f64 {
        self.significand
    }

    /// The exponent: the value is `significand * 2^exponent`.
    pub fn exponent(self) -> i32 {
        self.exponent
    }

    /// True for zero.
    pub fn is_zero(self) -> bool {
        self.significand == 0.0
    }

    /// The value times 2^`shift` (exact).
    pub fn times_power_of_two(self, shift: i32) -> Self {
        if self.is_zero() {
            return self;
        }
        Self {
            significand: self.significand,
            exponent: self.exponent.saturating_add(shift),
        }
    }

    /// log2 of the magnitude (-infinity for zero).
    pub fn log2(self) -> f64 {
        if self.is_zero() {
            return f64::NEG_INFINITY;
        }
        f64::from(self.exponent) + self.significand.abs().log2()
    }

    /// The square root of the magnitude.
    pub fn sqrt(self) -> Self {
        if self.is_zero() {
            return self;
        }
        // An even exponent halves exactly.
        let odd = self.exponent.rem_euclid(2);
        Self::new(
            (self.significand.abs() * f64::from(1 + odd)).sqrt(),
            (self.exponent - odd) / 2,
        )
    }

    /// The smaller of the two.
    pub fn min(self, other: Self) -> Self {
        if other.total_cmp(self) == Ordering::Less {
            other
        } else {
            self
        }
    }

    /// Compares values (significands in [0.5, 1) make the exponent decide first).
    pub fn total_cmp(self, other: Self) -> Ordering {
        let sign = |value: Self| {
            if value.significand > 0.0 {
                1
            } else if value.significand < 0.0 {
                -1
            } else {
                0
            }
        };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let by_magnitude = self
            .exponent
            .cmp(&other.exponent)
            .then(self.significand.abs().total_cmp(&other.significand.abs()));
        if a > 0 {
            by_magnitude
        } else {
            by_magnitude.reverse()
        }
    }

    /// True when `self < other`.
    pub fn less_than(self, other: Self) -> bool {
        self.total_cmp(other) == Ordering::Less
    }
}

impl std::ops::Mul for WideFloat {
    type Output = Self;
    fn mul(self, other: Self) -> Self {
        Self::new(
            self.significand * other.significand,
            self.exponent.saturating_add(other.exponent),
        )
    }
}

impl std::ops::Div for WideFloat {
    type Output = Self;
    /// Dividing by zero gives the largest number.
    fn div(self, other: Self) -> Self {
        if other.is_zero() {
            return Self::new(f64::INFINITY, 0);
        }
        Self::new(
            self.significand / other.significand,
            self.exponent.saturating_sub(other.exponent),
        )
    }
}

impl std::ops::Add for WideFloat {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        if self.is_zero() {
            return other;
        }
        if other.is_zero() {
            return self;
        }
        let (larger, smaller) = if self.exponent >= other.exponent {
            (self, other)
        } else {
            (other, self)
        };
        let gap = smaller.exponent.saturating_sub(larger.exponent);
        Self::new(
            larger.significand + ldexp(smaller.significand, gap),
            larger.exponent,
        )
    }
}

impl std::ops::Neg for WideFloat {
    type Output = Self;
    fn neg(self) -> Self {
        Self {
            significand: -self.significand,
            exponent: self.exponent,
        }
    }
}

impl std::ops::Sub for WideFloat {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        self + -other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_and_ldexp_split_and_scale_exactly_across_the_range() {
        for value in [1.0, -3.5, 1e-310, 5e-324, 1.7e308, 0.1] {
            let (significand, exponent) = frexp(value);
            assert!((0.5..1.0).contains(&significand.abs()), "{value}");
            assert_eq!(ldexp(significand, exponent), value);
        }
        assert_eq!(ldexp(1.0, -1074), 5e-324);
        assert_eq!(ldexp(1.0, -1080), 0.0);
        assert_eq!(ldexp(1.0, 1024), f64::INFINITY);
        assert_eq!(
            ldexp(ldexp(3.0, 1500), -1500),
            f64::INFINITY,
            "overflowed on the way"
        );
        assert_eq!(ldexp(ldexp(3.0, -1000), 1000), 3.0);
        assert_eq!(
            ldexp(ldexp(3.0, -3000), 3000),
            0.0,
            "underflowed on the way"
        );
    }

    #[test]
    fn wide_numbers_keep_magnitudes_far_past_f64() {
        let tiny = WideFloat::new(1.5, -5000);
        let huge = WideFloat::new(1.25, 4000);
        assert_eq!(tiny.to_f64(), 0.0);
        let product = tiny * huge;
        assert_eq!(product, WideFloat::new(1.875, -1000));
        assert!((product.to_f64() - 1.875 * 2f64.powi(-1000)).abs() == 0.0);
        assert_eq!(huge / huge, WideFloat::from_f64(1.0));
        assert_eq!(tiny + tiny, WideFloat::new(3.0, -5000));
        assert_eq!(tiny - tiny, WideFloat::ZERO);
        assert_eq!(huge + tiny, huge, "far smaller terms vanish");
        assert_eq!(
            WideFloat::new(4.0, -6000).sqrt(),
            WideFloat::new(2.0, -3000)
        );
        assert_eq!(WideFloat::new(2.0, -6001).sqrt().log2(), -3000.0);
        assert!(tiny.less_than(huge) && !huge.less_than(tiny));
        assert!(WideFloat::new(-1.0, 10).less_than(WideFloat::new(-1.0, 5)));
        assert!(WideFloat::ZERO.less_than(tiny));
        assert_eq!(tiny.min(huge), tiny);
        assert!((tiny.log2() - (-5000.0 + 1.5f64.log2())).abs() < 1e-12);
    }
}
