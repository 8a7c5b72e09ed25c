//! Everything a user can ask of the window, as `Command`s. Keys, buttons, menu items, mouse
//! gestures and dropped files all push commands to a `CommandQueue`, and so do the threads'
//! reports that change the settings or the edited kernel (a PNG read, a render's parameter
//! values); the app applies the queue once per frame, in one function
//! (`MoonbrotApp::apply`). Each command has at most one keyboard shortcut, declared once
//! in `SHORTCUTS`; buttons and tooltips take their label from there (so it reads Cmd on
//! macOS and Ctrl elsewhere).

use std::path::PathBuf;

use egui::{Key, KeyboardShortcut, Modifiers};

use super::canvas::ViewChange;
use super::settings::{ColouringChoice, EditorTab, ExportScale, SizeChoice};
use super::workers::OpenedDocument;
use crate::engine::BigFloat;
use crate::engine::kernel::ParameterValue;
use crate::engine::output::{Colouring, Palette};

/// Everything a user can ask for, and what the threads report that changes the settings
/// or the edited kernel (so that every change goes through `apply`).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Render the editor's kernel at the current view (and end a safe start's pause).
    Run,
    /// The editor's text changed (typed in the editor).
    KernelEdited,
    /// Move to a view (from the canvas: drag, wheel, double-click, zoom box, keys).
    Navigate(ViewChange),
    /// The image was clicked at this point, with the view change the canvas made of the
    /// click, if any: while picking, the click sets the parameter; otherwise the view moves.
    ImageClicked {
        /// The complex point clicked.
        point: (BigFloat, BigFloat),
        /// What the canvas made of the click as a view change.
        change: Option<ViewChange>,
    },
    /// The wheel has rested: the zoom gesture is over (its render is due).
    WheelRested,
    /// Go to the kernel's home view.
    Home,
    /// Go back in the view history.
    Back,
    /// Go forward in the view history.
    Forward,
    /// Copy the view's location as text (the CLI's `--center=X,Y --span S`, every digit).
    CopyLocation,
    /// Go to a location pasted as text (over the image, not into a text field).
    PasteLocation(String),
    /// Replace the editor's text with a shipped kernel (asks first if there are unsaved edits).
    LoadShipped(&'static str),
    /// Choose a .lua file or a moonbrot PNG to open (through a dialog).
    OpenKernel,
    /// Open this .lua file or moonbrot PNG (chosen in the dialog, a recent file, dropped on
    /// the window, or named on the command line).
    OpenKernelFile(PathBuf),
    /// Replace the unsaved text with what is waiting (the user confirmed).
    ConfirmReplace,
    /// Keep the unsaved text (the user declined the replacement).
    KeepText,
    /// Take what the kernel's file now holds, as another program saved it (the user chose
    /// it over the editor's unsaved edits).
    ReloadFromDisk,
    /// Keep the editor's edits over what another program saved to the kernel's file.
    KeepOwnEdits,
    /// Save the kernel to its file, or ask where.
    SaveKernel,
    /// Save the kernel to a new file (through a dialog).
    SaveKernelAs,
    /// Save the kernel to this file.
    SaveKernelTo(PathBuf),
    /// Show the export window.
    ShowExport,
    /// Hide the editor panel, or show it again.
    ToggleEditor,
    /// Hide the settings panel, or show it again.
    ToggleSettings,
    /// Close the export window.
    HideExport,
    /// Choose the export's resolution.
    SetExportScale(ExportScale),
    /// Choose the export's samples per pixel along each side (1 to 8).
    SetExportSupersample(u32),
    /// Mark the current view as the end of a zoom film.
    MarkFilmEnd,
    /// Choose how many frames a zoom film has.
    SetFilmFrames(u32),
    /// Ask for a folder, then record the film from the current view to the marked one.
    ChooseFilmFolder,
    /// Record the film into this folder.
    RecordFilmTo(PathBuf),
    /// Ask where to export, then export.
    ChooseExportFile,
    /// Export to this path.
    ExportTo(PathBuf),
    /// Cancel the export or benchmark in progress.
    CancelBackground,
    /// Run the seed article's benchmark.
    RunBenchmark,
    /// Show the kernel's or the colouring's editor.
    ShowEditorTab(EditorTab),
    /// The user typed in the colouring editor.
    ColouringEdited,
    /// Colour with smooth, histogram, distance, slope, or the colouring editor's Lua.
    UseColouring(ColouringChoice),
    /// The distance colouring's line width, in pixels.
    SetLineWidth(f32),
    /// Where the slope colouring's light comes from, in degrees.
    SetLightAngle(f32),
    /// Ask for a gradient file (.ggr, .map, .ugr) and colour with it.
    OpenGradient,
    /// Read this gradient file and colour with it.
    OpenGradientFile(PathBuf),
    /// Ask where to save the gradient as a .ggr, then save it.
    ExportGradient,
    /// Save the gradient as a .ggr here.
    ExportGradientTo(PathBuf),
    /// Change a setting that renders again (or, for the palette, recolours).
    Set(RenderSetting),
    /// Give a kernel parameter a value.
    SetParameter(String, ParameterValue),
    /// Put every kernel parameter back to its default.
    ResetParameters,
    /// The next click on the image sets this complex parameter (None: stop picking).
    PickPoint(Option<String>),
    /// Stop the render in flight (the Stop button, Esc); nothing renders again until the
    /// next change or Run.
    StopRender,
    /// Esc: cancels picking a point if one is being picked, else stops the render in flight.
    Escape,
    /// Render automatically after typing stops, or only on Run.
    SetAutoRun(bool),
    /// Hide the list of what could not be restored at start.
    DismissRestoreProblems,
    /// The opening thread read and checked a moonbrot PNG: offer its kernel and settings.
    DocumentRead(Box<OpenedDocument>),
    /// A render finished with these parameter values (the kernel's declared ones, as it
    /// rendered them): keep only those, as rendered.
    ParametersRendered(Vec<(String, ParameterValue)>),
}

