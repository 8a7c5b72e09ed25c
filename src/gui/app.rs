//! `MoonbrotApp`, the explorer window's state. Each frame it takes in what the background
//! threads and dialogs reported, lets the panels (`panels`) draw and queue the user's
//! commands, applies the queue in one place (`apply`), and asks the render scheduler what
//! to render. The kernel being edited is an `EditedKernel` inside the persisted settings;
//! the rest of its state is grouped in `parts`.

mod colouring;
mod files;
mod following;
mod inspect;
mod long_render;
mod panels;
mod parts;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use egui::Ui;

pub use parts::FileOutcome;
use parts::{
    DocumentOverrides, DocumentSettings, ExportState, Gestures, Layout, Notices, Opening,
    Rendering, Screenshot, Threads,
};

use super::canvas::{Canvas, Gesture, Layer, ProgressLayer, ViewChange};
use super::commands::{Command, CommandQueue};
use super::dialogs::{DialogPurpose, Dialogs, FileDialogs, NativeFileDialogs};
use super::edited_kernel::{EditedKernel, Origin};
use super::input_order::split_at_kind_change;
use super::recovery::{self, Autosave};
use super::scheduler::{Change, Decision, Passes, RenderScheduler};
use super::settings::{MAX_FILM_FRAMES, Settings};
use super::timings::{BenchState, Timings, kernel_hash};
use super::workers::{
    BackgroundEvent, BackgroundThread, ColouringThread, ExportFailure, ExportJob, FilmJob,
    OpenedDocument, OpeningThread, Pass, RenderEvent, RenderThread, Waker,
};
use crate::engine::bench::BenchPlan;
use crate::engine::kernel::ParameterValue;
use crate::engine::kernel::{read_kernel_file, shipped_kernel};
use crate::engine::output::MAX_SUPERSAMPLE;
use crate::engine::output::looks_like_png;
use crate::engine::sync::lock;
use crate::engine::{RenderRequest, View};

/// Every GPU takes textures this large; the real limit is read from egui each frame.
const MIN_TEXTURE_SIDE: u32 = 2048;
/// Height of the status bar, in points.
const STATUS_BAR_HEIGHT: f32 = 24.0;
/// Settings are saved at least this often (and on exit).
const AUTO_SAVE_INTERVAL: Duration = Duration::from_secs(5);
/// Kernel print lines kept in the log panel.
const MAX_LOG_LINES: usize = 500;
/// Screenshot mode gives up after this long without a finished render.
const SCREENSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where screenshot mode reports whether it saved its screenshot.
pub type ScreenshotOutcome = Arc<std::sync::Mutex<Option<Result<(), String>>>>;

/// Screenshot mode: save a screenshot of the window to `path` after the first full render,
/// then close, and put the result in `outcome`.
pub struct ScreenshotRequest {
    /// The PNG to write.
    pub path: PathBuf,
    /// Filled in when done.
    pub outcome: ScreenshotOutcome,
}

/// Opens a window of its own on a window folder (see `recovery`).
pub type ReopenWindow = Arc<dyn Fn(&Path) -> Result<(), String> + Send + Sync>;

/// How the app is started.
pub struct AppOptions {
    /// Where file dialogs come from (tests inject their own).
    pub file_dialogs: Arc<dyn FileDialogs>,
    /// Screenshot mode, if wanted.
    pub screenshot: Option<ScreenshotRequest>,
    /// Start from these settings instead of the saved ones.
    pub settings: Option<Settings>,
    /// The folder for the autosaved kernel, settings and the render marker (see
    /// `recovery`); None keeps nothing on disk (tests, screenshot mode).
    pub state_dir: Option<PathBuf>,
    /// Take up this window folder of the state folder (`moonbrot --recover-window`): the
    /// folder of a window that ended with unsaved text, reopened by the window that found it.
    pub recover_window: Option<PathBuf>,
    /// Opens another window on a window folder that holds unsaved text; None leaves such
    /// folders for the next start (tests).
    pub reopen_window: Option<ReopenWindow>,
    /// Start with automatic rendering paused (`moonbrot --safe-mode`).
    pub safe_mode: bool,
    /// Open this .lua file or moonbrot PNG at start (`moonbrot FILE`).
    pub open_file: Option<PathBuf>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            file_dialogs: Arc::new(NativeFileDialogs),
            screenshot: None,
            settings: None,
            state_dir: None,
            recover_window: None,
            reopen_window: None,
            safe_mode: false,
            open_file: None,
        }
    }
}

