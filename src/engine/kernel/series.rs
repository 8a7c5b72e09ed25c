//! Series approximation: the first iterations of a view's pixels skipped at once. Deep in
//! the Mandelbrot set every pixel of a view follows the reference orbit, nearly, for most of
//! its iterations; in that stretch a pixel's difference from the reference is a smooth
//! function of its own offset dc, so it is one power series in t = dc / (the largest |dc|),
//! the same for every pixel. This module finds the series' coefficients step by step from
//! the recorded formula (each value of the step as a truncated series, with a bound on
//! what the truncation leaves out) and how many steps they hold for: a pixel then starts
//! at that iteration with dz = its series' value, instead of iterating (and skipping by
//! `BlaTable`) up to it. Unlike a skip, which is linear and holds only while dz is tiny
//! beside the orbit, a series follows dz once the nonlinear terms count too: at
//! rust-fractal-core's 1e50 location a pixel's skips give out about 14,000 steps before
//! the series does.
//!
//! It is built for conformal formulas (complex sums, products and powers) whose pixels
//! vary in c; folds and conjugates have no power series, and Julia sets keep the skips.
//!
//! At any depth: the coefficients are kept times 2^`exponent`, one exponent for them all,
//! moved as they grow, so a view whose dc is far below f64's range (1e-533) has its series
//! too. Products of two terms are scaled back by 2^-exponent, so at such depths the
//! nonlinear terms are 0 until dz grows to where they count (left out, they were below
//! 2^-1074 of the linear term), and they are not lost when the reference passes near 0,
//! where dz squared is what moves a pixel: in plain f64 (terms of 1e-227, squares of
//! 1e-454) they underflowed there, and rust-fractal-core's 5e227 corner pixel escaped 102
//! steps late.

use std::sync::mpsc::Receiver;

use super::formula::{Formula, FormulaOp};
use super::reference::TINY_POINT_LOG2;
use crate::engine::geometry::{WideFloat, frexp, ldexp};

/// Terms kept: t, t^2, ... t^TERMS.
pub const SERIES_TERMS: usize = 64;

/// The largest share of a pixel's dz the series may be wrong by where it is used: a
/// pixel's relative error from its skips is of this order too (`bla::EPSILON` per step).
const TOLERANCE: f64 = 1.0 / (1_u64 << 40) as f64;

/// Steps made between two checks for a stop.
const STOP_CHECK_STEPS: usize = 1 << 12;

/// The coefficients' exponent moves when the largest leaves 2^±this.
const RESCALE_LOG2: i32 = 64;

/// A complex number as (re, im).
type Complex = (f64, f64);

fn mul(a: Complex, b: Complex) -> Complex {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn modulus(a: Complex) -> f64 {
    a.0.hypot(a.1)
}

/// Values a stage of the series takes in `SeriesSkip::stages`: the steps it takes its
/// pixels, its coefficients' exponent, its radius squared (a share of the view's
/// `dc_bound`, squared; infinite for an outermost stage of radius 1, which every pixel of
/// the view takes), 1 / its radius, then its coefficients (re, im of t, t^2, ... with t a
/// pixel's dc over its radius times `dc_bound`).
pub const SERIES_STAGE_LEN: usize = 4 + 2 * SERIES_TERMS;

/// Each stage serves the pixels within this share of the previous one's radius: 2^-1/4.
const STAGE_SHRINK: f64 = 0.840_896_415_253_714_6;

/// No stage is made for a radius below this share of the view's `dc_bound` (about 2.5% of
/// a square view's pixels lie inside it).
const MIN_STAGE_RADIUS: f64 = 0.125;

/// The series a view's pixels start from, and the iterations it takes them to.
///
/// In stages: where the series stops holding for every pixel of the view, it still holds
/// for the pixels nearer the reference (its error grows as |t|^(TERMS + 1), and a pixel
/// nearer follows the reference longer), so it goes on for a smaller radius, and again,
/// each stage kept with the steps it holds for. A pixel takes the innermost stage whose
/// radius it is inside: at rust-fractal-core's 5e113 location the series holds to
/// iteration 22,006 for the whole view, to 22,344 within half its radius and to 22,716
/// within 0.3 of it (the pixels escape at about 22,730 on average).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSkip {
    /// Iterations every pixel of the view skips (0: none).
    pub steps: u32,
    /// Iterations the pixels nearest the reference skip: the innermost stage's.
    pub nearest_steps: u32,
    /// The stages, outermost first, `SERIES_STAGE_LEN` values each (empty: no series);
    /// each takes its pixels farther than the one before.
    pub stages: Vec<f64>,
    /// The largest |dc| the outermost stage holds for: a pixel's t is its dc divided by
    /// this (and by its stage's radius).
    pub dc_bound: WideFloat,
}

