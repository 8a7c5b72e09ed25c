//! The reference orbit of perturbation: a formula iterated from one point in arbitrary
//! precision (fixed point on dashu-int integers; ARCHITECTURE.md has the measurements), from the
//! same recorded operations the pixels' perturbed step is derived from. Each point is kept
//! as two f64s (the pixels' loop reads them through the driver), and the few that pass
//! closer to 0 than f64 holds in full also with their own exponent; the orbit ends where it
//! escapes or at the iteration limit, from where it can be taken on to a higher one.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use dashu_int::ops::{BitTest, UnsignedAbs};
use dashu_int::{IBig, Sign, Word};

use super::bla::BlaTable;
use super::formula::{Formula, FormulaOp};
use super::series::SeriesSkip;
use crate::engine::geometry::{BigFloat, Dd, WideFloat};
use crate::engine::sync::lock;

/// A reference orbit: Z_0, Z_1, ... as (re, im) pairs, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceOrbit {
    /// re, im of each point in turn.
    pub points: Vec<f64>,
    /// The precision it was computed in, in bits.
    pub bits: usize,
    /// The points nearer 0 than 2^`TINY_POINT_LOG2` (but not 0), where the f64s above lose
    /// digits or underflow: index, re and im as significands (the larger within [0.5, 1))
    /// and their shared exponent, four values each, by index. A deep pixel steps past them
    /// in a wide number type (formula.lua's careful step).
    pub tiny: Vec<f64>,
    /// The last point in full precision (fixed point, `bits` after the binary point) when
    /// the orbit stopped at its iteration limit, so that it can go on from there
    /// (`continue_reference_orbit`); None once it escaped.
    pub end: Option<(IBig, IBig)>,
}

/// Below 2^this, a point is also kept in `ReferenceOrbit::tiny` (f64 holds 53 bits only
/// down to 2^-1022; the margin keeps a point's products with pixel deltas exact too).
pub const TINY_POINT_LOG2: i64 = -1000;

/// Points whose f64 parts are both below this are checked against `TINY_POINT_LOG2`
/// exactly (a little above it: the f64s are rounded).
const TINY_SCREEN: f64 = 1.0e-300;

impl ReferenceOrbit {
    /// True when it ended by escaping before `max_iter` steps (so it is the whole orbit
    /// for any iteration limit).
    pub fn escaped_before(&self, max_iter: u32) -> bool {
        self.len() <= max_iter as usize
    }

    /// How many points it holds (at least 2).
    pub fn len(&self) -> usize {
        self.points.len() / 2
    }

    /// Never true: an orbit holds its start and at least one step.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// What the pixels of a render by perturbation iterate against: the reference orbit from
/// `point` (c for a Mandelbrot-like formula, z0 for a Julia set), the orbit rebasing
/// continues on (from the critical point; None when it is the reference itself) and the
/// constant c the step is given with the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct PerturbationReference {
    /// The reference orbit (shared: a later render may reuse it).
    pub orbit: Arc<ReferenceOrbit>,
    /// The orbit from the critical point, for Julia sets.
    pub critical: Option<Arc<ReferenceOrbit>>,
    /// The orbit's skips (bilinear approximation).
    pub bla: Arc<BlaSkips>,
    /// The critical orbit's skips, for Julia sets.
    pub critical_bla: Option<Arc<BlaSkips>>,
    /// The reference point, to which pixels' offsets are taken.
    pub point: (BigFloat, BigFloat),
    /// The offset of the pixel lattice's origin from `point`, in double-double in the
    /// grid's units (a render's own: the loops add each pixel's offset from the origin).
    pub origin_offset: (Dd, Dd),
    /// The render's pixel offsets are in units of 2^-`scale_exponent`
    /// (`PixelGrid::scale_exponent`; 0 for all but the deepest views).
    pub scale_exponent: i32,
    /// The reference's c, rounded to f64 (the step's c input).
    pub c: (f64, f64),
    /// How many steps a pixel iterates at most.
    pub max_iter: u32,
}

