//! Bilinear approximation (BLA, Zhuoran 2021): where a pixel's difference from the
//! reference orbit is small, many steps of the perturbed iteration are one linear map,
//! dz -> A dz + B dc, valid while |dz| stays below a radius. This module derives each
//! step's map from the recorded formula (A and B as 2x2 real matrices, so the folds and
//! conjugates of non-conformal formulas are followed as well as the complex products of
//! conformal ones) with a radius within which the neglected terms stay below `EPSILON` of
//! the kept ones, and merges them pairwise into a table of skips of 2^l steps that the
//! pixel loop looks up (`BlaTable`).

use rayon::prelude::*;

use super::formula::{Formula, FormulaOp};
use crate::engine::geometry::{WideFloat, frexp, ldexp};

/// Pairs of steps made between two checks for a stop.
const STOP_CHECK_PAIRS: usize = 1 << 16;

/// The largest share of a linear term the terms a skip leaves out may be: their error
/// stays far below the 1e-6 a pixel's value is compared to.
pub const EPSILON: f64 = 1.0 / (1_u64 << 44) as f64;

/// Values of one table entry: A (row by row) and B (row by row); its radius squared is
/// kept apart (`BlaTable::radii`).
pub const ENTRY_LEN: usize = 8;

/// Values of one entry of the scaled table (`BlaTable::scaled_values`, for pixels whose
/// distance from the reference is below f64's range): the radius squared as significand
/// and exponent, A's significands (row by row), B times 2^-(A's exponent) (row by row),
/// and A's exponent.
pub const SCALED_ENTRY_LEN: usize = 11;

/// The shortest skips kept: 2^3 = 8 steps (shorter ones save little over plain steps and
/// would take most of the table's memory).
const MIN_LEVEL: u32 = 3;

/// A real 2x2 matrix, [[a, b], [c, d]], acting on (re, im).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mat2 {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
}

impl Mat2 {
    const ZERO: Self = Self {
        a: 0.0,
        b: 0.0,
        c: 0.0,
        d: 0.0,
    };
    const IDENTITY: Self = Self {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 1.0,
    };

    /// Multiplication by the complex number (re, im).
    fn complex(re: f64, im: f64) -> Self {
        Self {
            a: re,
            b: -im,
            c: im,
            d: re,
        }
    }

    fn diagonal(re: f64, im: f64) -> Self {
        Self {
            a: re,
            b: 0.0,
            c: 0.0,
            d: im,
        }
    }

    fn then(self, after: Self) -> Self {
        Self {
            a: after.a * self.a + after.b * self.c,
            b: after.a * self.b + after.b * self.d,
            c: after.c * self.a + after.d * self.c,
            d: after.c * self.b + after.d * self.d,
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            a: self.a + other.a,
            b: self.b + other.b,
            c: self.c + other.c,
            d: self.d + other.d,
        }
    }

    fn minus(self, other: Self) -> Self {
        self.plus(other.scaled(-1.0))
    }

    fn scaled(self, factor: f64) -> Self {
        Self {
            a: self.a * factor,
            b: self.b * factor,
            c: self.c * factor,
            d: self.d * factor,
        }
    }

    /// Each entry times 2^`shift` (exact, unless it leaves f64's range).
    fn times_power_of_two(self, shift: i32) -> Self {
        Self {
            a: ldexp(self.a, shift),
            b: ldexp(self.b, shift),
            c: ldexp(self.c, shift),
            d: ldexp(self.d, shift),
        }
    }

    /// The largest factor it stretches a vector by (its spectral norm).
    fn norm(self) -> f64 {
        let sum = self.a * self.a + self.b * self.b + self.c * self.c + self.d * self.d;
        let determinant = self.a * self.d - self.b * self.c;
        let discriminant = (sum * sum - 4.0 * determinant * determinant).max(0.0);
        ((sum + discriminant.sqrt()) * 0.5).sqrt()
    }