impl Default for SeriesSkip {
    /// None: pixels start at iteration 0.
    fn default() -> Self {
        Self {
            steps: 0,
            nearest_steps: 0,
            stages: Vec::new(),
            dc_bound: WideFloat::ZERO,
        }
    }
}

impl SeriesSkip {
    /// 1 / `dc_bound` times 2^-`scale_exponent`: t for a dc given in units of
    /// 2^-scale_exponent is dc times this (0 without a series).
    pub fn inverse_dc_bound(&self, scale_exponent: i32) -> f64 {
        if self.stages.is_empty() || self.dc_bound.is_zero() {
            return 0.0;
        }
        (WideFloat::new(1.0, -scale_exponent) / self.dc_bound).to_f64()
    }

    /// The steps each stage takes its pixels, outermost first.
    pub fn stage_steps(&self) -> impl Iterator<Item = f64> + '_ {
        self.stages
            .chunks_exact(SERIES_STAGE_LEN)
            .map(|stage| stage[0])
    }
}

/// One value of the formula's step as the reference's value plus a series in t: the true
/// value is `value + 2^-E (Σ terms[k] t^(k+1) + e(t))` with |e(t)| <= `error` |t|^(TERMS+1)
/// for |t| <= 1 (e is analytic and vanishes to that order at 0, so its bound on the unit
/// disc bounds it everywhere inside by Schwarz's lemma), E the builder's exponent.
#[derive(Debug, Clone, Copy)]
struct SeriesValue {
    value: Complex,
    terms: [Complex; SERIES_TERMS],
    /// The terms from this one on are all exactly 0: the products skip them. Deep in a
    /// view most are for most of the series (a term of order k starts as the first term to
    /// the k-th power, which underflows, and only comes in as dz grows), so this makes the
    /// series many times cheaper a step than working all `SERIES_TERMS` of them.
    len: usize,
    error: f64,
}

impl SeriesValue {
    fn constant(value: Complex) -> Self {
        Self {
            value,
            terms: [(0.0, 0.0); SERIES_TERMS],
            len: 0,
            error: 0.0,
        }
    }

    /// `len` lowered past the terms that came out exactly 0.
    fn trimmed(mut self) -> Self {
        while self.len > 0 && self.terms[self.len - 1] == (0.0, 0.0) {
            self.len -= 1;
        }
        self
    }

    /// The largest |deviation from the value| on the unit disc: the terms' moduli and the
    /// error bound.
    fn reach(&self) -> f64 {
        self.terms[..self.len]
            .iter()
            .map(|term| term_modulus(*term))
            .sum::<f64>()
            + self.error
    }

    fn plus(&self, other: &Self, sign: f64) -> Self {
        let mut terms = self.terms;
        for (term, theirs) in terms.iter_mut().zip(&other.terms).take(other.len) {
            *term = (term.0 + sign * theirs.0, term.1 + sign * theirs.1);
        }
        Self {
            value: (
                self.value.0 + sign * other.value.0,
                self.value.1 + sign * other.value.1,
            ),
            terms,
            len: self.len.max(other.len),
            error: self.error + other.error,
        }
    }

    fn negated(&self) -> Self {
        Self::constant((0.0, 0.0)).plus(self, -1.0)
    }

    /// The product, truncated: the left-out products of terms (orders above TERMS) and
    /// the operands' errors go into the error bound. `shrink` is 2^-E: a product of two
    /// terms carries 2^2E, and is scaled back to 2^E by it.
    fn times(&self, other: &Self, shrink: f64) -> Self {
        let (a, b) = (self, other);
        let mut terms = [(0.0, 0.0); SERIES_TERMS];
        let len = if a.len == 0 || b.len == 0 {
            a.len.max(b.len)
        } else {
            (a.len + b.len).min(SERIES_TERMS)
        };
        for (order, term) in terms.iter_mut().enumerate().take(len) {
            let (a_linear, b_linear) = (mul(a.value, b.terms[order]), mul(b.value, a.terms[order]));
            let (mut re, mut im) = (0.0, 0.0);
            // Terms i + 1 and j + 1 with (i + 1) + (j + 1) = order + 1, both below len.
            for i in order.saturating_sub(b.len)..order.min(a.len) {
                let (x, y) = (a.terms[i], b.terms[order - 1 - i]);
                re += x.0 * y.0 - x.1 * y.1;
                im += x.0 * y.1 + x.1 * y.0;
            }
            *term = (
                a_linear.0 + b_linear.0 + shrink * re,
                a_linear.1 + b_linear.1 + shrink * im,
            );
        }
        Self {
            value: mul(a.value, b.value),
            terms,
            len,
            error: product_error(a, b, shrink),
        }
        .trimmed()
    }

