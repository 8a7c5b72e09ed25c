//! What the app shows of its state to the tests and to its own panels: the settings, the
//! view, the image on screen, the last error, timings and whether anything is busy. Reading
//! only; every change goes through `MoonbrotApp::apply`.

use std::path::PathBuf;
use std::time::Instant;

use super::super::commands::Command;
use super::super::edited_kernel::EditedKernel;
use super::super::settings::Settings;
use super::super::workers::ExportFailure;
use super::{MoonbrotApp, fit_texture};
use crate::engine::kernel::{ParameterSpec, ParameterValue, resolve_leniently};
use crate::engine::{Precision, RenderError, View};

impl MoonbrotApp {
    /// Why automatic rendering is paused, if it is.
    pub fn paused_reason(&self) -> Option<&str> {
        self.scheduler.paused_reason()
    }

    /// The settings (read by tests and the screenshot check).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The kernel being edited.
    pub fn kernel(&self) -> &EditedKernel {
        &self.settings.kernel
    }

    /// Replaces the editor's text as if the user had typed it (for tests).
    pub fn type_kernel(&mut self, text: &str) {
        self.settings.kernel.set_text(text.to_owned());
        self.commands.push(Command::KernelEdited);
    }

    /// The view being shown: the user's, or the kernel's home.
    pub fn view(&self) -> View {
        self.settings
            .view
            .clone()
            .unwrap_or_else(|| self.rendering.kernel_home.clone())
    }

    /// The image size for the current view area: the chosen size, scaled down (keeping its
    /// aspect ratio) to the largest texture the GPU takes. Exports are not limited.
    pub fn image_size_px(&self) -> (u32, u32) {
        fit_texture(
            self.settings.size.size_px(self.layout.view_area_px),
            self.layout.max_texture_side,
        )
    }

    /// The last run's error, if it failed.
    pub fn error(&self) -> Option<&RenderError> {
        self.settings.kernel.last_error()
    }

    /// The time the latest UI frame took to build and the worst of the recent ones, in
    /// seconds (also shown in the timings panel).
    pub fn frame_secs(&self) -> (f64, f64) {
        self.timings.frame_secs()
    }

    /// The finished runs, oldest first.
    pub fn runs(&self) -> &[super::super::timings::RunRecord] {
        &self.timings.runs
    }

    /// The view area on screen, in points.
    pub fn canvas_rect(&self) -> egui::Rect {
        self.canvas.area
    }

    /// The arithmetic the last finished render's coordinates were in.
    pub fn shown_precision(&self) -> Option<Precision> {
        self.rendering.shown_precision
    }

    /// What the last copy or paste of a location said, if it is still shown.
    pub fn location_notice(&self) -> Option<&str> {
        self.notices.location.as_ref().map(|notice| match notice {
            Ok(text) | Err(text) => text.as_str(),
        })
    }

    /// The image on screen (the last complete render), if any.
    pub fn shown_image(&self) -> Option<(&View, &crate::engine::ValueImage)> {
        self.canvas
            .base
            .as_ref()
            .map(|layer| (&layer.view, &layer.image))
    }

    /// The palette the image on screen is coloured with, if an image is shown.
    pub fn shown_palette(&self) -> Option<crate::engine::output::Palette> {
        self.canvas.base.as_ref().map(|layer| layer.palette.clone())
    }

    /// A one-line account of what keeps the app busy (for test failure messages).
    pub fn busy_reasons(&self) -> String {
        format!(
            "render due in {:?}, rendering {}, background {}, dialog {:?}, size {:?}",
            self.scheduler.due_in(Instant::now()),
            self.canvas.progress.is_some(),
            self.threads.background.is_busy(),
            self.threads.dialogs.open_dialog(),
            self.image_size_px(),
        )
    }

    /// True while a render of the edited kernel is in flight.
    pub fn is_rendering(&self) -> bool {
        self.canvas.progress.is_some()
    }

    /// True while a render is due or in flight, or a background job or dialog runs.
    pub fn is_busy(&self) -> bool {
        self.scheduler.is_due()
            || self.canvas.progress.is_some()
            || self.threads.background.is_busy()
            || self.threads.opening.is_busy()
            || self.threads.colouring.is_busy()
            || self.threads.dialogs.open_dialog().is_some()
    }

    /// The parameters of the last kernel that rendered, and their values as the window will
    /// render them.
    pub fn parameters(&self) -> Vec<(ParameterSpec, ParameterValue)> {
        resolve_leniently(&self.rendering.kernel_parameters, &self.settings.parameters)
            .into_iter()
            .zip(&self.rendering.kernel_parameters)
            .map(|((_, value), spec)| (spec.clone(), value))
            .collect()
    }

    /// The complex parameter the next click on the image sets, if picking.
    pub fn picking(&self) -> Option<&str> {
        self.gestures.picking.as_deref()
    }

    /// The last export's outcome: the path written, or why not.
    pub fn export_outcome(&self) -> Option<&Result<PathBuf, ExportFailure>> {
        self.export.outcome.as_ref()
    }
}
