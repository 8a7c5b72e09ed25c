//! The window's background threads, both `JobThread`s (one job at a time, a newer job
//! cancels the one in flight). `RenderThread` renders what the user explores (a coarse
//! preview pass, then the full image, rows sent back as they complete). `BackgroundThread`
//! runs exports and the benchmark on an engine of its own, so exploring never cancels
//! them. `ColouringThread` runs Lua colourings over the image on screen. All wake the UI with `request_repaint` when they have something; the UI polls
//! their channels each frame.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::engine::bench::{BenchCell, BenchPlan, run_bench};
use crate::engine::kernel::resolve;
use crate::engine::output::{
    Colouring, ColouringError, ColouringOptions, DEFAULT_BAND_BYTES, Document, Film, Palette,
    PosterError, PosterFormat, PosterJob, PosterProgress, colour_image, read_document, render_film,
    render_poster,
};
use crate::engine::{
    CancelToken, DocumentError, Engine, EngineOptions, ExportError, KernelLog, OutputMode,
    PRINT_LINES_PER_RUN, RenderError, RenderOutput, RenderProgress, RenderRequest, ValueImage,
    View,
};

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
    /// The full pass's reference orbit (perturbation) has this many iterations of at most
    /// `max_iter`.
    Reference {
        generation: u64,
        iterations_done: u32,
        max_iter: u32,
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

/// Sends a thread's events to the UI and wakes it.
pub struct EventSender<E> {
    events: Sender<Message<E>>,
    waker: Waker,
}

impl<E> Clone for EventSender<E> {
    fn clone(&self) -> Self {
        Self {
            events: self.events.clone(),
            waker: self.waker.clone(),
        }
    }
}

impl<E> EventSender<E> {
    /// Sends `event` and wakes the UI (a closed window is not an error here).
    pub fn send(&self, event: E) {
        let _ = self.events.send(Message::Event(event));
        self.waker.wake();
    }
}

enum Message<E> {
    Event(E),
    /// The job with this id is over.
    Finished(u64),
}

/// A named thread that runs jobs one at a time, each with its own cancel token, and sends
/// events back to the UI. A new job cancels the one in flight; jobs that queued up behind a
/// newer one are skipped. Dropping it cancels the job in flight and joins the thread.
struct JobThread<J, E> {
    jobs: Option<Sender<(u64, J, CancelToken)>>,
    events: Receiver<Message<E>>,
    /// The id of the last job submitted.
    last_id: u64,
    /// The cancel token of the last job, until it is reported finished.
    in_flight: Option<CancelToken>,
    thread: Option<JoinHandle<()>>,
}

impl<J: Send + 'static, E: Send + 'static> JobThread<J, E> {
    /// Starts the thread. `make_runner` is called here with the thread's event sender and
    /// returns what runs each job on the thread.
    fn spawn<R>(
        name: &str,
        waker: Waker,
        make_runner: impl FnOnce(EventSender<E>) -> R,
    ) -> std::io::Result<Self>
    where
        R: FnMut(u64, J, &CancelToken) + Send + 'static,
    {
        let (jobs, job_receiver) = mpsc::channel::<(u64, J, CancelToken)>();
        let (event_sender, events) = mpsc::channel();
        let finished = EventSender {
            events: event_sender,
            waker,
        };
        let mut run = make_runner(finished.clone());
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(mut job) = job_receiver.recv() {
                    // Only the newest job matters: the older ones were cancelled.
                    while let Ok(newer) = job_receiver.try_recv() {
                        job = newer;
                    }
                    let (id, job, cancel) = job;
                    run(id, job, &cancel);
                    let _ = finished.events.send(Message::Finished(id));
                    finished.waker.wake();
                }
            })?;
        Ok(Self {
            jobs: Some(jobs),
            events,
            last_id: 0,
            in_flight: None,
            thread: Some(thread),
        })
    }

    /// Cancels the job in flight, if any, and starts `job`. Returns its id.
    fn submit(&mut self, job: J) -> u64 {
        self.cancel();
        self.last_id += 1;
        let cancel = CancelToken::new();
        self.in_flight = Some(cancel.clone());
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send((self.last_id, job, cancel));
        }
        self.last_id
    }

    fn cancel(&mut self) {
        if let Some(cancel) = &self.in_flight {
            cancel.cancel();
        }
    }

    /// True from `submit` until the thread reports that job finished.
    fn is_busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Everything reported since the last call.
    fn poll(&mut self) -> Vec<E> {
        let mut events = Vec::new();
        for message in self.events.try_iter() {
            match message {
                Message::Event(event) => events.push(event),
                Message::Finished(id) if id == self.last_id => self.in_flight = None,
                Message::Finished(_) => {}
            }
        }
        events
    }
}