    /// `times(self, shrink)`, with each product of two different terms made once.
    fn squared(&self, shrink: f64) -> Self {
        let a = self;
        let mut terms = [(0.0, 0.0); SERIES_TERMS];
        let twice_value = (2.0 * a.value.0, 2.0 * a.value.1);
        let len = (2 * a.len).min(SERIES_TERMS);
        for (order, term) in terms.iter_mut().enumerate().take(len) {
            let linear = mul(twice_value, a.terms[order]);
            let (mut re, mut im) = (0.0, 0.0);
            // Pairs i < j with (i + 1) + (j + 1) = order + 1 (j below len), then the middle
            // term.
            let pairs = order / 2;
            for i in order.saturating_sub(a.len).min(pairs)..pairs {
                let (x, y) = (a.terms[i], a.terms[order - 1 - i]);
                re += x.0 * y.0 - x.1 * y.1;
                im += x.0 * y.1 + x.1 * y.0;
            }
            let (mut re, mut im) = (2.0 * re, 2.0 * im);
            if order % 2 == 1 {
                let middle = a.terms[pairs];
                re += middle.0 * middle.0 - middle.1 * middle.1;
                im += 2.0 * middle.0 * middle.1;
            }
            *term = (linear.0 + shrink * re, linear.1 + shrink * im);
        }
        Self {
            value: mul(a.value, a.value),
            terms,
            len,
            error: product_error(a, a, shrink),
        }
        .trimmed()
    }
}

/// |x| for a term: a modulus without hypot's care for overflow (a term near f64's limits
/// makes the series' reach infinite, which ends it; one below 1e-154 counts as 0 beside
/// the terms that matter).
fn term_modulus(term: Complex) -> f64 {
    (term.0 * term.0 + term.1 * term.1).sqrt()
}

/// The error bound of the truncated product of `a` and `b`: Σ |a_i| |b_j| over the orders
/// left out (i + j > TERMS), and what the operands' own errors can add (`shrink` as in
/// `times`).
fn product_error(a: &SeriesValue, b: &SeriesValue, shrink: f64) -> f64 {
    // (Only the terms below each len: the rest are 0, and add nothing to any sum.)
    let mut a_moduli = [0.0; SERIES_TERMS];
    for (modulus, term) in a_moduli.iter_mut().zip(&a.terms).take(a.len) {
        *modulus = term_modulus(*term);
    }
    // b's suffix sums: b_suffix[j] = Σ |b| from order j + 1 up.
    let mut b_suffix = [0.0; SERIES_TERMS + 1];
    for j in (0..b.len).rev() {
        b_suffix[j] = b_suffix[j + 1] + term_modulus(b.terms[j]);
    }
    // a's order i + 1 pairs with b's orders from TERMS + 1 - (i + 1) up.
    let left_out: f64 = (0..a.len)
        .map(|i| a_moduli[i] * b_suffix[SERIES_TERMS - 1 - i])
        .sum();
    let (a_reach, b_reach) = (a_moduli.iter().sum::<f64>(), b_suffix[0]);
    modulus(a.value) * b.error
        + modulus(b.value) * a.error
        + shrink * (left_out + a_reach * b.error + b_reach * a.error + a.error * b.error)
}

/// The series of `formula`'s orbit `orbit` (re, im pairs, from z's start) with constant
/// `c`, for pixels with |dc| up to `dc_bound`: as far as it holds to `TOLERANCE` for every
/// such pixel and no such pixel can escape, and at most `max_steps` steps and never to the
/// orbit's last point (a pixel then steps on from a point with one after it), nor past a
/// point nearer 0 than f64 holds exactly (`TINY_POINT_LOG2`). None when `is_stopped` says
/// so; no skip (0 steps) for formulas without a power series (folds, conjugates), Julia
/// sets, and a bound of 0.
pub fn build(
    formula: &Formula,
    orbit: &[f64],
    c: Complex,
    dc_bound: WideFloat,
    max_steps: usize,
    is_stopped: &dyn Fn() -> bool,
) -> Option<SeriesSkip> {
    let mut builder = SeriesBuilder::new(formula, c, dc_bound, max_steps);
    builder.follow(orbit, 0, is_stopped)?;
    Some(builder.finish())
}

/// A series followed along an orbit as its points come (so it can be made while the orbit
/// is computed, on another thread): `follow` with the points so far, then `finish`. Kept
/// (a clone finished), it goes on along the same orbit taken on to a higher limit.
#[derive(Debug, Clone)]
pub struct SeriesBuilder {
    formula: Formula,
    dc: SeriesValue,
    /// dz at `steps`.
    dz: SeriesValue,
    /// The terms and errors of `dc` and `dz` are kept times 2^this.
    exponent: i32,
    steps: usize,
    max_steps: usize,
    dc_bound: WideFloat,
    /// The series stops before a point nearer 0 than this: 2^(TINY_POINT_LOG2 / (the
    /// formula's degree - 1)), where the point's highest power in the step leaves f64.
    tiny_point: f64,
    /// False once the series stops holding (or never can).
    going: bool,
    nodes: Vec<SeriesValue>,
    /// The radius the series is followed for now, as a share of `dc_bound`: t is a
    /// pixel's dc over `radius` times `dc_bound`.
    radius: f64,
    /// The stages made so far (`SeriesSkip::stages`).
    stages: Vec<f64>,
}

