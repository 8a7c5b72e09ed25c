//! A kernel's declared iteration (`formula { step = function(z, c) ... end }`), as the
//! engine reads it back: the operations `runtime/formula.lua` recorded from one run of the
//! step on recording values (`FormulaOp`, a tape in which each operation refers to earlier
//! ones), whether it draws a Julia set, its start and bailout. From the same tape Lua
//! derives the perturbed step (runtime/formula.lua); here the step is evaluated in f64 and
//! the escape value is made, so every precision colours a pixel alike.

use mlua::{Table, Value};

use super::state::{InternalContext, RunFailure};

/// One recorded operation; operands are indices of earlier operations in the tape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FormulaOp {
    /// The iterated value z.
    Z,
    /// The parameter c (the pixel, or the Julia set's constant).
    C,
    /// A constant.
    Const {
        /// Real part.
        re: f64,
        /// Imaginary part.
        im: f64,
    },
    /// a + b.
    Add(usize, usize),
    /// a - b.
    Sub(usize, usize),
    /// a * b.
    Mul(usize, usize),
    /// -a.
    Neg(usize),
    /// a^k for a whole k from 2 to 64.
    Pow(usize, u32),
    /// a * a.
    Sqr(usize),
    /// The complex conjugate of a.
    Conj(usize),
    /// |Re a| + i |Im a| (the Burning Ship's fold).
    Abs(usize),
    /// |Re a| + i Im a.
    AbsRe(usize),
    /// Re a + i |Im a|.
    AbsIm(usize),
}

/// A kernel's declared iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    /// The recorded step; the last operation is its result.
    pub ops: Vec<FormulaOp>,
    /// For a Julia set, the name of the complex parameter that is c (z starts at the
    /// pixel); None when c is the pixel and z starts at `start`.
    pub julia: Option<String>,
    /// Where z starts when c is the pixel (the critical point; 0 by default).
    pub start: (f64, f64),
    /// The escape radius: a pixel escapes once |z| exceeds it.
    pub bailout: f64,
    /// True when the step read a parameter's value (recorded as a constant): such a
    /// formula stands for the kernel only at the values it was recorded with (the
    /// defaults), so the engine does not render from it.
    pub reads_parameters: bool,
}

/// The default escape radius: large, so the smooth escape value is accurate.
pub const DEFAULT_BAILOUT: f64 = 16.0;

