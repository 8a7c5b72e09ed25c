//! The window's background threads. `RenderThread` renders what the user explores (a
//! coarse preview pass, then the full image, rows sent back as they complete); a newer
//! request cancels the one in flight. `BackgroundThread` runs exports and the benchmark on
//! an engine of its own, so exploring never cancels them. Both wake the UI with
//! `request_repaint` when they have something; the UI polls their channels each frame.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::engine::bench::{BenchCell, BenchPlan, run_bench};
use crate::engine::export::{ExportMetadata, write_png};
use crate::engine::palette::Palette;
use crate::engine::{
    CancelToken, Engine, EngineOptions, KernelLog, OutputMode, RenderError, RenderOutput,
    RenderRequest,
};

/// Kernel `print` lines kept per render in the window's log.
const PRINT_LINES_PER_RUN: u32 = 200;

/// Which pass of an exploring render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// A small render of the same view, shown scaled up while the full one runs.
    Preview,
    /// The image at its full size.
    Full,
}

/// What the render thread reports, tagged with the request's generation.
pub enum RenderEvent {
    /// Rows of the full pass have been rendered.
    Rows {
        generation: u64,
        first_row: u32,
        row_count: u32,
        output: OutputMode,
        values: Vec<f32>,
    },
    /// A pass is complete.
    PassDone {
        generation: u64,
        pass: Pass,
        output: Box<RenderOutput>,
    },
    /// The request failed (a cancel is not reported).
    Failed { generation: u64, error: RenderError },
    /// A line the kernel printed.
    Log(String),
}

struct ExploreJob {
    generation: u64,
    passes: Vec<(Pass, RenderRequest)>,
    cancel: CancelToken,
}

/// The thread that renders what the user explores.
pub struct RenderThread {
    jobs: Option<Sender<ExploreJob>>,
    events: Receiver<RenderEvent>,
    in_flight: Option<CancelToken>,
    generation: u64,
    thread: Option<JoinHandle<()>>,
}

/// Wakes the UI (`request_repaint`) after a thread has sent it something.
#[derive(Clone)]
pub struct Waker(pub egui::Context);

impl Waker {
    fn wake(&self) {
        self.0.request_repaint();
    }
}

impl RenderThread {
    /// Starts the thread with its own engine.
    pub fn spawn(waker: Waker) -> std::io::Result<Self> {
        let (jobs, job_receiver) = mpsc::channel::<ExploreJob>();
        let (event_sender, events) = mpsc::channel();
        let log_sender = event_sender.clone();
        let log_waker = waker.clone();
        let engine = Engine::new(EngineOptions {
            log: Arc::new(KernelLog::new(PRINT_LINES_PER_RUN, move |line| {
                let _ = log_sender.send(RenderEvent::Log(line.to_owned()));
                log_waker.wake();
            })),
            ..EngineOptions::default()
        });
        let thread = std::thread::Builder::new()
            .name("moonbrot-gui-render".to_owned())
            .spawn(move || {
                while let Ok(mut job) = job_receiver.recv() {
                    // Only the newest request matters.
                    while let Ok(newer) = job_receiver.try_recv() {
                        job = newer;
                    }
                    run_explore_job(&engine, &job, &event_sender, &waker);
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            events,
            in_flight: None,
            generation: 0,
            thread: Some(thread),
        })
    }

    /// Cancels the request in flight, if any, and starts rendering `passes` in order.
    /// Returns the new request's generation.
    pub fn submit(&mut self, passes: Vec<(Pass, RenderRequest)>) -> u64 {
        self.cancel();
        self.generation += 1;
        let cancel = CancelToken::new();
        self.in_flight = Some(cancel.clone());
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(ExploreJob {
                generation: self.generation,
                passes,
                cancel,
            });
        }
        self.generation
    }

    /// Cancels the request in flight.
    pub fn cancel(&mut self) {
        if let Some(cancel) = self.in_flight.take() {
            cancel.cancel();
        }
    }

    /// Everything reported since the last call.
    pub fn poll(&self) -> Vec<RenderEvent> {
        self.events.try_iter().collect()
    }
}

