//! The window's panels: they read the app's state and queue `Command`s for what the user
//! does; none of them changes the state itself (the editor's text is the one exception: the
//! text field edits the kernel's text in place and queues `KernelEdited`).

use std::f64::consts::LOG10_2;

use egui::Ui;

use super::{Command, ExportFailure, FileOutcome, MoonbrotApp, STATUS_BAR_HEIGHT};

/// How wide the editor panel may be dragged, in points (less in a small window).
const EDITOR_WIDTH_RANGE: std::ops::RangeInclusive<f32> = 180.0..=1200.0;
/// How wide the settings panel may be dragged, in points (less in a small window, down to
/// the width its controls need).
const SIDE_PANEL_WIDTH_RANGE: std::ops::RangeInclusive<f32> = 320.0..=700.0;
/// The share of the window's width the side panels may take together: the image keeps
/// the rest.
const PANELS_SHARE: f32 = 0.5;

/// A resizable side panel within `range`; when the window was resized (or at the first
/// frame), set to the width the user dragged it to, as far as `range` allows.
fn sized_panel(
    panel: egui::Panel,
    range: std::ops::RangeInclusive<f32>,
    dragged_width: f32,
    window_resized: bool,
) -> egui::Panel {
    let panel = panel.resizable(true);
    if window_resized {
        panel.exact_size(dragged_width.clamp(*range.start(), *range.end()))
    } else {
        panel.default_size(dragged_width).size_range(range)
    }
}

/// Records a panel's width this frame (0 when hidden) in `last_width`, and returns it;
/// keeps it in `dragged_width` when it changed while the window kept its size: the user
/// dragged the panel's edge.
fn follow_drag(
    panel: Option<&egui::InnerResponse<()>>,
    dragged_width: &mut f32,
    last_width: &mut f32,
    window_resized: bool,
) -> f32 {
    let width = panel.map_or(0.0, |panel| panel.response.rect.width());
    if !window_resized && *last_width > 0.0 && width > 0.0 && (width - *last_width).abs() > 0.5 {
        *dragged_width = width;
    }
    *last_width = width;
    width
}

/// `range` with its top lowered to `most` (and its bottom too, where `most` is below it).
fn fitted_range(range: std::ops::RangeInclusive<f32>, most: f32) -> std::ops::RangeInclusive<f32> {
    let top = range.end().min(most.max(1.0));
    range.start().min(top)..=top
}
use crate::engine::kernel::SHIPPED_KERNELS;
use crate::engine::output::{Colouring, ColouringError};
use crate::engine::{BigFloat, MaxIterChoice, Precision, PrecisionChoice, RenderError};
use crate::gui::commands::hint;
use crate::gui::controls::{controls_ui, parameters_ui};
use crate::gui::editor::{COLOURING_SOURCE_LABEL, SOURCE_LABEL, editor_ui};
use crate::gui::recovery::Autosave;
use crate::gui::settings::{ColouringChoice, EditorTab};
use crate::gui::settings::{ExportScale, MAX_EXPORT_WIDTH, MAX_FILM_FRAMES};