    /// (re, im) mapped.
    pub fn apply(self, (re, im): (f64, f64)) -> (f64, f64) {
        (self.a * re + self.b * im, self.c * re + self.d * im)
    }
}

/// Steps from one orbit index as one linear map: dz -> A dz + B dc, valid while |dz| is
/// below `radius`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Skip {
    /// How dz moves.
    pub a: Mat2,
    /// How dc moves it.
    pub b: Mat2,
    /// The largest |dz| it is valid for (0: never).
    pub radius: f64,
}

/// A matrix with an exponent of its own: `mantissa * 2^exponent`, the mantissa's largest
/// entry in [0.5, 1) in magnitude (or all 0), so products of thousands of steps neither
/// overflow nor underflow.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WideMat2 {
    mantissa: Mat2,
    exponent: i32,
}

impl WideMat2 {
    fn new(matrix: Mat2, exponent: i32) -> Self {
        let largest = matrix
            .a
            .abs()
            .max(matrix.b.abs())
            .max(matrix.c.abs())
            .max(matrix.d.abs());
        if largest == 0.0 || !largest.is_finite() {
            return Self {
                mantissa: matrix,
                exponent: 0,
            };
        }
        let (_, shift) = frexp(largest);
        Self {
            mantissa: matrix.times_power_of_two(-shift),
            exponent: exponent.saturating_add(shift),
        }
    }

    fn then(self, after: Self) -> Self {
        Self::new(
            self.mantissa.then(after.mantissa),
            self.exponent.saturating_add(after.exponent),
        )
    }

    fn plus(self, other: Self) -> Self {
        let exponent = self.exponent.max(other.exponent);
        Self::new(
            self.mantissa
                .times_power_of_two(self.exponent.saturating_sub(exponent))
                .plus(
                    other
                        .mantissa
                        .times_power_of_two(other.exponent.saturating_sub(exponent)),
                ),
            exponent,
        )
    }

    fn norm(self) -> WideFloat {
        WideFloat::new(self.mantissa.norm(), self.exponent)
    }

    /// The nearest f64 matrix (entries past f64's range are 0 or infinite).
    fn to_mat2(self) -> Mat2 {
        self.mantissa.times_power_of_two(self.exponent)
    }
}

/// A `Skip` merged from many: its maps and radius with exponents of their own.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WideSkip {
    a: WideMat2,
    b: WideMat2,
    radius: WideFloat,
}

impl WideSkip {
    fn of(skip: Skip) -> Self {
        Self {
            a: WideMat2::new(skip.a, 0),
            b: WideMat2::new(skip.b, 0),
            radius: WideFloat::from_f64(skip.radius),
        }
    }

    /// `self` (first), then `next`, for pixels with |dc| up to `dc_bound`.
    fn then(self, next: Self, dc_bound: WideFloat) -> Self {
        let a_norm = self.a.norm();
        let reach = next.radius - self.b.norm() * dc_bound;
        let radius = if !WideFloat::ZERO.less_than(reach) {
            WideFloat::ZERO
        } else if a_norm.is_zero() {
            self.radius
        } else {
            self.radius.min(reach / a_norm)
        };
        Self {
            a: self.a.then(next.a),
            b: self.b.then(next.a).plus(next.b),
            radius,
        }
    }

    /// Its radius squared and map (A, B) in the f64 table: all 0 where the radius squared
    /// is below f64's range or a map beyond it (pixels taking these skips are never that
    /// close).
    fn plain_entry(self) -> (f64, [f64; ENTRY_LEN]) {
        let radius2 = (self.radius * self.radius).to_f64();
        let (a, b) = (self.a.to_mat2(), self.b.to_mat2());
        let entry = [a.a, a.b, a.c, a.d, b.a, b.b, b.c, b.d];
        if radius2 > 0.0 && radius2.is_finite() && entry.iter().all(|value| value.is_finite()) {
            (radius2, entry)
        } else {
            (0.0, [0.0; ENTRY_LEN])
        }
    }

