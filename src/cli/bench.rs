//! `moonbrot bench`: reproduces the seed article's timing table (N×N images of its
//! Mandelbrot workload, one column per thread count) with the Lua engine, the native Rust
//! reference beside it where the kernel has one, the Lua/native ratio, the speedup over one
//! thread, and the article's published figures for comparison. `--json` prints the raw cells.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use super::deep_locations::compare_with_peer;
use super::render::LateProgressBar;
use super::{CliError, choose_kernel, for_flag, parse_list, stderr_engine};
use crate::engine::bench::{
    ARTICLE_LUPA_SECS, ARTICLE_SIZES, ARTICLE_THREADS, BenchCell, BenchEngine, BenchPlan,
    DEEP_CASE_MAX_ITER, DeepRow, REFERENCE_ITERATIONS, ReferenceRow, SHORTCUT_SETTINGS,
    bench_runs_from, compare_guessing, compare_panning, compare_precisions, compare_views,
    find_cell, guessing_views, run_bench, standard_views, time_reference_orbits,
};
use crate::engine::kernel::shipped_kernel;
use crate::engine::render::{image_size_from, thread_count_from};
use crate::engine::{CancelToken, Engine, RenderError};

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Kernel: a Lua file or a shipped kernel's name. Default: seed (the article's workload).
    #[arg(long, value_name = "FILE|NAME")]
    kernel: Option<PathBuf>,
    /// Image sizes N (each image is N×N), comma-separated.
    #[arg(long, value_name = "N,N,..", default_value = "320,640,1280", value_parser = parse_list::<i64>)]
    sizes: std::vec::Vec<i64>,
    /// Thread counts, comma-separated. Default: 1,2,4,8,16; with --views, 1 and the
    /// machine's cores.
    #[arg(long, value_name = "T,T,..", value_parser = parse_list::<i64>)]
    threads: Option<std::vec::Vec<i64>>,
    /// Timed runs per cell; the table shows the best and the median.
    #[arg(
        long,
        value_name = "R",
        default_value_t = 5,
        allow_hyphen_values = true
    )]
    runs: i64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Measure solid guessing instead: four views (the Mandelbrot home, seahorse valley,
    /// filaments, a Julia set) at 1024x768 on the machine's cores, with and without
    /// guessing alternately, with the share of pixels that differ.
    #[arg(long, conflicts_with_all = ["pan", "views", "deep"])]
    guessing: bool,
    /// Measure panning instead: the same four views at 1280x720 moved 100 pixels to the
    /// side, rendered in full and keeping the pixels still in view, alternately.
    #[arg(long, conflicts_with_all = ["views", "deep"])]
    pan: bool,
    /// Measure the standard views instead: V1 home (-0.6,0 span 2.6, max_iter 500), V2
    /// filaments (-0.743643887,0.131825904 span 0.00012, max_iter 2000), V3 mostly inside
    /// (-0.1,0 span 0.5, max_iter 2000) and V4 a Julia set, at 1280x720, each with both
    /// shortcuts (guessing, symmetry: the defaults), each alone and none, alternately.
    #[arg(long, conflicts_with = "deep")]
    views: bool,
    /// Measure deep zoom's arithmetic instead: the Mandelbrot kernel in f64 (`pixel`), in
    /// double-double (`pixel_deep`) and by perturbation (its formula, reference orbit
    /// included) at the same view (-0.7436438870371587,0.13182590420531197 span 1e-9, where
    /// f64 is still exact), 640x360, every pixel computed, alternately: the nanoseconds one
    /// thread spends per iteration in each, and their ratio to f64; then the reference
    /// orbit's time per 100,000 iterations at spans 1e-30, 1e-100 and 1e-300.
    #[arg(long)]
    deep: bool,
    /// Compare with rust-fractal-core on its own five benchmark locations instead: PEER is
    /// a checkout of github.com/rust-fractal/rust-fractal-core built with `cargo build
    /// --release`; both render each location at 512x512 with its iteration count, as whole
    /// processes one after the other, --runs times (best kept).
    #[arg(long, value_name = "PEER", conflicts_with_all = ["guessing", "pan", "views", "deep"])]
    deep_locations: Option<PathBuf>,
}

/// The size the deep case renders at.
const DEEP_SIZE_PX: (u32, u32) = (640, 360);

