//! The deep bench's second measurement: how long a reference orbit of a render by
//! perturbation takes to compute at depth, in the precision the depth needs (the part of a
//! deep render that does not spread over threads).

use std::time::Instant;

use serde::Serialize;

use super::shipped_source;
use crate::engine::error::RenderError;
use crate::engine::geometry::BigFloat;
use crate::engine::kernel::{OrbitStop, bits_for_step_log2, reference_orbit};
use crate::engine::render::{CancelToken, Engine};

/// Iterations each timed orbit runs.
pub const REFERENCE_ITERATIONS: u32 = 100_000;

/// One depth's reference orbit time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceRow {
    /// The view's span.
    pub span: String,
    /// The precision the orbit is computed in (what a view that deep, this many pixels
    /// high, needs), in bits.
    pub bits: usize,
    /// Iterations computed.
    pub iterations: u32,
    /// Fastest run, in seconds.
    pub best_secs: f64,
    /// Seconds per 100,000 iterations (best run).
    pub secs_per_100k: f64,
}

/// The shipped Mandelbrot kernel's reference orbit from c = -0.3333 + 0.1i (inside: every
/// iteration is computed) for a view of each span `height_px` pixels high: the best of
/// `runs` timings of `REFERENCE_ITERATIONS` iterations, on this thread.
pub fn time_reference_orbits(
    engine: &Engine,
    spans: &[&str],
    height_px: u32,
    runs: u32,
    cancel: &CancelToken,
    on_step: &mut dyn FnMut(),
) -> Result<Vec<ReferenceRow>, RenderError> {
    let formula = engine
        .inspect(&shipped_source("mandelbrot")?, cancel)?
        .formula
        .ok_or_else(|| RenderError::Internal("mandelbrot declares no formula".to_owned()))?;
    let zero = BigFloat::zero();
    let parse = |text: &str, bits| {
        BigFloat::parse_decimal_with_bits(text, bits)
            .map_err(|error| RenderError::Internal(format!("{text}: {error}")))
    };
    let mut rows = Vec::new();
    for span in spans {
        let bits = bits_for_step_log2(parse(span, 64)?.log2() - f64::from(height_px.max(1)).log2());
        // Inside the main cardioid, so it never escapes; a third and a tenth have every
        // bit set, as a deep view's centre has (short binary numbers would be cheaper).
        let c = (parse("-0.3333", bits)?, parse("0.1", bits)?);
        let mut best_secs = f64::INFINITY;
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            reference_orbit(
                &formula,
                (&zero, &zero),
                (&c.0, &c.1),
                REFERENCE_ITERATIONS,
                bits,
                usize::MAX,
                &mut |_, _| cancel.is_cancelled(),
            )
            .map_err(|stop| match stop {
                OrbitStop::Stopped => RenderError::Cancelled,
                OrbitStop::TooLong => RenderError::Internal("the orbit is too long".to_owned()),
            })?;
            best_secs = best_secs.min(started.elapsed().as_secs_f64());
            on_step();
        }
        rows.push(ReferenceRow {
            span: (*span).to_owned(),
            bits,
            iterations: REFERENCE_ITERATIONS,
            best_secs,
            secs_per_100k: best_secs * 100_000.0 / f64::from(REFERENCE_ITERATIONS),
        });
    }
    Ok(rows)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_deeper_reference_needs_more_bits_and_each_is_timed() {
        let rows = time_reference_orbits(
            &Engine::default(),
            &["1e-100", "1e-300"],
            360,
            1,
            &CancelToken::new(),
            &mut || {},
        )
        .expect("timed");
        assert_eq!(rows.len(), 2);
        assert!(
            rows[0].bits >= 332 + 96 && rows[1].bits >= 996 + 96,
            "{rows:?}"
        );
        assert!(rows.iter().all(|row| row.best_secs > 0.0));
    }
}