impl<J, E> Drop for JobThread<J, E> {
    fn drop(&mut self) {
        if let Some(cancel) = self.in_flight.take() {
            cancel.cancel();
        }
        self.jobs = None; // closes the channel: the thread ends after its job
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread that renders what the user explores.
pub struct RenderThread {
    thread: JobThread<Vec<(Pass, RenderRequest)>, RenderEvent>,
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
        let thread = JobThread::spawn(
            "moonbrot-gui-render",
            waker,
            |events: EventSender<RenderEvent>| {
                let log_events = events.clone();
                let engine = Engine::new(EngineOptions {
                    log: Arc::new(KernelLog::new(PRINT_LINES_PER_RUN, move |line| {
                        log_events.send(RenderEvent::Log(line.to_owned()));
                    })),
                    ..EngineOptions::default()
                });
                // The last full render, whose pixels a pan keeps.
                let mut last_full = None;
                move |generation, passes: Vec<(Pass, RenderRequest)>, cancel: &CancelToken| {
                    run_explore_job(
                        &engine,
                        generation,
                        &passes,
                        cancel,
                        &events,
                        &mut last_full,
                    );
                }
            },
        )?;
        Ok(Self { thread })
    }

    /// Cancels the request in flight, if any, and starts rendering `passes` in order.
    /// Returns the new request's generation.
    pub fn submit(&mut self, passes: Vec<(Pass, RenderRequest)>) -> u64 {
        self.thread.submit(passes)
    }

    /// Everything reported since the last call.
    pub fn poll(&mut self) -> Vec<RenderEvent> {
        self.thread.poll()
    }

    /// Stops the request in flight, if any (a stop is not reported).
    pub fn cancel(&mut self) {
        self.thread.cancel();
    }
}

/// Renders the passes of one request in order. The full pass keeps what it can of
/// `last_full` (a pan computes only the uncovered strips), and then there is no preview:
/// keeping pixels is faster than a preview.
fn run_explore_job(
    engine: &Engine,
    generation: u64,
    passes: &[(Pass, RenderRequest)],
    cancel: &CancelToken,
    events: &EventSender<RenderEvent>,
    last_full: &mut Option<Arc<RenderOutput>>,
) {
    let keeps_pixels = passes.iter().any(|(pass, request)| {
        *pass == Pass::Full
            && last_full
                .as_ref()
                .is_some_and(|last| last.may_keep_pixels_for(request))
    });
    for (pass, request) in passes {
        if *pass == Pass::Preview && keeps_pixels {
            continue;
        }
        let result = if *pass == Pass::Full {
            let request = RenderRequest {
                previous: last_full.clone(),
                ..request.clone()
            };
            engine.render_with_progress(&request, cancel, &mut |progress| match progress {
                RenderProgress::Reference {
                    iterations_done,
                    max_iter,
                } => events.send(RenderEvent::Reference {
                    generation,
                    iterations_done: *iterations_done,
                    max_iter: *max_iter,
                }),
                // Whole rows only: the strips of a pan arrive with the finished image.
                RenderProgress::Unit(unit)
                    if unit.first_column == 0 && unit.column_count == request.width_px =>
                {
                    events.send(RenderEvent::Rows {
                        generation,
                        first_row: unit.first_row,
                        row_count: unit.row_count,
                        output: unit.output,
                        values: unit.values.to_vec(),
                    });
                }
                RenderProgress::Unit(_) => {}
            })
        } else {
            engine.render(request, cancel)
        };
        match result {
            Ok(output) => {
                if *pass == Pass::Full {
                    *last_full = Some(Arc::new(output.clone()));
                }
                events.send(RenderEvent::PassDone {
                    generation,
                    pass: *pass,
                    output: Box::new(output),
                });
            }
            Err(RenderError::Cancelled) => return,
            Err(error) => {
                events.send(RenderEvent::Failed { generation, error });
                return;
            }
        }
    }
}

/// A PNG export to run in the background.
pub struct ExportJob {
    /// What to render (at the export resolution).
    pub request: RenderRequest,
    /// How to colour it.
    pub palette: Palette,
    /// How values become colours.
    pub colouring: Colouring,
    /// Where to write it.
    pub path: PathBuf,
    /// Samples per pixel along each side (1: none).
    pub supersample: u32,
}

/// Why an export did not write its file.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailure {
    /// The render failed or was cancelled.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The PNG could not be written.
    #[error(transparent)]
    Write(#[from] ExportError),
    /// The poster pipeline refused or failed.
    #[error(transparent)]
    Poster(PosterError),
}

impl From<PosterError> for ExportFailure {
    fn from(error: PosterError) -> Self {
        match error {
            PosterError::Render(error) => Self::Render(error),
            PosterError::Write(error) => Self::Write(error),
            other => Self::Poster(other),
        }
    }
}

/// What the background thread reports.
pub enum BackgroundEvent {
    /// Units or benchmark steps done, of a total.
    Progress { done: usize, total: usize },
    /// An export's reference orbit (perturbation) has this many iterations of at most
    /// `max_iter`.
    Reference { iterations_done: u32, max_iter: u32 },
    /// The export finished: the path written, or why not.
    Exported(Result<PathBuf, ExportFailure>),
    /// The benchmark finished.
    Benchmarked(Result<Vec<BenchCell>, RenderError>),
}

enum BackgroundJob {
    Export(Box<ExportJob>),
    Film(Box<FilmJob>),
    Benchmark(BenchPlan),
}

/// A zoom film to record in the background: `frames` documents from `start` to `end`.
pub struct FilmJob {
    /// Everything but the view (size, kernel, parameters, threads...).
    pub request: RenderRequest,
    /// How to colour it.
    pub palette: Palette,
    /// How values become colours.
    pub colouring: Colouring,
    /// Samples per pixel along each side.
    pub supersample: u32,
    /// The first frame's view.
    pub start: View,
    /// The last frame's view.
    pub end: View,
    /// How many frames.
    pub frames: u32,
    /// Where the frames go (frame-00000.png...).
    pub folder: PathBuf,
}

/// The thread for long jobs the user starts and may cancel: exports and the benchmark,
/// on an engine of its own, so exploring never cancels them.
pub struct BackgroundThread {
    thread: JobThread<BackgroundJob, BackgroundEvent>,
}

impl BackgroundThread {
    /// Starts the thread with its own engine.
    pub fn spawn(waker: Waker) -> std::io::Result<Self> {
        let thread = JobThread::spawn(
            "moonbrot-gui-background",
            waker,
            |events: EventSender<BackgroundEvent>| {
                let engine = Engine::default();
                move |_id, job: BackgroundJob, cancel: &CancelToken| {
                    let event =
                        match job {
                            BackgroundJob::Export(export) => BackgroundEvent::Exported(run_export(
                                &engine, &export, cancel, &events,
                            )),
                            BackgroundJob::Film(film) => {
                                BackgroundEvent::Exported(run_film(&engine, &film, cancel, &events))
                            }
                            BackgroundJob::Benchmark(plan) => BackgroundEvent::Benchmarked(
                                run_bench(&engine, &plan, cancel, &mut |done, total| {
                                    events.send(BackgroundEvent::Progress { done, total });
                                }),
                            ),
                        };
                    events.send(event);
                }
            },
        )?;
        Ok(Self { thread })
    }

