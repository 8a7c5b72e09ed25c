//! `MoonbrotApp`, the explorer window: it owns the persisted settings, the background
//! threads and the panels, applies every user command in one place (`apply`), and turns
//! what the threads report into textures, errors and timings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use egui::{Key, KeyboardShortcut, Modifiers, Ui};

use super::canvas::{Canvas, Gesture, Layer, ProgressLayer, ViewChange};
use super::controls::controls_ui;
use super::dialogs::{DialogPurpose, Dialogs, FileDialogs, NativeFileDialogs};
use super::editor::editor_ui;
use super::recovery::{self, Autosave};
use super::settings::{ExportScale, MAX_EXPORT_WIDTH, Settings};
use super::timings::{BenchState, Timings, kernel_hash};
use super::workers::{
    BackgroundEvent, BackgroundThread, ExportJob, Pass, RenderEvent, RenderThread, Waker,
};
use crate::engine::bench::BenchPlan;
use crate::engine::kernel::{SHIPPED_KERNELS, read_kernel_file, shipped_kernel, write_kernel_file};
use crate::engine::view::DEFAULT_HOME;
use crate::engine::{RenderError, RenderRequest, View};

/// Auto-run renders this long after the last keystroke.
const AUTO_RUN_DELAY: Duration = Duration::from_millis(300);
/// Wheel zooming renders once the wheel has rested this long.
const WHEEL_SETTLE_DELAY: Duration = Duration::from_millis(150);
/// Every GPU takes textures this large; the real limit is read from egui each frame.
const MIN_TEXTURE_SIDE: u32 = 2048;
/// Height of the status bar, in points.
const STATUS_BAR_HEIGHT: f32 = 24.0;
/// Width of the settings and timings panel, in points.
const SIDE_PANEL_WIDTH: f32 = 340.0;
/// A resized view area is rendered again once its size has been still this long.
const RESIZE_SETTLE_DELAY: Duration = Duration::from_millis(150);
/// Settings are saved at least this often (and on exit).
const AUTO_SAVE_INTERVAL: Duration = Duration::from_secs(5);
/// Images with more pixels than this get a quarter-size preview pass first.
const PREVIEW_ABOVE_PIXELS: u32 = 320 * 240;
/// Kernel print lines kept in the log panel.
const MAX_LOG_LINES: usize = 500;
/// Screenshot mode gives up after this long without a finished render.
const SCREENSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Everything a user can ask for, applied in one place (`MoonbrotApp::apply`).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Render the editor's kernel at the current view.
    Run,
    /// Move to a view (from the canvas).
    Navigate(ViewChange),
    /// Go to the kernel's home view.
    Home,
    /// Go back in the view history.
    Back,
    /// Go forward in the view history.
    Forward,
    /// Replace the editor's text with a shipped kernel (asks first if there are unsaved edits).
    LoadShipped(&'static str),
    /// Open a .lua file (through a dialog).
    OpenKernel,
    /// Save the kernel to its file, or ask where.
    SaveKernel,
    /// Save the kernel to a new file.
    SaveKernelAs,
    /// Show the export window.
    ShowExport,
    /// Ask where to export, then export.
    ChooseExportFile,
    /// Export to this path.
    ExportTo(PathBuf),
    /// Cancel the export or benchmark in progress.
    CancelBackground,
    /// Run the seed article's benchmark.
    RunBenchmark,
    /// Recolour the images (the palette changed).
    Recolour,
}

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
    /// Start with automatic rendering paused (`moonbrot --safe-mode`).
    pub safe_mode: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            file_dialogs: Arc::new(NativeFileDialogs),
            screenshot: None,
            settings: None,
            state_dir: None,
            safe_mode: false,
        }
    }
}

/// Replacing the editor's text, waiting for the user to confirm.
struct PendingReplace {
    source: String,
    shipped_name: Option<String>,
    file_path: Option<PathBuf>,
}

/// The export window's state.
#[derive(Default)]
struct ExportState {
    open: bool,
    progress: Option<(usize, usize)>,
    message: Option<Result<String, String>>,
}

/// Screenshot mode's progress.
struct Screenshot {
    path: PathBuf,
    started: Instant,
    full_renders_seen: usize,
    frames_since_render: usize,
    requested: bool,
    images: Option<Receiver<Arc<egui::ColorImage>>>,
    /// The outcome, for the process's exit code.
    outcome: ScreenshotOutcome,
}