impl MoonbrotApp {
    /// Lays out the window: status bar, editor, settings, and the view area between them.
    pub(super) fn panels_ui(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        // Fixed height for the same reason as the side panel's fixed width.
        egui::Panel::bottom("status-bar")
            .resizable(false)
            .exact_size(STATUS_BAR_HEIGHT)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    self.panel_toggles(ctx, ui);
                    self.status_bar(ui);
                });
            });
        // Both side panels are resized by dragging their edges; the widths dragged to are
        // kept in the settings. The image keeps at least half the window: the panels shown
        // share the other half at most, so a small window shrinks them, and a larger one
        // gives them back the widths dragged to. The settings panel, whose controls need
        // their width, gives way last: the editor takes what it leaves. The image follows
        // once a size has settled.
        let window_width = ctx.content_rect().width();
        let window_resized = (window_width - self.layout.window_width).abs() > 0.5;
        self.layout.window_width = window_width;
        let panels_width = window_width * PANELS_SHARE;
        let side_panel = self.settings.show_settings.then(|| {
            let most = if self.settings.show_editor {
                panels_width - EDITOR_WIDTH_RANGE.start()
            } else {
                panels_width
            };
            let range = fitted_range(SIDE_PANEL_WIDTH_RANGE, most);
            sized_panel(
                egui::Panel::right("side-panel"),
                range,
                self.settings.settings_width_pt,
                window_resized,
            )
            .show(ui, |ui| self.side_panel(ctx, ui))
        });
        let side_width = follow_drag(
            side_panel.as_ref(),
            &mut self.settings.settings_width_pt,
            &mut self.layout.side_panel_width,
            window_resized,
        );
        let editor_panel = self.settings.show_editor.then(|| {
            let range = fitted_range(EDITOR_WIDTH_RANGE, panels_width - side_width);
            sized_panel(
                egui::Panel::left("editor-panel"),
                range,
                self.settings.editor_width_pt,
                window_resized,
            )
            .show(ui, |ui| self.editor_panel(ctx, ui))
        });
        follow_drag(
            editor_panel.as_ref(),
            &mut self.settings.editor_width_pt,
            &mut self.layout.editor_panel_width,
            window_resized,
        );
        egui::CentralPanel::no_frame().show(ui, |ui| {
            let view = self.view();
            let size_px = self.image_size_px();
            let keyboard = !self.layout.editor_has_focus
                && ui.ctx().memory(|memory| memory.focused().is_none());
            let change = self.canvas.ui(ui, &view, size_px, keyboard);
            // Where a click goes (a picked parameter or a view change) is decided in
            // `apply`, with the other commands.
            match (self.canvas.clicked_point.take(), change) {
                (Some(point), change) => {
                    self.commands.push(Command::ImageClicked { point, change });
                }
                (None, Some(change)) => self.commands.push(Command::Navigate(change)),
                (None, None) => {}
            }
            if self.gestures.picking.is_some() && ui.rect_contains_pointer(self.canvas.area) {
                ctx.set_cursor_icon(egui::CursorIcon::Crosshair);
            }
        });
        // The image size follows the view area, taken from the window and the panels'
        // edges rather than from the central panel's layout, which can jitter by a few
        // points (a size that changes renders again).
        let content = ctx.content_rect();
        let view_area = egui::Rect::from_min_max(
            egui::pos2(
                editor_panel.map_or(content.left(), |panel| panel.response.rect.right()),
                content.top(),
            ),
            egui::pos2(
                side_panel.map_or(content.right(), |panel| panel.response.rect.left()),
                content.bottom() - STATUS_BAR_HEIGHT,
            ),
        );
        let pixels_per_point = ctx.pixels_per_point();
        self.layout.view_area_px = (
            (view_area.width() * pixels_per_point).round().max(1.0),
            (view_area.height() * pixels_per_point).round().max(1.0),
        );
        self.long_render_ui(ctx);
        self.export_window(ctx);
        self.replace_confirmation(ctx);
        self.reload_question(ctx);
    }

    /// The buttons that hide and show the side panels, at the status bar's left (always in
    /// view, whatever is hidden).
    fn panel_toggles(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        for (shown, text, command, what) in [
            (
                self.settings.show_editor,
                "Code",
                Command::ToggleEditor,
                "show or hide the editor",
            ),
            (
                self.settings.show_settings,
                "Settings",
                Command::ToggleSettings,
                "show or hide the settings and timings",
            ),
        ] {
            if ui
                .selectable_label(shown, text)
                .on_hover_text(hint(ctx, &command, what))
                .clicked()
            {
                self.commands.push(command);
            }
        }
        ui.separator();
    }

    /// The safe start's banner and what could not be restored, above the editor.
    fn recovery_banner_ui(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        if let Some(reason) = self.scheduler.paused_reason() {
            egui::Frame::group(ui.style())
                .fill(ui.visuals().warn_fg_color.gamma_multiply(0.15))
                .show(ui, |ui| {
                    ui.label(format!("Automatic rendering is paused: {reason}."));
                    if ui
                        .button("Run this kernel")
                        .on_hover_text(hint(ctx, &Command::Run, ""))
                        .clicked()
                    {
                        self.commands.push(Command::Run);
                    }
                });
        }
        if let Some(failure) = self.threads.autosave.as_ref().and_then(Autosave::failure) {
            egui::Frame::group(ui.style())
                .fill(ui.visuals().error_fg_color.gamma_multiply(0.12))
                .show(ui, |ui| {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        format!(
                            "Your work is not being kept: moonbrot cannot write to {} ({}). \
                             It tries again every few seconds; until it can, save your \
                             kernel elsewhere.",
                            failure.folder.display(),
                            failure.error
                        ),
                    );
                    if ui
                        .button("Save as…")
                        .on_hover_text(hint(ctx, &Command::SaveKernelAs, ""))
                        .clicked()
                    {
                        self.commands.push(Command::SaveKernelAs);
                    }
                });
        }
        if !self.notices.restore_problems.is_empty() {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                for problem in &self.notices.restore_problems {
                    ui.colored_label(ui.visuals().error_fg_color, problem);
                }
                if ui.button("Dismiss").clicked() {
                    self.commands.push(Command::DismissRestoreProblems);
                }
            });
        }
    }

    /// The tabs, then the kernel's (picker, file buttons, Run, messages, log, editor) or
    /// the colouring's.
    fn editor_panel(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        self.recovery_banner_ui(ctx, ui);
        // Wrapped, as every row of the panel: a small window makes it narrow.
        ui.horizontal_wrapped(|ui| {
            for (tab, text) in [
                (EditorTab::Kernel, "Kernel code"),
                (EditorTab::Colouring, "Colouring code"),
            ] {
                if ui
                    .selectable_label(self.settings.editor_tab == tab, text)
                    .clicked()
                {
                    self.commands.push(Command::ShowEditorTab(tab));
                }
            }
        });
        ui.separator();
        match self.settings.editor_tab {
            EditorTab::Kernel => self.kernel_editor_panel(ctx, ui),
            EditorTab::Colouring => self.colouring_editor_panel(ui),
        }
    }

    /// The colouring's choice (smooth or the Lua below), its error and its editor.
    fn colouring_editor_panel(&mut self, ui: &mut Ui) {
        let using_lua = matches!(self.settings.colouring, Colouring::Lua { .. });
        ui.horizontal(|ui| {
            let label = ui.label("Colour with");
            let current = ColouringChoice::of(&self.settings.colouring);
            let mut chosen = current;
            let current_name = ColouringChoice::ALL
                .iter()
                .find(|(choice, _)| *choice == current)
                .map_or("", |(_, name)| name);
            egui::ComboBox::from_id_salt("colouring-choice")
                .selected_text(current_name)
                .show_ui(ui, |ui| {
                    for (choice, name) in ColouringChoice::ALL {
                        ui.selectable_value(&mut chosen, choice, name);
                    }
                })
                .response
                .labelled_by(label.id);
            if chosen != current {
                self.commands.push(Command::UseColouring(chosen));
            }
        });
        match self.settings.colouring {
            Colouring::Distance { line_width_px } => {
                ui.horizontal(|ui| {
                    let mut width = line_width_px;
                    let label = ui.label("Line width (px)");
                    if ui
                        .add(egui::Slider::new(&mut width, 0.25..=50.0).logarithmic(true))
                        .labelled_by(label.id)
                        .changed()
                    {
                        self.commands.push(Command::SetLineWidth(width));
                    }
                });
            }
            Colouring::Slope {
                light_angle_degrees,
            } => {
                ui.horizontal(|ui| {
                    let mut angle = light_angle_degrees;
                    let label = ui.label("Light from (°)");
                    if ui
                        .add(egui::Slider::new(&mut angle, 0.0..=360.0))
                        .labelled_by(label.id)
                        .on_hover_text("0: from the right, 90: from the top")
                        .changed()
                    {
                        self.commands.push(Command::SetLightAngle(angle));
                    }
                });
            }
            _ => {}
        }
        let error = self.notices.colouring_error.as_ref().filter(|_| using_lua);
        let error_text = error.map(ToString::to_string);
        // One line kept for the message either way, so the editor does not jump.
        match &error_text {
            Some(text) => ui.colored_label(ui.visuals().error_fg_color, text),
            None if using_lua => {
                ui.weak("colour(v) returns r, g, b in 0..1; the image recolours as you type")
            }
            // Distance and slope come from the formula's derivative, in f64.
            None if self.settings.colouring.needs_derivatives()
                && !self.rendering.kernel_perturbs =>
            {
                ui.label("This kernel declares no formula: no distance or slope, smooth colours")
            }
            None if self.settings.colouring.needs_derivatives()
                && self
                    .rendering
                    .shown_precision
                    .is_some_and(|precision| !precision.carries_derivatives()) =>
            {
                ui.label("No distance or slope in double-double: smooth colours")
            }
            None => ui.weak("Choose \"the Lua below\" to colour with this code"),
        };
        let response = editor_ui(
            ui,
            COLOURING_SOURCE_LABEL,
            &mut self.settings.colouring_source,
            error.and_then(ColouringError::line),
            error_text.as_deref(),
            false,
        );
        self.layout.editor_has_focus = response.has_focus;
        if response.changed {
            self.commands.push(Command::ColouringEdited);
        }
    }

    /// The kernel picker, file buttons, Run, messages, the log and the editor.
    fn kernel_editor_panel(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        self.kernel_buttons(ctx, ui);
        let error = self.settings.kernel.last_error();
        let error_text = error.map(ToString::to_string);
        // The messages take a strip of fixed height (scrolled when they need more), so the
        // editor below stays put when one appears or goes.
        let strip_height = 2.0 * ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        let (strip, _) = ui.allocate_exact_size(
            egui::vec2(ui.available_width(), strip_height),
            egui::Sense::hover(),
        );
        let mut strip_ui = ui.new_child(egui::UiBuilder::new().max_rect(strip));
        egui::ScrollArea::vertical()
            .id_salt("kernel-messages")
            .max_height(strip_height)
            .auto_shrink([false, false])
            .show(&mut strip_ui, |ui| {
                self.kernel_messages_ui(ui, error_text.as_deref());
            });
        let error_line = match error {
            Some(RenderError::Kernel(error)) => error.line(),
            _ => None,
        };
        if !self.notices.log.is_empty() {
            egui::CollapsingHeader::new(format!(
                "Kernel output ({} lines)",
                self.notices.log.len()
            ))
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .max_height(120.0)
                    .stick_to_bottom(true)
                    .show(ui, |ui| {
                        for line in &self.notices.log {
                            ui.monospace(line);
                        }
                    });
            });
        }
        let response = editor_ui(
            ui,
            SOURCE_LABEL,
            self.settings.kernel.text_mut(),
            error_line,
            error_text.as_deref(),
            std::mem::take(&mut self.layout.editor_scroll_to_start),
        );
        self.layout.editor_has_focus = response.has_focus;
        if response.changed {
            self.commands.push(Command::KernelEdited);
        }
    }

    /// What the kernel panel tells: the last file operation, the file on disk, a stopped
    /// render, the last run's error.
    fn kernel_messages_ui(&self, ui: &mut Ui, error_text: Option<&str>) {
        if let Some(text) = error_text {
            ui.colored_label(ui.visuals().error_fg_color, text);
            ui.weak("The image shown is the last one that rendered.");
        }
        match &self.notices.file_on_disk {
            Some(Ok(done)) => {
                ui.label(done);
            }
            Some(Err(warning)) => {
                ui.colored_label(ui.visuals().warn_fg_color, warning);
            }
            None => {}
        }
        if let Some(notice) = &self.notices.render_stopped {
            ui.colored_label(ui.visuals().warn_fg_color, notice);
        }
        if let Some(outcome) = &self.notices.file_outcome {
            match outcome {
                FileOutcome::Reading(path) => ui.weak(format!("Reading {}…", path.display())),
                FileOutcome::Opened(path) => ui.weak(format!("Opened {}", path.display())),
                FileOutcome::Saved(path) => ui.weak(format!("Saved {}", path.display())),
                FileOutcome::Failed(error) => {
                    ui.colored_label(ui.visuals().error_fg_color, error.to_string())
                }
                FileOutcome::OpenFailed(error) => ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Not opened: {error}. The editor kept its text."),
                ),
            };
        }
    }

    fn kernel_buttons(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Kernel");
            egui::ComboBox::from_id_salt("kernel-picker")
                .selected_text(self.settings.kernel.name())
                .show_ui(ui, |ui| {
                    for kernel in SHIPPED_KERNELS {
                        if ui.selectable_label(false, kernel.name).clicked() {
                            self.commands.push(Command::LoadShipped(kernel.name));
                        }
                    }
                })
                .response
                .labelled_by(label.id);
            for (text, command) in [
                ("Open…", Command::OpenKernel),
                ("Save", Command::SaveKernel),
                ("Save as…", Command::SaveKernelAs),
            ] {
                if ui
                    .button(text)
                    .on_hover_text(hint(ctx, &command, ""))
                    .clicked()
                {
                    self.commands.push(command);
                }
            }
            if !self.settings.recent_files.is_empty() {
                ui.menu_button("Recent", |ui| {
                    for path in &self.settings.recent_files {
                        if ui.button(path.display().to_string()).clicked() {
                            self.commands.push(Command::OpenKernelFile(path.clone()));
                        }
                    }
                });
            }
        });
        ui.horizontal(|ui| {
            if ui
                .button("Run")
                .on_hover_text(hint(ctx, &Command::Run, ""))
                .clicked()
            {
                self.commands.push(Command::Run);
            }
            let mut auto_run = self.settings.auto_run;
            if ui
                .checkbox(&mut auto_run, "Auto-run")
                .on_hover_text("Render 0.3 s after typing stops")
                .changed()
            {
                self.commands.push(Command::SetAutoRun(auto_run));
            }
            if self.settings.kernel.is_dirty() {
                ui.weak("(unsaved changes)");
            }
        });
    }

    fn side_panel(&mut self, ctx: &egui::Context, ui: &mut Ui) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading("View");
                let size_px = self.image_size_px();
                let mut commands = controls_ui(ui, &self.settings, size_px);
                match &self.notices.gradient_outcome {
                    Some(Ok(done)) => {
                        ui.weak(done);
                    }
                    Some(Err(why)) => {
                        ui.colored_label(ui.visuals().error_fg_color, why);
                    }
                    None => {}
                }
                let parameters = self.parameters();
                if !parameters.is_empty() {
                    ui.separator();
                    ui.heading("Parameters");
                    commands.extend(parameters_ui(
                        ui,
                        &parameters,
                        self.gestures.picking.as_deref(),
                    ));
                }
                ui.separator();
                ui.horizontal(|ui| {
                    let history = &self.settings.history;
                    for (text, enabled, command, what) in [
                        ("Back", history.can_go_back(), Command::Back, ""),
                        ("Forward", history.can_go_forward(), Command::Forward, ""),
                        ("Home", true, Command::Home, "the kernel's home view"),
                        (
                            "Copy location",
                            true,
                            Command::CopyLocation,
                            "the view as text, every digit (paste a location over the \
                             image to go there)",
                        ),
                    ] {
                        if ui
                            .add_enabled(enabled, egui::Button::new(text))
                            .on_hover_text(hint(ctx, &command, what))
                            .clicked()
                        {
                            commands.push(command);
                        }
                    }
                });
                match &self.notices.location {
                    Some(Ok(notice)) => {
                        ui.label(notice);
                    }
                    Some(Err(why)) => {
                        ui.colored_label(ui.visuals().error_fg_color, why);
                    }
                    None => {}
                }
                if ui
                    .button("Export PNG…")
                    .on_hover_text(hint(ctx, &Command::ShowExport, ""))
                    .clicked()
                {
                    commands.push(Command::ShowExport);
                }
                ui.separator();
                ui.heading("Timings");
                let response = self.timings.ui(ui, self.threads.background.is_busy());
                if response.start_benchmark {
                    commands.push(Command::RunBenchmark);
                }
                if response.cancel_benchmark {
                    commands.push(Command::CancelBackground);
                }
                for command in commands {
                    self.commands.push(command);
                }
            });
    }

    /// One line, truncated to the window's width: anything wider would widen the root
    /// layout, move the other panels and change the view area (and so the image size).
    fn status_bar(&self, ui: &mut Ui) {
        let view = self.view();
        let (width, height) = self.image_size_px();
        let mut parts = Vec::new();
        let precision = PrecisionChoice::Auto
            .resolve(
                (
                    self.rendering.kernel_perturbs,
                    self.rendering.kernel_is_deep,
                ),
                &view,
                height,
            )
            .unwrap_or_default();
        let limited = match precision {
            Precision::Double => view.near_precision_limit(height),
            // pixel_deep takes pixels' points in double-double.
            Precision::DoubleDouble => view.near_double_double_limit(height),
            // Pixels' offsets come from the view's exact centre, at any renderable depth.
            Precision::Perturbation => false,
        };
        if limited {
            parts.push(match precision {
                Precision::Double if self.rendering.kernel_is_deep => {
                    "WARNING: near the limit of f64 precision".to_owned()
                }
                Precision::Double => "WARNING: near the limit of f64 precision, neighbouring \
                    pixels are barely distinct (a kernel with pixel_deep goes deeper)"
                    .to_owned(),
                Precision::DoubleDouble | Precision::Perturbation => {
                    "WARNING: near the limit of double-double coordinates, neighbouring \
                     pixels are barely distinct (a kernel with a formula goes deeper)"
                        .to_owned()
                }
            });
        }
        // Enough decimals to tell neighbouring pixels apart, and two more (at any depth:
        // the pixel size from the span's logarithm).
        let pixel_log10 = (view.span.log2() - f64::from(height.max(1)).log2()) * LOG10_2;
        let places = (-pixel_log10.floor() as i64 + 2).clamp(3, 400) as usize;
        // Deep, the digits run to hundreds: the bar shows their start and their end (where
        // neighbouring pixels differ), and Copy location gives them all.
        let digits = |value: &BigFloat| elided(&value.to_fixed(places), MAX_READOUT_CHARS);
        match &self.canvas.hover_point {
            Some((x, y)) => parts.push(format!("x = {}  y = {}", digits(x), digits(y))),
            None => parts.push(format!(
                "centre {}, {}",
                digits(&view.center_x),
                digits(&view.center_y)
            )),
        }
        match (precision, self.rendering.shown_reference) {
            (Precision::Perturbation, Some(reference)) => parts.push(format!(
                "precision: perturbation ({} iterations, {} bits)",
                grouped(reference.iterations as u64),
                reference.bits
            )),
            (Precision::Double, _) if self.rendering.shown_interleaved => {
                parts.push("precision: f64, interleaved pixels".to_owned());
            }
            _ => parts.push(format!("precision: {}", precision.label())),
        }
        let mut limit_cuts = false;
        match self.rendering.shown_max_iter {
            Some((
                max_iter,
                MaxIterChoice::Automatic {
                    still_cuts: false, ..
                },
            )) => {
                parts.push(format!("max_iter {} (automatic)", grouped(max_iter)));
            }
            Some((
                max_iter,
                MaxIterChoice::Automatic {
                    still_cuts: true,
                    memory_bound,
                },
            )) => {
                limit_cuts = true;
                let remedy = if memory_bound {
                    "a higher one's reference orbit would pass the memory limit"
                } else {
                    "set a higher one to see more"
                };
                parts.push(format!(
                    "WARNING: many pixels reach max_iter {} (automatic): {remedy}",
                    grouped(max_iter)
                ));
            }
            _ => {}
        }
        parts.push(format!(
            "zoom {}×",
            view.zoom_text_relative_to(&self.rendering.kernel_home)
        ));
        parts.push(format!("{width}×{height} px"));
        if let Some(progress) = &self.canvas.progress {
            let rows_done = progress.rows_done();
            parts.push(match progress.reference_iterations {
                Some((done, max_iter)) if rows_done == 0 => format!(
                    "rendering: reference orbit {} of {} iterations",
                    grouped(done),
                    grouped(max_iter)
                ),
                _ => format!("rendering: {rows_done} of {height} rows"),
            });
        }
        match &self.gestures.picking {
            // First: the bar is cut at the window's edge, and this is what to do next.
            Some(name) => parts.insert(
                0,
                format!("PICKING: click the image to set {name} (Esc cancels)"),
            ),
            None => parts.push(
                "drag: pan, wheel: zoom, Shift+drag: zoom box, double-click: zoom in".to_owned(),
            ),
        }
        let text = egui::RichText::new(parts.join("   |   ")).monospace();
        let text = if limited || limit_cuts || self.gestures.picking.is_some() {
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
        let current = self.image_size_px();
        egui::Window::new("Export PNG")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                self.export_resolution_ui(ui, current);
                ui.separator();
                match self.export.progress {
                    Some((done, total)) => {
                        if let Some((iterations_done, max_iter)) = self.export.reference {
                            ui.label(format!(
                                "Reference orbit: {} of {} iterations",
                                grouped(iterations_done),
                                grouped(max_iter)
                            ));
                        }
                        ui.add(
                            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                                .show_percentage(),
                        );
                        if ui.button("Cancel export").clicked() {
                            self.commands.push(Command::CancelBackground);
                        }
                    }
                    None => {
                        let enabled = !self.threads.background.is_busy()
                            && self.threads.dialogs.open_dialog().is_none();
                        if ui
                            .add_enabled(enabled, egui::Button::new("Choose file and export…"))
                            .clicked()
                        {
                            self.commands.push(Command::ChooseExportFile);
                        }
                    }
                }
                match &self.export.outcome {
                    Some(Ok(path)) => {
                        ui.label(format!("Exported {}", path.display()));
                    }
                    Some(Err(ExportFailure::Render(RenderError::Cancelled))) => {
                        ui.label("Export cancelled.");
                    }
                    Some(Err(error)) => {
                        ui.colored_label(
                            ui.visuals().error_fg_color,
                            format!("Export failed: {error}"),
                        );
                    }
                    None => {}
                }
            });
        if !open {
            self.commands.push(Command::HideExport);
        }
    }

    /// The export's resolution choices, each with the size it gives.
    fn export_resolution_ui(&mut self, ui: &mut Ui, current: (u32, u32)) {
        let mut scale = self.settings.export_scale;
        ui.label("Resolution");
        for (choice, text) in [
            (ExportScale::Current, "current"),
            (ExportScale::Double, "2×"),
            (ExportScale::Quadruple, "4×"),
        ] {
            let (width, height) = choice.size_px(current);
            ui.radio_value(&mut scale, choice, format!("{text} ({width}×{height})"));
        }
        ui.horizontal(|ui| {
            let custom = matches!(scale, ExportScale::CustomWidth(_));
            if ui.radio(custom, "custom width").clicked() && !custom {
                scale = ExportScale::CustomWidth(current.0);
            }
            if let ExportScale::CustomWidth(width) = &mut scale {
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
        if scale != self.settings.export_scale {
            self.commands.push(Command::SetExportScale(scale));
        }
        ui.horizontal(|ui| {
            let label = ui.label("Supersampling");
            let mut samples = self.settings.export_supersample;
            egui::ComboBox::from_id_salt("export-supersample")
                .selected_text(if samples == 1 {
                    "off".to_owned()
                } else {
                    format!("{samples}×{samples}")
                })
                .show_ui(ui, |ui| {
                    for choice in 1..=4 {
                        let text = if choice == 1 {
                            "off".to_owned()
                        } else {
                            format!("{choice}×{choice} samples")
                        };
                        ui.selectable_value(&mut samples, choice, text);
                    }
                })
                .response
                .labelled_by(label.id)
                .on_hover_text("Smooth edges: each pixel averages N×N samples in linear light");
            if samples != self.settings.export_supersample {
                self.commands.push(Command::SetExportSupersample(samples));
            }
        });
        self.film_ui(ui);
        let samples = u64::from(self.settings.export_supersample).pow(2);
        if samples > 1 {
            let work = u64::from(width) * u64::from(height) * samples;
            let estimate = self.timings.runs.last().map(|run| {
                let pixels = u64::from(run.size_px.0) * u64::from(run.size_px.1);
                run.timings.wall_secs * work as f64 / pixels.max(1) as f64
            });
            ui.weak(match estimate {
                Some(secs) => {
                    format!("{samples}× the work: about {secs:.0} s at the last run's speed")
                }
                None => format!("{samples}× the work"),
            });
        }
    }

    /// A zoom film from the current view to a marked one, at the export's size.
    fn film_ui(&mut self, ui: &mut Ui) {
        ui.separator();
        ui.label("Zoom film (frames at the size above)");
        ui.horizontal(|ui| {
            if ui
                .button("Mark this view as the end")
                .on_hover_text("Then move to where the film starts and record")
                .clicked()
            {
                self.commands.push(Command::MarkFilmEnd);
            }
            let label = ui.label("Frames");
            let mut frames = self.settings.film_frames;
            ui.add(egui::DragValue::new(&mut frames).range(2..=MAX_FILM_FRAMES))
                .labelled_by(label.id);
            if frames != self.settings.film_frames {
                self.commands.push(Command::SetFilmFrames(frames));
            }
        });
        match &self.settings.film_end {
            Some(end) => {
                ui.weak(format!(
                    "end: centre {}, {}, span {}",
                    end.center_x.to_fixed(6),
                    end.center_y.to_fixed(6),
                    end.span.to_significant(3)
                ));
            }
            None => {
                ui.weak("Mark the end view first.");
            }
        }
        let enabled = self.settings.film_end.is_some()
            && !self.threads.background.is_busy()
            && self.threads.dialogs.open_dialog().is_none();
        if ui
            .add_enabled(enabled, egui::Button::new("Choose folder and record…"))
            .clicked()
        {
            self.commands.push(Command::ChooseFilmFolder);
        }
    }

    fn replace_confirmation(&mut self, ctx: &egui::Context) {
        let Some(pending) = &self.pending_replace else {
            return;
        };
        let what = match pending.kernel.source_path() {
            Some(path) => path.display().to_string(),
            None => pending.kernel.name(),
        };
        let current = self.settings.kernel.name();
        let mut decision = None;
        egui::Modal::new(egui::Id::unique("moonbrot-replace-kernel")).show(ctx, |ui| {
            ui.heading("Replace the editor's text?");
            ui.label(format!(
                "Loading {what} replaces your unsaved changes to {current}."
            ));
            ui.horizontal(|ui| {
                if ui.button("Replace").clicked() {
                    decision = Some(Command::ConfirmReplace);
                }
                if ui.button("Keep my text").clicked() {
                    decision = Some(Command::KeepText);
                }
            });
        });
        if let Some(command) = decision {
            self.commands.push(command);
        }
    }
}

/// `count` with its thousands separated by commas (`2,600,000`), for counts a reader
/// compares at a glance.
fn grouped(count: impl Into<u64>) -> String {
    let count: u64 = count.into();
    let digits = count.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// The most characters a coordinate takes in the status bar.
const MAX_READOUT_CHARS: usize = 44;

/// `text` if it has at most `max_chars` characters, else its start and its end around
/// "…" (the end: the digits that tell neighbouring pixels apart).
fn elided(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_owned();
    }
    let head = max_chars / 2;
    let tail = max_chars - head - 1;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_coordinates_keep_their_start_and_end() {
        assert_eq!(elided("-0.743", 44), "-0.743");
        let deep = format!("+0.{}123456789", "0".repeat(300));
        let shown = elided(&deep, 44);
        assert_eq!(shown.chars().count(), 44);
        assert!(
            shown.starts_with("+0.000") && shown.ends_with("0123456789"),
            "{shown}"
        );
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0_u32), "0");
        assert_eq!(grouped(999_u32), "999");
        assert_eq!(grouped(2_600_000_u64), "2,600,000");
    }
}
