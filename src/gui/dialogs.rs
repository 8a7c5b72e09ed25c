//! Native file dialogs without blocking the UI: each dialog runs on a helper thread and its
//! answer is polled each frame. `FileDialogs` is the seam tests use to inject paths, so
//! tests never open a real dialog (under Xvfb one could wait forever).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

/// What a dialog was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogPurpose {
    /// Open a .lua kernel or a moonbrot PNG.
    OpenKernel,
    /// Save the kernel to a .lua file.
    SaveKernel,
    /// Choose where to export a PNG.
    ExportPng,
    /// Choose the folder a zoom film's frames go to.
    FilmFolder,
    /// Open a gradient file.
    OpenGradient,
    /// Choose where to save the gradient as a .ggr.
    ExportGradient,
}

/// Picks files. The real one shows rfd dialogs; tests supply their own.
pub trait FileDialogs: Send + Sync {
    /// Asks for a file to open; None if the user cancels.
    fn pick_file_to_open(&self, purpose: DialogPurpose) -> Option<PathBuf>;
    /// Asks where to save, suggesting `file_name`; None if the user cancels.
    fn pick_file_to_save(&self, purpose: DialogPurpose, file_name: &str) -> Option<PathBuf>;
    /// Asks for a folder; None if the user cancels. By default, as for a file to open.
    fn pick_folder(&self, purpose: DialogPurpose) -> Option<PathBuf> {
        self.pick_file_to_open(purpose)
    }
}

/// rfd's native dialogs (xdg portal, or zenity, on Linux).
pub struct NativeFileDialogs;

impl FileDialogs for NativeFileDialogs {
    fn pick_file_to_open(&self, purpose: DialogPurpose) -> Option<PathBuf> {
        dialog_for(purpose).pick_file()
    }

    fn pick_file_to_save(&self, purpose: DialogPurpose, file_name: &str) -> Option<PathBuf> {
        dialog_for(purpose).set_file_name(file_name).save_file()
    }

    fn pick_folder(&self, purpose: DialogPurpose) -> Option<PathBuf> {
        dialog_for(purpose).pick_folder()
    }
}

fn dialog_for(purpose: DialogPurpose) -> rfd::FileDialog {
    match purpose {
        DialogPurpose::OpenKernel => rfd::FileDialog::new()
            .add_filter("Lua kernel or moonbrot PNG", &["lua", "png"])
            .add_filter("All files", &["*"]),
        DialogPurpose::SaveKernel => rfd::FileDialog::new()
            .add_filter("Lua kernel", &["lua"])
            .add_filter("All files", &["*"]),
        DialogPurpose::ExportPng => rfd::FileDialog::new().add_filter("PNG image", &["png"]),
        DialogPurpose::OpenGradient => rfd::FileDialog::new()
            .add_filter(
                "Gradient (GIMP, Fractint, Ultra Fractal)",
                &["ggr", "map", "ugr"],
            )
            .add_filter("All files", &["*"]),
        DialogPurpose::ExportGradient => {
            rfd::FileDialog::new().add_filter("GIMP gradient", &["ggr"])
        }
        DialogPurpose::FilmFolder => {
            rfd::FileDialog::new().set_title("Folder for the film's frames")
        }
    }
}

/// A dialog's answer.
pub struct DialogAnswer {
    /// What it was for.
    pub purpose: DialogPurpose,
    /// The chosen path; None if cancelled.
    pub path: Option<PathBuf>,
}

/// Opens dialogs on helper threads, one at a time.
pub struct Dialogs {
    pickers: Arc<dyn FileDialogs>,
    answers: Receiver<DialogAnswer>,
    sender: Sender<DialogAnswer>,
    open: Option<DialogPurpose>,
}

impl Dialogs {
    /// Dialogs shown by `pickers`.
    pub fn new(pickers: Arc<dyn FileDialogs>) -> Self {
        let (sender, answers) = mpsc::channel();
        Self {
            pickers,
            answers,
            sender,
            open: None,
        }
    }

    /// The dialog being shown, if any.
    pub fn open_dialog(&self) -> Option<DialogPurpose> {
        self.open
    }

    /// Shows a dialog (unless one is already open). `save_name` makes it a save dialog.
    pub fn show(&mut self, ctx: &egui::Context, purpose: DialogPurpose, save_name: Option<String>) {
        if self.open.is_some() {
            return;
        }
        self.open = Some(purpose);
        let pickers = Arc::clone(&self.pickers);
        let sender = self.sender.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("moonbrot-file-dialog".to_owned())
            .spawn(move || {
                let path = match (purpose, save_name) {
                    (DialogPurpose::FilmFolder, _) => pickers.pick_folder(purpose),
                    (_, Some(name)) => pickers.pick_file_to_save(purpose, &name),
                    (_, None) => pickers.pick_file_to_open(purpose),
                };
                let _ = sender.send(DialogAnswer { purpose, path });
                ctx.request_repaint();
            });
        if spawned.is_err() {
            self.open = None;
        }
    }

    /// The answer of the open dialog, once the user has given it.
    pub fn poll(&mut self) -> Option<DialogAnswer> {
        let answer = self.answers.try_recv().ok()?;
        self.open = None;
        Some(answer)
    }
}