    /// True while a job runs.
    pub fn is_busy(&self) -> bool {
        self.thread.is_busy()
    }

    /// Starts an export.
    pub fn export(&mut self, job: ExportJob) {
        self.thread.submit(BackgroundJob::Export(Box::new(job)));
    }

    /// Starts recording a zoom film.
    pub fn film(&mut self, job: FilmJob) {
        self.thread.submit(BackgroundJob::Film(Box::new(job)));
    }

    /// Starts the benchmark.
    pub fn benchmark(&mut self, plan: BenchPlan) {
        self.thread.submit(BackgroundJob::Benchmark(plan));
    }

    /// Cancels the job in flight.
    pub fn cancel(&mut self) {
        self.thread.cancel();
    }

    /// Everything reported since the last call; a finished job clears `is_busy`.
    pub fn poll(&mut self) -> Vec<BackgroundEvent> {
        self.thread.poll()
    }
}

/// A document read from a file and checked, ready to replace the editor's: the PNG's kernel
/// compiled (in the sandbox, its top level limited in time) and its parameter values fit.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedDocument {
    /// The file.
    pub path: PathBuf,
    /// What it stores.
    pub stored: Document,
}

/// Why a file could not be opened as a document; the editor keeps its text.
#[derive(Debug, thiserror::Error)]
pub enum OpenFailure {
    /// Not a readable moonbrot PNG.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// Its kernel does not compile, or its stored values do not fit the kernel.
    #[error("the kernel in {}: {error}", path.display())]
    Kernel {
        /// The file.
        path: PathBuf,
        /// Why.
        error: RenderError,
    },
}