/// `moonbrot bench --deep`: nanoseconds per iteration in f64, double-double and by
/// perturbation (or JSON).
fn run_deep(args: &BenchArgs, runs: u32) -> Result<(), CliError> {
    let threads = crate::engine::render::default_thread_count();
    let (rows, references) = with_progress(|engine, cancel, step| {
        let total = 3 * (1 + runs as usize) + REFERENCE_SPANS.len() * runs as usize;
        let mut done = 0;
        let rows = compare_precisions(
            engine,
            DEEP_SIZE_PX,
            (threads, runs),
            cancel,
            &mut |at, _| {
                done = at;
                step(done, total);
            },
        )?;
        let references = time_reference_orbits(
            engine,
            &REFERENCE_SPANS,
            DEEP_SIZE_PX.1,
            runs,
            cancel,
            &mut || {
                done += 1;
                step(done, total);
            },
        )?;
        Ok((rows, references))
    })?;
    let results = DeepResults {
        precisions: &rows,
        reference: &references,
    };
    print_results(args.json, "deep", &results, || {
        let f64_ns = rows.first().map_or(1.0, |row| row.ns_per_iteration);
        let mut out = format!(
            "deep zoom arithmetic: mandelbrot at -0.7436438870371587,0.13182590420531197 span \
             1e-9, {}x{} px, max_iter {DEEP_CASE_MAX_ITER}, {threads} threads, every pixel \
             computed, best of {runs} runs each, alternating\n\n\
             | precision | best (s) | median (s) | iterations | ns per iteration (one thread) | vs f64 | pixels that differ from f64 |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
            DEEP_SIZE_PX.0, DEEP_SIZE_PX.1
        );
        for row in &rows {
            let _ = writeln!(
                out,
                "| {} | {:.4} | {:.4} | {} | {:.2} | {:.2}x | {} |",
                row.precision,
                row.best_secs,
                row.median_secs,
                row.iterations,
                row.ns_per_iteration,
                row.ns_per_iteration / f64_ns.max(1e-12),
                row.differing_pixels
            );
        }
        let _ = write!(
            out,
            "\nreference orbit (one thread, arbitrary precision): mandelbrot from c = -0.3333 + 0.1i, \
             {REFERENCE_ITERATIONS} iterations, precision for a view {} px high, best of {runs}\n\n\
             | span | bits | best (s) | s per 100,000 iterations |\n\
             |---|---:|---:|---:|\n",
            DEEP_SIZE_PX.1
        );
        for row in &references {
            let _ = writeln!(
                out,
                "| {} | {} | {:.4} | {:.3} |",
                row.span, row.bits, row.best_secs, row.secs_per_100k
            );
        }
        out
    })
}

/// `moonbrot bench --deep-locations PEER`: the table of moonbrot against
/// rust-fractal-core (or JSON).
fn run_deep_locations(args: &BenchArgs, peer: &Path, runs: u32) -> Result<(), CliError> {
    let progress = LateProgressBar::new();
    let started = Instant::now();
    let rows = compare_with_peer(peer, runs, &mut |done, total| {
        progress.update(started, done, total);
    });
    progress.finish();
    let rows = rows?;
    print_results(args.json, "deep_locations", &rows, || {
        let seconds = |secs: Option<f64>| secs.map_or("-".to_owned(), |secs| format!("{secs:.2}"));
        let mut out = format!(
            "moonbrot against rust-fractal-core ({}) on its benchmark locations, 512x512, the \
             location's iterations, whole processes alternately, best of {runs}\n\n\
             | location | iterations | rust-fractal-core (s) | moonbrot (s) | moonbrot / peer |\n\
             |---|---:|---:|---:|---:|\n",
            peer.display()
        );
        for row in &rows {
            let ratio = match (row.moonbrot_secs, row.peer_secs) {
                (Some(ours), Some(theirs)) => format!("{:.2}x", ours / theirs.max(1e-9)),
                _ => "-".to_owned(),
            };
            let ours = match &row.moonbrot_refused {
                Some(why) if row.moonbrot_secs.is_none() => format!("refused: {why}"),
                _ => seconds(row.moonbrot_secs),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                row.location,
                row.iterations,
                seconds(row.peer_secs),
                ours,
                ratio
            );
        }
        out
    })
}

/// The spans whose reference orbits `bench --deep` times.
const REFERENCE_SPANS: [&str; 3] = ["1e-30", "1e-100", "1e-300"];

/// What `bench --deep --json` writes under "deep".
#[derive(serde::Serialize)]
struct DeepResults<'a> {
    /// Each precision's time per iteration.
    precisions: &'a [DeepRow],
    /// The reference orbit's time at each depth.
    reference: &'a [ReferenceRow],
}

/// The size the standard views are rendered at.
const VIEWS_SIZE_PX: (u32, u32) = (1280, 720);