    /// Its entry of the scaled table (`SCALED_ENTRY_LEN`): all 0 (never taken) where B
    /// is beyond f64's range next to A.
    fn scaled_entry(self) -> [f64; SCALED_ENTRY_LEN] {
        let radius2 = self.radius * self.radius;
        let a = self.a.mantissa;
        let b = self
            .b
            .mantissa
            .times_power_of_two(self.b.exponent.saturating_sub(self.a.exponent));
        let entry = [
            radius2.significand(),
            f64::from(radius2.exponent()),
            a.a,
            a.b,
            a.c,
            a.d,
            b.a,
            b.b,
            b.c,
            b.d,
            f64::from(self.a.exponent),
        ];
        if radius2.is_zero() || !entry.iter().all(|value| value.is_finite()) {
            [0.0; SCALED_ENTRY_LEN]
        } else {
            entry
        }
    }
}

/// A node of the step's tape linearised at the reference: its value and how it moves
/// with dz and with dc.
#[derive(Clone, Copy)]
struct Linear {
    value: (f64, f64),
    by_z: Mat2,
    by_c: Mat2,
}

fn complex_mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn modulus(value: (f64, f64)) -> f64 {
    value.0.hypot(value.1)
}

impl Formula {
    /// One step from z (the reference's value) with constant c, as a linear map with the
    /// radius within which it holds for pixels with |dc| up to `dc_bound`. Each nonlinear
    /// operation bounds how far its operand may move: a square or a power by `EPSILON` of
    /// its value (its left-out terms are then below `EPSILON` of its linear term), a
    /// product by that of one of its factors, a fold by its part's distance from 0 (it is
    /// exactly linear until the part changes sign).
    pub fn linear_step(&self, z: (f64, f64), c: (f64, f64), dc_bound: f64) -> Skip {
        self.linear_step_with(z, c, dc_bound, &mut Vec::new())
    }