/// A setting that changes what is rendered (or how it is coloured).
#[derive(Debug, Clone, PartialEq)]
pub enum RenderSetting {
    /// The image size.
    Size(SizeChoice),
    /// The number of worker threads.
    Threads(usize),
    /// The iteration limit (None: the kernel's own).
    MaxIter(Option<u32>),
    /// Solid guessing on or off.
    Guessing(bool),
    /// The gradient, density, offset, inside colour (recolours without rendering).
    Palette(Palette),
    /// The colouring in use (recolours without rendering).
    Colouring(Colouring),
}

/// A keyboard shortcut and when it applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortcut {
    /// The keys.
    pub keys: KeyboardShortcut,
    /// What it does.
    pub command: Command,
    /// False for keys that mean something else while typing (Home moves the cursor).
    pub while_typing: bool,
}

/// Every shortcut, once. The order matters where one shortcut contains another: egui's
/// `consume_shortcut` ignores extra Shift, so Ctrl+Shift+S must be taken before Ctrl+S.
pub fn shortcuts() -> [Shortcut; 11] {
    let shortcut = |modifiers: Modifiers, key: Key, command: Command| Shortcut {
        keys: KeyboardShortcut::new(modifiers, key),
        command,
        while_typing: true,
    };
    [
        shortcut(Modifiers::COMMAND, Key::Enter, Command::Run),
        shortcut(Modifiers::COMMAND, Key::O, Command::OpenKernel),
        shortcut(
            Modifiers::COMMAND | Modifiers::SHIFT,
            Key::S,
            Command::SaveKernelAs,
        ),
        shortcut(Modifiers::COMMAND, Key::S, Command::SaveKernel),
        shortcut(Modifiers::COMMAND, Key::E, Command::ShowExport),
        shortcut(Modifiers::NONE, Key::F9, Command::ToggleEditor),
        shortcut(Modifiers::NONE, Key::F10, Command::ToggleSettings),
        shortcut(Modifiers::ALT, Key::ArrowLeft, Command::Back),
        shortcut(Modifiers::ALT, Key::ArrowRight, Command::Forward),
        Shortcut {
            while_typing: false,
            ..shortcut(
                Modifiers::COMMAND | Modifiers::SHIFT,
                Key::C,
                Command::CopyLocation,
            )
        },
        Shortcut {
            while_typing: false,
            ..shortcut(Modifiers::NONE, Key::Home, Command::Home)
        },
    ]
}