/// A reference orbit's skips, and the largest |dc| they were made for.
#[derive(Debug, Clone, PartialEq)]
pub struct BlaSkips {
    /// The table.
    pub table: BlaTable,
    /// The pixels' largest |dc| it holds for.
    pub dc_bound: WideFloat,
    /// True when the table holds the scaled form of its entries too.
    pub scaled: bool,
    /// False when the render asked for no skips (the table is empty).
    pub enabled: bool,
    /// The iterations every pixel skips at its start (none without skips).
    pub series: SeriesSkip,
}

/// Why no orbit came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrbitStop {
    /// `is_stopped` said so.
    Stopped,
    /// It would hold more than the points allowed (the memory limit).
    TooLong,
}

/// The bits a reference needs for pixels 2^`step_log2` apart: the digits down to a
/// millionth of a pixel, and a margin for the orbit's growth.
pub fn bits_for_step_log2(step_log2: f64) -> usize {
    let below_one = if step_log2.is_finite() {
        (-step_log2).max(0.0)
    } else {
        f64::from(f64::MIN_EXP).abs()
    };
    (below_one as usize).saturating_add(96).max(128)
}

/// A number in fixed point: the integer N stands for N / 2^fraction_bits. The orbit's
/// values stay within a few times the bailout, so their integer parts are small, and
/// adding and multiplying integers costs a tenth of arbitrary-precision floating point
/// (`moonbrot bench --deep` times it).
#[derive(Debug, Clone)]
struct FixedPoint {
    fraction_bits: usize,
    /// Half of the last fraction bit's unit: added before a product drops the bits below
    /// it, so that the product rounds to the nearest.
    half_unit: IBig,
}

impl FixedPoint {
    fn new(fraction_bits: usize) -> Self {
        let half_unit = fraction_bits
            .checked_sub(1)
            .map_or(IBig::ZERO, |half_bits| IBig::ONE << half_bits);
        Self {
            fraction_bits,
            half_unit,
        }
    }

    /// `value` exactly when it has no more fraction bits, else rounded down.
    fn of_big_float(&self, value: &BigFloat) -> IBig {
        let repr = value.as_binary().repr();
        let exponent = repr.exponent() + self.fraction_bits as isize;
        let significand = repr.significand().clone();
        if exponent >= 0 {
            significand << exponent as usize
        } else {
            significand >> exponent.unsigned_abs()
        }
    }

    fn of_f64(&self, value: f64) -> IBig {
        self.of_big_float(&BigFloat::from_f64(value))
    }

    /// A value with twice the fraction bits (a product's), rounded to the nearest with
    /// the fraction bits. Rounded down, the product of two points near 0 was a unit below
    /// 0, which pushed a reference on a repelling cycle off it (to escape a thousand steps
    /// early, and every pixel with it).
    fn round(&self, value: IBig) -> IBig {
        (value + &self.half_unit) >> self.fraction_bits
    }

    /// The product, each part rounded once.
    fn complex_multiply(&self, a: &(IBig, IBig), b: &(IBig, IBig)) -> (IBig, IBig) {
        (
            self.round(&a.0 * &b.0 - &a.1 * &b.1),
            self.round(&a.0 * &b.1 + &a.1 * &b.0),
        )
    }

    /// `a` squared: alone, in three squares, re^2, im^2 and (re + im)^2, as 2 re im is the
    /// third less the other two (squares are cheaper than products); with a `helper`, as
    /// (re + im)(re - im) here and re im there meanwhile. The same integers either way.
    fn complex_square(
        &self,
        (re, im): &(IBig, IBig),
        helper: Option<&ProductHelper>,
    ) -> (IBig, IBig) {
        if let Some(helper) = helper {
            helper.start(re.clone(), im.clone());
            let difference_of_squares = (re + im) * (re - im);
            let product = helper.finish().unwrap_or_else(|| re * im);
            return (
                self.round(difference_of_squares),
                self.round(&product + &product),
            );
        }
        let re_squared = re * re;
        let im_squared = im * im;
        let sum = re + im;
        let twice_product = &sum * &sum - &re_squared - &im_squared;
        (
            self.round(re_squared - im_squared),
            self.round(twice_product),
        )
    }

