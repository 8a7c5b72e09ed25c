//! The timings panel: every run's wall and compile time, per-thread busy time and units
//! (load balance), pixels per second and the speedup over the last one-thread run of the
//! same size and kernel; a table of past runs; a chart of time against threads; the UI's
//! own frame time; and the seed article's benchmark, run in the background.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

use egui::Ui;
use egui_plot::{Plot, PlotPoints, Points};

use crate::engine::bench::{
    ARTICLE_SIZES, ARTICLE_THREADS, BenchCell, BenchEngine, article_secs, find_cell,
};
use crate::engine::{RenderError, RenderTimings};

/// Frames whose UI time is kept for the frame-time figures.
const FRAME_SAMPLES: usize = 240;
/// Past runs kept.
const MAX_RUNS: usize = 500;

/// One finished full render.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// A hash of the kernel source, to compare like with like.
    pub kernel_hash: u64,
    /// The kernel's name (shipped name or file name), for the table.
    pub kernel_name: String,
    /// Image size.
    pub size_px: (u32, u32),
    /// Threads used.
    pub threads: usize,
    /// The engine's timings.
    pub timings: RenderTimings,
    /// Speedup over the last one-thread run of the same size and kernel.
    pub speedup: Option<f64>,
}

impl RunRecord {
    /// Pixels per second of wall time.
    pub fn pixels_per_sec(&self) -> f64 {
        self.timings
            .pixels_per_sec(u64::from(self.size_px.0) * u64::from(self.size_px.1))
    }
}

/// A stable hash of a kernel's source.
pub fn kernel_hash(source: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut hasher);
    hasher.finish()
}

/// The benchmark's state.
#[derive(Debug, Clone, Default)]
pub enum BenchState {
    /// Not run yet.
    #[default]
    Idle,
    /// Running: steps done of total.
    Running { done: usize, total: usize },
    /// Finished.
    Done(Vec<BenchCell>),
    /// Failed or cancelled.
    Failed(RenderError),
}

/// Everything the timings panel shows.
#[derive(Default)]
pub struct Timings {
    /// Past runs, oldest first.
    pub runs: Vec<RunRecord>,
    frame_secs: VecDeque<f64>,
    /// The benchmark.
    pub bench: BenchState,
}

/// What the user asked for in the timings panel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TimingsResponse {
    /// Start the benchmark.
    pub start_benchmark: bool,
    /// Cancel it.
    pub cancel_benchmark: bool,
}

impl Timings {
    /// Records a finished run, working out its speedup over one thread.
    pub fn record(
        &mut self,
        kernel_hash: u64,
        kernel_name: &str,
        size_px: (u32, u32),
        timings: RenderTimings,
    ) {
        let threads = timings.threads.len();
        let one_thread = self.runs.iter().rev().find(|run| {
            run.kernel_hash == kernel_hash && run.size_px == size_px && run.threads == 1
        });
        let speedup = one_thread.map(|run| run.timings.wall_secs / timings.wall_secs.max(1e-9));
        self.runs.push(RunRecord {
            kernel_hash,
            kernel_name: kernel_name.to_owned(),
            size_px,
            threads,
            timings,
            speedup,
        });
        if self.runs.len() > MAX_RUNS {
            self.runs.remove(0);
        }
    }

    /// Records how long one UI frame took to build.
    pub fn record_frame(&mut self, secs: f64) {
        self.frame_secs.push_back(secs);
        if self.frame_secs.len() > FRAME_SAMPLES {
            self.frame_secs.pop_front();
        }
    }

    /// The latest frame time and the worst of the recent ones, in seconds.
    pub fn frame_secs(&self) -> (f64, f64) {
        let last = self.frame_secs.back().copied().unwrap_or(0.0);
        let worst = self.frame_secs.iter().copied().fold(0.0, f64::max);
        (last, worst)
    }

    /// Shows the panel.
    pub fn ui(&self, ui: &mut Ui, background_busy: bool) -> TimingsResponse {
        let mut response = TimingsResponse::default();
        let (last_frame, worst_frame) = self.frame_secs();
        ui.label(format!(
            "UI frame: {:.1} ms (worst of last {}: {:.1} ms)",
            last_frame * 1e3,
            self.frame_secs.len(),
            worst_frame * 1e3
        ));

        match self.runs.last() {
            None => {
                ui.label("No run yet.");
            }
            Some(run) => last_run_ui(ui, run),
        }

        egui::CollapsingHeader::new("Past runs")
            .default_open(false)
            .show(ui, |ui| runs_table_ui(ui, &self.runs));
        egui::CollapsingHeader::new("Time against threads")
            .default_open(true)
            .show(ui, |ui| self.plot_ui(ui));
        egui::CollapsingHeader::new("Benchmark (the seed article's table)")
            .default_open(matches!(self.bench, BenchState::Running { .. } | BenchState::Done(_)))
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    response.start_benchmark = ui
                        .add_enabled(!background_busy, egui::Button::new("Run benchmark"))
                        .on_hover_text("The seed kernel at 320, 640 and 1280 px with 1 to 16 threads, 3 runs each")
                        .clicked();
                    if matches!(self.bench, BenchState::Running { .. }) {
                        response.cancel_benchmark = ui.button("Cancel benchmark").clicked();
                    }
                });
                bench_ui(ui, &self.bench);
            });
        response
    }

    fn plot_ui(&self, ui: &mut Ui) {
        let Some(last) = self.runs.last() else {
            ui.label("Runs of the current kernel and size appear here.");
            return;
        };
        let points: Vec<[f64; 2]> = self
            .runs
            .iter()
            .filter(|run| run.kernel_hash == last.kernel_hash && run.size_px == last.size_px)
            .map(|run| [run.threads as f64, run.timings.wall_secs * 1e3])
            .collect();
        ui.label(format!(
            "{}×{} px, ms per render",
            last.size_px.0, last.size_px.1
        ));
        Plot::new("time-against-threads")
            .height(140.0)
            .x_axis_label("threads")
            .y_axis_label("ms")
            .include_y(0.0)
            .include_x(0.0)
            .allow_scroll(false)
            .show(ui, |plot_ui| {
                plot_ui.points(Points::new("runs", PlotPoints::from(points)).radius(3.0));
            });
    }
}

