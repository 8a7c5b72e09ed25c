//! The window's file commands besides opening a kernel: Save writes the kernel; Open
//! gradient reads a GIMP, Fractint or Ultra Fractal gradient and colours with it (a
//! recolour, no render); Save as .ggr writes the gradient in use, whole or not at all.
//! What each did, or why not, is shown (a gradient's under the palette).

use std::path::Path;

use super::MoonbrotApp;
use super::parts::FileOutcome;
use crate::engine::atomic_file::write_atomically;
use crate::engine::kernel::write_kernel_file;
use crate::engine::output::{Palette, read_gradient_file, write_ggr};
use crate::gui::commands::{Command, RenderSetting};
use crate::gui::dialogs::DialogPurpose;

impl MoonbrotApp {
    /// Writes the kernel to `path`, which becomes its file.
    pub(super) fn save_kernel_to(&mut self, path: &Path) {
        self.notices.file_outcome =
            Some(match write_kernel_file(path, self.settings.kernel.text()) {
                Ok(()) => {
                    self.settings.kernel.saved_to(path);
                    self.settings.remember_file(path);
                    FileOutcome::Saved(path.to_owned())
                }
                Err(error) => FileOutcome::Failed(error),
            });
    }

    /// Shows the dialog that picks a gradient file to colour with.
    pub(super) fn ask_for_gradient_file(&mut self, ctx: &egui::Context) {
        self.threads
            .dialogs
            .show(ctx, DialogPurpose::OpenGradient, None);
    }

    /// Shows the dialog that picks where the gradient is saved as a .ggr.
    pub(super) fn ask_where_to_save_gradient(&mut self, ctx: &egui::Context) {
        let name = format!("{}.ggr", self.settings.palette.gradient.name());
        self.threads
            .dialogs
            .show(ctx, DialogPurpose::ExportGradient, Some(name));
    }

    /// Colours with the gradient in `path`; a bad file is said so and changes nothing.
    pub(super) fn open_gradient_file(&mut self, ctx: &egui::Context, path: &Path) {
        match read_gradient_file(&path.to_string_lossy()) {
            Ok(gradient) => {
                self.notices.gradient_outcome = Some(Ok(format!("Opened {}", path.display())));
                let palette = Palette {
                    gradient,
                    ..self.settings.palette.clone()
                };
                self.apply(ctx, Command::Set(RenderSetting::Palette(palette)));
            }
            Err(error) => self.notices.gradient_outcome = Some(Err(error.to_string())),
        }
    }

    /// Writes the gradient in use to `path` as a GIMP gradient.
    pub(super) fn save_gradient_to(&mut self, path: &Path) {
        let text = write_ggr(&self.settings.palette.gradient);
        self.notices.gradient_outcome = Some(
            write_atomically(path, text.as_bytes())
                .map(|()| format!("Saved {}", path.display()))
                .map_err(|error| format!("Could not save {}: {error}", path.display())),
        );
    }
}