    /// The nearest f64 or one next to it (from the top two words), 0 below f64's range.
    fn to_f64(&self, value: &IBig) -> f64 {
        self.to_f64_times_power_of_two(value, 0)
    }

    /// The point (re, im) as significands with a shared exponent, when it is nearer 0 than
    /// 2^`TINY_POINT_LOG2` and not 0: the larger significand within [0.5, 1).
    fn tiny_form(&self, (re, im): &(IBig, IBig)) -> Option<(f64, f64, i64)> {
        let bit_len = |value: &IBig| value.unsigned_abs().bit_len() as i64;
        let top = bit_len(re).max(bit_len(im));
        let exponent = top - self.fraction_bits as i64;
        (top > 0 && exponent <= TINY_POINT_LOG2).then(|| {
            (
                self.to_f64_times_power_of_two(re, -exponent),
                self.to_f64_times_power_of_two(im, -exponent),
                exponent,
            )
        })
    }

    /// `value` times 2^`shift`, as `to_f64`.
    fn to_f64_times_power_of_two(&self, value: &IBig, shift: i64) -> f64 {
        let (sign, words) = value.as_sign_words();
        let Some((&top, rest)) = words.split_last() else {
            return 0.0;
        };
        let next = rest.last().copied().unwrap_or(0);
        let word_bits = Word::BITS as i64;
        let mantissa = (top as f64) * 2_f64.powi(word_bits as i32) + next as f64;
        let exponent = word_bits * (words.len() as i64 - 2) - self.fraction_bits as i64 + shift;
        let magnitude = scaled_by_power_of_two(mantissa, exponent);
        if sign == Sign::Negative {
            -magnitude
        } else {
            magnitude
        }
    }
}

/// `value` × 2^`exponent`, in steps that stay within f64's exponents (so that tiny results
/// come out as 0 or subnormal, not NaN).
fn scaled_by_power_of_two(mut value: f64, mut exponent: i64) -> f64 {
    while exponent > 1000 {
        value *= 2_f64.powi(1000);
        exponent -= 1000;
    }
    while exponent < -1000 {
        value *= 2_f64.powi(-1000);
        exponent += 1000;
    }
    value * 2_f64.powi(exponent as i32)
}

/// The value of operation `index` this step: an input in place, else its computed value.
fn operand<'a>(
    ops: &[FormulaOp],
    index: usize,
    (z, c): (&'a (IBig, IBig), &'a (IBig, IBig)),
    constants: &'a [(IBig, IBig)],
    values: &'a [(IBig, IBig)],
) -> &'a (IBig, IBig) {
    match ops.get(index) {
        Some(FormulaOp::Z) | None => z,
        Some(FormulaOp::C) => c,
        Some(FormulaOp::Const { .. }) => &constants[index],
        Some(_) => &values[index],
    }
}

/// A thread's slot for multiplying two numbers while the orbit's thread multiplies others:
/// the orbit's thread puts them in and sets `INPUT`; the helper multiplies them and sets
/// `OUTPUT`. Both wait by spinning, then yielding (a product of 3,700 bits takes about 2
/// microseconds; waking a sleeping thread, tens of them).
#[derive(Default)]
struct ProductHelper {
    state: AtomicU8,
    factors: Mutex<Option<(IBig, IBig)>>,
    product: Mutex<Option<IBig>>,
}

const IDLE: u8 = 0;
const INPUT: u8 = 1;
const OUTPUT: u8 = 2;
const QUIT: u8 = 3;

/// Spins this many times before yielding while it waits.
const SPINS_BEFORE_YIELD: u32 = 1 << 12;