/// The explorer window.
pub struct MoonbrotApp {
    settings: Settings,
    render: RenderThread,
    background: BackgroundThread,
    dialogs: Dialogs,
    canvas: Canvas,
    timings: Timings,
    /// The generation of the render whose results are wanted.
    generation: u64,
    /// The compile time of the current request's preview pass, added to its full pass.
    preview_compile_secs: f64,
    /// The home view of the last kernel that rendered.
    kernel_home: View,
    /// The last error from the kernel or the engine, shown in the editor.
    error: Option<RenderError>,
    /// A file error (open, save), shown in the editor.
    file_message: Option<Result<String, String>>,
    log: Vec<String>,
    render_due: Option<Instant>,
    pending_replace: Option<PendingReplace>,
    export: ExportState,
    screenshot: Option<Screenshot>,
    dragging_from: Option<View>,
    wheel_from: Option<View>,
    editor_has_focus: bool,
    /// The size of the last full render requested.
    requested_size_px: Option<(u32, u32)>,
    /// The GPU's largest texture side, in pixels.
    max_texture_side: u32,
    /// The image size in the last frame, and since when it has been that.
    size_px_since: Option<((u32, u32), Instant)>,
    /// Writes the editor text and settings to the state folder (None: not kept).
    autosave: Option<Autosave>,
    /// Why automatic rendering is paused (the safe start), shown in a banner with a button
    /// to run; None when renders follow edits and view changes as usual.
    paused: Option<String>,
    /// What could not be restored at start, shown until dismissed.
    restore_problems: Vec<String>,
}

impl MoonbrotApp {
    /// Creates the app for eframe: restores saved settings (defaults if there are none or
    /// they cannot be read) and starts the background threads.
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Result<Self, String> {
        let restored = options
            .state_dir
            .as_deref()
            .map(recovery::restore)
            .unwrap_or_default();
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
        app.restore_problems = restored.problems;
        if restored.interrupted_render {
            app.pause(
                "moonbrot was closed or stopped while this kernel was rendering, so it does \
                 not run until you ask"
                    .to_owned(),
            );
        } else if options.safe_mode {
            app.pause("safe mode: kernels run only when you ask".to_owned());
        }
        if let Some(dir) = options.state_dir {
            let autosave = Autosave::spawn(dir.clone()).map_err(|error| {
                format!("cannot use the state folder {}: {error}", dir.display())
            })?;
            app.autosave = Some(autosave);
        }
        Ok(app)
    }

    /// Stops automatic rendering until the user runs the kernel (the safe start).
    fn pause(&mut self, reason: String) {
        self.paused = Some(reason);
        self.render_due = None;
    }

    /// Why automatic rendering is paused, if it is.
    pub fn paused_reason(&self) -> Option<&str> {
        self.paused.as_deref()
    }