/// The explorer window.
pub struct MoonbrotApp {
    /// Everything persisted: the edited kernel, the view, every setting.
    settings: Settings,
    /// What the user asked for this frame, applied in `apply`.
    commands: CommandQueue,
    /// Whether, when and how much to render.
    scheduler: RenderScheduler,
    /// The threads work is handed to, and the dialogs.
    threads: Threads,
    /// The image on screen and the render in progress over it.
    canvas: Canvas,
    /// The timings panel's runs, frame times and benchmark.
    timings: Timings,
    /// The render wanted now, and what the last one said about its kernel.
    rendering: Rendering,
    /// Gestures in progress over the image.
    gestures: Gestures,
    /// What the window tells the user besides the image.
    notices: Notices,
    /// The layout measured each frame.
    layout: Layout,
    /// A kernel waiting to replace the editor's unsaved text, once the user confirms.
    pending_replace: Option<Opening>,
    /// The export and film window.
    export: ExportState,
    /// Screenshot mode, when on.
    screenshot: Option<Screenshot>,
    /// The settings the open document brought, and what they replaced.
    document_overrides: Option<DocumentOverrides>,
    /// Input held back for the next frame, so keys typed before a click in the same frame
    /// reach the editor they were typed into (`input_order`).
    held_input: Vec<egui::Event>,
}

impl MoonbrotApp {
    /// Creates the app for eframe: restores saved settings (defaults if there are none or
    /// they cannot be read) and starts the background threads.
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Result<Self, String> {
        let claimed = options
            .state_dir
            .as_deref()
            .map(|dir| {
                recovery::claim(dir, options.recover_window.as_deref()).map_err(|error| {
                    format!("cannot use the state folder {}: {error}", dir.display())
                })
            })
            .transpose()?;
        let (folder, restored, others) = match claimed {
            Some(claimed) => (Some(claimed.folder), claimed.restored, claimed.others),
            None => (None, recovery::Restored::default(), Vec::new()),
        };
        let settings = options
            .settings
            .or(restored.settings)
            .unwrap_or_else(|| restore_settings(cc.storage));
        let mut app = Self::with_settings(
            &cc.egui_ctx,
            settings,
            options.file_dialogs,
            options.screenshot,
        )?;
        app.notices.restore_problems = restored.problems;
        for other in others {
            let Some(reopen) = &options.reopen_window else {
                continue;
            };
            if let Err(error) = reopen(&other) {
                app.notices.restore_problems.push(format!(
                    "another window's unsaved kernel is kept in {}, but its window could not be \
                     opened ({error}): open its kernel.lua from there",
                    other.display()
                ));
            }
        }
        if restored.interrupted_render {
            app.scheduler.pause(
                "moonbrot was closed or stopped while this kernel was rendering, so it does \
                 not run until you ask"
                    .to_owned(),
            );
        } else if options.safe_mode {
            app.scheduler
                .pause("safe mode: kernels run only when you ask".to_owned());
        }
        if let Some(folder) = folder {
            let path = folder.path().to_owned();
            let ctx = cc.egui_ctx.clone();
            let autosave = Autosave::spawn(folder, Box::new(move || ctx.request_repaint()))
                .map_err(|error| format!("cannot start saving into {}: {error}", path.display()))?;
            app.threads.autosave = Some(autosave);
        }
        if let Some(path) = options.open_file {
            app.commands.push(Command::OpenKernelFile(path));
        }
        Ok(app)
    }

    fn with_settings(
        ctx: &egui::Context,
        settings: Settings,
        file_dialogs: Arc<dyn FileDialogs>,
        screenshot: Option<ScreenshotRequest>,
    ) -> Result<Self, String> {
        // A steady caret: a blinking one redraws the whole window twice a second while the
        // editor has the focus (a third of a core with software rendering), for nothing.
        ctx.all_styles_mut(|style| style.visuals.text_cursor.blink = false);
        let waker = Waker(ctx.clone());
        let render = RenderThread::spawn(waker.clone())
            .map_err(|error| format!("cannot start the render thread: {error}"))?;
        let background = BackgroundThread::spawn(waker.clone())
            .map_err(|error| format!("cannot start the background thread: {error}"))?;
        let opening = OpeningThread::spawn(waker.clone())
            .map_err(|error| format!("cannot start the opening thread: {error}"))?;
        let colouring = ColouringThread::spawn(waker)
            .map_err(|error| format!("cannot start the colouring thread: {error}"))?;
        let screenshot = screenshot.map(|request| Screenshot {
            path: request.path,
            started: Instant::now(),
            full_renders_seen: 0,
            frames_since_render: 0,
            requested: false,
            images: None,
            outcome: request.outcome,
        });
        Ok(Self {
            settings,
            commands: CommandQueue::default(),
            scheduler: RenderScheduler::new(),
            threads: Threads {
                render,
                background,
                opening,
                colouring,
                dialogs: Dialogs::new(file_dialogs),
                autosave: None,
                follower: None,
            },
            canvas: Canvas::default(),
            timings: Timings::default(),
            rendering: Rendering::default(),
            gestures: Gestures::default(),
            notices: Notices::default(),
            layout: Layout::default(),
            pending_replace: None,
            export: ExportState::default(),
            screenshot,
            held_input: Vec::new(),
            document_overrides: None,
        })
    }