impl SeriesBuilder {
    /// A series at step 0 (dz = 0 for every pixel: z starts at the formula's start).
    pub fn new(formula: &Formula, c: Complex, dc_bound: WideFloat, max_steps: usize) -> Self {
        let analytic = formula.ops.iter().all(|op| {
            !matches!(
                op,
                FormulaOp::Conj(_) | FormulaOp::Abs(_) | FormulaOp::AbsRe(_) | FormulaOp::AbsIm(_)
            )
        });
        let going = analytic
            && formula.julia.is_none()
            && !dc_bound.is_zero()
            && dc_bound.significand().is_finite();
        // dc = dc_bound t: its one term, dc_bound's significand, kept times 2^-(its exponent).
        let mut dc = SeriesValue::constant(c);
        dc.terms[0] = (dc_bound.significand(), 0.0);
        dc.len = 1;
        Self {
            formula: formula.clone(),
            dc,
            dz: SeriesValue::constant((0.0, 0.0)),
            exponent: -dc_bound.exponent(),
            steps: 0,
            max_steps,
            dc_bound,
            tiny_point: 2_f64.powf(
                TINY_POINT_LOG2 as f64 / f64::from(formula.degree().saturating_sub(1).max(1)),
            ),
            going,
            nodes: Vec::with_capacity(formula.ops.len()),
            radius: 1.0,
            stages: Vec::new(),
        }
    }

    /// True while the series may still go farther (more points may take it on).
    pub fn is_going(&self) -> bool {
        self.going
    }

    /// The step the series has reached: the first point `follow` still needs.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The largest |dc| it is followed for.
    pub fn dc_bound(&self) -> WideFloat {
        self.dc_bound
    }

    /// Takes the series on along the orbit's points from index `first` on (`points`, re, im
    /// pairs, to the last computed so far; `first` at most `steps()`), as far as it holds
    /// and the points allow: a step to point n + 1 is taken once point n + 2 is there, so it
    /// never ends on the orbit's last point. None when `is_stopped` says so.
    pub fn follow(
        &mut self,
        points: &[f64],
        first: usize,
        is_stopped: &dyn Fn() -> bool,
    ) -> Option<()> {
        let length = first + points.len() / 2;
        let escape_radius = self.formula.bailout;
        while self.going
            && self.steps >= first
            && self.steps < self.max_steps
            && self.steps + 2 < length
        {
            let index = self.steps;
            if index.is_multiple_of(STOP_CHECK_STEPS) && is_stopped() {
                return None;
            }
            let at = 2 * (index - first);
            // z is the point plus dz's terms: dz itself, its value set to the point (dz's
            // own value is never read).
            self.dz.value = (points[at], points[at + 1]);
            // Past a point this near 0 the step needs more range than f64 has: its powers
            // of the point underflow (the orbit's tiny records hold it exactly, for a
            // pixel's careful step), and the series' value can fall so far below its
            // terms' exponent that their products, scaled back, underflow too (at
            // rust-fractal-core's 1e1086 location a series taken on past such a point held
            // to the orbit's end while every pixel escaped 500 to 1,100 steps before).
            if index > 0 && modulus(self.dz.value) < self.tiny_point {
                self.going = false;
                break;
            }
            let shrink = ldexp(1.0, -self.exponent);
            let Some(next) = step(&self.formula, &self.dz, &self.dc, shrink, &mut self.nodes)
            else {
                self.going = false;
                break;
            };
            // The next point of the orbit, and the pixels' largest distance from it.
            let point = (points[at + 2], points[at + 3]);
            let reach = next.reach();
            // Near a pixel at t, dz is about its largest term b_j t^j at least (a pixel
            // where the terms cancel lies on the reference's own path, where any method's
            // dz is tiny), and the error is below error |t|^(K+1), so a share of dz below
            // error / |b_j|.
            let largest = next.terms[..next.len]
                .iter()
                .fold(0.0, |largest: f64, term| largest.max(term_modulus(*term)));
            let holds = reach.is_finite()
                && modulus(point) + shrink * reach < escape_radius
                && next.error <= TOLERANCE * largest;
            if !holds {
                // It holds no farther for the pixels out to this radius: they take it
                // as far as it came, and it goes on for the pixels nearer in.
                self.keep_stage();
                if self.radius * STAGE_SHRINK < MIN_STAGE_RADIUS {
                    self.going = false;
                    break;
                }
                self.narrow_radius();
                continue;
            }
            self.dz = next;
            self.steps = index + 1;
            self.rescale(largest);
        }
        Some(())
    }

