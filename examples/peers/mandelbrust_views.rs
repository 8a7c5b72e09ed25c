//! Times MandelbRust (github.com/TonyVallad/MandelbRust, a native Rust explorer) on the
//! standard views of `moonbrot bench --views` (V1 home, V2 filaments, V3 mostly inside, at
//! 1280x720), as shipped (its defaults and real-axis symmetry) and with its shortcuts off
//! (no border tracing, no symmetry), best of N runs (default 6), seconds.
//!
//! Not part of moonbrot's build. To run it beside moonbrot: copy this file into a checkout
//! of MandelbRust as `mandelbrust-render/examples/views.rs`, then
//! `cargo run --release -p mandelbrust-render --example views -- 6`, and
//! `moonbrot bench --views` on the same machine, alternately.

use std::sync::Arc;
use std::time::Instant;

use mandelbrust_core::{Complex, FractalParams, Mandelbrot, Viewport};
use mandelbrust_render::{RenderCancel, RenderOptions, render};

fn main() {
    let views = [
        ("V1 home", -0.6, 0.0, 2.6, 500_u32),
        ("V2 filaments", -0.743643887, 0.131825904, 0.00012, 2000),
        ("V3 mostly inside", -0.1, 0.0, 0.5, 2000),
    ];
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(6);
    let cancel = Arc::new(RenderCancel::new());
    for (name, x, y, span, max_iter) in views {
        let Ok(params) = FractalParams::new(max_iter, 2.0) else {
            return;
        };
        let mandelbrot = Mandelbrot::new(params);
        let Ok(viewport) = Viewport::new(Complex::new(x, y), span / 1280.0, 1280, 720) else {
            return;
        };
        let shipped = RenderOptions {
            use_real_axis_symmetry: true,
            ..Default::default()
        };
        let off = RenderOptions {
            use_real_axis_symmetry: false,
            allow_border_tracing: false,
            ..Default::default()
        };
        for (label, options) in [("shipped", shipped), ("off", off)] {
            let mut best = f64::MAX;
            for _ in 0..runs {
                let started = Instant::now();
                let result = render(&mandelbrot, &viewport, &cancel, &options);
                std::hint::black_box(&result);
                best = best.min(started.elapsed().as_secs_f64());
            }
            println!("{name}\t{label}\t{best:.4}");
        }
    }
}