impl ProductHelper {
    /// Waits until the state is one of `wanted`, and returns it.
    fn wait_for(&self, wanted: [u8; 2]) -> u8 {
        let mut spins = 0_u32;
        loop {
            let state = self.state.load(Ordering::Acquire);
            if wanted.contains(&state) {
                return state;
            }
            if spins < SPINS_BEFORE_YIELD {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// The helper thread's loop: multiplies what it is given until told to quit.
    fn serve(&self) {
        // Quits on the way out, a panic included, so that the orbit's thread never waits
        // for a square that will not come.
        struct QuitOnExit<'a>(&'a AtomicU8);
        impl Drop for QuitOnExit<'_> {
            fn drop(&mut self) {
                self.0.store(QUIT, Ordering::Release);
            }
        }
        let _quit = QuitOnExit(&self.state);
        while self.wait_for([INPUT, QUIT]) == INPUT {
            let factors = lock(&self.factors).take();
            *lock(&self.product) = factors.map(|(a, b)| a * b);
            self.state.store(OUTPUT, Ordering::Release);
        }
    }

    fn start(&self, a: IBig, b: IBig) {
        *lock(&self.factors) = Some((a, b));
        // Not over a helper's QUIT (set as it died): `finish` then says None.
        let _ = self
            .state
            .compare_exchange(IDLE, INPUT, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The product of the numbers given to `start`; None if the helper has quit.
    fn finish(&self) -> Option<IBig> {
        if self.wait_for([OUTPUT, QUIT]) == QUIT {
            return None;
        }
        let product = lock(&self.product).take();
        self.state.store(IDLE, Ordering::Release);
        product
    }

    fn quit(&self) {
        self.state.store(QUIT, Ordering::Release);
    }
}

fn absolute(value: IBig) -> IBig {
    if value.sign() == Sign::Negative {
        -value
    } else {
        value
    }
}

/// Iterates `formula` from `z0` with constant `c`, in `bits` of precision (fixed point,
/// `bits` after the binary point), until |Z| passes the bailout or `max_iter` steps are
/// done; at most `max_points` points. Every 256 steps it calls `checkpoint` with the steps
/// done so far (for progress) and the points so far (re, im pairs: for work that follows
/// the orbit as it comes), and stops when that returns true.
///
/// At `SHARED_SQUARE_BITS` or more a helper thread takes one of each square's two
/// products meanwhile.
pub fn reference_orbit(
    formula: &Formula,
    z0: (&BigFloat, &BigFloat),
    c: (&BigFloat, &BigFloat),
    max_iter: u32,
    bits: usize,
    max_points: usize,
    checkpoint: &mut dyn FnMut(u32, &[f64]) -> bool,
) -> Result<ReferenceOrbit, OrbitStop> {
    run(
        (formula, OrbitFrom::Point(z0), c, max_iter, bits, max_points),
        checkpoint,
    )
}

/// `orbit` (iterated with the same `formula` and `c`) taken on to `max_iter` steps from
/// where its limit stopped it, in its own precision: the same points, bit for bit, as
/// `reference_orbit` to `max_iter` from the start, for the steps not yet done only. An
/// orbit that escaped is returned as it is. `checkpoint` is called as by
/// `reference_orbit`, with the points from the start. The orbit's points are taken over,
/// not copied, where nothing else holds it (a long orbit is hundreds of megabytes).
pub fn continue_reference_orbit(
    formula: &Formula,
    orbit: Arc<ReferenceOrbit>,
    c: (&BigFloat, &BigFloat),
    max_iter: u32,
    max_points: usize,
    checkpoint: &mut dyn FnMut(u32, &[f64]) -> bool,
) -> Result<ReferenceOrbit, OrbitStop> {
    let orbit = Arc::try_unwrap(orbit).unwrap_or_else(|shared| ReferenceOrbit::clone(&shared));
    if orbit.end.is_none() {
        return Ok(orbit);
    }
    let bits = orbit.bits;
    run(
        (
            formula,
            OrbitFrom::End(orbit),
            c,
            max_iter,
            bits,
            max_points,
        ),
        checkpoint,
    )
}

/// Runs `iterate`, with a helper thread for the squares where the precision pays for it.
fn run(
    start: OrbitStart<'_>,
    checkpoint: &mut dyn FnMut(u32, &[f64]) -> bool,
) -> Result<ReferenceOrbit, OrbitStop> {
    if start.4 < SHARED_SQUARE_BITS {
        return iterate(start, checkpoint, None);
    }
    let helper = ProductHelper::default();
    std::thread::scope(|scope| {
        let serving = scope.spawn(|| helper.serve());
        let orbit = iterate(start, checkpoint, Some(&helper));
        helper.quit();
        // A helper that panicked (out of memory) quit on the way: its products were
        // taken here, and its panic goes no further.
        let _ = serving.join();
        orbit
    })
}

/// Orbits with at least this many bits share their squares with a helper thread. Below
/// it a product takes too little time for the handover: 100,000 steps at 2,093 bits took
/// 0.30 s with a helper against 0.28 s without, at 2,757 bits 0.36 s against 0.38 s, at
/// 3,089 bits 0.38 s against 0.44 s, and rust-fractal-core's 1e1086 location (538,504
/// steps at 3,710 bits) 2.21 s against 2.87 s. A render on one thread still uses two here.
const SHARED_SQUARE_BITS: usize = 2600;

/// Where an orbit starts: at a point z0, or at the end of an orbit its limit stopped
/// (from its last point in fixed point, `end`).
enum OrbitFrom<'a> {
    Point((&'a BigFloat, &'a BigFloat)),
    End(ReferenceOrbit),
}

/// reference_orbit's arguments but the checkpoint, with where the orbit starts.
type OrbitStart<'a> = (
    &'a Formula,
    OrbitFrom<'a>,
    (&'a BigFloat, &'a BigFloat),
    u32,
    usize,
    usize,
);

/// `reference_orbit`, with or without a helper for its squares.
fn iterate(
    (formula, from, c, max_iter, bits, max_points): OrbitStart<'_>,
    checkpoint: &mut dyn FnMut(u32, &[f64]) -> bool,
    helper: Option<&ProductHelper>,
) -> Result<ReferenceOrbit, OrbitStop> {
    let fixed = FixedPoint::new(bits);
    let c = (fixed.of_big_float(c.0), fixed.of_big_float(c.1));
    // Each operation's constant value (zero for the others).
    let constants: Vec<(IBig, IBig)> = formula
        .ops
        .iter()
        .map(|op| match *op {
            FormulaOp::Const { re, im } => (fixed.of_f64(re), fixed.of_f64(im)),
            _ => Default::default(),
        })
        .collect();
    let bailout2 = formula.bailout * formula.bailout;
    let (mut z, mut points, mut tiny, first_step) = match from {
        OrbitFrom::Point(z0) => {
            let z = (fixed.of_big_float(z0.0), fixed.of_big_float(z0.1));
            let points = vec![fixed.to_f64(&z.0), fixed.to_f64(&z.1)];
            (z, points, Vec::new(), 1)
        }
        OrbitFrom::End(orbit) => {
            let steps_done = u32::try_from(orbit.len()).unwrap_or(u32::MAX);
            let end = orbit.end.unwrap_or_default();
            (end, orbit.points, orbit.tiny, steps_done)
        }
    };
    // Only points whose f64s are already small are looked at in full (most are not).
    let mut keep_if_tiny = |index: usize, z: &(IBig, IBig), (re, im): (f64, f64)| {
        if re.abs().max(im.abs()) >= TINY_SCREEN {
            return;
        }
        if let Some((re, im, exponent)) = fixed.tiny_form(z) {
            tiny.extend([index as f64, re, im, exponent as f64]);
        }
    };
    if first_step == 1 {
        keep_if_tiny(0, &z, (points[0], points[1]));
    }
    // Each operation's value this step; the inputs (z, c, constants) are read in place.
    let mut values: Vec<(IBig, IBig)> = Vec::with_capacity(formula.ops.len());
    let mut escaped = false;
    for iteration in first_step..=max_iter.max(1) {
        if iteration % 256 == 0 && checkpoint(iteration - 1, &points) {
            return Err(OrbitStop::Stopped);
        }
        if points.len() / 2 >= max_points {
            return Err(OrbitStop::TooLong);
        }
        values.clear();
        for op in &formula.ops {
            let at = |index: usize| operand(&formula.ops, index, (&z, &c), &constants, &values);
            let value = match *op {
                // Inputs are read in place: their slot is never read.
                FormulaOp::Z | FormulaOp::C | FormulaOp::Const { .. } => Default::default(),
                FormulaOp::Add(a, b) => (&at(a).0 + &at(b).0, &at(a).1 + &at(b).1),
                FormulaOp::Sub(a, b) => (&at(a).0 - &at(b).0, &at(a).1 - &at(b).1),
                FormulaOp::Mul(a, b) if a == b => fixed.complex_square(at(a), helper),
                FormulaOp::Mul(a, b) => fixed.complex_multiply(at(a), at(b)),
                FormulaOp::Neg(a) => (-&at(a).0, -&at(a).1),
                FormulaOp::Pow(a, k) => {
                    let base = at(a);
                    (1..k).fold(base.clone(), |power, _| {
                        fixed.complex_multiply(&power, base)
                    })
                }
                FormulaOp::Sqr(a) => fixed.complex_square(at(a), helper),
                FormulaOp::Conj(a) => (at(a).0.clone(), -&at(a).1),
                FormulaOp::Abs(a) => (absolute(at(a).0.clone()), absolute(at(a).1.clone())),
                FormulaOp::AbsRe(a) => (absolute(at(a).0.clone()), at(a).1.clone()),
                FormulaOp::AbsIm(a) => (at(a).0.clone(), absolute(at(a).1.clone())),
            };
            values.push(value);
        }
        let last = formula.ops.len().saturating_sub(1);
        // The step's value is moved out of its slot (an input's is read in place).
        z = match (formula.ops.get(last), values.get_mut(last)) {
            (Some(FormulaOp::Z | FormulaOp::C | FormulaOp::Const { .. }) | None, _) | (_, None) => {
                operand(&formula.ops, last, (&z, &c), &constants, &values).clone()
            }
            (Some(_), Some(value)) => std::mem::take(value),
        };
        let (re, im) = (fixed.to_f64(&z.0), fixed.to_f64(&z.1));
        keep_if_tiny(points.len() / 2, &z, (re, im));
        points.push(re);
        points.push(im);
        let modulus2 = re * re + im * im;
        if modulus2 > bailout2 || modulus2.is_nan() {
            escaped = true;
            break;
        }
    }
    Ok(ReferenceOrbit {
        points,
        bits,
        tiny,
        end: (!escaped).then_some(z),
    })
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn mandelbrot() -> Formula {
        Formula {
            ops: vec![
                FormulaOp::Z,
                FormulaOp::C,
                FormulaOp::Sqr(0),
                FormulaOp::Add(2, 1),
            ],
            julia: None,
            start: (0.0, 0.0),
            bailout: 16.0,
            reads_parameters: false,
        }
    }

    #[test]
    fn a_shallow_orbit_is_the_f64_orbit_and_ends_where_it_escapes() {
        let formula = mandelbrot();
        let c = (-0.75, 0.12);
        let zero = BigFloat::zero();
        let orbit = reference_orbit(
            &formula,
            (&zero, &zero),
            (&BigFloat::from_f64(c.0), &BigFloat::from_f64(c.1)),
            1000,
            128,
            usize::MAX,
            &mut |_, _| false,
        )
        .expect("an orbit");
        let mut z = (0.0, 0.0);
        for index in 1..orbit.len() {
            z = formula.step(z, c);
            let (re, im) = (orbit.points[2 * index], orbit.points[2 * index + 1]);
            assert!((re - z.0).abs() <= 1e-12 * z.0.abs().max(1.0), "{index}");
            assert!((im - z.1).abs() <= 1e-12 * z.1.abs().max(1.0), "{index}");
        }
        let (re, im) = (
            orbit.points[orbit.points.len() - 2],
            orbit.points[orbit.points.len() - 1],
        );
        assert!(re * re + im * im > 256.0, "it ends where it escapes");
        assert!(orbit.len() < 1000);
    }

    #[test]
    fn an_orbit_inside_runs_to_the_limit_and_can_be_stopped_or_capped() {
        let formula = mandelbrot();
        let (inside_x, inside_y) = (BigFloat::from_f64(-0.1), BigFloat::from_f64(0.1));
        let inside = (&inside_x, &inside_y);
        let zero = BigFloat::zero();
        let orbit = reference_orbit(
            &formula,
            (&zero, &zero),
            inside,
            500,
            128,
            usize::MAX,
            &mut |_, _| false,
        )
        .expect("an orbit");
        assert_eq!(orbit.len(), 501);
        let mut reported = Vec::new();
        let _ = reference_orbit(
            &formula,
            (&zero, &zero),
            inside,
            1000,
            128,
            usize::MAX,
            &mut |done, _| {
                reported.push(done);
                false
            },
        );
        assert_eq!(reported, [255, 511, 767], "progress every 256 steps");
        let stopped = reference_orbit(
            &formula,
            (&zero, &zero),
            inside,
            10_000,
            128,
            usize::MAX,
            &mut |_, _| true,
        );
        assert_eq!(stopped, Err(OrbitStop::Stopped));
        let capped = reference_orbit(
            &formula,
            (&zero, &zero),
            inside,
            10_000,
            128,
            100,
            &mut |_, _| false,
        );
        assert_eq!(capped, Err(OrbitStop::TooLong));
    }

    #[test]
    fn points_below_f64_s_range_are_kept_with_their_own_exponent_and_zero_is_not() {
        // c = 3 2^-1100 (0 as an f64): Z1 = c and Z2 = c^2 + c hold only in the tiny form.
        let formula = mandelbrot();
        let zero = BigFloat::zero();
        let c = BigFloat::from_f64(3.0).times_power_of_two(-1100);
        let orbit = reference_orbit(
            &formula,
            (&zero, &zero),
            (&c, &zero),
            2,
            1300,
            usize::MAX,
            &mut |_, _| false,
        )
        .expect("an orbit");
        assert_eq!(orbit.points, [0.0; 6], "below f64's range");
        // index, re, im (significands, the larger within [0.5, 1)), shared exponent
        assert_eq!(
            orbit.tiny,
            [1.0, 0.75, 0.0, -1098.0, 2.0, 0.75, 0.0, -1098.0],
            "Z0 = 0 is exact in f64 and not kept"
        );
    }

    #[test]
    fn fixed_point_numbers_come_back_as_the_f64s_they_were() {
        let fixed = FixedPoint::new(300);
        for value in [0.0, 1.0, -1.5, 0.1, -3.25e-40, 12345.678, 1e-70] {
            assert_eq!(fixed.to_f64(&fixed.of_f64(value)), value, "{value:e}");
        }
        // Near the last fraction bit only its leading bits are kept; below it, nothing.
        assert!((fixed.to_f64(&fixed.of_f64(1e-80)) / 1e-80 - 1.0).abs() < 1e-9);
        assert_eq!(fixed.to_f64(&fixed.of_f64(1e-100)), 0.0);
        let deep = BigFloat::parse_decimal_with_bits("0.1", 400).expect("a number");
        assert!((fixed.to_f64(&fixed.of_big_float(&deep)) - 0.1).abs() < 1e-17);
    }

    #[test]
    fn a_square_rounds_to_the_nearest_unit_and_equals_the_product() {
        let fixed = FixedPoint::new(300);
        // A point a few units from 0 squares to exactly 0 (rounded down, its real part
        // was a unit below 0, and its imaginary part too).
        let near_zero = (IBig::from(-1), IBig::from(2));
        assert_eq!(
            fixed.complex_square(&near_zero, None),
            (IBig::ZERO, IBig::ZERO)
        );
        // Three squares give the product's parts exactly, as both round once.
        let z = (
            fixed.of_f64(-0.743_643_887_037_158_7),
            fixed.of_f64(0.131_825_904_205_311_97),
        );
        let square = fixed.complex_square(&z, None);
        assert_eq!(square, fixed.complex_multiply(&z, &z));
        // With a helper thread taking one of the products, the very same integers.
        let helper = ProductHelper::default();
        let shared = std::thread::scope(|scope| {
            scope.spawn(|| helper.serve());
            let shared = fixed.complex_square(&z, Some(&helper));
            helper.quit();
            shared
        });
        assert_eq!(shared, square);
        let (re, im) = (fixed.to_f64(&square.0), fixed.to_f64(&square.1));
        assert!((re - 0.535_628_161_708_186_3).abs() < 1e-15, "{re}");
        assert!((im + 0.196_063_055_630_852_66).abs() < 1e-15, "{im}");
    }

    /// A point in the seahorse valley, in `bits`: inside the set near its boundary, so its
    /// orbit never escapes and its points change to the last bit from step to step.
    fn seahorse_point(bits: usize) -> (BigFloat, BigFloat) {
        let parse = |text| BigFloat::parse_decimal_with_bits(text, bits).expect("a number");
        (
            parse("-0.743643887037158704752191506114774"),
            parse("0.131825904205311970493132056385139"),
        )
    }

    #[test]
    fn an_orbit_deep_enough_for_a_helper_thread_is_the_same_as_without_it() {
        let formula = mandelbrot();
        let bits = SHARED_SQUARE_BITS + 100;
        let c = seahorse_point(bits);
        let zero = BigFloat::zero();
        let start = (
            &formula,
            OrbitFrom::Point((&zero, &zero)),
            (&c.0, &c.1),
            3000,
            bits,
            10_000,
        );
        let alone = iterate(start, &mut |_, _| false, None).expect("an orbit");
        let shared = reference_orbit(
            &formula,
            (&zero, &zero),
            (&c.0, &c.1),
            3000,
            bits,
            10_000,
            &mut |_, _| false,
        )
        .expect("an orbit");
        assert_eq!(alone.len(), 3001, "it does not escape");
        assert_eq!(shared, alone);
    }

    #[test]
    fn an_orbit_taken_on_from_its_limit_is_the_orbit_computed_in_one_go() {
        let formula = mandelbrot();
        let bits = 300;
        let c = seahorse_point(bits);
        let zero = BigFloat::zero();
        let orbit_to = |max_iter| {
            reference_orbit(
                &formula,
                (&zero, &zero),
                (&c.0, &c.1),
                max_iter,
                bits,
                usize::MAX,
                &mut |_, _| false,
            )
            .expect("an orbit")
        };
        let whole = orbit_to(2000);
        let first_part = orbit_to(700);
        assert!(first_part.end.is_some(), "stopped by its limit");
        let mut steps_seen = Vec::new();
        let continued = continue_reference_orbit(
            &formula,
            Arc::new(first_part),
            (&c.0, &c.1),
            2000,
            usize::MAX,
            &mut |steps, points| {
                steps_seen.push((steps, points.len() / 2));
                false
            },
        )
        .expect("an orbit");
        assert_eq!(continued, whole, "every point and the end, bit for bit");
        assert_eq!(
            steps_seen.first(),
            Some(&(767, 768)),
            "from the start's points"
        );
        // One that escaped is whole for any limit.
        let escaping = (BigFloat::from_f64(0.4), BigFloat::from_f64(0.5));
        let escaped = reference_orbit(
            &formula,
            (&zero, &zero),
            (&escaping.0, &escaping.1),
            100,
            bits,
            usize::MAX,
            &mut |_, _| false,
        )
        .expect("an orbit");
        assert!(escaped.end.is_none() && escaped.escaped_before(100));
        let again = continue_reference_orbit(
            &formula,
            Arc::new(escaped.clone()),
            (&escaping.0, &escaping.1),
            5000,
            usize::MAX,
            &mut |_, _| panic!("nothing to compute"),
        )
        .expect("an orbit");
        assert_eq!(again, escaped);
    }

    #[test]
    fn precision_follows_the_pixel_step() {
        assert_eq!(bits_for_step_log2(1e-3_f64.log2()), 128);
        assert!(bits_for_step_log2(1e-30_f64.log2()) >= 99 + 96);
        assert!(bits_for_step_log2(1e-300_f64.log2()) >= 996 + 96);
        assert!(bits_for_step_log2(-33_220.0) >= 33_220 + 96, "1e-10000");
    }
}