/// `moonbrot bench --views`: per view and thread count, the time with each setting of the
/// shortcuts (or JSON).
fn run_views(args: &BenchArgs, thread_counts: &[usize], runs: u32) -> Result<(), CliError> {
    let rows = with_progress(|engine, cancel, step| {
        compare_views(
            engine,
            &standard_views(),
            VIEWS_SIZE_PX,
            (thread_counts, runs),
            cancel,
            step,
        )
    })?;
    print_results(args.json, "views", &rows, || {
        let mut out = format!(
            "standard views, {}x{} px, seconds, best of {runs} runs (Mpx/s), the four settings \
             alternating\n\n\
             | view | threads | defaults: guessing + symmetry | guessing only | symmetry only | \
             neither | share mirrored | pixels that differ from neither |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
            VIEWS_SIZE_PX.0, VIEWS_SIZE_PX.1
        );
        for group in rows.chunks(SHORTCUT_SETTINGS.len()) {
            let Some(first) = group.first() else {
                continue;
            };
            let cells: Vec<String> = group
                .iter()
                .map(|row| format!("{:.4} ({:.1})", row.best_secs, row.megapixels_per_sec))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1}% | {} |",
                first.view,
                first.threads,
                cells.join(" | "),
                first.mirrored_pixels as f64 * 100.0 / first.pixels.max(1) as f64,
                first.inexact_pixels
            );
        }
        out.push_str(
            "\nEach view at the iteration limit named; \"differ\": not bit-identical to the \
             render with both shortcuts off (symmetry is exact, guessing may change a few \
             pixels in a million).\n",
        );
        out
    })
}

/// The size and the move the pan comparison measures.
const PAN_SIZE_PX: (u32, u32) = (1280, 720);
const PAN_PX: (f64, f64) = (-100.0, 0.0);

/// `moonbrot bench --pan`: the comparison table (or JSON).
fn run_pan(args: &BenchArgs, runs: u32) -> Result<(), CliError> {
    let threads = crate::engine::render::default_thread_count();
    let rows = with_progress(|engine, cancel, step| {
        compare_panning(
            engine,
            &guessing_views(),
            PAN_SIZE_PX,
            PAN_PX,
            (threads, runs),
            cancel,
            step,
        )
    })?;
    print_results(args.json, "pan", &rows, || {
        let mut out = format!(
            "a pan of {} pixels at {}x{} px, {threads} threads, guessing on, best of {runs} runs \
             each, alternating\n\n\
             | view | full render (s) | keeping pixels (s) | share of the full time | pixels kept | pixels that differ |\n\
             |---|---:|---:|---:|---:|---:|\n",
            PAN_PX.0.abs(),
            PAN_SIZE_PX.0,
            PAN_SIZE_PX.1
        );
        for row in &rows {
            let _ = writeln!(
                out,
                "| {} | {:.4} | {:.4} | {:.1}% | {:.1}% | {} |",
                row.view,
                row.full_secs,
                row.kept_secs,
                row.kept_secs * 100.0 / row.full_secs.max(1e-9),
                row.kept_pixels as f64 * 100.0 / row.pixels.max(1) as f64,
                row.differing_pixels
            );
        }
        out
    })
}

/// The size the guessing comparison renders at.
const GUESSING_SIZE_PX: (u32, u32) = (1024, 768);

/// `moonbrot bench --guessing`: the comparison table (or JSON).
fn run_guessing(args: &BenchArgs, runs: u32) -> Result<(), CliError> {
    let threads = crate::engine::render::default_thread_count();
    let rows = with_progress(|engine, cancel, step| {
        compare_guessing(
            engine,
            &guessing_views(),
            GUESSING_SIZE_PX,
            threads,
            runs,
            cancel,
            step,
        )
    })?;
    print_results(args.json, "guessing", &rows, || {
        let mut out = format!(
            "solid guessing, {}x{} px, {threads} threads, best of {runs} runs each, alternating\n\n\
             | view | every pixel (s) | guessing (s) | speedup | pixels that differ | not bit-identical |\n\
             |---|---:|---:|---:|---:|---:|\n",
            GUESSING_SIZE_PX.0, GUESSING_SIZE_PX.1
        );
        for row in &rows {
            let _ = writeln!(
                out,
                "| {} | {:.4} | {:.4} | {:.2}x | {} of {} ({:.4}%) | {} |",
                row.view,
                row.full_secs,
                row.guessed_secs,
                row.full_secs / row.guessed_secs.max(1e-9),
                row.differing_pixels,
                row.pixels,
                row.differing_pixels as f64 * 100.0 / row.pixels.max(1) as f64,
                row.inexact_pixels
            );
        }
        out.push_str(
            "\n\"Differ\": inside in one render and not the other, or escape values more \
             than 0.1% apart.\n\"Not bit-identical\" also counts last-bit differences: \
             the same arithmetic in another compiled trace.\n",
        );
        out
    })
}