/// The shortcut of `command`, as this platform writes it ("Ctrl+S", "⌘S"), if it has one.
pub fn shortcut_text(ctx: &egui::Context, command: &Command) -> Option<String> {
    shortcuts()
        .iter()
        .find(|shortcut| &shortcut.command == command)
        .map(|shortcut| ctx.format_shortcut(&shortcut.keys))
}

/// A tooltip: `what`, then the command's shortcut if it has one.
pub fn hint(ctx: &egui::Context, command: &Command, what: &str) -> String {
    match shortcut_text(ctx, command) {
        Some(keys) if what.is_empty() => keys,
        Some(keys) => format!("{what} ({keys})"),
        None => what.to_owned(),
    }
}

/// Commands waiting for the end of the frame.
#[derive(Debug, Default)]
pub struct CommandQueue {
    commands: Vec<Command>,
}

impl CommandQueue {
    /// Queues `command`.
    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// Takes the queued commands, oldest first.
    pub fn take(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// Queues the command of every shortcut pressed this frame (consuming the keys).
    /// `typing` is true while a text field has the keyboard.
    pub fn push_pressed_shortcuts(&mut self, ctx: &egui::Context, typing: bool) {
        for shortcut in shortcuts() {
            if (typing && !shortcut.while_typing)
                || !ctx.input_mut(|input| input.consume_shortcut(&shortcut.keys))
            {
                continue;
            }
            self.push(shortcut.command);
        }
    }

    /// Queues a paste of a location for each text pasted while no text field has the
    /// keyboard (pasting into the editor stays the editor's).
    pub fn push_pasted_locations(&mut self, ctx: &egui::Context, typing: bool) {
        if typing {
            return;
        }
        let pasted: Vec<String> = ctx.input(|input| {
            input
                .events
                .iter()
                .filter_map(|event| match event {
                    egui::Event::Paste(text) => Some(text.clone()),
                    _ => None,
                })
                .collect()
        });
        for text in pasted {
            self.push(Command::PasteLocation(text));
        }
    }

    /// Queues an open command for each file dropped on the window.
    pub fn push_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|input| {
            input
                .raw
                .dropped_files
                .iter()
                .map(|file| file.path().to_path_buf())
                .collect()
        });
        for path in dropped {
            self.push(Command::OpenKernelFile(path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_has_at_most_one_shortcut_and_each_shortcut_one_command() {
        let all = shortcuts();
        for (index, shortcut) in all.iter().enumerate() {
            for other in &all[index + 1..] {
                assert_ne!(
                    shortcut.command, other.command,
                    "two shortcuts for one command"
                );
                assert_ne!(shortcut.keys, other.keys, "one shortcut for two commands");
            }
        }
    }

    #[test]
    fn labels_come_from_the_declared_shortcut() {
        let ctx = egui::Context::default();
        let text = shortcut_text(&ctx, &Command::SaveKernelAs).unwrap_or_default();
        assert!(text.contains('S') && text.contains("Shift"), "{text}");
        assert_eq!(shortcut_text(&ctx, &Command::RunBenchmark), None);
        assert_eq!(
            hint(&ctx, &Command::Home, "the kernel's home view"),
            format!(
                "the kernel's home view ({})",
                ctx.format_shortcut(&KeyboardShortcut::new(Modifiers::NONE, Key::Home))
            )
        );
    }
}
