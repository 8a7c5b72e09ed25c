//! The window follows the kernel's file: when another program (the user's own editor)
//! saves it, the window takes the new text and renders it at once, keeping the view; when
//! the editor holds unsaved edits it asks first; a deleted or renamed file is said so. The
//! file is read once when the following starts, so a file changed while moonbrot was
//! closed is taken up (or asked about) at the next start too.

use std::path::Path;
use std::time::Instant;

use super::MoonbrotApp;
use crate::gui::commands::Command;
use crate::gui::file_watch::{FileChange, FileFollower};
use crate::gui::scheduler::Change;

impl MoonbrotApp {
    /// Keeps the follower on the kernel's file (none for shipped, untitled or PNG kernels)
    /// and takes in what changed on disk.
    pub(super) fn follow_kernel_file(&mut self, ctx: &egui::Context, now: Instant) {
        // Compared without copying the paths: this runs every frame.
        let wanted = self.settings.kernel.file_path();
        let following = self.threads.follower.as_ref().map(FileFollower::path);
        if wanted != following {
            let wanted = wanted.map(Path::to_path_buf);
            self.threads.follower = None;
            self.notices.pending_reload = None;
            self.notices.file_on_disk = None;
            if let Some(path) = wanted {
                let waker = ctx.clone();
                match FileFollower::follow(&path, move || waker.request_repaint()) {
                    Ok(follower) => self.threads.follower = Some(follower),
                    Err(error) => {
                        self.notices.file_on_disk = Some(Err(format!(
                            "Changes to {} by other programs are not followed: {error}",
                            path.display()
                        )));
                    }
                }
            }
        }
        let Some(change) = self
            .threads
            .follower
            .as_ref()
            .and_then(FileFollower::latest_change)
        else {
            return;
        };
        let path = self
            .threads
            .follower
            .as_ref()
            .map(|follower| follower.path().display().to_string())
            .unwrap_or_default();
        match change {
            FileChange::Changed(text) => {
                self.notices.file_on_disk = None;
                self.notices.pending_reload = None;
                if text == self.settings.kernel.text() {
                    // Our own save, or another program saved what the editor holds.
                    self.settings.kernel.matches_file();
                } else if self.settings.kernel.is_saved_as(&text) {
                    // The file holds what it held: the editor's edits are simply unsaved.
                } else if self.settings.kernel.is_dirty() {
                    self.notices.pending_reload = Some(text);
                } else {
                    self.reload_from_disk(text, now);
                }
            }
            FileChange::Gone => {
                self.notices.pending_reload = None;
                self.settings.kernel.file_gone();
                self.notices.file_on_disk = Some(Err(format!(
                    "{path} was deleted or renamed: your kernel is only in this window now. \
                     Save writes it back there; Save as puts it elsewhere."
                )));
            }
            FileChange::Unreadable(why) => {
                self.notices.file_on_disk = Some(Err(format!(
                    "{path} changed on disk but cannot be read ({why}); the editor keeps its text."
                )));
            }
        }
    }

    /// Takes what the kernel's file now holds and renders it at once, at the same view.
    pub(super) fn reload_from_disk(&mut self, text: String, now: Instant) {
        self.settings.kernel.reloaded(text);
        self.notices.file_on_disk = Some(Ok(format!(
            "Reloaded {}: another program saved it.",
            self.settings.kernel.name()
        )));
        self.scheduler.changed(Change::RunAsked, now);
    }

    /// The question when another program saved the kernel's file while the editor holds
    /// unsaved edits.
    pub(super) fn reload_question(&mut self, ctx: &egui::Context) {
        if self.notices.pending_reload.is_none() {
            return;
        }
        let name = self.settings.kernel.name();
        let mut decision = None;
        egui::Modal::new(egui::Id::unique("moonbrot-reload-kernel")).show(ctx, |ui| {
            ui.heading(format!("{name} changed on disk"));
            ui.label(format!(
                "Another program saved {name} while this window holds unsaved changes to it. \
                 Reload it (your changes here are lost), or keep your text (Save then \
                 writes it over the file)."
            ));
            ui.horizontal(|ui| {
                if ui.button("Reload from disk").clicked() {
                    decision = Some(Command::ReloadFromDisk);
                }
                if ui.button("Keep my text").clicked() {
                    decision = Some(Command::KeepOwnEdits);
                }
            });
        });
        if let Some(command) = decision {
            self.commands.push(command);
        }
    }
}