fn last_run_ui(ui: &mut Ui, run: &RunRecord) {
    let timings = &run.timings;
    egui::Grid::new("last-run").num_columns(2).show(ui, |ui| {
        ui.label("Last run");
        ui.label(format!(
            "{} at {}×{}",
            run.kernel_name, run.size_px.0, run.size_px.1
        ));
        ui.end_row();
        ui.label("Wall time");
        ui.label(format!("{:.1} ms", timings.wall_secs * 1e3));
        ui.end_row();
        ui.label("Compile");
        ui.label(format!("{:.2} ms", timings.compile_secs * 1e3));
        ui.end_row();
        ui.label("Pixels per second");
        ui.label(format!("{:.2} M", run.pixels_per_sec() / 1e6));
        ui.end_row();
        let pixels = u64::from(run.size_px.0) * u64::from(run.size_px.1);
        let share = |count: u64| {
            format!(
                "{:.1}% of pixels",
                count as f64 * 100.0 / pixels.max(1) as f64
            )
        };
        // Short labels: a long one would widen the side panel, and the image with it.
        if timings.kept_pixels > 0 {
            ui.label("Kept (a pan)");
            ui.label(share(timings.kept_pixels));
            ui.end_row();
        }
        if timings.mirrored_pixels > 0 {
            ui.label("Mirrored");
            ui.label(share(timings.mirrored_pixels));
            ui.end_row();
        }
        ui.label("Threads used");
        ui.label(run.threads.to_string());
        ui.end_row();
        ui.label("Speedup over 1 thread");
        ui.label(match run.speedup {
            Some(speedup) => format!("{speedup:.2}×"),
            None => "- (needs a 1-thread run)".to_owned(),
        });
        ui.end_row();
    });
    ui.label("Busy time per thread (load balance):");
    for (index, thread) in timings.threads.iter().enumerate() {
        let fraction = (thread.busy_secs / timings.wall_secs.max(1e-9)) as f32;
        ui.add(
            egui::ProgressBar::new(fraction.clamp(0.0, 1.0))
                .desired_height(12.0)
                .text(format!(
                    "#{index}: {:.1} ms, {} units",
                    thread.busy_secs * 1e3,
                    thread.units
                )),
        );
    }
}

fn runs_table_ui(ui: &mut Ui, runs: &[RunRecord]) {
    egui::ScrollArea::vertical()
        .max_height(180.0)
        .show(ui, |ui| {
            egui::Grid::new("past-runs").striped(true).show(ui, |ui| {
                for heading in [
                    "kernel",
                    "size",
                    "thr",
                    "wall ms",
                    "compile ms",
                    "Mpx/s",
                    "speedup",
                ] {
                    ui.strong(heading);
                }
                ui.end_row();
                for run in runs.iter().rev() {
                    ui.label(&run.kernel_name);
                    ui.label(format!("{}×{}", run.size_px.0, run.size_px.1));
                    ui.label(run.threads.to_string());
                    ui.label(format!("{:.1}", run.timings.wall_secs * 1e3));
                    ui.label(format!("{:.2}", run.timings.compile_secs * 1e3));
                    ui.label(format!("{:.2}", run.pixels_per_sec() / 1e6));
                    ui.label(
                        run.speedup
                            .map_or("-".to_owned(), |speedup| format!("{speedup:.2}×")),
                    );
                    ui.end_row();
                }
            });
        });
}

fn bench_ui(ui: &mut Ui, bench: &BenchState) {
    match bench {
        BenchState::Idle => {}
        BenchState::Running { done, total } => {
            ui.add(
                egui::ProgressBar::new(*done as f32 / (*total).max(1) as f32)
                    .text(format!("{done} of {total} renders")),
            );
        }
        BenchState::Failed(error) => {
            ui.colored_label(ui.visuals().error_fg_color, error.to_string());
        }
        BenchState::Done(cells) => {
            ui.label("Seconds, best of 3 (moonbrot Lua / native Rust / the article's lupa):");
            egui::Grid::new("bench-results")
                .striped(true)
                .show(ui, |ui| {
                    ui.strong("size");
                    for threads in ARTICLE_THREADS {
                        ui.strong(format!("{threads} thr"));
                    }
                    ui.end_row();
                    for size in ARTICLE_SIZES {
                        ui.label(size.to_string());
                        for threads in ARTICLE_THREADS {
                            let lua = find_cell(cells, BenchEngine::Lua, size, threads)
                                .map(|cell| cell.best_secs);
                            let native = find_cell(cells, BenchEngine::Native, size, threads)
                                .map(|cell| cell.best_secs);
                            let article = article_secs(size, threads);
                            let show = |secs: Option<f64>| {
                                secs.map_or("-".to_owned(), |secs| format!("{secs:.3}"))
                            };
                            ui.label(format!(
                                "{} / {} / {}",
                                show(lua),
                                show(native),
                                show(article)
                            ));
                        }
                        ui.end_row();
                    }
                });
        }
    }
}