/// Runs a measurement on an engine of its own, with the progress bar that shows when it
/// takes a while.
fn with_progress<T>(
    work: impl FnOnce(&Engine, &CancelToken, &mut dyn FnMut(usize, usize)) -> Result<T, RenderError>,
) -> Result<T, CliError> {
    let engine = stderr_engine(crate::engine::render::DEFAULT_MEMORY_LIMIT_BYTES);
    let progress = LateProgressBar::new();
    let started = Instant::now();
    let result = work(&engine, &CancelToken::new(), &mut |done, total| {
        progress.update(started, done, total);
    });
    progress.finish();
    Ok(result?)
}

/// Prints a measurement's results: with --json one object `{ key: rows }`, else the table.
fn print_results(
    json: bool,
    key: &str,
    rows: &impl Serialize,
    table: impl FnOnce() -> String,
) -> Result<(), CliError> {
    let text = if json {
        let encoding_failed = |error: serde_json::Error| {
            CliError::Internal(format!("cannot encode the results: {error}"))
        };
        let mut object = serde_json::Map::new();
        object.insert(
            key.to_owned(),
            serde_json::to_value(rows).map_err(encoding_failed)?,
        );
        serde_json::to_string(&object).map_err(encoding_failed)? + "\n"
    } else {
        table()
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())
        .map_err(|error| CliError::Input(format!("cannot write the results: {error}")))
}

pub(crate) fn run(args: &BenchArgs) -> Result<(), CliError> {
    let seed = shipped_kernel("seed")
        .ok_or_else(|| CliError::Internal("the shipped seed kernel is missing".to_owned()))?;
    let kernel = choose_kernel(args.kernel.as_ref(), seed)?;
    let sizes = args
        .sizes
        .iter()
        .map(|&size| image_size_from(size, size).map(|(side, _)| side))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(for_flag("--sizes"))?;
    let default_threads = if args.views {
        let cores = crate::engine::render::default_thread_count() as i64;
        if cores > 1 { vec![1, cores] } else { vec![1] }
    } else {
        ARTICLE_THREADS
            .iter()
            .map(|&threads| threads as i64)
            .collect()
    };
    let thread_counts = args
        .threads
        .as_ref()
        .unwrap_or(&default_threads)
        .iter()
        .map(|&threads| thread_count_from(threads))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(for_flag("--threads"))?;
    let runs = bench_runs_from(args.runs).map_err(for_flag("--runs"))?;
    if args.views {
        return run_views(args, &thread_counts, runs);
    }
    if args.guessing {
        return run_guessing(args, runs);
    }
    if args.pan {
        return run_pan(args, runs);
    }
    if args.deep {
        return run_deep(args, runs);
    }
    if let Some(peer) = &args.deep_locations {
        return run_deep_locations(args, peer, runs);
    }
    let plan = BenchPlan {
        source: kernel.source.clone(),
        kernel_name: kernel.name.clone(),
        sizes: sizes.clone(),
        threads: thread_counts.clone(),
        runs,
    };
    let cells = with_progress(|engine, cancel, step| run_bench(engine, &plan, cancel, step))?;
    print_results(args.json, "runs", &cells, || {
        table(&kernel.name, &sizes, &thread_counts, runs, &cells)
    })
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
    let find =
        |engine: BenchEngine, size: u32, threads: usize| find_cell(cells, engine, size, threads);
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
            find(BenchEngine::Lua, size, threads)
                .map(|cell| format!("{:.4} ({:.4})", cell.best_secs, cell.median_secs))
        });
        if find(BenchEngine::Native, size, thread_counts[0]).is_some() {
            out += &row("native", &|threads| {
                find(BenchEngine::Native, size, threads)
                    .map(|cell| format!("{:.4} ({:.4})", cell.best_secs, cell.median_secs))
            });
            out += &row("lua/native", &|threads| {
                let (lua, native) = (
                    find(BenchEngine::Lua, size, threads)?,
                    find(BenchEngine::Native, size, threads)?,
                );
                Some(format!("{:.3}x", lua.best_secs / native.best_secs))
            });
        }
        if let Some(one_thread) = find(BenchEngine::Lua, size, 1) {
            out += &row("lua speedup", &|threads| {
                find(BenchEngine::Lua, size, threads)
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