/// The longest a PNG's kernel may take to compile when it is opened.
const OPEN_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The thread that reads and checks PNG documents before they are opened, on an engine of
/// its own (reading and compiling never stall the UI, and never cancel a render or an
/// export).
pub struct OpeningThread {
    thread: JobThread<PathBuf, Result<OpenedDocument, OpenFailure>>,
}

impl OpeningThread {
    /// Starts the thread.
    pub fn spawn(waker: Waker) -> std::io::Result<Self> {
        let thread = JobThread::spawn(
            "moonbrot-gui-open",
            waker,
            |events: EventSender<Result<OpenedDocument, OpenFailure>>| {
                let engine = Engine::default();
                move |_id, path: PathBuf, cancel: &CancelToken| {
                    events.send(check_document(&engine, path, cancel));
                }
            },
        )?;
        Ok(Self { thread })
    }

    /// Reads and checks `path` (a newer request cancels an older one).
    pub fn open(&mut self, path: PathBuf) {
        self.thread.submit(path);
    }

    /// True while a file is being read.
    pub fn is_busy(&self) -> bool {
        self.thread.is_busy()
    }

    /// The documents read since the last call.
    pub fn poll(&mut self) -> Vec<Result<OpenedDocument, OpenFailure>> {
        self.thread.poll()
    }
}

fn check_document(
    engine: &Engine,
    path: PathBuf,
    cancel: &CancelToken,
) -> Result<OpenedDocument, OpenFailure> {
    let stored = read_document(&path)?;
    let source: Arc<str> = Arc::from(stored.kernel_source.as_str());
    let checked = engine
        .inspect_within(&source, cancel, Some(OPEN_CHECK_TIMEOUT))
        .and_then(|info| {
            resolve(&info.parameters, &stored.parameter_values()).map_err(RenderError::from)
        });
    match checked {
        Ok(_) => Ok(OpenedDocument { path, stored }),
        Err(error) => Err(OpenFailure::Kernel { path, error }),
    }
}

