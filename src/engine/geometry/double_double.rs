//! `Dd`, a double-double number (an unevaluated sum `hi + lo` of two f64s, about 106 bits):
//! the coordinates a kernel's `pixel_deep(x, y)` receives, computed in Rust bit for bit as
//! the `dd` library in Lua computes them (the lattice's origins are held in it too).
//!
//! Every `Dd` this module hands out lies on a fixed grid: `lo` is a whole multiple of
//! `ulp(hi) / 2^53`. Arithmetic rounds its result to that grid (a change of at most
//! 2^-107 relative). Magnitudes below 2^-900 keep only `hi` (no view needs them).
//!
//! The arithmetic is the classic error-free transformations (Knuth's two-sum, the fused
//! multiply-add two-product) as in the QD library.

/// A double-double number: `hi + lo` with `|lo| <= ulp(hi) / 2` (see the module's grid).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dd {
    hi: f64,
    lo: f64,
}

/// Below this magnitude a `Dd` keeps only `hi`: the grid's step would be subnormal.
const SMALLEST_WITH_LOW_PART: f64 = 7.0e-271; // about 2^-897

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
