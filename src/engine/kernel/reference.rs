//! The reference orbit of perturbation: a formula iterated from one point in arbitrary
//! precision (dashu-float; ARCHITECTURE.md has the measurement that chose it), from the
//! same recorded operations the pixels' perturbed step is derived from. Each point is kept
//! as two f64s (the pixels' loop reads them through the driver); the orbit ends where it
//! escapes or at the iteration limit.

use std::sync::Arc;

use dashu_float::FBig;
use dashu_float::round::mode::HalfEven;

use super::formula::{Formula, FormulaOp};
use crate::engine::geometry::BigFloat;

type Big = FBig<HalfEven, 2>;

/// A reference orbit: Z_0, Z_1, ... as (re, im) pairs, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceOrbit {
    /// re, im of each point in turn.
    pub points: Vec<f64>,
    /// The precision it was computed in, in bits.
    pub bits: usize,
}

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
    /// The reference point, to which pixels' offsets are taken.
    pub point: (BigFloat, BigFloat),
    /// The offset of the pixel lattice's origin from `point`, in f64 (a render's own: the
    /// loops add each pixel's offset from the origin).
    pub origin_offset: (f64, f64),
    /// The reference's c, rounded to f64 (the step's c input).
    pub c: (f64, f64),
    /// How many steps a pixel iterates at most.
    pub max_iter: u32,
}

/// Why no orbit came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrbitStop {
    /// `is_stopped` said so.
    Stopped,
    /// It would hold more than the points allowed (the memory limit).
    TooLong,
}

/// The bits a reference needs for pixels `step` apart: the digits down to a millionth of
/// a pixel, and a margin for the orbit's growth.
pub fn bits_for_step(step: f64) -> usize {
    let below_one = (-step.abs().max(f64::MIN_POSITIVE).log2()).max(0.0);
    (below_one as usize).saturating_add(96).max(128)
}

fn big(value: f64, bits: usize) -> Big {
    Big::try_from(value)
        .unwrap_or(Big::ZERO)
        .with_precision(bits)
        .value()
}

fn big_of(value: &BigFloat, bits: usize) -> Big {
    value.as_binary().clone().with_precision(bits).value()
}

fn absolute(value: Big) -> Big {
    if value < Big::ZERO { -value } else { value }
}

/// Iterates `formula` from `z0` with constant `c`, in `bits` of precision, until |Z| passes
/// the bailout or `max_iter` steps are done; at most `max_points` points. Every 256 steps
/// it calls `checkpoint` with the steps done so far (for progress), and stops when that
/// returns true.
pub fn reference_orbit(
    formula: &Formula,
    z0: (&BigFloat, &BigFloat),
    c: (&BigFloat, &BigFloat),
    max_iter: u32,
    bits: usize,
    max_points: usize,
    checkpoint: &mut dyn FnMut(u32) -> bool,
) -> Result<ReferenceOrbit, OrbitStop> {
    let c = (big_of(c.0, bits), big_of(c.1, bits));
    let mut z = (big_of(z0.0, bits), big_of(z0.1, bits));
    let bailout2 = formula.bailout * formula.bailout;
    let mut points = vec![z.0.to_f64().value(), z.1.to_f64().value()];
    let mut values: Vec<(Big, Big)> = Vec::with_capacity(formula.ops.len());
    for iteration in 1..=max_iter.max(1) {
        if iteration % 256 == 0 && checkpoint(iteration - 1) {
            return Err(OrbitStop::Stopped);
        }
        if points.len() / 2 >= max_points {
            return Err(OrbitStop::TooLong);
        }
        values.clear();
        for op in &formula.ops {
            let at = |index: usize| values[index].clone();
            let value = match *op {
                FormulaOp::Z => z.clone(),
                FormulaOp::C => c.clone(),
                FormulaOp::Const { re, im } => (big(re, bits), big(im, bits)),
                FormulaOp::Add(a, b) => {
                    let (a, b) = (&values[a], &values[b]);
                    (&a.0 + &b.0, &a.1 + &b.1)
                }
                FormulaOp::Sub(a, b) => {
                    let (a, b) = (&values[a], &values[b]);
                    (&a.0 - &b.0, &a.1 - &b.1)
                }
                FormulaOp::Mul(a, b) => multiply(&values[a], &values[b]),
                FormulaOp::Neg(a) => (-&values[a].0, -&values[a].1),
                FormulaOp::Pow(a, k) => {
                    let base = &values[a];
                    (1..k).fold(base.clone(), |power, _| multiply(&power, base))
                }
                FormulaOp::Sqr(a) => {
                    let (re, im) = &values[a];
                    let product = re * im;
                    (re.sqr() - im.sqr(), &product + &product)
                }
                FormulaOp::Conj(a) => (values[a].0.clone(), -&values[a].1),
                FormulaOp::Abs(a) => (absolute(at(a).0), absolute(at(a).1)),
                FormulaOp::AbsRe(a) => (absolute(at(a).0), at(a).1),
                FormulaOp::AbsIm(a) => (at(a).0, absolute(at(a).1)),
            };
            values.push(value);
        }
        if let Some(next) = values.pop() {
            z = next;
        }
        let (re, im) = (z.0.to_f64().value(), z.1.to_f64().value());
        points.push(re);
        points.push(im);
        let modulus2 = re * re + im * im;
        if modulus2 > bailout2 || modulus2.is_nan() {
            break; // escaped
        }
    }
    Ok(ReferenceOrbit { points, bits })
}

fn multiply(a: &(Big, Big), b: &(Big, Big)) -> (Big, Big) {
    (&a.0 * &b.0 - &a.1 * &b.1, &a.0 * &b.1 + &a.1 * &b.0)
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
            &mut |_| false,
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
            &mut |_| false,
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
            &mut |done| {
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
            &mut |_| true,
        );
        assert_eq!(stopped, Err(OrbitStop::Stopped));
        let capped = reference_orbit(
            &formula,
            (&zero, &zero),
            inside,
            10_000,
            128,
            100,
            &mut |_| false,
        );
        assert_eq!(capped, Err(OrbitStop::TooLong));
    }

    #[test]
    fn precision_follows_the_pixel_step() {
        assert_eq!(bits_for_step(1e-3), 128);
        assert!(bits_for_step(1e-30) >= 99 + 96);
        assert!(bits_for_step(1e-300) >= 996 + 96);
    }
}
