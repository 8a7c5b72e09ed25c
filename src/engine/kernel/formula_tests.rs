//! Tests of the perturbed step formula.lua derives from a recorded formula: for each rule
//! (add, mul, square, whole powers, conjugate, minus, the abs folds) and mixes of them,
//! the delta the generated Lua computes in f64 against f(Z + d) - f(Z) computed exactly
//! with big integers, for deltas from 1e-5 down to 1e-250: relative error at most 1e-13.

use mlua::{Function, Lua, Table, Value};
use num_bigint::BigInt;
use num_traits::{Signed, Zero};

use super::formula::{FormulaOp, ops_from_tape};
use super::lua_unsafe::new_lua_state;
use super::state::FORMULA_LUA;

/// Fixed point: a number is a big integer times 2^-SHIFT (far below any delta tested).
const SHIFT: u32 = 1400;

fn fixed(x: f64) -> BigInt {
    if x == 0.0 {
        return BigInt::zero();
    }
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, power) = if exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), exponent - 1075)
    };
    let magnitude = BigInt::from(mantissa) << (power + SHIFT as i32) as usize;
    if x < 0.0 { -magnitude } else { magnitude }
}

type Complex = (BigInt, BigInt);

fn mul(a: &Complex, b: &Complex) -> Complex {
    (
        (&a.0 * &b.0 - &a.1 * &b.1) >> SHIFT as usize,
        (&a.0 * &b.1 + &a.1 * &b.0) >> SHIFT as usize,
    )
}

/// The tape evaluated exactly (to 2^-SHIFT) at z and c.
fn evaluate_exactly(ops: &[FormulaOp], z: &Complex, c: &Complex) -> Complex {
    let mut values: Vec<Complex> = Vec::new();
    for op in ops {
        let at = |index: usize| values[index].clone();
        let value = match *op {
            FormulaOp::Z => z.clone(),
            FormulaOp::C => c.clone(),
            FormulaOp::Const { re, im } => (fixed(re), fixed(im)),
            FormulaOp::Add(a, b) => (at(a).0 + at(b).0, at(a).1 + at(b).1),
            FormulaOp::Sub(a, b) => (at(a).0 - at(b).0, at(a).1 - at(b).1),
            FormulaOp::Mul(a, b) => mul(&at(a), &at(b)),
            FormulaOp::Neg(a) => (-at(a).0, -at(a).1),
            FormulaOp::Pow(a, k) => {
                let base = at(a);
                (1..k).fold(base.clone(), |power, _| mul(&power, &base))
            }
            FormulaOp::Sqr(a) => mul(&at(a), &at(a)),
            FormulaOp::Conj(a) => (at(a).0, -at(a).1),
            FormulaOp::Abs(a) => (at(a).0.abs(), at(a).1.abs()),
            FormulaOp::AbsRe(a) => (at(a).0.abs(), at(a).1),
            FormulaOp::AbsIm(a) => (at(a).0, at(a).1.abs()),
        };
        values.push(value);
    }
    values.pop().expect("a result")
}

/// A small deterministic generator (xorshift), uniform in [-1, 1).
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// formula.lua loaded in `lua` (a state with every library).
fn formula_module(lua: &Lua) -> Table {
    let getinfo: Function = lua
        .globals()
        .get::<Table>("debug")
        .and_then(|debug| debug.get("getinfo"))
        .expect("getinfo");
    lua.load(FORMULA_LUA)
        .call(getinfo)
        .expect("formula.lua loads")
}

struct Recorded {
    ops: Vec<FormulaOp>,
    perturbed: Function,
}

fn record(lua: &Lua, formula: &Table, step: &str, c_fixed: bool) -> Recorded {
    let step: Function = lua
        .load(format!("return function(z, c) return {step} end"))
        .set_name("=kernel")
        .eval()
        .expect("step compiles");
    let (tape, result, problem): (Option<Table>, Value, Value) = formula
        .get::<Function>("record")
        .expect("record")
        .call(step)
        .expect("records");
    let Some(tape) = tape else {
        panic!("refused: {problem:?}");
    };
    let source: String = formula
        .get::<Function>("perturbed_source")
        .expect("perturbed_source")
        .call((&tape, result.clone(), c_fixed))
        .expect("writes the source");
    let perturbed: Function = lua
        .load(source)
        .set_name("=perturbed")
        .eval()
        .expect("the generated step compiles");
    Recorded {
        ops: ops_from_tape(&tape, &result).expect("reads the tape"),
        perturbed,
    }
}

