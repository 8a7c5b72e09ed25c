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

use std::sync::mpsc::Receiver;

use super::formula::{Formula, FormulaOp};

/// Terms kept: t, t^2, ... t^TERMS.
pub const SERIES_TERMS: usize = 64;

/// The largest share of a pixel's dz the series may be wrong by where it is used: a
/// pixel's relative error from its skips is of this order too (`bla::EPSILON` per step).
const TOLERANCE: f64 = 1.0 / (1_u64 << 40) as f64;

/// Steps made between two checks for a stop.
const STOP_CHECK_STEPS: usize = 1 << 12;

/// A complex number as (re, im).
type Complex = (f64, f64);

fn mul(a: Complex, b: Complex) -> Complex {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn modulus(a: Complex) -> f64 {
    a.0.hypot(a.1)
}

/// The series a view's pixels start from, and the iteration it takes them to.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSkip {
    /// Iterations every pixel skips (0: none).
    pub steps: u32,
    /// dz at `steps` as re, im of the coefficients of t, t^2, ... (`SERIES_TERMS` of them).
    pub coefficients: Vec<f64>,
    /// 1 / the largest |dc| it holds for: a pixel's t is its dc times this.
    pub inverse_dc_bound: f64,
}

impl Default for SeriesSkip {
    /// None: pixels start at iteration 0.
    fn default() -> Self {
        Self {
            steps: 0,
            coefficients: vec![0.0; 2 * SERIES_TERMS],
            inverse_dc_bound: 0.0,
        }
    }
}

/// One value of the formula's step as the reference's value plus a series in t: the true
/// value is `value + Σ terms[k] t^(k+1) + e(t)` with |e(t)| <= `error` |t|^(TERMS+1) for
/// |t| <= 1 (e is analytic and vanishes to that order at 0, so its bound on the unit disc
/// bounds it everywhere inside by Schwarz's lemma).
#[derive(Debug, Clone, Copy)]
struct SeriesValue {
    value: Complex,
    terms: [Complex; SERIES_TERMS],
    error: f64,
}

impl SeriesValue {
    fn constant(value: Complex) -> Self {
        Self {
            value,
            terms: [(0.0, 0.0); SERIES_TERMS],
            error: 0.0,
        }
    }

    /// The largest |deviation from the value| on the unit disc: the terms' moduli and the
    /// error bound.
    fn reach(&self) -> f64 {
        self.terms
            .iter()
            .map(|term| term_modulus(*term))
            .sum::<f64>()
            + self.error
    }

    fn plus(&self, other: &Self, sign: f64) -> Self {
        let mut terms = self.terms;
        for (term, theirs) in terms.iter_mut().zip(&other.terms) {
            *term = (term.0 + sign * theirs.0, term.1 + sign * theirs.1);
        }
        Self {
            value: (
                self.value.0 + sign * other.value.0,
                self.value.1 + sign * other.value.1,
            ),
            terms,
            error: self.error + other.error,
        }
    }

    fn negated(&self) -> Self {
        Self::constant((0.0, 0.0)).plus(self, -1.0)
    }

    /// The product, truncated: the left-out products of terms (orders above TERMS) and
    /// the operands' errors go into the error bound.
    fn times(&self, other: &Self) -> Self {
        let (a, b) = (self, other);
        let mut terms = [(0.0, 0.0); SERIES_TERMS];
        for (order, term) in terms.iter_mut().enumerate() {
            let (a_linear, b_linear) = (mul(a.value, b.terms[order]), mul(b.value, a.terms[order]));
            let (mut re, mut im) = (a_linear.0 + b_linear.0, a_linear.1 + b_linear.1);
            // Terms i + 1 and j + 1 with (i + 1) + (j + 1) = order + 1.
            for i in 0..order {
                let (x, y) = (a.terms[i], b.terms[order - 1 - i]);
                re += x.0 * y.0 - x.1 * y.1;
                im += x.0 * y.1 + x.1 * y.0;
            }
            *term = (re, im);
        }
        Self {
            value: mul(a.value, b.value),
            terms,
            error: product_error(a, b),
        }
    }