    /// Moves the exponent so that dz's largest term (`largest`) is near 1 again once it
    /// has left 2^±`RESCALE_LOG2`: by a power of two, so the terms stay exact (but for
    /// ones far below the largest, which may round or underflow).
    fn rescale(&mut self, largest: f64) {
        let (_, largest_log2) = frexp(largest);
        if largest == 0.0 || largest_log2.abs() <= RESCALE_LOG2 {
            return;
        }
        let shift = -largest_log2;
        for value in [&mut self.dz, &mut self.dc] {
            for term in &mut value.terms {
                *term = (ldexp(term.0, shift), ldexp(term.1, shift));
            }
            value.error = ldexp(value.error, shift);
        }
        self.exponent = self.exponent.saturating_add(shift);
    }

    /// Keeps the series as it is now, at `steps`, as the stage of the pixels within
    /// `radius`: unless it takes them no farther than the stage before (which has more
    /// pixels), or nowhere.
    fn keep_stage(&mut self) {
        let last_steps = self
            .stages
            .len()
            .checked_sub(SERIES_STAGE_LEN)
            .map_or(0.0, |last| self.stages[last]);
        if self.steps as f64 <= last_steps {
            return;
        }
        let radius_squared = if self.radius == 1.0 {
            f64::INFINITY
        } else {
            self.radius * self.radius
        };
        self.stages.extend_from_slice(&[
            self.steps as f64,
            f64::from(self.exponent),
            radius_squared,
            1.0 / self.radius,
        ]);
        for term in &self.dz.terms {
            self.stages.extend_from_slice(&[term.0, term.1]);
        }
    }

    /// Follows the series on for the pixels within `STAGE_SHRINK` of the radius: t for
    /// them is t / `STAGE_SHRINK`, so the term of t^k is scaled by `STAGE_SHRINK`^k (dc's
    /// too), and the bound of the error, of order TERMS + 1 in t, by that power.
    fn narrow_radius(&mut self) {
        for value in [&mut self.dz, &mut self.dc] {
            let mut power = 1.0;
            for term in &mut value.terms {
                power *= STAGE_SHRINK;
                *term = (term.0 * power, term.1 * power);
            }
            value.error *= power * STAGE_SHRINK;
        }
        self.radius *= STAGE_SHRINK;
    }

    /// The series as far as it was followed, in its stages.
    pub fn finish(mut self) -> SeriesSkip {
        self.keep_stage();
        let Some(first) = self.stages.first() else {
            return SeriesSkip::default();
        };
        let every_pixel = self.stages[2] == f64::INFINITY;
        let steps_of = |steps: f64| steps as u32;
        SeriesSkip {
            steps: if every_pixel { steps_of(*first) } else { 0 },
            nearest_steps: steps_of(self.stages[self.stages.len() - SERIES_STAGE_LEN]),
            stages: self.stages,
            dc_bound: self.dc_bound,
        }
    }
}

/// The series of an orbit whose points come through `receiver` as it is computed (chunks
/// of re, im pairs in order, the first from z's start), followed as they come and for as
/// long as it holds (see `build`); None when `is_stopped` says so. Keeps only the points
/// the series has not passed. With the builder of an earlier follow of the same orbit
/// (stopped at a lower limit), it goes on from where that one got to, and the chunks
/// start at its `steps()`. Gives the builder back too, to go on later.
pub fn follow_orbit(
    (formula, c, dc_bound): (&Formula, Complex, WideFloat),
    resumed: Option<SeriesBuilder>,
    receiver: &Receiver<Vec<f64>>,
    is_stopped: &dyn Fn() -> bool,
) -> Option<(SeriesSkip, SeriesBuilder)> {
    let mut builder =
        resumed.unwrap_or_else(|| SeriesBuilder::new(formula, c, dc_bound, usize::MAX));
    let (mut points, mut first) = (Vec::new(), builder.steps());
    while builder.is_going() {
        let Ok(chunk) = receiver.recv() else {
            break;
        };
        points.extend_from_slice(&chunk);
        builder.follow(&points, first, is_stopped)?;
        let passed = builder.steps().saturating_sub(first);
        points.drain(..2 * passed);
        first += passed;
    }
    Some((builder.clone().finish(), builder))
}