    /// As `linear_step`, with `nodes` as room for the tape's linearised values (kept
    /// between calls: a table makes one per orbit point).
    fn linear_step_with(
        &self,
        z: (f64, f64),
        c: (f64, f64),
        dc_bound: f64,
        nodes: &mut Vec<Linear>,
    ) -> Skip {
        nodes.clear();
        let mut radius = f64::INFINITY;
        // The largest |dz| for which |d operand| <= limit, with |d operand| <= |by_z| |dz|
        // + |by_c| |dc|.
        let reach = |node: &Linear, limit: f64| {
            let (z_norm, c_norm) = (node.by_z.norm(), node.by_c.norm());
            let room = limit - c_norm * dc_bound;
            if z_norm == 0.0 && c_norm == 0.0 {
                f64::INFINITY
            } else if room <= 0.0 {
                0.0
            } else if z_norm > 0.0 {
                room / z_norm
            } else {
                f64::INFINITY
            }
        };
        for op in &self.ops {
            let at = |index: usize| {
                nodes.get(index).copied().unwrap_or(Linear {
                    value: (0.0, 0.0),
                    by_z: Mat2::ZERO,
                    by_c: Mat2::ZERO,
                })
            };
            let moves = |node: &Linear| node.by_z != Mat2::ZERO || node.by_c != Mat2::ZERO;
            let node = match *op {
                FormulaOp::Z => Linear {
                    value: z,
                    by_z: Mat2::IDENTITY,
                    by_c: Mat2::ZERO,
                },
                FormulaOp::C => Linear {
                    value: c,
                    by_z: Mat2::ZERO,
                    by_c: Mat2::IDENTITY,
                },
                FormulaOp::Const { re, im } => Linear {
                    value: (re, im),
                    by_z: Mat2::ZERO,
                    by_c: Mat2::ZERO,
                },
                FormulaOp::Add(a, b) => {
                    let (a, b) = (at(a), at(b));
                    Linear {
                        value: (a.value.0 + b.value.0, a.value.1 + b.value.1),
                        by_z: a.by_z.plus(b.by_z),
                        by_c: a.by_c.plus(b.by_c),
                    }
                }
                FormulaOp::Sub(a, b) => {
                    let (a, b) = (at(a), at(b));
                    Linear {
                        value: (a.value.0 - b.value.0, a.value.1 - b.value.1),
                        by_z: a.by_z.minus(b.by_z),
                        by_c: a.by_c.minus(b.by_c),
                    }
                }
                FormulaOp::Neg(a) => {
                    let a = at(a);
                    Linear {
                        value: (-a.value.0, -a.value.1),
                        by_z: a.by_z.scaled(-1.0),
                        by_c: a.by_c.scaled(-1.0),
                    }
                }
                FormulaOp::Mul(a, b) => {
                    let (a, b) = (at(a), at(b));
                    if moves(&a) && moves(&b) {
                        // da db is left out: below EPSILON of A db while |da| <= EPSILON |A|
                        // (or of B da while |db| <= EPSILON |B|): the looser of the two.
                        let from_a = reach(&a, EPSILON * modulus(a.value));
                        let from_b = reach(&b, EPSILON * modulus(b.value));
                        radius = radius.min(from_a.max(from_b));
                    }
                    let (times_a, times_b) = (
                        Mat2::complex(a.value.0, a.value.1),
                        Mat2::complex(b.value.0, b.value.1),
                    );
                    Linear {
                        value: complex_mul(a.value, b.value),
                        by_z: b.by_z.then(times_a).plus(a.by_z.then(times_b)),
                        by_c: b.by_c.then(times_a).plus(a.by_c.then(times_b)),
                    }
                }
                FormulaOp::Sqr(a) => {
                    let a = at(a);
                    radius = radius.min(reach(&a, 2.0 * EPSILON * modulus(a.value)));
                    let twice = Mat2::complex(2.0 * a.value.0, 2.0 * a.value.1);
                    Linear {
                        value: complex_mul(a.value, a.value),
                        by_z: a.by_z.then(twice),
                        by_c: a.by_c.then(twice),
                    }
                }
                FormulaOp::Pow(a, k) => {
                    let a = at(a);
                    radius = radius.min(reach(
                        &a,
                        2.0 * EPSILON * modulus(a.value) / f64::from(k - 1),
                    ));
                    let below = (2..k).fold(a.value, |power, _| complex_mul(power, a.value));
                    let derivative = Mat2::complex(f64::from(k) * below.0, f64::from(k) * below.1);
                    Linear {
                        value: complex_mul(below, a.value),
                        by_z: a.by_z.then(derivative),
                        by_c: a.by_c.then(derivative),
                    }
                }
                FormulaOp::Conj(a) => {
                    let a = at(a);
                    let flip = Mat2::diagonal(1.0, -1.0);
                    Linear {
                        value: (a.value.0, -a.value.1),
                        by_z: a.by_z.then(flip),
                        by_c: a.by_c.then(flip),
                    }
                }
                FormulaOp::Abs(index) | FormulaOp::AbsRe(index) | FormulaOp::AbsIm(index) => {
                    let a = at(index);
                    let (fold_re, fold_im) = match *op {
                        FormulaOp::Abs(_) => (true, true),
                        FormulaOp::AbsRe(_) => (true, false),
                        _ => (false, true),
                    };
                    if fold_re {
                        radius = radius.min(reach(&a, a.value.0.abs()));
                    }
                    if fold_im {
                        radius = radius.min(reach(&a, a.value.1.abs()));
                    }
                    let sign = |fold: bool, part: f64| if fold && part < 0.0 { -1.0 } else { 1.0 };
                    let signs = Mat2::diagonal(sign(fold_re, a.value.0), sign(fold_im, a.value.1));
                    Linear {
                        value: (
                            if fold_re { a.value.0.abs() } else { a.value.0 },
                            if fold_im { a.value.1.abs() } else { a.value.1 },
                        ),
                        by_z: a.by_z.then(signs),
                        by_c: a.by_c.then(signs),
                    }
                }
            };
            nodes.push(node);
        }
        let result = nodes.last().copied().unwrap_or(Linear {
            value: (0.0, 0.0),
            by_z: Mat2::ZERO,
            by_c: Mat2::ZERO,
        });
        Skip {
            a: result.by_z,
            b: result.by_c,
            radius: if radius.is_finite() { radius } else { f64::MAX },
        }
    }
}