impl Formula {
    /// One step in f64: the tape evaluated at z and c, operation by operation in the same
    /// order and arithmetic as the generated Lua step.
    pub fn step(&self, z: (f64, f64), c: (f64, f64)) -> (f64, f64) {
        let mut values: Vec<(f64, f64)> = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let at = |index: usize| values.get(index).copied().unwrap_or_default();
            let value = match *op {
                FormulaOp::Z => z,
                FormulaOp::C => c,
                FormulaOp::Const { re, im } => (re, im),
                FormulaOp::Add(a, b) => (at(a).0 + at(b).0, at(a).1 + at(b).1),
                FormulaOp::Sub(a, b) => (at(a).0 - at(b).0, at(a).1 - at(b).1),
                FormulaOp::Mul(a, b) => complex_mul(at(a), at(b)),
                FormulaOp::Neg(a) => (-at(a).0, -at(a).1),
                FormulaOp::Pow(a, k) => {
                    let base = at(a);
                    (1..k).fold(base, |power, _| complex_mul(power, base))
                }
                FormulaOp::Sqr(a) => {
                    let (re, im) = at(a);
                    (re * re - im * im, 2.0 * re * im)
                }
                FormulaOp::Conj(a) => (at(a).0, -at(a).1),
                FormulaOp::Abs(a) => (at(a).0.abs(), at(a).1.abs()),
                FormulaOp::AbsRe(a) => (at(a).0.abs(), at(a).1),
                FormulaOp::AbsIm(a) => (at(a).0, at(a).1.abs()),
            };
            values.push(value);
        }
        values.last().copied().unwrap_or_default()
    }

    /// The step's degree in z (2 for z^2 + c, 3 for z^3 + c): escape values are smoothed
    /// with logarithms to this base. At least 2.
    pub fn degree(&self) -> u32 {
        let mut degrees: Vec<u32> = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let at = |index: usize| degrees.get(index).copied().unwrap_or_default();
            let degree = match *op {
                FormulaOp::Z => 1,
                FormulaOp::C | FormulaOp::Const { .. } => 0,
                FormulaOp::Add(a, b) | FormulaOp::Sub(a, b) => at(a).max(at(b)),
                FormulaOp::Mul(a, b) => at(a).saturating_add(at(b)),
                FormulaOp::Pow(a, k) => at(a).saturating_mul(k),
                FormulaOp::Sqr(a) => at(a).saturating_mul(2),
                FormulaOp::Neg(a)
                | FormulaOp::Conj(a)
                | FormulaOp::Abs(a)
                | FormulaOp::AbsRe(a)
                | FormulaOp::AbsIm(a) => at(a),
            };
            degrees.push(degree);
        }
        degrees.last().copied().unwrap_or_default().max(2)
    }

    /// The pixel's value when z first leaves the bailout circle at iteration `iterations`
    /// with |z|^2 = `modulus2`: the smooth escape value n + 1 - log_d(ln |z|), the one the
    /// shipped kernels' `pixel` returns.
    pub fn escape_value(&self, iterations: u32, modulus2: f64) -> f64 {
        f64::from(iterations) + 1.0 - (modulus2.ln() * 0.5).ln() / f64::from(self.degree()).ln()
    }

    /// The pixel's value by iterating the step in f64 from the pixel at `point`, up to
    /// `max_iter` steps: None when it never escapes. (The reference for the other ways of
    /// iterating the same formula.)
    pub fn iterate_f64(
        &self,
        point: (f64, f64),
        julia_c: Option<(f64, f64)>,
        max_iter: u32,
    ) -> Option<f64> {
        let (mut z, c) = match julia_c {
            Some(c) => (point, c),
            None => (self.start, point),
        };
        let bailout2 = self.bailout * self.bailout;
        for n in 1..=max_iter {
            z = self.step(z, c);
            let modulus2 = z.0 * z.0 + z.1 * z.1;
            if modulus2 > bailout2 {
                return Some(self.escape_value(n, modulus2));
            }
        }
        None
    }
}

/// The step as an expression of z and c, as a person would write it: "sqr(z) + c",
/// "sqr(abs(z)) + conj(c)" (with the formula's Julia constant and start when it has them).
impl std::fmt::Display for Formula {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Each operation's text, parenthesised where it is a sum or difference.
        let mut texts: Vec<(String, bool)> = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let at = |index: usize| texts.get(index).cloned().unwrap_or_default();
            let tight = |index: usize| {
                let (text, is_sum) = at(index);
                if is_sum { format!("({text})") } else { text }
            };
            let text = match *op {
                FormulaOp::Z => ("z".to_owned(), false),
                FormulaOp::C => ("c".to_owned(), false),
                FormulaOp::Const { re, im: 0.0 } => (format!("{re}"), re < 0.0),
                FormulaOp::Const { re, im } => (format!("({re} {im:+}i)"), false),
                FormulaOp::Add(a, b) => (format!("{} + {}", at(a).0, at(b).0), true),
                FormulaOp::Sub(a, b) => (format!("{} - {}", at(a).0, tight(b)), true),
                FormulaOp::Mul(a, b) => (format!("{} * {}", tight(a), tight(b)), false),
                FormulaOp::Neg(a) => (format!("-{}", tight(a)), false),
                FormulaOp::Pow(a, k) => (format!("{}^{k}", tight(a)), false),
                FormulaOp::Sqr(a) => (format!("sqr({})", at(a).0), false),
                FormulaOp::Conj(a) => (format!("conj({})", at(a).0), false),
                FormulaOp::Abs(a) => (format!("abs({})", at(a).0), false),
                FormulaOp::AbsRe(a) => (format!("abs_re({})", at(a).0), false),
                FormulaOp::AbsIm(a) => (format!("abs_im({})", at(a).0), false),
            };
            texts.push(text);
        }
        let step = texts.last().map(|(text, _)| text.as_str()).unwrap_or("z");
        write!(f, "z -> {step}")?;
        match &self.julia {
            Some(name) => write!(f, ", c = the parameter {name}, z from the pixel"),
            None if self.start == (0.0, 0.0) => write!(f, ", c the pixel, z from 0"),
            None => write!(
                f,
                ", c the pixel, z from {} {:+}i",
                self.start.0, self.start.1
            ),
        }
    }
}