    fn with_settings(
        ctx: &egui::Context,
        settings: Settings,
        file_dialogs: Arc<dyn FileDialogs>,
        screenshot: Option<ScreenshotRequest>,
    ) -> Result<Self, String> {
        let waker = Waker(ctx.clone());
        let render = RenderThread::spawn(waker.clone())
            .map_err(|error| format!("cannot start the render thread: {error}"))?;
        let background = BackgroundThread::spawn(waker)
            .map_err(|error| format!("cannot start the background thread: {error}"))?;
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
            render,
            background,
            dialogs: Dialogs::new(file_dialogs),
            canvas: Canvas::default(),
            timings: Timings::default(),
            generation: 0,
            preview_compile_secs: 0.0,
            kernel_home: DEFAULT_HOME,
            error: None,
            file_message: None,
            log: Vec::new(),
            // The first frame measures the view area; render right after it.
            render_due: Some(Instant::now()),
            pending_replace: None,
            export: ExportState::default(),
            screenshot,
            dragging_from: None,
            wheel_from: None,
            editor_has_focus: false,
            requested_size_px: None,
            max_texture_side: MIN_TEXTURE_SIDE,
            size_px_since: None,
            autosave: None,
            paused: None,
            restore_problems: Vec::new(),
        })
    }

    /// The settings (read by tests and the screenshot check).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Mutable settings, for tests that set up a state directly.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// The view being shown: the user's, or the kernel's home.
    pub fn view(&self) -> View {
        self.settings.view.unwrap_or(self.kernel_home)
    }

    /// The image size for the current view area: the chosen size, scaled down (keeping its
    /// aspect ratio) to the largest texture the GPU takes. Exports are not limited.
    pub fn image_size_px(&self) -> (u32, u32) {
        fit_texture(
            self.settings.size.size_px(self.canvas.area_px),
            self.max_texture_side,
        )
    }

    /// The last error, if the last render failed.
    pub fn error(&self) -> Option<&RenderError> {
        self.error.as_ref()
    }

    /// The time the latest UI frame took to build and the worst of the recent ones, in
    /// seconds (also shown in the timings panel).
    pub fn frame_secs(&self) -> (f64, f64) {
        self.timings.frame_secs()
    }

    /// The finished runs, oldest first.
    pub fn runs(&self) -> &[super::timings::RunRecord] {
        &self.timings.runs
    }

    /// The view area on screen, in points.
    pub fn canvas_rect(&self) -> egui::Rect {
        self.canvas.area
    }

    /// The image on screen (the last complete render), if any.
    pub fn shown_image(&self) -> Option<(&View, &crate::engine::ValueImage)> {
        self.canvas
            .base
            .as_ref()
            .map(|layer| (&layer.view, &layer.image))
    }

    /// A one-line account of what keeps the app busy (for test failure messages).
    pub fn busy_reasons(&self) -> String {
        format!(
            "render due {:?}, rendering {}, background {}, dialog {:?}, size {:?}, requested {:?}",
            self.render_due
                .map(|due| due.saturating_duration_since(Instant::now())),
            self.canvas.progress.is_some(),
            self.background.is_busy(),
            self.dialogs.open_dialog(),
            self.image_size_px(),
            self.requested_size_px
        )
    }

    /// True while a render is due or in flight, or a background job runs.
    pub fn is_busy(&self) -> bool {
        self.render_due.is_some()
            || self.canvas.progress.is_some()
            || self.background.is_busy()
            || self.dialogs.open_dialog().is_some()
    }

    /// The export window's last message: Ok(path written) or Err(why not).
    pub fn export_message(&self) -> Option<&Result<String, String>> {
        self.export.message.as_ref()
    }

    fn kernel_name(&self) -> String {
        if let Some(path) = &self.settings.file_path {
            return path.file_name().map_or_else(
                || path.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            );
        }
        self.settings
            .shipped_name
            .clone()
            .unwrap_or_else(|| "untitled".to_owned())
    }

    fn is_dirty(&self) -> bool {
        let clean = match (&self.settings.file_path, &self.settings.shipped_name) {
            (Some(_), _) => self.settings.saved_source.as_deref(),
            (None, Some(name)) => shipped_kernel(name).map(|kernel| kernel.source),
            (None, None) => Some(""),
        };
        clean != Some(self.settings.source.as_str())
    }

    /// Applies one command.
    pub fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::Run => self.start_render(ctx),
            Command::Navigate(change) => self.navigate(change),
            Command::Home => self.go_to(self.kernel_home),
            Command::Back => {
                if let Some(view) = self.settings.history.back(self.view()) {
                    self.settings.view = Some(view);
                    self.render_due = Some(Instant::now());
                }
            }
            Command::Forward => {
                if let Some(view) = self.settings.history.forward(self.view()) {
                    self.settings.view = Some(view);
                    self.render_due = Some(Instant::now());
                }
            }
            Command::LoadShipped(name) => {
                if let Some(kernel) = shipped_kernel(name) {
                    self.replace_source(PendingReplace {
                        source: kernel.source.to_owned(),
                        shipped_name: Some(kernel.name.to_owned()),
                        file_path: None,
                    });
                }
            }
            Command::OpenKernel => self.dialogs.show(ctx, DialogPurpose::OpenKernel, None),
            Command::SaveKernel => match self.settings.file_path.clone() {
                Some(path) => self.save_kernel_to(&path),
                None => self.apply(ctx, Command::SaveKernelAs),
            },
            Command::SaveKernelAs => {
                let name = format!("{}.lua", self.kernel_name().trim_end_matches(".lua"));
                self.dialogs
                    .show(ctx, DialogPurpose::SaveKernel, Some(name));
            }
            Command::ShowExport => {
                self.export.open = true;
                self.export.message = None;
            }
            Command::ChooseExportFile => {
                let name = format!("{}.png", self.kernel_name().trim_end_matches(".lua"));
                self.dialogs.show(ctx, DialogPurpose::ExportPng, Some(name));
            }
            Command::ExportTo(path) => self.start_export(path),
            Command::CancelBackground => self.background.cancel(),
            Command::RunBenchmark => {
                if let Some(seed) = shipped_kernel("seed") {
                    let plan = BenchPlan::article(Arc::from(seed.source), seed.name, 3);
                    self.timings.bench = BenchState::Running {
                        done: 0,
                        total: plan.step_count(),
                    };
                    self.background.benchmark(plan);
                }
            }
            Command::Recolour => {
                let palette = self.settings.palette;
                if let Some(base) = &mut self.canvas.base {
                    base.recolour(&palette);
                }
                if let Some(progress) = &mut self.canvas.progress {
                    progress.recolour(&palette);
                }
            }
        }
    }

    fn go_to(&mut self, view: View) {
        if view != self.view() {
            self.settings.history.record(self.view());
        }
        self.settings.view = Some(view);
        self.render_due = Some(Instant::now());
    }

    fn navigate(&mut self, change: ViewChange) {
        let now = Instant::now();
        match change.gesture {
            Gesture::Dragging => {
                self.dragging_from.get_or_insert(self.view());
                self.settings.view = Some(change.view);
            }
            Gesture::DragEnded => {
                let from = self.dragging_from.take().unwrap_or(self.view());
                self.settings.history.record(from);
                self.settings.view = Some(change.view);
                self.render_due = Some(now);
            }
            Gesture::Wheel => {
                if self.wheel_from.is_none() {
                    self.wheel_from = Some(self.view());
                    self.settings.history.record(self.view());
                }
                self.settings.view = Some(change.view);
                self.render_due = Some(now + WHEEL_SETTLE_DELAY);
            }
            Gesture::Discrete => self.go_to(change.view),
        }
    }

    fn replace_source(&mut self, replacement: PendingReplace) {
        if self.is_dirty() && replacement.source != self.settings.source {
            self.pending_replace = Some(replacement);
        } else {
            self.do_replace(replacement);
        }
    }

    fn do_replace(&mut self, replacement: PendingReplace) {
        self.settings.saved_source = replacement
            .file_path
            .as_ref()
            .map(|_| replacement.source.clone());
        self.settings.source = replacement.source;
        self.settings.shipped_name = replacement.shipped_name;
        self.settings.file_path = replacement.file_path;
        // A different kernel starts at its own home view.
        if self.settings.view.is_some() {
            self.settings.history.record(self.view());
        }
        self.settings.view = None;
        self.render_due = Some(Instant::now());
    }

    fn save_kernel_to(&mut self, path: &Path) {
        match write_kernel_file(path, &self.settings.source) {
            Ok(()) => {
                self.settings.file_path = Some(path.to_owned());
                self.settings.saved_source = Some(self.settings.source.clone());
                self.file_message = Some(Ok(format!("Saved {}", path.display())));
            }
            Err(error) => self.file_message = Some(Err(error.to_string())),
        }
    }

    fn start_render(&mut self, ctx: &egui::Context) {
        self.render_due = None;
        // Running on request ends the safe start's pause.
        self.paused = None;
        if let Some(autosave) = &mut self.autosave {
            autosave.offer_kernel(&self.settings.source);
            autosave.set_rendering(true);
        }
        let (width_px, height_px) = self.image_size_px();
        self.requested_size_px = Some((width_px, height_px));
        let full = RenderRequest {
            view: self.settings.view,
            max_iter: self.settings.max_iter,
            threads: self.settings.threads,
            ..RenderRequest::new(self.settings.source.as_str(), width_px, height_px)
        };
        let mut passes = Vec::new();
        if width_px * height_px > PREVIEW_ABOVE_PIXELS {
            passes.push((
                Pass::Preview,
                RenderRequest {
                    width_px: (width_px / 4).max(1),
                    height_px: (height_px / 4).max(1),
                    ..full.clone()
                },
            ));
        }
        passes.push((Pass::Full, full));
        self.generation = self.render.submit(passes);
        self.canvas.progress = Some(ProgressLayer::new(ctx, self.view(), (width_px, height_px)));
    }

    fn start_export(&mut self, path: PathBuf) {
        let chosen = self.settings.size.size_px(self.canvas.area_px);
        let size_px = self.settings.export_scale.size_px(chosen);
        let request = RenderRequest {
            view: Some(self.view()),
            max_iter: self.settings.max_iter,
            threads: self.settings.threads,
            ..RenderRequest::new(self.settings.source.as_str(), size_px.0, size_px.1)
        };
        self.export.progress = Some((0, 1));
        self.export.message = None;
        self.background.export(ExportJob {
            request,
            palette: self.settings.palette,
            path,
        });
    }

    /// Takes in what the threads and dialogs reported since the last frame.
    fn poll(&mut self, ctx: &egui::Context) {
        for event in self.render.poll() {
            self.on_render_event(ctx, event);
        }
        for event in self.background.poll() {
            match event {
                BackgroundEvent::Progress { done, total } => {
                    if let BenchState::Running { .. } = self.timings.bench {
                        self.timings.bench = BenchState::Running { done, total };
                    } else {
                        self.export.progress = Some((done, total));
                    }
                }
                BackgroundEvent::Exported(result) => {
                    self.export.progress = None;
                    self.export.message =
                        Some(result.map(|path| format!("Exported {}", path.display())));
                }
                BackgroundEvent::Benchmarked(result) => {
                    self.timings.bench = match result {
                        Ok(cells) => BenchState::Done(cells),
                        Err(message) => BenchState::Failed(message),
                    };
                }
            }
        }
        if let Some(answer) = self.dialogs.poll() {
            let Some(path) = answer.path else {
                return;
            };
            match answer.purpose {
                DialogPurpose::OpenKernel => match read_kernel_file(&path) {
                    Ok(source) => {
                        self.file_message = Some(Ok(format!("Opened {}", path.display())));
                        self.replace_source(PendingReplace {
                            source,
                            shipped_name: None,
                            file_path: Some(path),
                        });
                    }
                    Err(error) => self.file_message = Some(Err(error.to_string())),
                },
                DialogPurpose::SaveKernel => self.save_kernel_to(&path),
                DialogPurpose::ExportPng => self.apply(ctx, Command::ExportTo(path)),
            }
        }
    }

    fn on_render_event(&mut self, ctx: &egui::Context, event: RenderEvent) {
        match event {
            RenderEvent::Log(line) => {
                self.log.push(line);
                if self.log.len() > MAX_LOG_LINES {
                    self.log.remove(0);
                }
            }
            RenderEvent::Rows {
                generation,
                first_row,
                row_count,
                output,
                values,
            } if generation == self.generation => {
                let palette = self.settings.palette;
                if let Some(progress) = &mut self.canvas.progress {
                    progress.add_rows(&palette, output, first_row, row_count, &values);
                }
            }
            RenderEvent::PassDone {
                generation,
                pass,
                output,
            } if generation == self.generation => {
                self.kernel_home = output.kernel.home_or_default();
                if let Some(progress) = &mut self.canvas.progress {
                    progress.view = output.view;
                }
                let mut output = *output;
                match pass {
                    Pass::Preview => {
                        self.preview_compile_secs = output.timings.compile_secs;
                        let layer =
                            Layer::new(ctx, output.image, output.view, &self.settings.palette);
                        self.canvas.base = Some(layer);
                    }
                    Pass::Full => {
                        self.error = None;
                        if let Some(autosave) = &mut self.autosave {
                            autosave.set_rendering(false);
                        }
                        // The run's compile time includes its preview's, which compiled the
                        // kernel's states first.
                        output.timings.compile_secs +=
                            std::mem::take(&mut self.preview_compile_secs);
                        let size_px = (output.image.width_px, output.image.height_px);
                        self.timings.record(
                            kernel_hash(&self.settings.source),
                            &self.kernel_name(),
                            size_px,
                            output.timings,
                        );
                        if let Some(screenshot) = &mut self.screenshot {
                            screenshot.full_renders_seen += 1;
                            screenshot.frames_since_render = 0;
                        }
                        let layer = match self.canvas.progress.take() {
                            Some(progress) if progress.is_complete_for(size_px) => {
                                Layer::from_progress(progress, output.image, output.view)
                            }
                            _ => Layer::new(ctx, output.image, output.view, &self.settings.palette),
                        };
                        self.canvas.base = Some(layer);
                    }
                }
            }
            RenderEvent::Failed { generation, error } if generation == self.generation => {
                if let Some(autosave) = &mut self.autosave {
                    autosave.set_rendering(false);
                }
                self.error = Some(error);
                self.canvas.progress = None;
                if let Some(screenshot) = &mut self.screenshot
                    && let Some(error) = &self.error
                {
                    *lock(&screenshot.outcome) = Some(Err(format!("the render failed: {error}")));
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
            _ => {} // a superseded request
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        let pressed = |modifiers: Modifiers, key: Key| {
            ui.input_mut(|input| input.consume_shortcut(&KeyboardShortcut::new(modifiers, key)))
        };
        let mut commands = Vec::new();
        if pressed(Modifiers::COMMAND, Key::Enter) {
            commands.push(Command::Run);
        }
        if pressed(Modifiers::COMMAND, Key::O) {
            commands.push(Command::OpenKernel);
        }
        if pressed(Modifiers::COMMAND | Modifiers::SHIFT, Key::S) {
            commands.push(Command::SaveKernelAs);
        }
        if pressed(Modifiers::COMMAND, Key::S) {
            commands.push(Command::SaveKernel);
        }
        if pressed(Modifiers::COMMAND, Key::E) {
            commands.push(Command::ShowExport);
        }
        if pressed(Modifiers::ALT, Key::ArrowLeft) {
            commands.push(Command::Back);
        }
        if pressed(Modifiers::ALT, Key::ArrowRight) {
            commands.push(Command::Forward);
        }
        if !self.editor_has_focus && pressed(Modifiers::NONE, Key::Home) {
            commands.push(Command::Home);
        }
        for command in commands {
            self.apply(ctx, command);
        }
    }

    /// The safe start's banner and what could not be restored, above the editor.
    fn recovery_banner_ui(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        if let Some(reason) = self.paused.clone() {
            egui::Frame::group(ui.style())
                .fill(ui.visuals().warn_fg_color.gamma_multiply(0.15))
                .show(ui, |ui| {
                    ui.label(format!("Automatic rendering is paused: {reason}."));
                    if ui
                        .button("Run this kernel")
                        .on_hover_text("Ctrl+Enter")
                        .clicked()
                    {
                        self.apply(ctx, Command::Run);
                    }
                });
        }
        if !self.restore_problems.is_empty() {
            let mut dismissed = false;
            egui::Frame::group(ui.style()).show(ui, |ui| {
                for problem in &self.restore_problems {
                    ui.colored_label(ui.visuals().error_fg_color, problem);
                }
                dismissed = ui.button("Dismiss").clicked();
            });
            if dismissed {
                self.restore_problems.clear();
            }
        }
    }

    fn editor_panel(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        self.recovery_banner_ui(ctx, ui);
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Kernel");
            let mut picked = None;
            egui::ComboBox::from_id_salt("kernel-picker")
                .selected_text(self.kernel_name())
                .show_ui(ui, |ui| {
                    for kernel in SHIPPED_KERNELS {
                        if ui.selectable_label(false, kernel.name).clicked() {
                            picked = Some(kernel.name);
                        }
                    }
                })
                .response
                .labelled_by(label.id);
            if let Some(name) = picked {
                self.apply(ctx, Command::LoadShipped(name));
            }
            if ui.button("Open…").on_hover_text("Ctrl+O").clicked() {
                self.apply(ctx, Command::OpenKernel);
            }
            if ui.button("Save").on_hover_text("Ctrl+S").clicked() {
                self.apply(ctx, Command::SaveKernel);
            }
            if ui
                .button("Save as…")
                .on_hover_text("Ctrl+Shift+S")
                .clicked()
            {
                self.apply(ctx, Command::SaveKernelAs);
            }
        });
        ui.horizontal(|ui| {
            if ui.button("Run").on_hover_text("Ctrl+Enter").clicked() {
                self.apply(ctx, Command::Run);
            }
            ui.checkbox(&mut self.settings.auto_run, "Auto-run")
                .on_hover_text("Render 0.3 s after typing stops");
            if self.is_dirty() {
                ui.weak("(unsaved changes)");
            }
        });
        if let Some(message) = &self.file_message {
            match message {
                Ok(text) => ui.weak(text),
                Err(text) => ui.colored_label(ui.visuals().error_fg_color, text),
            };
        }
        let error_text = self.error.as_ref().map(ToString::to_string);
        if let Some(text) = &error_text {
            ui.colored_label(ui.visuals().error_fg_color, text);
            ui.weak("The image shown is the last one that rendered.");
        }
        let error_line = match &self.error {
            Some(RenderError::Kernel(error)) => error.line(),
            _ => None,
        };
        if !self.log.is_empty() {
            egui::CollapsingHeader::new(format!("Kernel output ({} lines)", self.log.len())).show(
                ui,
                |ui| {
                    egui::ScrollArea::vertical()
                        .max_height(120.0)
                        .stick_to_bottom(true)
                        .show(ui, |ui| {
                            for line in &self.log {
                                ui.monospace(line);
                            }
                        });
                },
            );
        }
        let response = editor_ui(
            ui,
            &mut self.settings.source,
            error_line,
            error_text.as_deref(),
        );
        self.editor_has_focus = response.has_focus;
        if response.changed && self.settings.auto_run {
            self.render_due = Some(Instant::now() + AUTO_RUN_DELAY);
        }
    }

    fn side_panel(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading("View");
                let size_px = self.image_size_px();
                let response = controls_ui(ui, &mut self.settings, size_px);
                if response.render_settings_changed {
                    self.render_due = Some(Instant::now());
                }
                if response.palette_changed {
                    self.apply(ctx, Command::Recolour);
                }
                for (clicked, command) in [
                    (response.home, Command::Home),
                    (response.back, Command::Back),
                    (response.forward, Command::Forward),
                ] {
                    if clicked {
                        self.apply(ctx, command);
                    }
                }
                if ui.button("Export PNG…").on_hover_text("Ctrl+E").clicked() {
                    self.apply(ctx, Command::ShowExport);
                }
                ui.separator();
                ui.heading("Timings");
                let response = self.timings.ui(ui, self.background.is_busy());
                if response.start_benchmark {
                    self.apply(ctx, Command::RunBenchmark);
                }
                if response.cancel_benchmark {
                    self.apply(ctx, Command::CancelBackground);
                }
            });
    }

    /// One line, truncated to the window's width: anything wider would widen the root
    /// layout, move the other panels and change the view area (and so the image size).
    fn status_bar(&self, ui: &mut Ui) {
        let view = self.view();
        let (width, height) = self.image_size_px();
        let mut parts = Vec::new();
        if view.near_precision_limit(height) {
            parts.push(
                "WARNING: near the limit of f64 precision, neighbouring pixels are barely distinct"
                    .to_owned(),
            );
        }
        match self.canvas.hover_point {
            Some((x, y)) => {
                let digits =
                    (-(view.scale_per_pixel(height).log10()).floor() as usize + 2).clamp(3, 17);
                parts.push(format!("x = {x:+.digits$}  y = {y:+.digits$}"));
            }
            None => parts.push(format!(
                "centre {:+.6}, {:+.6}",
                view.center_x, view.center_y
            )),
        }
        parts.push(format!(
            "zoom {:.3e}×",
            view.zoom_relative_to(&self.kernel_home)
        ));
        parts.push(format!("{width}×{height} px"));
        if let Some(progress) = &self.canvas.progress {
            parts.push(format!(
                "rendering: {} of {height} rows",
                progress.rows_done()
            ));
        }
        parts
            .push("drag: pan, wheel: zoom, Shift+drag: zoom box, double-click: zoom in".to_owned());
        let text = egui::RichText::new(parts.join("   |   ")).monospace();
        let text = if view.near_precision_limit(height) {
            text.color(ui.visuals().warn_fg_color)
        } else {
            text
        };
        ui.add(egui::Label::new(text).truncate());
    }

    fn export_window(&mut self, ctx: &egui::Context) {
        if !self.export.open {
            return;
        }
        let mut open = true;
        let mut commands = Vec::new();
        let current = self.image_size_px();
        egui::Window::new("Export PNG")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                let scale = &mut self.settings.export_scale;
                ui.label("Resolution");
                for (choice, text) in [
                    (ExportScale::Current, "current"),
                    (ExportScale::Double, "2×"),
                    (ExportScale::Quadruple, "4×"),
                ] {
                    let (width, height) = choice.size_px(current);
                    ui.radio_value(scale, choice, format!("{text} ({width}×{height})"));
                }
                ui.horizontal(|ui| {
                    let mut custom = matches!(scale, ExportScale::CustomWidth(_));
                    if ui.radio(custom, "custom width").clicked() {
                        custom = true;
                        *scale = ExportScale::CustomWidth(current.0);
                    }
                    if custom && let ExportScale::CustomWidth(width) = scale {
                        let label = ui.label("Width");
                        ui.add(
                            egui::DragValue::new(width)
                                .range(1..=MAX_EXPORT_WIDTH)
                                .suffix(" px"),
                        )
                        .labelled_by(label.id);
                    }
                });
                let (width, height) = scale.size_px(current);
                ui.weak(format!(
                    "{width}×{height} px, at most {MAX_EXPORT_WIDTH} px wide"
                ));
                ui.separator();
                match self.export.progress {
                    Some((done, total)) => {
                        ui.add(
                            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                                .show_percentage(),
                        );
                        if ui.button("Cancel export").clicked() {
                            commands.push(Command::CancelBackground);
                        }
                    }
                    None => {
                        let enabled =
                            !self.background.is_busy() && self.dialogs.open_dialog().is_none();
                        if ui
                            .add_enabled(enabled, egui::Button::new("Choose file and export…"))
                            .clicked()
                        {
                            commands.push(Command::ChooseExportFile);
                        }
                    }
                }
                match &self.export.message {
                    Some(Ok(text)) => {
                        ui.label(text);
                    }
                    Some(Err(text)) => {
                        ui.colored_label(
                            ui.visuals().error_fg_color,
                            format!("Export failed: {text}"),
                        );
                    }
                    None => {}
                }
            });
        if !open {
            self.export.open = false;
        }
        for command in commands {
            self.apply(ctx, command);
        }
    }

    fn replace_confirmation(&mut self, ctx: &egui::Context) {
        let Some(pending) = &self.pending_replace else {
            return;
        };
        let mut decision = None;
        let what = pending
            .shipped_name
            .clone()
            .or_else(|| {
                pending
                    .file_path
                    .as_ref()
                    .map(|path| path.display().to_string())
            })
            .unwrap_or_default();
        egui::Modal::new(egui::Id::unique("moonbrot-replace-kernel")).show(ctx, |ui| {
            ui.heading("Replace the editor's text?");
            ui.label(format!(
                "Loading {what} replaces your unsaved changes to {}.",
                self.kernel_name()
            ));
            ui.horizontal(|ui| {
                if ui.button("Replace").clicked() {
                    decision = Some(true);
                }
                if ui.button("Keep my text").clicked() {
                    decision = Some(false);
                }
            });
        });
        match decision {
            Some(true) => {
                if let Some(pending) = self.pending_replace.take() {
                    self.do_replace(pending);
                }
            }
            Some(false) => self.pending_replace = None,
            None => {}
        }
    }

    /// Starts the render that is due, once the view area's size has settled: while the
    /// window is resized (or the panels lay themselves out at start) the image size changes
    /// every frame, and each change would cancel and restart the render.
    fn schedule_render(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        let size_px = self.image_size_px();
        let stable_since = match self.size_px_since {
            Some((size, since)) if size == size_px => since,
            _ => {
                self.size_px_since = Some((size_px, now));
                now
            }
        };
        if self.render_due.is_none()
            && self
                .requested_size_px
                .is_some_and(|requested| requested != size_px)
        {
            self.render_due = Some(now);
        }
        // A wheel gesture ends when the wheel rests; its render is then due.
        if self.wheel_from.is_some() && self.render_due.is_none_or(|due| due <= now) {
            self.wheel_from = None;
        }
        if self.paused.is_some() {
            self.render_due = None;
            return;
        }
        let Some(due) = self.render_due else {
            return;
        };
        let start_at = due.max(stable_since + RESIZE_SETTLE_DELAY);
        if start_at <= now && self.dragging_from.is_none() {
            self.start_render(ctx);
        } else {
            ctx.request_repaint_after(
                start_at
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(5)),
            );
        }
    }

    fn screenshot_step(&mut self, ctx: &egui::Context) {
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
        if screenshot.full_renders_seen > 0 && !screenshot.requested && self.render_due.is_none() {
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

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        self.max_texture_side =
            (ctx.input(|input| input.max_texture_side) as u32).max(MIN_TEXTURE_SIDE);
        self.poll(&ctx);
        self.shortcuts(&ctx, ui);

        // Fixed height for the same reason as the side panel's fixed width.
        egui::Panel::bottom("status-bar")
            .resizable(false)
            .exact_size(STATUS_BAR_HEIGHT)
            .show(ui, |ui| self.status_bar(ui));
        let editor_panel = egui::Panel::left("editor-panel")
            .resizable(true)
            .default_size(460.0)
            .show(ui, |ui| self.editor_panel(&ctx, ui));
        // A fixed width: if its contents (timings) could widen it, each render would change
        // the view area and so the image size, and start another render.
        egui::Panel::right("side-panel")
            .resizable(false)
            .exact_size(SIDE_PANEL_WIDTH)
            .show(ui, |ui| self.side_panel(&ctx, ui));
        egui::CentralPanel::no_frame().show(ui, |ui| {
            let view = self.view();
            let size_px = self.image_size_px();
            let keyboard =
                !self.editor_has_focus && ui.ctx().memory(|memory| memory.focused().is_none());
            if let Some(change) = self.canvas.ui(ui, &view, size_px, keyboard) {
                self.apply(&ctx, Command::Navigate(change));
            }
        });
        // The image size follows the view area, taken from the window and the panels' set
        // sizes rather than from this frame's layout, which can jitter by a few points (a
        // size that changes renders again).
        let content = ctx.content_rect();
        let view_area = egui::Rect::from_min_max(
            egui::pos2(editor_panel.response.rect.right(), content.top()),
            egui::pos2(
                content.right() - SIDE_PANEL_WIDTH,
                content.bottom() - STATUS_BAR_HEIGHT,
            ),
        );
        let pixels_per_point = ctx.pixels_per_point();
        self.canvas.area_px = (
            (view_area.width() * pixels_per_point).round().max(1.0),
            (view_area.height() * pixels_per_point).round().max(1.0),
        );
        self.export_window(&ctx);
        self.replace_confirmation(&ctx);

        // egui may lay a frame out twice and discard the first pass; the view area measured
        // in a discarded pass is not the one shown, so renders are scheduled from kept passes.
        if !ctx.will_discard() {
            self.schedule_render(&ctx);
            self.screenshot_step(&ctx);
        }
        // Handed over every frame (a comparison when nothing changed): the autosave thread
        // writes it within about two seconds, whether or not another frame is drawn.
        if let Some(autosave) = &mut self.autosave {
            autosave.offer_kernel(&self.settings.source);
        }
        self.timings
            .record_frame(frame_started.elapsed().as_secs_f64());
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        // Screenshot mode shows the defaults and must not overwrite what the user had.
        if self.screenshot.is_none() {
            store_settings(storage, &self.settings);
            if let Some(autosave) = &mut self.autosave {
                autosave.offer_settings(&self.settings);
            }
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