/// Renders the film's frames one after the other; progress counts frames.
fn run_film(
    engine: &Engine,
    job: &FilmJob,
    cancel: &CancelToken,
    events: &EventSender<BackgroundEvent>,
) -> Result<PathBuf, ExportFailure> {
    let film = Film {
        poster: PosterJob {
            request: job.request.clone(),
            palette: job.palette.clone(),
            colouring: job.colouring.clone(),
            supersample: job.supersample,
            rows: None,
            band_bytes: DEFAULT_BAND_BYTES,
            format: PosterFormat::Png,
        },
        start: job.start.clone(),
        end: job.end.clone(),
        frames: job.frames,
        shard: None,
    };
    render_film(engine, &film, &job.folder, cancel, &mut |frame| {
        events.send(BackgroundEvent::Progress {
            done: frame.done as usize,
            total: frame.total as usize,
        });
    })?;
    Ok(job.folder.clone())
}

fn run_export(
    engine: &Engine,
    job: &ExportJob,
    cancel: &CancelToken,
    events: &EventSender<BackgroundEvent>,
) -> Result<PathBuf, ExportFailure> {
    // Band by band, like the CLI: any size fits in bounded memory.
    let poster = PosterJob {
        request: job.request.clone(),
        palette: job.palette.clone(),
        colouring: job.colouring.clone(),
        supersample: job.supersample,
        rows: None,
        band_bytes: DEFAULT_BAND_BYTES,
        format: PosterFormat::Png,
    };
    render_poster(engine, &poster, &job.path, cancel, &mut |progress| {
        events.send(match progress {
            PosterProgress::Reference {
                iterations_done,
                max_iter,
            } => BackgroundEvent::Reference {
                iterations_done,
                max_iter,
            },
            PosterProgress::Rows { written, total } => BackgroundEvent::Progress {
                done: written as usize,
                total: total as usize,
            },
        });
    })?;
    Ok(job.path.clone())
}

/// A recolouring with a Lua colouring: the values of the image on screen and what to
/// colour them with.
pub struct ColouringJob {
    /// The values.
    pub image: Arc<ValueImage>,
    /// The palette (inside colour, `gradient(t)`).
    pub palette: Palette,
    /// The colouring.
    pub colouring: Colouring,
    /// Threads, one Lua state each.
    pub threads: usize,
}

/// A recolouring's outcome, for the job with this id.
pub struct ColouringDone {
    /// The job's id (only the newest job's outcome is shown).
    pub id: u64,
    /// The colours, or why not.
    pub result: Result<image::RgbImage, ColouringError>,
}

/// The longest a colouring may take in the window before it is stopped (an endless loop
/// in it is stopped then, with a message).
const COLOURING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The thread that runs Lua colourings over the image on screen, so the UI never waits
/// for one (a newer recolouring cancels the one in flight).
pub struct ColouringThread {
    thread: JobThread<ColouringJob, ColouringDone>,
}

impl ColouringThread {
    /// Starts the thread.
    pub fn spawn(waker: Waker) -> std::io::Result<Self> {
        let thread = JobThread::spawn(
            "moonbrot-gui-colour",
            waker,
            |events: EventSender<ColouringDone>| {
                move |id, job: ColouringJob, cancel: &CancelToken| {
                    let options = ColouringOptions {
                        threads: job.threads,
                        timeout: Some(COLOURING_TIMEOUT),
                        memory_limit_bytes: EngineOptions::default().memory_limit_bytes,
                    };
                    let result =
                        colour_image(&job.image, &job.palette, &job.colouring, &options, cancel);
                    events.send(ColouringDone { id, result });
                }
            },
        )?;
        Ok(Self { thread })
    }

    /// Colours `job` (cancelling the one in flight); returns its id.
    pub fn colour(&mut self, job: ColouringJob) -> u64 {
        self.thread.submit(job)
    }

    /// True while a colouring runs.
    pub fn is_busy(&self) -> bool {
        self.thread.is_busy()
    }

    /// The outcomes since the last call.
    pub fn poll(&mut self) -> Vec<ColouringDone> {
        self.thread.poll()
    }
}