    /// Applies one command. Panels queue commands; this is the one place they take effect.
    pub fn apply(&mut self, ctx: &egui::Context, command: Command) {
        let now = Instant::now();
        match command {
            Command::Run => self.scheduler.changed(Change::RunAsked, now),
            Command::KernelEdited => {
                let auto_run = self.settings.auto_run;
                self.scheduler.changed(Change::Typed { auto_run }, now);
            }
            Command::Navigate(change) => self.navigate(change, now),
            Command::ImageClicked { point, change } => match self.gestures.picking.take() {
                // Picking: the click sets the parameter instead of moving the view.
                Some(name) => {
                    let value = ParameterValue::Complex {
                        re: point.0.to_f64(),
                        im: point.1.to_f64(),
                    };
                    self.apply(ctx, Command::SetParameter(name, value));
                }
                None => {
                    if let Some(change) = change {
                        self.navigate(change, now);
                    }
                }
            },
            Command::WheelRested => self.gestures.wheel_from = None,
            Command::Home => self.go_to(self.rendering.kernel_home.clone(), now),
            Command::CopyLocation => {
                ctx.copy_text(self.view().location_text());
                self.notices.location = Some(Ok(
                    "Location copied: paste it over the image, or after `moonbrot render`"
                        .to_owned(),
                ));
            }
            Command::PasteLocation(text) => match View::parse_location(&text) {
                Ok(view) => {
                    self.notices.location = None;
                    self.go_to(view, now);
                }
                Err(error) => {
                    let why = match error {
                        crate::engine::RequestError::View(why) => why,
                        other => other.to_string(),
                    };
                    self.notices.location = Some(Err(format!("The pasted text is {why}")));
                }
            },
            Command::Back => {
                if let Some(view) = self.settings.history.back(self.view()) {
                    self.settings.view = Some(view);
                    self.scheduler.changed(Change::ViewMoved, now);
                }
            }
            Command::Forward => {
                if let Some(view) = self.settings.history.forward(self.view()) {
                    self.settings.view = Some(view);
                    self.scheduler.changed(Change::ViewMoved, now);
                }
            }
            Command::LoadShipped(name) => {
                if let Some(kernel) = shipped_kernel(name) {
                    let origin = Origin::Shipped(kernel.name.to_owned());
                    self.offer(Opening::kernel(kernel.source.to_owned(), origin), now);
                }
            }
            Command::OpenKernel => self
                .threads
                .dialogs
                .show(ctx, DialogPurpose::OpenKernel, None),
            Command::OpenKernelFile(path) if looks_like_png(&path) => {
                self.notices.file_outcome = Some(FileOutcome::Reading(path.clone()));
                self.threads.opening.open(path);
            }
            Command::OpenKernelFile(path) => match read_kernel_file(&path) {
                Ok(text) => {
                    self.notices.file_outcome = Some(FileOutcome::Opened(path.clone()));
                    self.settings.remember_file(&path);
                    self.offer(Opening::kernel(text, Origin::File(path)), now);
                }
                Err(error) => self.notices.file_outcome = Some(FileOutcome::Failed(error)),
            },
            Command::ConfirmReplace => {
                if let Some(opening) = self.pending_replace.take() {
                    self.use_opening(opening, now);
                }
            }
            Command::KeepText => self.pending_replace = None,
            Command::ReloadFromDisk => {
                if let Some(text) = self.notices.pending_reload.take() {
                    self.reload_from_disk(text, now);
                }
            }
            Command::KeepOwnEdits => self.notices.pending_reload = None,
            Command::SaveKernel => match self.settings.kernel.file_path().map(Path::to_path_buf) {
                Some(path) => self.save_kernel_to(&path),
                None => self.apply(ctx, Command::SaveKernelAs),
            },
            Command::SaveKernelAs => {
                let name = self.settings.kernel.name();
                let name = format!("{}.lua", name.trim_end_matches(".lua"));
                self.threads
                    .dialogs
                    .show(ctx, DialogPurpose::SaveKernel, Some(name));
            }
            Command::SaveKernelTo(path) => self.save_kernel_to(&path),
            Command::ToggleEditor => self.settings.show_editor = !self.settings.show_editor,
            Command::ToggleSettings => self.settings.show_settings = !self.settings.show_settings,
            Command::ShowExport => {
                self.export.open = true;
                self.export.outcome = None;
            }
            Command::HideExport => self.export.open = false,
            Command::SetExportScale(scale) => self.settings.export_scale = scale,
            Command::SetExportSupersample(samples) => {
                self.settings.export_supersample = samples.clamp(1, MAX_SUPERSAMPLE);
            }
            Command::MarkFilmEnd => self.settings.film_end = Some(self.view()),
            Command::SetFilmFrames(frames) => {
                self.settings.film_frames = frames.clamp(2, MAX_FILM_FRAMES);
            }
            Command::ChooseFilmFolder => {
                if self.settings.film_end.is_some() {
                    self.threads
                        .dialogs
                        .show(ctx, DialogPurpose::FilmFolder, None);
                }
            }
            Command::RecordFilmTo(folder) => self.start_film(folder),
            Command::ChooseExportFile => {
                let name = self.settings.kernel.name();
                let name = format!("{}.png", name.trim_end_matches(".lua"));
                self.threads
                    .dialogs
                    .show(ctx, DialogPurpose::ExportPng, Some(name));
            }
            Command::ExportTo(path) => self.start_export(path),
            Command::ShowEditorTab(_)
            | Command::ColouringEdited
            | Command::UseColouring(_)
            | Command::SetLineWidth(_)
            | Command::SetLightAngle(_) => {
                self.apply_colouring_command(ctx, command);
            }
            Command::OpenGradient => self.ask_for_gradient_file(ctx),
            Command::OpenGradientFile(path) => self.open_gradient_file(ctx, &path),
            Command::ExportGradient => self.ask_where_to_save_gradient(ctx),
            Command::ExportGradientTo(path) => self.save_gradient_to(&path),
            Command::CancelBackground => self.threads.background.cancel(),
            Command::RunBenchmark => {
                if let Some(seed) = shipped_kernel("seed") {
                    let plan = BenchPlan::article(Arc::from(seed.source), seed.name, 3);
                    self.timings.bench = BenchState::Running {
                        done: 0,
                        total: plan.step_count(),
                    };
                    self.threads.background.benchmark(plan);
                }
            }
            Command::Set(setting) => {
                let change = self.change_of_setting(&setting);
                let changed = self.settings.set(setting);
                self.scheduler.changed_if(changed, change, now);
            }
            Command::SetAutoRun(auto_run) => self.settings.auto_run = auto_run,
            Command::SetParameter(name, value) => {
                if self.settings.parameters.get(&name) != Some(&value) {
                    self.settings.parameters.insert(name, value);
                    self.scheduler.changed(Change::RenderSettings, now);
                }
            }
            Command::ResetParameters => {
                if !self.settings.parameters.is_empty() {
                    self.settings.parameters.clear();
                    self.scheduler.changed(Change::RenderSettings, now);
                }
            }
            Command::PickPoint(name) => self.gestures.picking = name,
            Command::StopRender => self.stop_render(),
            Command::Escape => {
                if self.gestures.picking.is_some() {
                    self.gestures.picking = None;
                } else {
                    self.stop_render();
                }
            }
            Command::DismissRestoreProblems => self.notices.restore_problems.clear(),
            Command::DocumentRead(opened) => {
                let OpenedDocument { path, stored } = *opened;
                self.notices.file_outcome = Some(FileOutcome::Opened(path.clone()));
                self.settings.remember_file(&path);
                let opening = Opening {
                    kernel: EditedKernel::new(stored.kernel_source, Origin::Png(path)),
                    view: Some(stored.view),
                    stored: Some((
                        stored.max_iter,
                        stored.palette,
                        stored.parameters.into_iter().collect(),
                        stored.guessing,
                        stored.colouring,
                    )),
                };
                self.offer(opening, now);
            }
            Command::ParametersRendered(rendered) => {
                // Keep only values the kernel still takes, as rendered.
                self.settings
                    .parameters
                    .retain(|name, _| rendered.iter().any(|(declared, _)| declared == name));
                for (name, value) in rendered {
                    if let Some(given) = self.settings.parameters.get_mut(&name) {
                        *given = value;
                    }
                }
            }
        }
    }