/// Skips of 2^l steps for l from `min_level` to `max_level`, from every orbit index that is
/// a multiple of 2^l (and ends within the orbit), level by level: `ENTRY_LEN` values per
/// skip (A, B) in `values`, and its radius squared in `radii`, in the same order after the
/// largest of them. A longer skip from an index is never valid farther out than a shorter
/// one from it (its radius is at most its first half's), so a pixel tries the shortest
/// first and climbs. The radii are kept apart from the maps because a pixel looking for its
/// longest skip reads a radius at each level it climbs and one map only: packed, the radii
/// of a table of 50,000 skips take 400 KB (at 5e227, 15% less CPU than radii inside the
/// entries, 72 bytes apart).
///
/// Tables for views whose pixel offsets are scaled (`PixelGrid::scale_exponent`) also hold
/// every entry in a second form, `scaled_values`: after one unused value, level by level,
/// `SCALED_ENTRY_LEN` values each, so a pixel far closer to the reference than f64's
/// range can compare and apply them with its own power of two.
#[derive(Debug, Clone, PartialEq)]
pub struct BlaTable {
    /// The entries' maps (A, B), level by level.
    pub values: Vec<f64>,
    /// The largest radius squared, then each entry's radius squared, in `values`' order.
    pub radii: Vec<f64>,
    /// The entries in scaled form (`SCALED_ENTRY_LEN` each after one unused value; just
    /// that value when the table was built without them).
    pub scaled_values: Vec<f64>,
    /// The shortest skip's level.
    pub min_level: u32,
    /// The longest skip's level (below `min_level`: no skips).
    pub max_level: u32,
}

impl Default for BlaTable {
    /// No skips (the shortest level above the longest; the largest radius 0).
    fn default() -> Self {
        Self {
            values: Vec::new(),
            radii: vec![0.0],
            scaled_values: vec![0.0],
            min_level: 1,
            max_level: 0,
        }
    }
}

impl BlaTable {
    /// How many skips it holds.
    pub fn entries(&self) -> usize {
        self.values.len() / ENTRY_LEN
    }

    /// How many skips of level `level` an orbit of `length` points has: from 0, 2^l, ...
    /// while they end at or before the last point.
    pub fn count(length: usize, level: u32) -> usize {
        length.saturating_sub(1) >> level
    }

