//! `moonbrot bench`: reproduces the seed article's timing table (N×N images of its
//! Mandelbrot workload, one column per thread count) with the Lua engine, the native Rust
//! reference beside it where the kernel has one, the Lua/native ratio, the speedup over one
//! thread, and the article's published figures for comparison. `--json` prints the raw cells.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use super::render::{LateProgressBar, side_px, thread_count};
use super::{CliError, choose_kernel, parse_list, stderr_engine};
use crate::engine::kernel::shipped_kernel;
use crate::engine::native::{NativeKernel, NativeRenderer};
use crate::engine::{CancelToken, RenderRequest};

/// The article's published lupa/LuaJIT times (seconds; Core i7 laptop, Python 3.7, 2019).
const ARTICLE_SIZES: [u32; 3] = [320, 640, 1280];
const ARTICLE_THREADS: [usize; 5] = [1, 2, 4, 8, 16];
const ARTICLE_LUPA_SECS: [[f64; 5]; 3] = [
    [0.22, 0.11, 0.07, 0.06, 0.04],
    [0.68, 0.38, 0.26, 0.21, 0.17],
    [2.71, 1.50, 1.05, 0.81, 0.66],
];

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Kernel: a Lua file or a shipped kernel's name. Default: seed (the article's workload).
    #[arg(long, value_name = "FILE|NAME")]
    kernel: Option<PathBuf>,
    /// Image sizes N (each image is N×N), comma-separated.
    #[arg(long, value_name = "N,N,..", default_value = "320,640,1280", value_parser = parse_list::<i64>)]
    sizes: std::vec::Vec<i64>,
    /// Thread counts, comma-separated.
    #[arg(long, value_name = "T,T,..", default_value = "1,2,4,8,16", value_parser = parse_list::<i64>)]
    threads: std::vec::Vec<i64>,
    /// Timed runs per cell; the table shows the best and the median.
    #[arg(long, value_name = "R", default_value_t = 5)]
    runs: u32,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// One cell of the table.
#[derive(Debug, Clone, Serialize)]
struct BenchCell {
    engine: &'static str,
    kernel: String,
    size: u32,
    threads: usize,
    runs: u32,
    best_secs: f64,
    median_secs: f64,
    pixels_per_sec: f64,
}

#[derive(Serialize)]
struct BenchReport<'a> {
    runs: &'a [BenchCell],
}

fn cell(
    engine: &'static str,
    kernel: &str,
    size: u32,
    threads: usize,
    mut secs: Vec<f64>,
) -> BenchCell {
    secs.sort_by(f64::total_cmp);
    let best_secs = secs.first().copied().unwrap_or(f64::NAN);
    let median_secs = match secs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => secs[n / 2],
        n => (secs[n / 2 - 1] + secs[n / 2]) / 2.0,
    };
    BenchCell {
        engine,
        kernel: kernel.to_owned(),
        size,
        threads,
        runs: secs.len() as u32,
        best_secs,
        median_secs,
        pixels_per_sec: f64::from(size) * f64::from(size) / best_secs,
    }
}

