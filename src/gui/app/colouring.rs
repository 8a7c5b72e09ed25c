//! The window's colourings: the smooth palette recolours on the UI thread (a few
//! milliseconds); a Lua colouring runs on the colouring thread over the values of the image
//! on screen, after each render and each change of palette or colouring, and its colours
//! replace the texture when they arrive (only the newest job's). The colouring editor's
//! commands: its tab, its text, and whether its Lua is used.

use std::sync::Arc;
use std::time::Instant;

use super::MoonbrotApp;
use crate::engine::output::{Colouring, ColouringOptions, colour_image};
use crate::engine::{CancelToken, OutputMode, ValueImage};
use crate::gui::commands::{Command, RenderSetting};
use crate::gui::scheduler::Change;
use crate::gui::settings::{ColouringChoice, EditorTab};
use crate::gui::workers::ColouringJob;

/// The name a colouring from the window's editor goes by in documents and messages.
pub(super) const WINDOW_COLOURING_NAME: &str = "colouring";

impl MoonbrotApp {
    /// What a new setting asks of the scheduler: a recolour for the palette or a
    /// colouring, a render for anything else, and for a colouring that needs the distance
    /// and slope values when the image on screen was rendered without them.
    pub(super) fn change_of_setting(&self, setting: &RenderSetting) -> Change {
        let has_derivatives = self.canvas.base.as_ref().is_some_and(|base| {
            base.image
                .channel_names
                .iter()
                .any(|name| name == "distance")
        });
        match setting {
            RenderSetting::Colouring(colouring)
                if colouring.needs_derivatives() && !has_derivatives =>
            {
                Change::RenderSettings
            }
            RenderSetting::Palette(_) | RenderSetting::Colouring(_) => Change::Palette,
            _ => Change::RenderSettings,
        }
    }

    /// Why the Lua colouring in use failed last, if it did.
    pub fn colouring_error(&self) -> Option<&crate::engine::output::ColouringError> {
        self.notices.colouring_error.as_ref()
    }

    /// Recolours the images on screen with the palette and the colouring in use.
    pub(super) fn recolour(&mut self, ctx: &egui::Context) {
        let palette = self.settings.palette.clone();
        if let Some(mut progress) = self.canvas.progress.take() {
            let names = self.progress_channel_names(progress.output());
            progress.recolour(|rows| self.colour_in_progress(rows), &names);
            self.canvas.progress = Some(progress);
        }
        match &self.settings.colouring {
            Colouring::Smooth => {
                self.rendering.colouring_job = None;
                self.notices.colouring_error = None;
                if let Some(base) = &mut self.canvas.base {
                    base.recolour(&palette);
                }
            }
            _ => self.colour_new_base(),
        }
        ctx.request_repaint();
    }

    /// Options for the Rust colourings (no Lua: no timeout or memory limit applies).
    fn rust_colouring_options(&self) -> ColouringOptions {
        ColouringOptions {
            threads: self.settings.threads,
            timeout: None,
            memory_limit_bytes: 0,
        }
    }

    /// The names of the values of rows in progress with `output`: those of the image on
    /// screen when it has the same output (the preview pass of the same render, or the
    /// last render), so the distance and slope colourings find theirs.
    pub(super) fn progress_channel_names(&self, output: OutputMode) -> Vec<String> {
        self.canvas
            .base
            .as_ref()
            .filter(|base| base.image.output == output)
            .map(|base| base.image.channel_names.clone())
            .unwrap_or_default()
    }

    /// The colours of rows of the render in progress: the colouring in use where it
    /// needs only those rows' values (smooth, distance and slope, in Rust), smooth for the
    /// histogram (it ranks the whole image) and a Lua colouring (its thread colours the
    /// finished image, `colour_new_base`).
    pub(super) fn colour_in_progress(&self, rows: &ValueImage) -> image::RgbImage {
        let palette = &self.settings.palette;
        match &self.settings.colouring {
            colouring @ (Colouring::Distance { .. } | Colouring::Slope { .. }) => {
                let options = self.rust_colouring_options();
                colour_image(rows, palette, colouring, &options, &CancelToken::new())
                    .unwrap_or_else(|_| palette.colourize(rows))
            }
            _ => palette.colourize(rows),
        }
    }

    /// Colours the image just rendered with the colouring in use, if it is not the
    /// smooth one it was drawn with: the Rust colourings here (a few milliseconds), a Lua
    /// one on the colouring thread.
    pub(super) fn colour_new_base(&mut self) {
        match &self.settings.colouring {
            Colouring::Smooth => {}
            Colouring::Lua { .. } => self.colour_base(),
            colouring => {
                self.rendering.colouring_job = None;
                self.notices.colouring_error = None;
                let palette = self.settings.palette.clone();
                let options = self.rust_colouring_options();
                if let Some(base) = &mut self.canvas.base
                    && let Ok(colours) = colour_image(
                        &base.image,
                        &palette,
                        colouring,
                        &options,
                        &CancelToken::new(),
                    )
                {
                    base.show_colours(&colours);
                    base.palette = palette;
                }
            }
        }
    }