    /// The table for `orbit` (re, im pairs) of `formula` with constant `c`, for pixels
    /// with |dc| up to `dc_bound`, with the scaled form of each entry too when `scaled`,
    /// holding at most `max_values` values (the shortest skips are left out first); None
    /// when `is_stopped` says so. Merged in `WideFloat` exponents, so skips of any depth
    /// keep their radius.
    pub fn build(
        formula: &Formula,
        orbit: &[f64],
        c: (f64, f64),
        (dc_bound, scaled): (WideFloat, bool),
        max_values: usize,
        is_stopped: &(dyn Fn() -> bool + Sync),
    ) -> Option<Self> {
        let length = orbit.len() / 2;
        let steps = length.saturating_sub(1);
        if steps < 2 {
            return Some(Self::default());
        }
        let max_level = usize::BITS - 1 - steps.leading_zeros();
        // Each level holds half the one below: the total is about twice the first kept.
        // A skip takes its map, its radius and, when scaled, its scaled entry.
        let entry_values = if scaled {
            ENTRY_LEN + 1 + SCALED_ENTRY_LEN
        } else {
            ENTRY_LEN + 1
        };
        let mut min_level = MIN_LEVEL.min(max_level);
        while min_level < max_level && 2 * entry_values * (steps >> min_level) > max_values {
            min_level += 1;
        }
        // Skips of two steps, made from single ones as they come (a table of single steps
        // would be the largest thing built).
        // In parallel (each point's map is its own), in chunks between stop checks.
        let pairs = steps / 2;
        let single_dc_bound = dc_bound.to_f64();
        let mut level: Vec<WideSkip> = Vec::with_capacity(pairs);
        for chunk_start in (0..pairs).step_by(STOP_CHECK_PAIRS) {
            if is_stopped() {
                return None;
            }
            let chunk = chunk_start..(chunk_start + STOP_CHECK_PAIRS).min(pairs);
            level.par_extend(chunk.into_par_iter().map_init(
                || Vec::with_capacity(formula.ops.len()),
                |nodes, pair| {
                    let step_at = |index: usize, nodes: &mut Vec<Linear>| {
                        let z = (orbit[2 * index], orbit[2 * index + 1]);
                        WideSkip::of(formula.linear_step_with(z, c, single_dc_bound, nodes))
                    };
                    let first = step_at(2 * pair, nodes);
                    first.then(step_at(2 * pair + 1, nodes), dc_bound)
                },
            ));
        }
        // The largest radius squared first (a pixel farther than it takes no skip).
        let mut values = Vec::new();
        let mut radii = vec![0.0];
        let mut scaled_values = vec![0.0];
        for current in 1..=max_level {
            if is_stopped() {
                return None;
            }
            if current > 1 {
                level = level
                    .par_chunks_exact(2)
                    .map(|pair| pair[0].then(pair[1], dc_bound))
                    .collect();
            }
            if current >= min_level {
                for skip in &level {
                    let (radius2, entry) = skip.plain_entry();
                    radii.push(radius2);
                    values.extend_from_slice(&entry);
                    if scaled {
                        scaled_values.extend_from_slice(&skip.scaled_entry());
                    }
                }
            }
        }
        radii[0] = radii
            .iter()
            .fold(0.0, |largest: f64, radius2| largest.max(*radius2));
        Some(Self {
            values,
            radii,
            scaled_values,
            min_level,
            max_level,
        })
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn formula(ops: Vec<FormulaOp>) -> Formula {
        Formula {
            ops,
            julia: None,
            start: (0.0, 0.0),
            bailout: 16.0,
            reads_parameters: false,
        }
    }

    fn mandelbrot() -> Formula {
        formula(vec![
            FormulaOp::Z,
            FormulaOp::C,
            FormulaOp::Sqr(0),
            FormulaOp::Add(2, 1),
        ])
    }

    fn burning_ship() -> Formula {
        formula(vec![
            FormulaOp::Z,
            FormulaOp::C,
            FormulaOp::Abs(0),
            FormulaOp::Sqr(2),
            FormulaOp::Conj(1),
            FormulaOp::Add(3, 4),
        ])
    }

    /// 0 and `steps` steps of `formula` with constant c, as (re, im) pairs.
    fn orbit_of(formula: &Formula, c: (f64, f64), steps: usize) -> Vec<f64> {
        let mut orbit = vec![0.0, 0.0];
        let mut z = (0.0, 0.0);
        for _ in 0..steps {
            z = formula.step(z, c);
            orbit.extend([z.0, z.1]);
        }
        orbit
    }

    /// step(Z + dz, C + dc) - step(Z, C) against the skip's A dz + B dc.
    fn linear_error(formula: &Formula, z: (f64, f64), c: (f64, f64), dz: (f64, f64)) -> f64 {
        let dc = (dz.1 * 0.5, -dz.0 * 0.25);
        let skip = formula.linear_step(z, c, modulus(dc));
        let exact_after = formula.step((z.0 + dz.0, z.1 + dz.1), (c.0 + dc.0, c.1 + dc.1));
        let after = formula.step(z, c);
        let moved = (exact_after.0 - after.0, exact_after.1 - after.1);
        let (az, bc) = (skip.a.apply(dz), skip.b.apply(dc));
        let linear = (az.0 + bc.0, az.1 + bc.1);
        modulus((moved.0 - linear.0, moved.1 - linear.1)) / modulus(linear)
    }

    #[test]
    fn a_step_s_map_is_its_derivative_for_conformal_and_folding_formulas() {
        for formula in [mandelbrot(), burning_ship()] {
            let (z, c) = ((0.3, -0.7), (-0.5, 0.4));
            // Small moves: the map is the step's change to first order.
            assert!(linear_error(&formula, z, c, (1e-7, 2e-7)) < 1e-5);
            let skip = formula.linear_step(z, c, 0.0);
            assert!(skip.radius > 0.0 && skip.radius < 1e-10, "{}", skip.radius);
        }
        // Mandelbrot: A = 2Z, B = 1.
        let skip = mandelbrot().linear_step((0.3, -0.7), (0.0, 0.0), 0.0);
        assert_eq!(skip.a, Mat2::complex(0.6, -1.4));
        assert_eq!(skip.b, Mat2::IDENTITY);
        // At the critical point nothing is linear.
        assert_eq!(
            mandelbrot().linear_step((0.0, 0.0), (0.1, 0.0), 0.0).radius,
            0.0
        );
    }

    #[test]
    fn a_fold_s_radius_is_its_part_s_distance_from_zero() {
        // Re z = 1e-3 for the fold, Im z far: the fold decides.
        let skip = burning_ship().linear_step((1e-3, 0.5), (0.0, 0.0), 0.0);
        assert!(skip.radius <= 1e-3);
    }

    #[test]
    fn merged_skips_are_the_steps_one_after_the_other() {
        let (formula, c) = (mandelbrot(), (-0.75, 0.1));
        let orbit = orbit_of(&formula, c, 64);
        let table = BlaTable::build(
            &formula,
            &orbit,
            c,
            (WideFloat::from_f64(1e-30), false),
            usize::MAX,
            &|| false,
        )
        .expect("built");
        assert_eq!((table.min_level, table.max_level), (3, 6));
        // The 8-step skip from index 8 (the second of the shortest) against eight single
        // maps.
        let entry = &table.values[ENTRY_LEN..][..ENTRY_LEN];
        let (dz, dc) = ((1e-20, 3e-20), (2e-30, -1e-30));
        let mut stepped = dz;
        for index in 8..16 {
            let skip = formula.linear_step((orbit[2 * index], orbit[2 * index + 1]), c, 1e-30);
            let (az, bc) = (skip.a.apply(stepped), skip.b.apply(dc));
            stepped = (az.0 + bc.0, az.1 + bc.1);
        }
        let skipped = (
            entry[0] * dz.0 + entry[1] * dz.1 + entry[4] * dc.0 + entry[5] * dc.1,
            entry[2] * dz.0 + entry[3] * dz.1 + entry[6] * dc.0 + entry[7] * dc.1,
        );
        let error = modulus((skipped.0 - stepped.0, skipped.1 - stepped.1));
        assert!(error <= 1e-12 * modulus(stepped), "{skipped:?} {stepped:?}");
        assert!(table.radii[2] > 0.0, "valid somewhere");
    }

    #[test]
    fn scaled_entries_are_the_plain_ones_with_their_exponents_split_off() {
        let (formula, c) = (mandelbrot(), (-0.75, 0.1));
        let orbit = orbit_of(&formula, c, 64);
        let dc_bound = WideFloat::from_f64(1e-30);
        let table = BlaTable::build(&formula, &orbit, c, (dc_bound, true), usize::MAX, &|| false)
            .expect("built");
        assert_eq!(
            table.scaled_values.len(),
            1 + table.entries() * SCALED_ENTRY_LEN
        );
        for index in 0..table.entries() {
            let radius2 = table.radii[1 + index];
            let plain = &table.values[index * ENTRY_LEN..][..ENTRY_LEN];
            let scaled = &table.scaled_values[1 + index * SCALED_ENTRY_LEN..][..SCALED_ENTRY_LEN];
            let exponent = scaled[10] as i32;
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs());
            assert!(
                close(radius2, ldexp(scaled[0], scaled[1] as i32)),
                "{index}"
            );
            for k in 0..4 {
                assert!(close(plain[k], ldexp(scaled[2 + k], exponent)), "A {index}");
                assert!(
                    close(plain[4 + k], ldexp(scaled[6 + k], exponent)),
                    "B {index}"
                );
            }
        }
    }