pub(crate) fn run(args: &BenchArgs) -> Result<(), CliError> {
    let seed = shipped_kernel("seed")
        .ok_or_else(|| CliError::Input("the seed kernel is missing".to_owned()))?;
    let kernel = choose_kernel(args.kernel.as_ref(), seed)?;
    let sizes = args
        .sizes
        .iter()
        .map(|&size| side_px((size, size)).map(|(side, _)| side))
        .collect::<Result<Vec<u32>, _>>()?;
    let thread_counts = args
        .threads
        .iter()
        .map(|&threads| thread_count(threads))
        .collect::<Result<Vec<usize>, _>>()?;
    if args.runs == 0 || args.runs > 1000 {
        return Err(CliError::Input(format!(
            "--runs {} must be 1 to 1000",
            args.runs
        )));
    }
    let twin = NativeKernel::twin_of(&kernel.source);
    let engine = stderr_engine();
    let cancel = CancelToken::new();

    // One untimed render compiles the kernel's states and warms LuaJIT's traces, as they
    // are in the app after its first render.
    let max_threads = thread_counts.iter().copied().max().unwrap_or(1);
    let warm_up = RenderRequest {
        threads: max_threads,
        ..RenderRequest::new(kernel.source.clone(), 64, 64)
    };
    let info = engine.render(&warm_up, &cancel)?;
    let (view, max_iter) = (info.view, info.max_iter);

    let total_steps =
        sizes.len() * thread_counts.len() * args.runs as usize * if twin.is_some() { 2 } else { 1 };
    let progress = LateProgressBar::new();
    let started = Instant::now();
    let mut steps_done = 0;
    let mut cells = Vec::new();
    for &threads in &thread_counts {
        let native = twin.map(|_| NativeRenderer::new(threads)).transpose()?;
        for &size in &sizes {
            progress.set_message(format!("{size}x{size}, {threads} threads"));
            let request = RenderRequest {
                view: Some(view),
                threads,
                ..RenderRequest::new(kernel.source.clone(), size, size)
            };
            let mut lua_secs = Vec::new();
            for _ in 0..args.runs {
                lua_secs.push(engine.render(&request, &cancel)?.timings.wall_secs);
                steps_done += 1;
                progress.update(started, steps_done, total_steps);
            }
            cells.push(cell("lua", &kernel.name, size, threads, lua_secs));
            if let (Some(twin), Some(native)) = (twin, &native) {
                let mut native_secs = Vec::new();
                for _ in 0..args.runs {
                    native_secs.push(native.render(twin, &view, (size, size), max_iter).1);
                    steps_done += 1;
                    progress.update(started, steps_done, total_steps);
                }
                cells.push(cell("native", &kernel.name, size, threads, native_secs));
            }
        }
    }
    progress.finish();

    let mut stdout = std::io::stdout().lock();
    let text = if args.json {
        serde_json::to_string(&BenchReport { runs: &cells })? + "\n"
    } else {
        table(&kernel.name, &sizes, &thread_counts, args.runs, &cells)
    };
    std::io::Write::write_all(&mut stdout, text.as_bytes())?;
    Ok(())
}

/// The markdown table: per size, the Lua row, the native row, their ratio and the Lua
/// speedup over one thread; then the article's figures.
fn table(
    kernel: &str,
    sizes: &[u32],
    thread_counts: &[usize],
    runs: u32,
    cells: &[BenchCell],
) -> String {
    let find = |engine: &str, size: u32, threads: usize| {
        cells
            .iter()
            .find(|cell| cell.engine == engine && cell.size == size && cell.threads == threads)
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kernel {kernel}: N×N images at its home view; seconds, best of {runs} runs (median)\n"
    );
    let header: Vec<String> = thread_counts
        .iter()
        .map(|threads| format!("{threads} thr"))
        .collect();
    let _ = writeln!(out, "| size | row | {} |", header.join(" | "));
    let _ = writeln!(out, "|---:|---|{}", "---:|".repeat(thread_counts.len()));
    for &size in sizes {
        let row = |label: &str, value: &dyn Fn(usize) -> Option<String>| {
            let values: Vec<String> = thread_counts
                .iter()
                .map(|&threads| value(threads).unwrap_or_else(|| "-".to_owned()))
                .collect();
            format!("| {size} | {label} | {} |\n", values.join(" | "))
        };
        out += &row("lua", &|threads| {
            find("lua", size, threads)
                .map(|cell| format!("{:.4} ({:.4})", cell.best_secs, cell.median_secs))
        });
        if find("native", size, thread_counts[0]).is_some() {
            out += &row("native", &|threads| {
                find("native", size, threads)
                    .map(|cell| format!("{:.4} ({:.4})", cell.best_secs, cell.median_secs))
            });
            out += &row("lua/native", &|threads| {
                let (lua, native) = (find("lua", size, threads)?, find("native", size, threads)?);
                Some(format!("{:.3}x", lua.best_secs / native.best_secs))
            });
        }
        if let Some(one_thread) = find("lua", size, 1) {
            out += &row("lua speedup", &|threads| {
                find("lua", size, threads)
                    .map(|cell| format!("{:.2}x", one_thread.best_secs / cell.best_secs))
            });
        }
    }
    let _ = writeln!(
        out,
        "\nThe article's lupa/LuaJIT figures (Core i7 laptop, Python 3.7, 2019), seconds:\n"
    );
    let article_header: Vec<String> = ARTICLE_THREADS
        .iter()
        .map(|threads| format!("{threads} thr"))
        .collect();
    let _ = writeln!(out, "| size | {} |", article_header.join(" | "));
    let _ = writeln!(out, "|---:|{}", "---:|".repeat(ARTICLE_THREADS.len()));
    for (size, secs) in ARTICLE_SIZES.iter().zip(ARTICLE_LUPA_SECS) {
        let values: Vec<String> = secs.iter().map(|secs| format!("{secs:.2}")).collect();
        let _ = writeln!(out, "| {size} | {} |", values.join(" | "));
    }
    out
}