    /// Starts the Lua colouring of the image on screen, if one is in use.
    pub(super) fn colour_base(&mut self) {
        let (Some(base), Colouring::Lua { .. }) = (&self.canvas.base, &self.settings.colouring)
        else {
            return;
        };
        let job = ColouringJob {
            image: Arc::new(base.image.clone()),
            palette: self.settings.palette.clone(),
            colouring: self.settings.colouring.clone(),
            threads: self.settings.threads,
        };
        self.rendering.colouring_job = Some(self.threads.colouring.colour(job));
    }

    /// Shows what the colouring thread finished: the newest job's colours, or its error
    /// (the image keeps the colours it had).
    pub(super) fn poll_colouring(&mut self) {
        for done in self.threads.colouring.poll() {
            if Some(done.id) != self.rendering.colouring_job {
                continue; // a superseded job
            }
            match done.result {
                Ok(colours) => {
                    self.notices.colouring_error = None;
                    if let Some(base) = &mut self.canvas.base
                        && base.size_px() == (colours.width(), colours.height())
                    {
                        base.show_colours(&colours);
                    }
                }
                Err(error) => self.notices.colouring_error = Some(error),
            }
        }
    }

    /// Applies the colouring editor's commands.
    pub(super) fn apply_colouring_command(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::ShowEditorTab(tab) => self.settings.editor_tab = tab,
            Command::ColouringEdited => {
                if matches!(self.settings.colouring, Colouring::Lua { .. }) {
                    self.use_editor_colouring(ctx);
                }
                // The colouring's text lives in the settings: handed to the autosave at
                // once, not at the next periodic save, so a kill loses none of it.
                if self.screenshot.is_none()
                    && let Some(autosave) = &mut self.threads.autosave
                {
                    autosave.offer_settings(&self.settings);
                }
            }
            Command::UseColouring(ColouringChoice::Lua) => self.use_editor_colouring(ctx),
            Command::UseColouring(ColouringChoice::Smooth) => {
                self.apply(
                    ctx,
                    Command::Set(RenderSetting::Colouring(Colouring::Smooth)),
                );
            }
            Command::UseColouring(ColouringChoice::Histogram) => {
                self.apply(
                    ctx,
                    Command::Set(RenderSetting::Colouring(Colouring::Histogram)),
                );
            }
            Command::UseColouring(ColouringChoice::Distance) => {
                let colouring = Colouring::Distance {
                    line_width_px: self.settings.line_width_px,
                };
                self.apply(ctx, Command::Set(RenderSetting::Colouring(colouring)));
            }
            Command::UseColouring(ColouringChoice::Slope) => {
                let colouring = Colouring::Slope {
                    light_angle_degrees: self.settings.light_angle_degrees,
                };
                self.apply(ctx, Command::Set(RenderSetting::Colouring(colouring)));
            }
            Command::SetLineWidth(width) => {
                self.settings.line_width_px = width.clamp(0.25, 50.0);
                if matches!(self.settings.colouring, Colouring::Distance { .. }) {
                    self.apply_colouring_command(
                        ctx,
                        Command::UseColouring(ColouringChoice::Distance),
                    );
                }
            }
            Command::SetLightAngle(degrees) => {
                self.settings.light_angle_degrees = degrees.rem_euclid(360.0);
                if matches!(self.settings.colouring, Colouring::Slope { .. }) {
                    self.apply_colouring_command(
                        ctx,
                        Command::UseColouring(ColouringChoice::Slope),
                    );
                }
            }
            _ => {}
        }
    }

    /// Colours with the colouring editor's text.
    fn use_editor_colouring(&mut self, ctx: &egui::Context) {
        let colouring = Colouring::Lua {
            name: WINDOW_COLOURING_NAME.to_owned(),
            source: self.settings.colouring_source.clone(),
        };
        self.apply(ctx, Command::Set(RenderSetting::Colouring(colouring)));
    }

    /// Puts a document's colouring in use: a Lua one also fills the colouring editor, and
    /// distance and slope set their sliders.
    pub(super) fn use_stored_colouring(&mut self, colouring: Colouring) {
        match &colouring {
            Colouring::Lua { source, .. } => {
                self.settings.colouring_source.clone_from(source);
                self.settings.editor_tab = EditorTab::Colouring;
            }
            Colouring::Distance { line_width_px } => self.settings.line_width_px = *line_width_px,
            Colouring::Slope {
                light_angle_degrees,
            } => self.settings.light_angle_degrees = *light_angle_degrees,
            Colouring::Smooth | Colouring::Histogram => {}
        }
        let changed = self.settings.set(RenderSetting::Colouring(colouring));
        self.scheduler
            .changed_if(changed, Change::Palette, Instant::now());
    }
}