#[test]
fn each_derivation_rule_matches_exact_arithmetic_from_1e_minus_5_to_1e_minus_250() {
    let lua = new_lua_state();
    let formula = formula_module(&lua);
    let steps = [
        "z:sqr() + c",
        "z * z + c",
        "z ^ 3 + c",
        "z ^ 5 + c * z",
        "z:conj():sqr() + c",
        "z:abs():sqr() + c:conj()",
        "z:abs_re() * z + c",
        "z:abs_im():sqr() - c",
        "-z * c + z ^ 2",
        "(z + { re = 0.5, im = -0.25 }) * (z - c) + 3 * c",
    ];
    let mut numbers = Numbers(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for step in steps {
        for c_fixed in [false, true] {
            let recorded = record(&lua, &formula, step, c_fixed);
            for exponent in [5, 13, 30, 60, 100, 150, 200, 250] {
                for _ in 0..20 {
                    let reference_z = (2.0 * numbers.next(), 2.0 * numbers.next());
                    let reference_c = (2.0 * numbers.next(), 2.0 * numbers.next());
                    let scale = 10f64.powi(-exponent);
                    let dz = (scale * numbers.next(), scale * numbers.next());
                    let dc = if c_fixed {
                        (0.0, 0.0)
                    } else {
                        (scale * numbers.next(), scale * numbers.next())
                    };
                    let (delta_re, delta_im): (f64, f64) = recorded
                        .perturbed
                        .call((
                            reference_z.0,
                            reference_z.1,
                            reference_c.0,
                            reference_c.1,
                            dz.0,
                            dz.1,
                            dc.0,
                            dc.1,
                        ))
                        .expect("the step runs");
                    let exact_at = |z: (f64, f64), d: (f64, f64), c: (f64, f64), e: (f64, f64)| {
                        evaluate_exactly(
                            &recorded.ops,
                            &(fixed(z.0) + fixed(d.0), fixed(z.1) + fixed(d.1)),
                            &(fixed(c.0) + fixed(e.0), fixed(c.1) + fixed(e.1)),
                        )
                    };
                    let moved = exact_at(reference_z, dz, reference_c, dc);
                    let reference = exact_at(reference_z, (0.0, 0.0), reference_c, (0.0, 0.0));
                    let exact = (moved.0 - reference.0, moved.1 - reference.1);
                    let error = (fixed(delta_re) - &exact.0, fixed(delta_im) - &exact.1);
                    let exact_size = &exact.0 * &exact.0 + &exact.1 * &exact.1;
                    let error_size = &error.0 * &error.0 + &error.1 * &error.1;
                    // |error| <= 1e-13 |exact|, squared: error^2 * 1e26 <= exact^2.
                    assert!(
                        error_size * BigInt::from(10).pow(26) <= exact_size,
                        "{step} (c fixed: {c_fixed}) at |d| ~ 1e-{exponent}: Z {reference_z:?}, \
                         C {reference_c:?}, dz {dz:?}, dc {dc:?}: got {delta_re:e} + \
                         {delta_im:e}i"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 10 * 2 * 8 * 20);
}

#[test]
fn the_direct_step_in_lua_and_in_rust_agree_bit_for_bit() {
    let lua = new_lua_state();
    let formula = formula_module(&lua);
    let mut numbers = Numbers(12345);
    for step in ["z:sqr() + c", "z ^ 4 - c * z", "z:abs():sqr() + c:conj()"] {
        let recorded = record(&lua, &formula, step, false);
        let function: Function = lua
            .load(format!("return function(z, c) return {step} end"))
            .set_name("=kernel")
            .eval()
            .expect("compiles");
        let (tape, result, _): (Table, Value, Value) = formula
            .get::<Function>("record")
            .expect("record")
            .call(function)
            .expect("records");
        let source: String = formula
            .get::<Function>("direct_source")
            .expect("direct_source")
            .call((&tape, result))
            .expect("writes");
        let direct: Function = lua.load(source).eval().expect("compiles");
        let rust = super::formula::Formula {
            ops: recorded.ops,
            julia: None,
            start: (0.0, 0.0),
            bailout: 16.0,
            reads_parameters: false,
        };
        for _ in 0..100 {
            let z = (2.0 * numbers.next(), 2.0 * numbers.next());
            let c = (2.0 * numbers.next(), 2.0 * numbers.next());
            let lua_step: (f64, f64) = direct.call((z.0, z.1, c.0, c.1)).expect("runs");
            let rust_step = rust.step(z, c);
            assert_eq!(lua_step.0.to_bits(), rust_step.0.to_bits(), "{step}");
            assert_eq!(lua_step.1.to_bits(), rust_step.1.to_bits(), "{step}");
        }
    }
}