    fn go_to(&mut self, view: View, now: Instant) {
        if view != self.view() {
            self.settings.history.record(self.view());
        }
        self.settings.view = Some(view);
        self.scheduler.changed(Change::ViewMoved, now);
    }

    /// A view change from the canvas; the history keeps one entry per gesture.
    fn navigate(&mut self, change: ViewChange, now: Instant) {
        match change.gesture {
            Gesture::Dragging => {
                self.gestures.dragging_from.get_or_insert(self.view());
                self.settings.view = Some(change.view);
                self.scheduler.changed(Change::Dragging, now);
            }
            Gesture::DragEnded => {
                let from = self.gestures.dragging_from.take().unwrap_or(self.view());
                self.settings.history.record(from);
                self.settings.view = Some(change.view);
                self.scheduler.changed(Change::ViewMoved, now);
            }
            Gesture::Wheel => {
                if self.gestures.wheel_from.is_none() {
                    self.gestures.wheel_from = Some(self.view());
                    self.settings.history.record(self.view());
                }
                self.settings.view = Some(change.view);
                self.scheduler.changed(Change::Wheel, now);
            }
            Gesture::Discrete => self.go_to(change.view, now),
        }
    }

    /// Replaces the edited kernel with `opening`, or, over unsaved changes, asks first.
    fn offer(&mut self, opening: Opening, now: Instant) {
        let current = &self.settings.kernel;
        if current.is_dirty() && opening.kernel.text() != current.text() {
            self.pending_replace = Some(opening);
        } else {
            self.use_opening(opening, now);
        }
    }