fn complex_mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// The tape formula.lua recorded (1-based indices) up to the step's result (node `result`;
/// nothing after it can change it), as `FormulaOp`s (0-based), the result last. The tape
/// was built by trusted code, so anything unexpected in it is moonbrot's bug.
pub(super) fn ops_from_tape(tape: &Table, result: &Value) -> Result<Vec<FormulaOp>, RunFailure> {
    let result = match result {
        Value::Integer(index) => usize::try_from(*index).ok(),
        Value::Number(index) => Some(*index as usize),
        _ => None,
    }
    .filter(|index| (1..=tape.raw_len()).contains(index))
    .ok_or_else(|| RunFailure::Internal("a formula without a result".to_owned()))?;
    let mut ops = Vec::new();
    for entry in tape.clone().sequence_values::<Table>().take(result) {
        let entry = entry.context("reading a formula operation")?;
        let name: String = entry
            .get("op")
            .context("reading a formula operation's name")?;
        let operand = |key: &str| -> Result<usize, RunFailure> {
            let index: usize = entry.get(key).context("reading a formula operand")?;
            if index == 0 || index > ops.len() {
                return Err(RunFailure::Internal(format!(
                    "formula operand {index} out of order"
                )));
            }
            Ok(index - 1)
        };
        let op = match name.as_str() {
            "z" => FormulaOp::Z,
            "c" => FormulaOp::C,
            "const" => FormulaOp::Const {
                re: entry.get("re").context("reading a constant")?,
                im: entry.get("im").context("reading a constant")?,
            },
            "add" => FormulaOp::Add(operand("a")?, operand("b")?),
            "sub" => FormulaOp::Sub(operand("a")?, operand("b")?),
            "mul" => FormulaOp::Mul(operand("a")?, operand("b")?),
            "neg" => FormulaOp::Neg(operand("a")?),
            "pow" => FormulaOp::Pow(operand("a")?, entry.get("k").context("reading a power")?),
            "sqr" => FormulaOp::Sqr(operand("a")?),
            "conj" => FormulaOp::Conj(operand("a")?),
            "abs" => FormulaOp::Abs(operand("a")?),
            "abs_re" => FormulaOp::AbsRe(operand("a")?),
            "abs_im" => FormulaOp::AbsIm(operand("a")?),
            other => {
                return Err(RunFailure::Internal(format!(
                    "unknown formula operation {other:?}"
                )));
            }
        };
        ops.push(op);
    }
    Ok(ops)
}

/// A complex constant as a declaration may give it: a number or `{ re, im }`.
pub(super) fn complex_from(value: &Value) -> Option<(f64, f64)> {
    let finite = |x: f64| x.is_finite().then_some(x);
    match value {
        Value::Integer(n) => Some((*n as f64, 0.0)),
        Value::Number(x) => finite(*x).map(|x| (x, 0.0)),
        Value::Table(table) => {
            let part = |named: &str, index: i64| -> Option<f64> {
                let value: Option<f64> = table
                    .raw_get::<Option<f64>>(named)
                    .ok()
                    .flatten()
                    .or_else(|| table.raw_get::<Option<f64>>(index).ok().flatten());
                value.and_then(finite)
            };
            Some((part("re", 1)?, part("im", 2)?))
        }
        _ => None,
    }
}