impl Drop for RenderThread {
    fn drop(&mut self) {
        self.cancel();
        self.jobs = None; // closes the channel: the thread ends after its job
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_explore_job(engine: &Engine, job: &ExploreJob, events: &Sender<RenderEvent>, waker: &Waker) {
    let generation = job.generation;
    for (pass, request) in &job.passes {
        let result = if *pass == Pass::Full {
            engine.render_with_progress(request, &job.cancel, &mut |unit| {
                let _ = events.send(RenderEvent::Rows {
                    generation,
                    first_row: unit.first_row,
                    row_count: unit.row_count,
                    output: unit.output,
                    values: unit.values.to_vec(),
                });
                waker.wake();
            })
        } else {
            engine.render(request, &job.cancel)
        };
        match result {
            Ok(output) => {
                let _ = events.send(RenderEvent::PassDone {
                    generation,
                    pass: *pass,
                    output: Box::new(output),
                });
            }
            Err(RenderError::Cancelled) => return,
            Err(error) => {
                let _ = events.send(RenderEvent::Failed { generation, error });
                waker.wake();
                return;
            }
        }
        waker.wake();
    }
}

/// A PNG export to run in the background.
pub struct ExportJob {
    /// What to render (at the export resolution).
    pub request: RenderRequest,
    /// How to colour it.
    pub palette: Palette,
    /// Where to write it.
    pub path: PathBuf,
}

/// What the background thread reports.
pub enum BackgroundEvent {
    /// Units or benchmark steps done, of a total.
    Progress { done: usize, total: usize },
    /// The export finished: the path written, or why not.
    Exported(Result<PathBuf, String>),
    /// The benchmark finished.
    Benchmarked(Result<Vec<BenchCell>, String>),
}

enum BackgroundJob {
    Export(ExportJob, CancelToken),
    Benchmark(BenchPlan, CancelToken),
}

/// The thread for long jobs the user starts and may cancel: exports and the benchmark.
pub struct BackgroundThread {
    jobs: Option<Sender<BackgroundJob>>,
    events: Receiver<BackgroundEvent>,
    in_flight: Option<CancelToken>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundThread {
    /// Starts the thread with its own engine.
    pub fn spawn(waker: Waker) -> std::io::Result<Self> {
        let (jobs, job_receiver) = mpsc::channel::<BackgroundJob>();
        let (events, event_receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("moonbrot-gui-background".to_owned())
            .spawn(move || {
                let engine = Engine::default();
                while let Ok(job) = job_receiver.recv() {
                    let event = match job {
                        BackgroundJob::Export(export, cancel) => BackgroundEvent::Exported(
                            run_export(&engine, &export, &cancel, &events, &waker),
                        ),
                        BackgroundJob::Benchmark(plan, cancel) => {
                            let result = run_bench(&engine, &plan, &cancel, &mut |done, total| {
                                let _ = events.send(BackgroundEvent::Progress { done, total });
                                waker.wake();
                            });
                            BackgroundEvent::Benchmarked(result.map_err(|error| error.to_string()))
                        }
                    };
                    let _ = events.send(event);
                    waker.wake();
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            events: event_receiver,
            in_flight: None,
            thread: Some(thread),
        })
    }

    /// True while a job runs.
    pub fn is_busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Starts an export.
    pub fn export(&mut self, job: ExportJob) {
        let cancel = CancelToken::new();
        self.in_flight = Some(cancel.clone());
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(BackgroundJob::Export(job, cancel));
        }
    }

    /// Starts the benchmark.
    pub fn benchmark(&mut self, plan: BenchPlan) {
        let cancel = CancelToken::new();
        self.in_flight = Some(cancel.clone());
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(BackgroundJob::Benchmark(plan, cancel));
        }
    }

    /// Cancels the job in flight.
    pub fn cancel(&mut self) {
        if let Some(cancel) = &self.in_flight {
            cancel.cancel();
        }
    }

    /// Everything reported since the last call; a finished job clears `is_busy`.
    pub fn poll(&mut self) -> Vec<BackgroundEvent> {
        let events: Vec<BackgroundEvent> = self.events.try_iter().collect();
        if events.iter().any(|event| {
            matches!(
                event,
                BackgroundEvent::Exported(_) | BackgroundEvent::Benchmarked(_)
            )
        }) {
            self.in_flight = None;
        }
        events
    }
}

impl Drop for BackgroundThread {
    fn drop(&mut self) {
        self.cancel();
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_export(
    engine: &Engine,
    job: &ExportJob,
    cancel: &CancelToken,
    events: &Sender<BackgroundEvent>,
    waker: &Waker,
) -> Result<PathBuf, String> {
    let output = engine
        .render_with_progress(&job.request, cancel, &mut |unit| {
            let _ = events.send(BackgroundEvent::Progress {
                done: unit.units_done,
                total: unit.units_total,
            });
            waker.wake();
        })
        .map_err(|error| error.to_string())?;
    if cancel.is_cancelled() {
        return Err(RenderError::Cancelled.to_string());
    }
    let image = job.palette.colourize(&output.image);
    let metadata = ExportMetadata::new(
        &job.request.source,
        output.view,
        output.max_iter,
        job.palette,
    );
    write_png(&job.path, &image, &metadata).map_err(|error| error.to_string())?;
    Ok(job.path.clone())
}