    fn use_opening(&mut self, opening: Opening, now: Instant) {
        // "Opened FILE" is about the kernel it opened, not the next one.
        if let Some(FileOutcome::Opened(path)) = &self.notices.file_outcome
            && opening.kernel.source_path() != Some(path.as_path())
        {
            self.notices.file_outcome = None;
        }
        self.settings.kernel = opening.kernel;
        if self.settings.view.is_some() || opening.view.is_some() {
            self.settings.history.record(self.view());
        }
        // A different kernel starts at its own home view, a document at its stored one.
        self.settings.view = opening.view;
        self.gestures.picking = None;
        self.layout.editor_scroll_to_start = true;
        match opening.stored {
            Some((max_iter, palette, parameters, guessing, colouring)) => {
                // What the user had before the first of a run of documents.
                let replaced = match self.document_overrides.take() {
                    Some(overrides) => overrides.replaced,
                    None => self.document_settings(),
                };
                self.settings.max_iter = Some(max_iter);
                self.settings.palette = palette;
                self.settings.parameters = parameters;
                self.settings.guessing = guessing;
                self.use_stored_colouring(colouring);
                self.document_overrides = Some(DocumentOverrides {
                    replaced,
                    brought: self.document_settings(),
                });
            }
            None => {
                self.settings.parameters.clear();
                self.put_back_document_settings();
            }
        }
        self.scheduler.changed(Change::KernelReplaced, now);
    }

    /// The settings a document sets, as they are now.
    fn document_settings(&self) -> DocumentSettings {
        DocumentSettings {
            max_iter: self.settings.max_iter,
            palette: self.settings.palette.clone(),
            guessing: self.settings.guessing,
            colouring: self.settings.colouring.clone(),
        }
    }

    /// Another kernel replaced a document's: each setting the document brought and the
    /// user left as it was goes back to what it replaced.
    fn put_back_document_settings(&mut self) {
        let Some(DocumentOverrides { replaced, brought }) = self.document_overrides.take() else {
            return;
        };
        if self.settings.max_iter == brought.max_iter {
            self.settings.max_iter = replaced.max_iter;
        }
        if self.settings.palette == brought.palette {
            self.settings.palette = replaced.palette;
        }
        if self.settings.guessing == brought.guessing {
            self.settings.guessing = replaced.guessing;
        }
        if self.settings.colouring == brought.colouring {
            self.settings.colouring = replaced.colouring;
        }
    }

    fn start_render(&mut self, ctx: &egui::Context, passes: Passes) {
        let source = self.settings.kernel.text();
        if let Some(autosave) = &mut self.threads.autosave {
            autosave.offer_kernel(source);
            autosave.set_rendering(true);
        }
        let (width_px, height_px) = self.image_size_px();
        self.scheduler.render_started((width_px, height_px));
        self.notices.render_stopped = None;
        let full = self
            .settings
            .render_request((width_px, height_px), self.settings.view.clone());
        let mut requests = Vec::new();
        if passes.preview {
            requests.push((
                Pass::Preview,
                RenderRequest {
                    width_px: (width_px / 4).max(1),
                    height_px: (height_px / 4).max(1),
                    ..full.clone()
                },
            ));
        }
        requests.push((Pass::Full, full));
        self.rendering.generation = self.threads.render.submit(requests);
        self.canvas.progress = Some(ProgressLayer::new(ctx, self.view(), (width_px, height_px)));
    }