/// One step of the formula on series: z's and c's given, dz's next returned (the result's
/// deviation from its value; its value is the orbit's next point, up to rounding). None
/// for an operation without a power series.
fn step(
    formula: &Formula,
    z: &SeriesValue,
    c: &SeriesValue,
    shrink: f64,
    nodes: &mut Vec<SeriesValue>,
) -> Option<SeriesValue> {
    nodes.clear();
    for op in &formula.ops {
        // Read in place: a value is a kilobyte, and copies of them were 8% of a deep
        // render's reference phase.
        let at = |index: usize| nodes.get(index);
        let node = match *op {
            FormulaOp::Z => *z,
            FormulaOp::C => *c,
            FormulaOp::Const { re, im } => SeriesValue::constant((re, im)),
            FormulaOp::Add(a, b) => at(a)?.plus(at(b)?, 1.0),
            FormulaOp::Sub(a, b) => at(a)?.plus(at(b)?, -1.0),
            FormulaOp::Neg(a) => at(a)?.negated(),
            FormulaOp::Sqr(a) => at(a)?.squared(shrink),
            FormulaOp::Mul(a, b) if a == b => at(a)?.squared(shrink),
            FormulaOp::Mul(a, b) => at(a)?.times(at(b)?, shrink),
            FormulaOp::Pow(a, k) => {
                let a = at(a)?;
                (1..k).fold(*a, |power, _| power.times(a, shrink))
            }
            FormulaOp::Conj(_) | FormulaOp::Abs(_) | FormulaOp::AbsRe(_) | FormulaOp::AbsIm(_) => {
                return None;
            }
        };
        nodes.push(node);
    }
    nodes.pop()
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn mandelbrot() -> Formula {
        Formula {
            ops: vec![
                FormulaOp::Z,
                FormulaOp::Sqr(0),
                FormulaOp::C,
                FormulaOp::Add(1, 2),
            ],
            julia: None,
            start: (0.0, 0.0),
            bailout: 16.0,
            reads_parameters: false,
        }
    }

    fn orbit_of(c: Complex, steps: usize) -> Vec<f64> {
        let mut z = (0.0, 0.0);
        let mut points = vec![0.0, 0.0];
        for _ in 0..steps {
            let square = mul(z, z);
            z = (square.0 + c.0, square.1 + c.1);
            points.extend_from_slice(&[z.0, z.1]);
        }
        points
    }

    /// The steps a pixel at `dc` skips and its dz there, from the innermost stage it is
    /// inside, as the pixel functions take it.
    fn evaluate(series: &SeriesSkip, dc: Complex) -> (usize, Complex) {
        let inverse_dc_bound = series.inverse_dc_bound(0);
        let t = (dc.0 * inverse_dc_bound, dc.1 * inverse_dc_bound);
        let stage = series
            .stages
            .chunks_exact(SERIES_STAGE_LEN)
            .rfind(|stage| t.0 * t.0 + t.1 * t.1 <= stage[2])
            .expect("a stage");
        let t = (t.0 * stage[3], t.1 * stage[3]);
        let mut sum = (0.0, 0.0);
        for pair in stage[4..].chunks_exact(2).rev() {
            sum = mul(sum, t);
            sum = (sum.0 + pair[0], sum.1 + pair[1]);
        }
        let dz = mul(sum, t);
        let exponent = -(stage[1] as i32);
        (
            stage[0] as usize,
            (ldexp(dz.0, exponent), ldexp(dz.1, exponent)),
        )
    }

    /// dz after `steps` perturbed steps of the Mandelbrot set from 0, for a pixel at `dc`
    /// from the reference `orbit`.
    fn iterated(orbit: &[f64], dc: Complex, steps: usize) -> Complex {
        let mut dz = (0.0, 0.0);
        for index in 0..steps {
            let z = (orbit[2 * index], orbit[2 * index + 1]);
            let twice_z_dz = mul((2.0 * z.0, 2.0 * z.1), dz);
            let square = mul(dz, dz);
            dz = (
                twice_z_dz.0 + square.0 + dc.0,
                twice_z_dz.1 + square.1 + dc.1,
            );
        }
        dz
    }

    /// The first step at which the Mandelbrot orbit of `pixel` leaves radius 4 (`limit`
    /// if none).
    fn escape_step(pixel: Complex, limit: usize) -> usize {
        let mut z = (0.0, 0.0);
        (1..=limit)
            .find(|_| {
                let square = mul(z, z);
                z = (square.0 + pixel.0, square.1 + pixel.1);
                modulus(z) > 16.0
            })
            .unwrap_or(limit)
    }

    #[test]
    fn a_pixel_started_from_the_series_is_where_iterating_takes_it() {
        // Inside the main cardioid: every orbit nearby stays bounded, so the series
        // holds for all the steps asked for.
        let c = (-0.1, 0.2);
        let orbit = orbit_of(c, 400);
        let dc_bound = 1e-6;
        let series = build(
            &mandelbrot(),
            &orbit,
            c,
            WideFloat::from_f64(dc_bound),
            300,
            &|| false,
        )
        .expect("built");
        assert_eq!((series.steps, series.nearest_steps), (300, 300));
        for dc in [(7e-7, -2e-7), (-3e-7, 5e-7), (1e-9, 0.0)] {
            let (steps, from_series) = evaluate(&series, dc);
            assert_eq!(steps, 300);
            let dz = iterated(&orbit, dc, steps);
            let off = modulus((from_series.0 - dz.0, from_series.1 - dz.1));
            assert!(
                off <= 1e-9 * modulus(dz),
                "{dc:?}: {from_series:?} against {dz:?}"
            );
        }
    }

    #[test]
    fn a_view_far_below_f64_s_range_gets_the_series_of_a_shallow_one_scaled_down() {
        // The same pixels' series at dc bounds 1e-6 and 1e-6 2^-3000 (about 1e-909): dz is
        // linear in dc there, so its first coefficient is the shallow one times 2^-3000,
        // and the rest are far below it; in plain f64 the deep bound was 0, and no series.
        let c = (-0.1, 0.2);
        let orbit = orbit_of(c, 400);
        let shallow = build(
            &mandelbrot(),
            &orbit,
            c,
            WideFloat::from_f64(1e-6),
            300,
            &|| false,
        )
        .expect("built");
        let deep_bound = WideFloat::new(1e-6, -3000);
        assert_eq!(deep_bound.to_f64(), 0.0);
        let deep = build(&mandelbrot(), &orbit, c, deep_bound, 300, &|| false).expect("built");
        assert_eq!((shallow.steps, deep.steps), (300, 300));
        let first = |series: &SeriesSkip, shift: i32| {
            let exponent = shift - series.stages[1] as i32;
            (
                WideFloat::new(series.stages[4], exponent),
                WideFloat::new(series.stages[5], exponent),
            )
        };
        let (shallow_first, deep_first) = (first(&shallow, -3000), first(&deep, 0));
        for (a, b) in [
            (shallow_first.0, deep_first.0),
            (shallow_first.1, deep_first.1),
        ] {
            assert!(
                ((a / b).to_f64() - 1.0).abs() < 1e-12,
                "{a:?} against {b:?}"
            );
        }
        // The stored coefficients stay near 1 (the exponent moved instead).
        let largest = deep.stages[4..SERIES_STAGE_LEN]
            .iter()
            .fold(0.0_f64, |largest, value| largest.max(value.abs()));
        assert!(
            (2f64.powi(-65)..=2f64.powi(65)).contains(&largest),
            "{largest}"
        );
        assert!(deep.stages[1] > 2900.0, "{}", deep.stages[1]);
        // Pixels of the deep view find t in their own units: their offset times 2^-3000
        // over the bound.
        assert!((deep.inverse_dc_bound(3000) - 1e6).abs() < 1e-6);
    }

    #[test]
    fn the_series_stops_before_a_point_of_the_orbit_nearer_0_than_f64_holds() {
        // An orbit passing 2^-1100 from 0 at its 50th point: the series' square of dz
        // would underflow there (the step needs more range than f64 has), so it ends at
        // that point at the latest.
        let c = (-0.1, 0.2);
        let mut orbit = orbit_of(c, 400);
        orbit[100] = 2f64.powi(-1100);
        orbit[101] = 0.0;
        let series = build(
            &mandelbrot(),
            &orbit,
            c,
            WideFloat::new(0.5, -2000),
            300,
            &|| false,
        )
        .expect("built");
        assert_eq!(series.steps, 50);
    }

    #[test]
    fn the_series_stops_before_a_pixel_of_the_view_can_escape() {
        // c = 0.3 escapes after a few dozen steps; pixels within 0.01 of it escape at
        // various steps, so the series must stop before the first of them.
        let c = (0.3, 0.0);
        let orbit = orbit_of(c, 30);
        let series = build(
            &mandelbrot(),
            &orbit,
            c,
            WideFloat::from_f64(0.01),
            1000,
            &|| false,
        )
        .expect("built");
        let first_escape = (0..=200)
            .map(|i| {
                let angle = f64::from(i) * std::f64::consts::TAU / 200.0;
                escape_step((c.0 + 0.01 * angle.cos(), c.1 + 0.01 * angle.sin()), 1000)
            })
            .min()
            .expect("pixels");
        assert!(series.steps > 0);
        assert!(
            (series.steps as usize) < first_escape,
            "{} against {first_escape}",
            series.steps
        );
    }

    #[test]
    fn pixels_nearer_the_reference_start_farther_on_from_an_inner_stage() {
        // Just right of the cusp at 0.25 (c = 0.26 escapes in about 30 steps) the
        // pixels farther right escape sooner, so the series for the whole view stops
        // early (24 steps); nearer c it holds longer (to 30 in 7 stages). Each pixel
        // starts from its own stage: before it escapes, and where iterating takes it.
        let c = (0.26, 0.0);
        let orbit = orbit_of(c, 60);
        let dc_bound = 0.005;
        let series = build(
            &mandelbrot(),
            &orbit,
            c,
            WideFloat::from_f64(dc_bound),
            1000,
            &|| false,
        )
        .expect("built");
        assert!(series.steps > 0);
        assert!(
            series.nearest_steps > series.steps + 2,
            "{} to {}",
            series.steps,
            series.nearest_steps
        );
        let steps: Vec<f64> = series.stage_steps().collect();
        assert!(steps.windows(2).all(|pair| pair[0] < pair[1]), "{steps:?}");
        let mut farthest = 0;
        for share in [1.0, 0.8, 0.6, 0.45, 0.3, 0.2, 0.1] {
            for angle in [0.0, 1.0, 2.5, 3.1, 4.4] {
                let dc = (
                    dc_bound * share * f64::cos(angle),
                    dc_bound * share * f64::sin(angle),
                );
                let (steps, from_series) = evaluate(&series, dc);
                assert!(
                    steps < escape_step((c.0 + dc.0, c.1 + dc.1), 1000),
                    "{dc:?} starts at {steps}"
                );
                let dz = iterated(&orbit, dc, steps);
                let off = modulus((from_series.0 - dz.0, from_series.1 - dz.1));
                assert!(
                    off <= 1e-9 * modulus(dz),
                    "{dc:?} at {steps}: {from_series:?} against {dz:?}"
                );
                farthest = farthest.max(steps);
            }
        }
        assert_eq!(farthest, series.nearest_steps as usize);
    }

    #[test]
    fn a_series_followed_as_the_orbit_comes_is_the_one_made_from_the_whole_orbit() {
        let c = (0.3, 0.0);
        let orbit = orbit_of(c, 40);
        let whole = build(
            &mandelbrot(),
            &orbit,
            c,
            WideFloat::from_f64(0.01),
            usize::MAX,
            &|| false,
        )
        .expect("built");
        assert!(whole.steps > 0);
        let (sender, receiver) = std::sync::mpsc::channel();
        for chunk in orbit.chunks(6) {
            sender.send(chunk.to_vec()).expect("sent");
        }
        drop(sender);
        let (followed, _) = follow_orbit(
            (&mandelbrot(), c, WideFloat::from_f64(0.01)),
            None,
            &receiver,
            &|| false,
        )
        .expect("followed");
        assert_eq!(followed, whole);
    }

    #[test]
    fn a_series_taken_on_along_a_longer_orbit_is_the_one_made_from_the_whole_orbit() {
        let c = (0.3, 0.0);
        let orbit = orbit_of(c, 40);
        let formula = mandelbrot();
        let dc_bound = WideFloat::from_f64(0.01);
        let whole = build(&formula, &orbit, c, dc_bound, usize::MAX, &|| false).expect("built");
        let follow = |points: &[f64], resumed| {
            let (sender, receiver) = std::sync::mpsc::channel();
            sender.send(points.to_vec()).expect("sent");
            drop(sender);
            follow_orbit((&formula, c, dc_bound), resumed, &receiver, &|| false).expect("followed")
        };
        // The orbit stopped by a limit of 12 steps, then taken on to 40.
        let (short, builder) = follow(&orbit[..26], None);
        assert!(short.steps < whole.steps, "{short:?} {whole:?}");
        let (taken_on, _) = follow(&orbit[2 * builder.steps()..], Some(builder));
        assert_eq!(taken_on, whole);
    }

    #[test]
    fn folds_julia_sets_and_a_stop_get_no_series() {
        let c = (-0.1, 0.2);
        let orbit = orbit_of(c, 100);
        let mut ship = mandelbrot();
        ship.ops = vec![
            FormulaOp::Z,
            FormulaOp::Abs(0),
            FormulaOp::Sqr(1),
            FormulaOp::C,
            FormulaOp::Add(2, 3),
        ];
        assert_eq!(
            build(&ship, &orbit, c, WideFloat::from_f64(1e-6), 50, &|| false)
                .expect("built")
                .steps,
            0
        );
        let julia = Formula {
            julia: Some("c".to_owned()),
            ..mandelbrot()
        };
        assert_eq!(
            build(&julia, &orbit, c, WideFloat::from_f64(1e-6), 50, &|| false)
                .expect("built")
                .steps,
            0
        );
        assert_eq!(
            build(
                &mandelbrot(),
                &orbit,
                c,
                WideFloat::from_f64(0.0),
                50,
                &|| false
            )
            .expect("built")
            .steps,
            0
        );
        assert!(
            build(
                &mandelbrot(),
                &orbit,
                c,
                WideFloat::from_f64(1e-6),
                50,
                &|| true
            )
            .is_none()
        );
    }
}
