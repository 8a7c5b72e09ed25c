//! Native Rust twins of two shipped kernels (mandelbrot and seed): the reference that proves
//! the Lua path computes the same values (tests compare every pixel) and the yardstick for
//! its speed (`moonbrot bench` prints the Lua/native ratio).
//!
//! Each twin evaluates the same arithmetic in the same order as its Lua kernel, at the same
//! pixel centres (`PixelGrid`), so the two agree to the last bit of the iteration count.
//! Rows are shared among threads through rayon's work stealing, as the Lua engine shares
//! its units.

use std::time::Instant;

use rayon::prelude::*;

use crate::engine::error::RenderError;
use crate::engine::geometry::{PixelGrid, View};
use crate::engine::kernel::{OutputMode, shipped_kernel};
use crate::engine::render::ValueImage;

/// A kernel with a native twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeKernel {
    /// lua/mandelbrot.lua: smooth escape value, bailout radius 16.
    Mandelbrot,
    /// lua/seed.lua: the seed article's loop, z starting at c, bailout |z|^2 > 4.
    Seed,
}

/// The value a kernel returns for "inside".
const INSIDE: f32 = -1.0;

impl NativeKernel {
    /// The native twin of this Lua source, if it is one of the shipped kernels that has one
    /// (compared as text, ignoring surrounding whitespace).
    pub fn twin_of(source: &str) -> Option<Self> {
        [("mandelbrot", Self::Mandelbrot), ("seed", Self::Seed)]
            .into_iter()
            .find(|(name, _)| {
                shipped_kernel(name).is_some_and(|kernel| kernel.source.trim() == source.trim())
            })
            .map(|(_, twin)| twin)
    }

    /// The escape value of one point, exactly as the Lua kernel computes it.
    #[inline]
    pub fn escape_value(self, x: f64, y: f64, max_iter: u32) -> f32 {
        match self {
            Self::Mandelbrot => mandelbrot(x, y, max_iter),
            Self::Seed => seed(x, y, max_iter),
        }
    }
}

#[inline]
fn mandelbrot(x: f64, y: f64, max_iter: u32) -> f32 {
    let inverse_log2 = 1.0 / 2.0_f64.ln();
    // The main cardioid and the period-2 bulb, as mandelbrot.lua tests them.
    let (x_quarter, y2) = (x - 0.25, y * y);
    let q = x_quarter * x_quarter + y2;
    if q * (q + x_quarter) <= 0.25 * y2 || (x + 1.0) * (x + 1.0) + y2 <= 0.0625 {
        return INSIDE;
    }
    let (mut zr, mut zi, mut zr2, mut zi2) = (0.0_f64, 0.0_f64, 0.0_f64, 0.0_f64);
    // Brent's periodicity check, as mandelbrot.lua does it.
    let (mut saved_r, mut saved_i, mut steps, mut interval) = (0.0_f64, 0.0_f64, 0_u32, 8_u32);
    for n in 1..=max_iter {
        zi = 2.0 * zr * zi + y;
        zr = zr2 - zi2 + x;
        zr2 = zr * zr;
        zi2 = zi * zi;
        if zr2 + zi2 > 256.0 {
            return (f64::from(n) + 1.0 - ((zr2 + zi2).ln() * 0.5).ln() * inverse_log2) as f32;
        }
        #[allow(clippy::float_cmp)] // an exact repeat is the point: the orbit cycles
        if zr == saved_r && zi == saved_i {
            return INSIDE;
        }
        steps += 1;
        if steps == interval {
            (saved_r, saved_i, steps, interval) = (zr, zi, 0, interval.saturating_mul(2));
        }
    }
    INSIDE
}

#[inline]
fn seed(x: f64, y: f64, max_iter: u32) -> f32 {
    let (mut zr, mut zi) = (x, y);
    let (mut zr2, mut zi2) = (x * x, y * y);
    for i in 1..=max_iter {
        zi = zr * zi * 2.0 + y;
        zr = zr2 - zi2 + x;
        zi2 = zi * zi;
        zr2 = zr * zr;
        if zr2 + zi2 > 4.0 {
            return i as f32;
        }
    }
    INSIDE
}

/// Renders a native kernel on its own rayon pool of a fixed size (built once, reused).
pub struct NativeRenderer {
    pool: rayon::ThreadPool,
}

impl NativeRenderer {
    /// A renderer with `threads` worker threads.
    pub fn new(threads: usize) -> Result<Self, RenderError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("moonbrot-native-{index}"))
            .build()
            .map_err(|error| {
                RenderError::Internal(format!("cannot start native threads: {error}"))
            })?;
        Ok(Self { pool })
    }

    /// Renders `kernel` and returns the values and the wall time in seconds.
    pub fn render(
        &self,
        kernel: NativeKernel,
        view: &View,
        size_px: (u32, u32),
        max_iter: u32,
    ) -> (ValueImage, f64) {
        let (width_px, height_px) = size_px;
        let grid = view.pixel_grid(width_px, height_px);
        let started = Instant::now();
        let mut values = vec![0.0_f32; width_px as usize * height_px as usize];
        self.pool.install(|| {
            values
                .par_chunks_mut(width_px.max(1) as usize)
                .enumerate()
                .for_each(|(row, row_values)| {
                    render_row(kernel, &grid, row as u32, max_iter, row_values)
                });
        });
        let elapsed_secs = started.elapsed().as_secs_f64();
        let image = ValueImage {
            channel_names: Vec::new(),
            width_px,
            height_px,
            output: OutputMode::ESCAPE,
            values,
        };
        (image, elapsed_secs)
    }
}

fn render_row(kernel: NativeKernel, grid: &PixelGrid, row: u32, max_iter: u32, out: &mut [f32]) {
    // driver.lua's expression, term for term: (first index + 0.5 + column) * step.
    let y = grid.y_origin.hi() + (grid.first_row_index as f64 + 0.5 + f64::from(row)) * grid.y_step;
    let x_center = grid.first_column_index as f64 + 0.5;
    for (column, value) in out.iter_mut().enumerate() {
        let x = grid.x_origin.hi() + (x_center + column as f64) * grid.x_step;
        *value = kernel.escape_value(x, y, max_iter);
    }
}