    fn start_export(&mut self, path: PathBuf) {
        let chosen = self.settings.size.size_px(self.layout.view_area_px);
        let size_px = self.settings.export_scale.size_px(chosen);
        let request = self.settings.render_request(size_px, Some(self.view()));
        self.export.progress = Some((0, 1));
        self.export.outcome = None;
        self.threads.background.export(ExportJob {
            request,
            palette: self.settings.palette.clone(),
            colouring: self.settings.colouring.clone(),
            path,
            supersample: self.settings.export_supersample,
        });
    }

    /// Records the zoom film from the current view to the marked one, at the export size.
    fn start_film(&mut self, folder: PathBuf) {
        let Some(end) = self.settings.film_end.clone() else {
            return;
        };
        let chosen = self.settings.size.size_px(self.layout.view_area_px);
        let size_px = self.settings.export_scale.size_px(chosen);
        // Each frame's view is set by the film.
        let request = self.settings.render_request(size_px, None);
        self.export.progress = Some((0, self.settings.film_frames as usize));
        self.export.outcome = None;
        self.threads.background.film(FilmJob {
            request,
            palette: self.settings.palette.clone(),
            colouring: self.settings.colouring.clone(),
            supersample: self.settings.export_supersample,
            start: self.view(),
            end,
            frames: self.settings.film_frames,
            folder,
        });
    }

    /// Takes in what the threads and dialogs reported since the last frame.
    fn poll(&mut self, ctx: &egui::Context) {
        self.poll_colouring();
        self.follow_kernel_file(ctx, Instant::now());
        for event in self.threads.render.poll() {
            self.on_render_event(ctx, event);
        }
        for event in self.threads.background.poll() {
            match event {
                BackgroundEvent::Progress { done, total } => {
                    if let BenchState::Running { .. } = self.timings.bench {
                        self.timings.bench = BenchState::Running { done, total };
                    } else {
                        self.export.progress = Some((done, total));
                        self.export.reference = None;
                    }
                }
                BackgroundEvent::Reference {
                    iterations_done,
                    max_iter,
                } => self.export.reference = Some((iterations_done, max_iter)),
                BackgroundEvent::Exported(outcome) => {
                    self.export.progress = None;
                    self.export.reference = None;
                    self.export.outcome = Some(outcome);
                }
                BackgroundEvent::Benchmarked(result) => {
                    self.timings.bench = match result {
                        Ok(cells) => BenchState::Done(cells),
                        Err(error) => BenchState::Failed(error),
                    };
                }
            }
        }
        for opened in self.threads.opening.poll() {
            match opened {
                Ok(opened) => self.commands.push(Command::DocumentRead(Box::new(opened))),
                Err(failure) => self.notices.file_outcome = Some(FileOutcome::OpenFailed(failure)),
            }
        }
        // A wheel gesture ends when the wheel rests; its render is then due.
        if self.gestures.wheel_from.is_some()
            && self
                .scheduler
                .due_in(Instant::now())
                .is_none_or(|due| due.is_zero())
        {
            self.commands.push(Command::WheelRested);
        }
        if let Some(answer) = self.threads.dialogs.poll()
            && let Some(path) = answer.path
        {
            self.commands.push(match answer.purpose {
                DialogPurpose::OpenKernel => Command::OpenKernelFile(path),
                DialogPurpose::SaveKernel => Command::SaveKernelTo(path),
                DialogPurpose::ExportPng => Command::ExportTo(path),
                DialogPurpose::FilmFolder => Command::RecordFilmTo(path),
                DialogPurpose::OpenGradient => Command::OpenGradientFile(path),
                DialogPurpose::ExportGradient => Command::ExportGradientTo(path),
            });
        }
    }