    /// `times(self)`, with each product of two different terms made once.
    fn squared(&self) -> Self {
        let a = self;
        let mut terms = [(0.0, 0.0); SERIES_TERMS];
        let twice_value = (2.0 * a.value.0, 2.0 * a.value.1);
        for (order, term) in terms.iter_mut().enumerate() {
            let linear = mul(twice_value, a.terms[order]);
            let (mut re, mut im) = (0.0, 0.0);
            // Pairs i < j with (i + 1) + (j + 1) = order + 1, then the middle term.
            let pairs = order / 2;
            for i in 0..pairs {
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
            *term = (linear.0 + re, linear.1 + im);
        }
        Self {
            value: mul(a.value, a.value),
            terms,
            error: product_error(a, a),
        }
    }
}

/// |x| for a term: a modulus without hypot's care for overflow (a term near f64's limits
/// makes the series' reach infinite, which ends it; one below 1e-154 counts as 0 beside
/// the terms that matter).
fn term_modulus(term: Complex) -> f64 {
    (term.0 * term.0 + term.1 * term.1).sqrt()
}

/// The error bound of the truncated product of `a` and `b`: Σ |a_i| |b_j| over the orders
/// left out (i + j > TERMS), and what the operands' own errors can add.
fn product_error(a: &SeriesValue, b: &SeriesValue) -> f64 {
    let mut a_moduli = [0.0; SERIES_TERMS];
    for (modulus, term) in a_moduli.iter_mut().zip(&a.terms) {
        *modulus = term_modulus(*term);
    }
    // b's suffix sums: b_suffix[j] = Σ |b| from order j + 1 up.
    let mut b_suffix = [0.0; SERIES_TERMS + 1];
    for j in (0..SERIES_TERMS).rev() {
        b_suffix[j] = b_suffix[j + 1] + term_modulus(b.terms[j]);
    }
    // a's order i + 1 pairs with b's orders from TERMS + 1 - (i + 1) up.
    let left_out: f64 = (0..SERIES_TERMS)
        .map(|i| a_moduli[i] * b_suffix[SERIES_TERMS - 1 - i])
        .sum();
    let (a_reach, b_reach) = (a_moduli.iter().sum::<f64>(), b_suffix[0]);
    modulus(a.value) * b.error
        + modulus(b.value) * a.error
        + left_out
        + a_reach * b.error
        + b_reach * a.error
        + a.error * b.error
}

/// The series of `formula`'s orbit `orbit` (re, im pairs, from z's start) with constant
/// `c`, for pixels with |dc| up to `dc_bound`: as far as it holds to `TOLERANCE` for every
/// such pixel and no such pixel can escape, and at most `max_steps` steps and never to the
/// orbit's last point (a pixel then steps on from a point with one after it). None when
/// `is_stopped` says so; no skip (0 steps) for formulas without a power series (folds,
/// conjugates), Julia sets, and bounds f64 cannot divide by.
pub fn build(
    formula: &Formula,
    orbit: &[f64],
    c: Complex,
    dc_bound: f64,
    max_steps: usize,
    is_stopped: &dyn Fn() -> bool,
) -> Option<SeriesSkip> {
    let mut builder = SeriesBuilder::new(formula, c, dc_bound, max_steps);
    builder.follow(orbit, 0, is_stopped)?;
    Some(builder.finish())
}

/// A series followed along an orbit as its points come (so it can be made while the orbit
/// is computed, on another thread): `follow` with the points so far, then `finish`.
pub struct SeriesBuilder<'a> {
    formula: &'a Formula,
    dc: SeriesValue,
    /// dz at `steps`.
    dz: SeriesValue,
    steps: usize,
    max_steps: usize,
    inverse_dc_bound: f64,
    /// False once the series stops holding (or never can).
    going: bool,
    nodes: Vec<SeriesValue>,
}