    #[test]
    fn skips_far_below_f64_s_range_keep_their_radius_and_maps() {
        // The same orbit for pixels 2^-3000 from it: radii then are that small, and
        // only the scaled form can hold them.
        let (formula, c) = (mandelbrot(), (-0.75, 0.1));
        let orbit = orbit_of(&formula, c, 64);
        let near = BlaTable::build(
            &formula,
            &orbit,
            c,
            (WideFloat::ZERO, true),
            usize::MAX,
            &|| false,
        )
        .expect("built");
        let far = BlaTable::build(
            &formula,
            &orbit,
            c,
            (WideFloat::new(1.0, -3000), true),
            usize::MAX,
            &|| false,
        )
        .expect("built");
        // |dc| at 2^-3000 changes the radii by far less than their precision.
        assert_eq!(near.scaled_values, far.scaled_values);
        assert!(far.scaled_values.iter().any(|value| *value != 0.0));
    }

    #[test]
    fn every_skip_has_a_radius_after_the_largest_and_one_of_0_has_no_map() {
        let formula = mandelbrot();
        // An orbit that passes 0 now and then, so some skips hold nowhere.
        let orbit: Vec<f64> = (0..300)
            .flat_map(|index| {
                let angle = f64::from(index) * 0.37;
                let modulus = if index % 37 == 5 { 0.0 } else { 0.5 };
                [modulus * angle.cos(), modulus * angle.sin()]
            })
            .collect();
        let table = BlaTable::build(
            &formula,
            &orbit,
            (-0.1, 0.1),
            (WideFloat::from_f64(1e-20), false),
            usize::MAX,
            &|| false,
        )
        .expect("built");
        let entries: usize = (table.min_level..=table.max_level)
            .map(|level| BlaTable::count(300, level))
            .sum();
        assert_eq!(table.entries(), entries);
        assert_eq!(table.values.len(), entries * ENTRY_LEN);
        assert_eq!(table.radii.len(), 1 + entries);
        let radii = &table.radii[1..];
        let largest = radii.iter().fold(0.0_f64, |a, b| a.max(*b));
        assert!(largest > 0.0);
        assert_eq!(table.radii[0], largest);
        assert!(radii.contains(&0.0), "some skip holds nowhere");
        for (entry, radius2) in radii.iter().enumerate() {
            let map = &table.values[entry * ENTRY_LEN..][..ENTRY_LEN];
            if *radius2 == 0.0 {
                assert!(map.iter().all(|value| *value == 0.0), "entry {entry}");
            } else {
                assert!(map.iter().any(|value| *value != 0.0), "entry {entry}");
            }
        }
    }

    #[test]
    fn a_table_too_large_leaves_out_its_shortest_skips() {
        let formula = mandelbrot();
        let orbit: Vec<f64> = (0..1025).flat_map(|_| [-0.1, 0.1]).collect();
        let all = BlaTable::build(
            &formula,
            &orbit,
            (-0.1, 0.1),
            (WideFloat::ZERO, false),
            usize::MAX,
            &|| false,
        )
        .expect("built");
        let small = BlaTable::build(
            &formula,
            &orbit,
            (-0.1, 0.1),
            (WideFloat::ZERO, false),
            400,
            &|| false,
        )
        .expect("built");
        assert_eq!(all.min_level, MIN_LEVEL);
        assert!(
            small.min_level > MIN_LEVEL && small.values.len() + small.radii.len() <= 401,
            "{}",
            small.min_level
        );
        assert!(
            BlaTable::build(
                &formula,
                &orbit,
                (-0.1, 0.1),
                (WideFloat::ZERO, false),
                400,
                &|| true
            )
            .is_none()
        );
    }
}
