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

/// The interleaved pixels (formula.lua's `interleaved_source`) against a loop written
/// here, the kernels' own loop: z0 from the start (or the pixel, for a Julia set), then
/// step, escape test (|z|^2 > 256, the smooth value n + 1 - log_d(ln |z|)), up to
/// max_iter steps; inside is -1. Every pixel of a grid, through `span` over several rows,
/// through `span` one row at a time with a guessing block's edge columns skipped, through
/// `span` over several rows with those columns skipped and then those columns over
/// several rows (as solid guessing calls it), and through `pixel`, bit for bit as floats. The steps include folds (abs, conj), a power,
/// and one for which 0 is not a fixed point at c = 0 (the lanes run the last pixel again
/// when they have no more: nothing may depend on that).
#[test]
fn interleaved_pixels_give_the_kernel_loop_s_values_bit_for_bit() {
    let lua = new_lua_state();
    let formula = formula_module(&lua);
    let oracle: Function = lua
        .load(
            r"return function(step, julia, degree, max_iter, jr, ji, x, y)
              local zr, zi, cr, ci = 0, 0, x, y
              if julia then zr, zi, cr, ci = x, y, jr, ji end
              for n = 1, max_iter do
                zr, zi = step(zr, zi, cr, ci)
                local r2 = zr * zr + zi * zi
                if r2 > 256 then
                  return n + 1 - math.log(math.log(r2) * 0.5) / math.log(degree)
                end
              end
              return -1
            end",
        )
        .eval()
        .expect("the oracle compiles");
    let cases = [
        ("z:sqr() + c", false, 2, (-0.75, 0.1, 2.6)),
        ("z:abs():sqr() + c", false, 2, (-0.45, -0.5, 2.6)),
        ("z:conj():sqr() + c", false, 2, (-0.2, 0.0, 3.0)),
        ("z ^ 3 + c", false, 3, (0.0, 0.0, 2.5)),
        ("z:sqr() + c + 0.3", false, 2, (-0.9, 0.0, 2.6)),
        ("z:sqr() + c", true, 2, (0.0, 0.0, 3.0)),
    ];
    let (width, height, max_iter) = (37_usize, 23_usize, 300.0);
    let (jr, ji) = (-0.8, 0.156);
    for (step, julia, degree, (center_x, center_y, span)) in cases {
        let (tape, result, _): (Table, Value, Value) = formula
            .get::<Function>("record")
            .expect("record")
            .call(
                lua.load(format!("return function(z, c) return {step} end"))
                    .eval::<Function>()
                    .expect("compiles"),
            )
            .expect("records");
        let direct_source: String = formula
            .get::<Function>("direct_source")
            .expect("direct_source")
            .call((&tape, result.clone()))
            .expect("writes");
        let direct: Function = lua.load(direct_source).eval().expect("compiles");
        let source: String = formula
            .get::<Function>("interleaved_source")
            .expect("interleaved_source")
            .call((&tape, result, julia, degree, 16.0, 0.0, 0.0))
            .expect("writes");
        let doubles: usize = formula
            .get::<Function>("interleaved_state_doubles")
            .expect("interleaved_state_doubles")
            .call(())
            .expect("sizes");
        let run: Function = lua
            .load(
                r"local factory, doubles, max_iter, jr, ji, width, height, x0, y0, step = ...
                local pixel, span, configure = factory(ffi.new('double[?]', doubles), 32)
                configure(max_iter, jr, ji)
                local count = width * height
                local whole, rows = ffi.new('float[?]', count), ffi.new('float[?]', count)
                span(whole, 0, 0, width - 1, 1, -1, x0, step, 0.5, y0 + 0.5 * step,
                     height - 1, 0, width, y0, step, 0.5)
                -- Row by row, each with column 3 and every 32nd after it skipped (the
                -- edge columns of guessing blocks), which are then done one by one.
                for row = 0, height - 1 do
                  local y = y0 + (0.5 + row) * step
                  span(rows, row * width, 0, width - 1, 1, 3, x0, step, 0.5, y)
                  for column = 3, width - 1, 32 do
                    span(rows, row * width, column, column, 1, -1, x0, step, 0.5, y)
                  end
                end
                -- All rows at once with those columns skipped, then those columns of all
                -- rows at once (solid guessing's calls for a row of blocks).
                local skipping, left_alone = ffi.new('float[?]', count), {}
                for index = 0, count - 1 do skipping[index] = -7 end
                span(skipping, 0, 0, width - 1, 1, 3, x0, step, 0.5, y0 + 0.5 * step,
                     height - 1, 0, width, y0, step, 0.5)
                for index = 0, count - 1 do left_alone[index] = skipping[index] == -7 and 1 or 0 end
                span(skipping, 0, 3, width - 1, 32, -1, x0, step, 0.5, y0 + 0.5 * step,
                     height - 1, 0, width, y0, step, 0.5)
                local out = {}
                for index = 0, count - 1 do
                  local column, row = index % width, math.floor(index / width)
                  local value = pixel(x0 + (0.5 + column) * step, y0 + (0.5 + row) * step) or -1
                  out[#out + 1] = whole[index]
                  out[#out + 1] = rows[index]
                  out[#out + 1] = skipping[index]
                  out[#out + 1] = ffi.new('float[1]', value)[0]
                  out[#out + 1] = left_alone[index]
                end
                return out",
            )
            .into_function()
            .expect("the runner compiles");
        let factory: Function = lua
            .load(source)
            .eval()
            .expect("the interleaved source compiles");
        let pixel_step = span / width as f64;
        let (x0, y0) = (
            center_x - span / 2.0,
            center_y - pixel_step * height as f64 / 2.0,
        );
        let values: Vec<f32> = run
            .call((
                factory, doubles, max_iter, jr, ji, width, height, x0, y0, pixel_step,
            ))
            .expect("runs");
        let mut inside = 0;
        for (index, five) in values.chunks(5).enumerate() {
            let (whole, rows, skipping, one) = (five[0], five[1], five[2], five[3]);
            let (column, row) = (index % width, index / width);
            let x = x0 + (0.5 + column as f64) * pixel_step;
            let y = y0 + (0.5 + row as f64) * pixel_step;
            let expected: f64 = oracle
                .call((&direct, julia, degree, max_iter, jr, ji, x, y))
                .expect("the oracle runs");
            let expected = expected as f32;
            inside += usize::from(expected < 0.0);
            // The skipped columns are left for the call that computes them, in every row.
            let skipped = column >= 3 && (column - 3) % 32 == 0;
            assert_eq!(
                five[4],
                f32::from(u8::from(skipped)),
                "{step}: column {column}, row {row}, skipped {skipped}"
            );
            for (way, got) in [
                ("span", whole),
                ("rows", rows),
                ("rows skipping columns", skipping),
                ("pixel", one),
            ] {
                assert_eq!(
                    got.to_bits(),
                    expected.to_bits(),
                    "{step} ({way}) at column {column}, row {row}: {got} against {expected}"
                );
            }
        }
        // Both kinds of pixel in every view.
        assert!(
            inside > 0 && inside < values.len() / 5,
            "{step}: {inside} inside"
        );
    }
}