    fn on_render_event(&mut self, ctx: &egui::Context, event: RenderEvent) {
        match event {
            RenderEvent::Log(line) => {
                self.notices.log.push(line);
                if self.notices.log.len() > MAX_LOG_LINES {
                    self.notices.log.remove(0);
                }
            }
            RenderEvent::Rows {
                generation,
                first_row,
                row_count,
                output,
                values,
            } if generation == self.rendering.generation => {
                let names = self.progress_channel_names(output);
                if let Some(mut progress) = self.canvas.progress.take() {
                    let colour = |rows: &crate::engine::ValueImage| self.colour_in_progress(rows);
                    progress.add_rows(colour, (output, &names), first_row, row_count, &values);
                    self.canvas.progress = Some(progress);
                }
            }
            RenderEvent::Reference {
                generation,
                iterations_done,
                max_iter,
            } if generation == self.rendering.generation => {
                if let Some(progress) = &mut self.canvas.progress {
                    progress.reference_iterations = Some((iterations_done, max_iter));
                }
            }
            RenderEvent::PassDone {
                generation,
                pass,
                output,
            } if generation == self.rendering.generation => {
                self.rendering.kernel_home = output.kernel.home_or_default();
                self.rendering.kernel_is_deep = output.kernel.deep;
                self.rendering.kernel_perturbs = output.kernel.perturbs();
                self.rendering.shown_precision = Some(output.precision);
                self.rendering.shown_reference = output.reference;
                self.rendering.shown_interleaved = output.interleaved.is_some();
                self.rendering.shown_max_iter = Some((output.max_iter, output.max_iter_choice));
                self.rendering
                    .kernel_parameters
                    .clone_from(&output.kernel.parameters);
                self.commands
                    .push(Command::ParametersRendered(output.parameters.clone()));
                if let Some(progress) = &mut self.canvas.progress {
                    progress.view = output.view.clone();
                }
                let mut output = *output;
                match pass {
                    Pass::Preview => {
                        self.rendering.preview_compile_secs = output.timings.compile_secs;
                        let layer =
                            Layer::new(ctx, output.image, output.view, &self.settings.palette);
                        self.canvas.base = Some(layer);
                        self.colour_new_base();
                    }
                    Pass::Full => {
                        self.settings.kernel.record_run(Ok(output.kernel));
                        if let Some(autosave) = &mut self.threads.autosave {
                            autosave.set_rendering(false);
                        }
                        // The run's compile time includes its preview's, which compiled the
                        // kernel's states first.
                        output.timings.compile_secs +=
                            std::mem::take(&mut self.rendering.preview_compile_secs);
                        let size_px = (output.image.width_px, output.image.height_px);
                        self.timings.record(
                            kernel_hash(self.settings.kernel.text()),
                            &self.settings.kernel.name(),
                            size_px,
                            output.timings,
                        );
                        if let Some(screenshot) = &mut self.screenshot {
                            screenshot.full_renders_seen += 1;
                            screenshot.frames_since_render = 0;
                        }
                        let palette = self.settings.palette.clone();
                        let layer = match self.canvas.progress.take() {
                            Some(progress) if progress.is_complete_for(size_px) => {
                                Layer::from_progress(progress, output.image, output.view, palette)
                            }
                            _ => Layer::new(ctx, output.image, output.view, &palette),
                        };
                        self.canvas.base = Some(layer);
                        self.colour_new_base();
                    }
                }
            }
            RenderEvent::Failed { generation, error }
                if generation == self.rendering.generation =>
            {
                if let Some(autosave) = &mut self.threads.autosave {
                    autosave.set_rendering(false);
                }
                self.canvas.progress = None;
                if let Some(screenshot) = &mut self.screenshot {
                    *lock(&screenshot.outcome) = Some(Err(format!("the render failed: {error}")));
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                self.settings.kernel.record_run(Err(error));
            }
            _ => {} // a superseded request
        }
    }

    /// Does what the scheduler says is due. Called once per kept frame.
    fn follow_schedule(&mut self, ctx: &egui::Context) {
        match self.scheduler.decide(Instant::now(), self.image_size_px()) {
            Decision::Idle => {}
            Decision::Recolour => self.recolour(ctx),
            Decision::Render(passes) => self.start_render(ctx, passes),
            Decision::WaitFor(delay) => ctx.request_repaint_after(delay),
        }
    }

    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let render_due = self.scheduler.is_due();
        let Some(screenshot) = &mut self.screenshot else {
            return;
        };
        if screenshot.started.elapsed() > SCREENSHOT_TIMEOUT {
            *lock(&screenshot.outcome) = Some(Err("no render finished in time".to_owned()));
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if let Some(images) = &screenshot.images
            && let Ok(image) = images.try_recv()
        {
            let outcome = save_color_image(&image, &screenshot.path);
            *lock(&screenshot.outcome) = Some(outcome);
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        // After the first full render, wait a few frames so it is on screen, then capture.
        if screenshot.full_renders_seen > 0 && !screenshot.requested && !render_due {
            screenshot.frames_since_render += 1;
            if screenshot.frames_since_render >= 3 {
                let (sender, receiver) = mpsc::channel();
                let waker = ctx.clone();
                ctx.request_screenshot(move |image| {
                    let _ = sender.send(image);
                    waker.request_repaint();
                });
                screenshot.images = Some(receiver);
                screenshot.requested = true;
            }
        }
        ctx.request_repaint_after(Duration::from_millis(50));
    }

    /// Shows the edited kernel's name and unsaved state in the title bar.
    fn update_title(&mut self, ctx: &egui::Context) {
        let mut title = self.settings.kernel.title();
        if self.notices.pending_reload.is_some() {
            title = title.replace(" — moonbrot", " (changed on disk) — moonbrot");
        }
        if title != self.layout.shown_title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.layout.shown_title = title;
        }
    }
}

/// The settings saved by the last session, or the defaults when there are none or they
/// cannot be read (a corrupted or foreign file must never stop the window from opening).
pub fn restore_settings(storage: Option<&dyn eframe::Storage>) -> Settings {
    storage
        .and_then(|storage| eframe::get_value::<Settings>(storage, eframe::APP_KEY))
        .unwrap_or_default()
}

/// Saves the settings where `restore_settings` finds them.
pub fn store_settings(storage: &mut dyn eframe::Storage, settings: &Settings) {
    eframe::set_value(storage, eframe::APP_KEY, settings);
}

/// `size_px` scaled down, keeping its aspect ratio, so neither side exceeds `max_side`.
fn fit_texture(size_px: (u32, u32), max_side: u32) -> (u32, u32) {
    let (width, height) = size_px;
    let largest = width.max(height);
    if largest <= max_side {
        return size_px;
    }
    let scale = f64::from(max_side) / f64::from(largest);
    let scaled = |side: u32| ((f64::from(side) * scale).floor() as u32).clamp(1, max_side);
    (scaled(width), scaled(height))
}

/// Saves a screenshot as PNG (atomically, like exports).
fn save_color_image(image: &egui::ColorImage, path: &Path) -> Result<(), String> {
    let [width, height] = image.size;
    let rgb: Vec<u8> = image
        .pixels
        .iter()
        .flat_map(|pixel| [pixel.r(), pixel.g(), pixel.b()])
        .collect();
    let rgb = image::RgbImage::from_raw(width as u32, height as u32, rgb)
        .ok_or_else(|| "the screenshot has an unexpected size".to_owned())?;
    let mut encoded = std::io::Cursor::new(Vec::new());
    rgb.write_to(&mut encoded, image::ImageFormat::Png)
        .map_err(|error| format!("cannot encode the screenshot: {error}"))?;
    crate::engine::atomic_file::write_atomically(path, encoded.get_ref())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

impl eframe::App for MoonbrotApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let frame_started = Instant::now();
        let ctx = ui.ctx().clone();
        self.layout.max_texture_side =
            (ctx.input(|input| input.max_texture_side) as u32).max(MIN_TEXTURE_SIDE);
        self.poll(&ctx);
        self.commands
            .push_pressed_shortcuts(&ctx, self.layout.editor_has_focus);
        self.commands.push_dropped_files(&ctx);
        self.push_escape(&ctx);
        let typing =
            self.layout.editor_has_focus || ctx.memory(|memory| memory.focused().is_some());
        self.commands.push_pasted_locations(&ctx, typing);
        self.panels_ui(&ctx, ui);
        for command in self.commands.take() {
            self.apply(&ctx, command);
        }

        // egui may lay a frame out twice and discard the first pass; the view area measured
        // in a discarded pass is not the one shown, so renders are scheduled from kept passes.
        if !ctx.will_discard() {
            self.follow_schedule(&ctx);
            self.screenshot_step(&ctx);
        }
        // Handed over every frame (a comparison when nothing changed): the autosave thread
        // writes it within about two seconds, whether or not another frame is drawn.
        if let Some(autosave) = &mut self.threads.autosave {
            autosave.offer_kernel(self.settings.kernel.text());
        }
        self.update_title(&ctx);
        self.timings
            .record_frame(frame_started.elapsed().as_secs_f64());
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        // Screenshot mode shows the defaults and must not overwrite what the user had.
        if self.screenshot.is_none() {
            store_settings(storage, &self.settings);
            if let Some(autosave) = &mut self.threads.autosave {
                autosave.offer_settings(&self.settings);
            }
        }
    }

    fn raw_input_hook(&mut self, ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        if split_at_kind_change(&mut self.held_input, raw_input) {
            ctx.request_repaint();
        }
    }

    fn auto_save_interval(&self) -> Duration {
        AUTO_SAVE_INTERVAL
    }
}

#[cfg(test)]
mod tests {
    use super::fit_texture;

    #[test]
    fn images_larger_than_a_texture_are_scaled_down_keeping_their_aspect() {
        assert_eq!(fit_texture((1920, 1080), 8192), (1920, 1080));
        assert_eq!(fit_texture((1920, 2675), 2048), (1469, 2048));
        assert_eq!(fit_texture((16_384, 4), 2048), (2048, 1));
    }
}