impl<'a> SeriesBuilder<'a> {
    /// A series at step 0 (dz = 0 for every pixel: z starts at the formula's start).
    pub fn new(formula: &'a Formula, c: Complex, dc_bound: f64, max_steps: usize) -> Self {
        let analytic = formula.ops.iter().all(|op| {
            !matches!(
                op,
                FormulaOp::Conj(_) | FormulaOp::Abs(_) | FormulaOp::AbsRe(_) | FormulaOp::AbsIm(_)
            )
        });
        let inverse_dc_bound = 1.0 / dc_bound;
        let going = analytic
            && formula.julia.is_none()
            && dc_bound.is_normal()
            && inverse_dc_bound.is_normal();
        let mut dc = SeriesValue::constant(c);
        dc.terms[0] = (dc_bound, 0.0);
        Self {
            formula,
            dc,
            dz: SeriesValue::constant((0.0, 0.0)),
            steps: 0,
            max_steps,
            inverse_dc_bound,
            going,
            nodes: Vec::with_capacity(formula.ops.len()),
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
            let z = SeriesValue {
                value: (points[at], points[at + 1]),
                ..self.dz
            };
            let Some(next) = step(self.formula, &z, &self.dc, &mut self.nodes) else {
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
            let largest = next
                .terms
                .iter()
                .fold(0.0, |largest: f64, term| largest.max(term_modulus(*term)));
            let holds = reach.is_finite()
                && modulus(point) + reach < escape_radius
                && next.error <= TOLERANCE * largest;
            if !holds {
                self.going = false;
                break;
            }
            self.dz = next;
            self.steps = index + 1;
        }
        Some(())
    }

    /// The series as far as it was followed.
    pub fn finish(self) -> SeriesSkip {
        if self.steps == 0 {
            return SeriesSkip::default();
        }
        let mut coefficients = Vec::with_capacity(2 * SERIES_TERMS);
        for term in &self.dz.terms {
            coefficients.extend_from_slice(&[term.0, term.1]);
        }
        SeriesSkip {
            steps: u32::try_from(self.steps).unwrap_or(u32::MAX),
            coefficients,
            inverse_dc_bound: self.inverse_dc_bound,
        }
    }
}

/// The series of an orbit whose points come through `receiver` as it is computed (chunks
/// of re, im pairs in order, the first from z's start), followed as they come and for as
/// long as it holds (see `build`); None when `is_stopped` says so. Keeps only the points
/// the series has not passed.
pub fn follow_orbit(
    formula: &Formula,
    c: Complex,
    dc_bound: f64,
    receiver: &Receiver<Vec<f64>>,
    is_stopped: &dyn Fn() -> bool,
) -> Option<SeriesSkip> {
    let mut builder = SeriesBuilder::new(formula, c, dc_bound, usize::MAX);
    let (mut points, mut first) = (Vec::new(), 0);
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
    Some(builder.finish())
}

/// One step of the formula on series: z's and c's given, dz's next returned (the result's
/// deviation from its value; its value is the orbit's next point, up to rounding). None
/// for an operation without a power series.
fn step(
    formula: &Formula,
    z: &SeriesValue,
    c: &SeriesValue,
    nodes: &mut Vec<SeriesValue>,
) -> Option<SeriesValue> {
    nodes.clear();
    for op in &formula.ops {
        let at = |index: usize| nodes.get(index).copied();
        let node = match *op {
            FormulaOp::Z => *z,
            FormulaOp::C => *c,
            FormulaOp::Const { re, im } => SeriesValue::constant((re, im)),
            FormulaOp::Add(a, b) => at(a)?.plus(&at(b)?, 1.0),
            FormulaOp::Sub(a, b) => at(a)?.plus(&at(b)?, -1.0),
            FormulaOp::Neg(a) => at(a)?.negated(),
            FormulaOp::Sqr(a) => at(a)?.squared(),
            FormulaOp::Mul(a, b) if a == b => at(a)?.squared(),
            FormulaOp::Mul(a, b) => at(a)?.times(&at(b)?),
            FormulaOp::Pow(a, k) => {
                let a = at(a)?;
                (1..k).fold(a, |power, _| power.times(&a))
            }
            FormulaOp::Conj(_) | FormulaOp::Abs(_) | FormulaOp::AbsRe(_) | FormulaOp::AbsIm(_) => {
                return None;
            }
        };
        nodes.push(node);
    }
    nodes.last().copied()
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

    fn evaluate(series: &SeriesSkip, dc: Complex) -> Complex {
        let t = (
            dc.0 * series.inverse_dc_bound,
            dc.1 * series.inverse_dc_bound,
        );
        let mut sum = (0.0, 0.0);
        for pair in series.coefficients.chunks_exact(2).rev() {
            sum = mul(sum, t);
            sum = (sum.0 + pair[0], sum.1 + pair[1]);
        }
        mul(sum, t)
    }

    #[test]
    fn a_pixel_started_from_the_series_is_where_iterating_takes_it() {
        // Inside the main cardioid: every orbit nearby stays bounded, so the series
        // holds for all the steps asked for.
        let c = (-0.1, 0.2);
        let orbit = orbit_of(c, 400);
        let dc_bound = 1e-6;
        let series = build(&mandelbrot(), &orbit, c, dc_bound, 300, &|| false).expect("built");
        assert_eq!(series.steps, 300);
        for dc in [(7e-7, -2e-7), (-3e-7, 5e-7), (1e-9, 0.0)] {
            let mut dz = (0.0, 0.0);
            for index in 0..series.steps as usize {
                let z = (orbit[2 * index], orbit[2 * index + 1]);
                let twice_z_dz = mul((2.0 * z.0, 2.0 * z.1), dz);
                let square = mul(dz, dz);
                dz = (
                    twice_z_dz.0 + square.0 + dc.0,
                    twice_z_dz.1 + square.1 + dc.1,
                );
            }
            let from_series = evaluate(&series, dc);
            let off = modulus((from_series.0 - dz.0, from_series.1 - dz.1));
            assert!(
                off <= 1e-9 * modulus(dz),
                "{dc:?}: {from_series:?} against {dz:?}"
            );
        }
    }

    #[test]
    fn the_series_stops_before_a_pixel_of_the_view_can_escape() {
        // c = 0.3 escapes after a few dozen steps; pixels within 0.01 of it escape at
        // various steps, so the series must stop before the first of them.
        let c = (0.3, 0.0);
        let orbit = orbit_of(c, 30);
        let series = build(&mandelbrot(), &orbit, c, 0.01, 1000, &|| false).expect("built");
        let first_escape = (0..=200)
            .map(|i| {
                let angle = f64::from(i) * std::f64::consts::TAU / 200.0;
                let pixel = (c.0 + 0.01 * angle.cos(), c.1 + 0.01 * angle.sin());
                let mut z = (0.0, 0.0);
                (1..=1000)
                    .find(|_| {
                        let square = mul(z, z);
                        z = (square.0 + pixel.0, square.1 + pixel.1);
                        modulus(z) > 16.0
                    })
                    .unwrap_or(1000)
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
    fn a_series_followed_as_the_orbit_comes_is_the_one_made_from_the_whole_orbit() {
        let c = (0.3, 0.0);
        let orbit = orbit_of(c, 40);
        let whole = build(&mandelbrot(), &orbit, c, 0.01, usize::MAX, &|| false).expect("built");
        assert!(whole.steps > 0);
        let (sender, receiver) = std::sync::mpsc::channel();
        for chunk in orbit.chunks(6) {
            sender.send(chunk.to_vec()).expect("sent");
        }
        drop(sender);
        let followed =
            follow_orbit(&mandelbrot(), c, 0.01, &receiver, &|| false).expect("followed");
        assert_eq!(followed, whole);
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
            build(&ship, &orbit, c, 1e-6, 50, &|| false)
                .expect("built")
                .steps,
            0
        );
        let julia = Formula {
            julia: Some("c".to_owned()),
            ..mandelbrot()
        };
        assert_eq!(
            build(&julia, &orbit, c, 1e-6, 50, &|| false)
                .expect("built")
                .steps,
            0
        );
        assert_eq!(
            build(&mandelbrot(), &orbit, c, 0.0, 50, &|| false)
                .expect("built")
                .steps,
            0
        );
        assert!(build(&mandelbrot(), &orbit, c, 1e-6, 50, &|| true).is_none());
    }
}
