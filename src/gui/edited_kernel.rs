//! The kernel being edited (`EditedKernel`): its text, where it came from, whether it is
//! saved, and what the last run of it said. The editor edits its text, the title bar and
//! the kernel picker show its name, Open/Save and the autosave go through it, and the
//! editor's error marker comes from its last run.
//!
//! It is persisted inside `Settings` under the field names older versions used (`source`,
//! `shipped_name`, `file_path`, `saved_source`), so a saved state of any version reads back.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::geometry::default_home;
use crate::engine::kernel::{default_kernel, shipped_kernel};
use crate::engine::{KernelInfo, RenderError, View};

/// Where the kernel's text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Typed from nothing (or its file and shipped name are unknown).
    Untitled,
    /// A kernel shipped with moonbrot, by name.
    Shipped(String),
    /// A .lua file the user opened or saved to.
    File(PathBuf),
    /// A moonbrot PNG whose document was opened (saving asks for a .lua file).
    Png(PathBuf),
}

/// The kernel being edited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredKernel", into = "StoredKernel")]
pub struct EditedKernel {
    text: String,
    origin: Origin,
    /// The text as last opened from or saved to its file (to tell unsaved edits).
    saved_text: Option<String>,
    /// True when the text came back from the autosave of an earlier session.
    restored: bool,
    /// What the last run of this text said: what the kernel declares, or why it failed.
    /// Not persisted: every session runs the kernel again.
    last_run: Option<Result<KernelInfo, RenderError>>,
}

impl Default for EditedKernel {
    fn default() -> Self {
        let kernel = default_kernel();
        Self::new(
            kernel.source.to_owned(),
            Origin::Shipped(kernel.name.to_owned()),
        )
    }
}

impl EditedKernel {
    /// A kernel holding `text`, from `origin`; a file's text counts as saved.
    pub fn new(text: String, origin: Origin) -> Self {
        let saved_text = matches!(origin, Origin::File(_) | Origin::Png(_)).then(|| text.clone());
        Self {
            text,
            origin,
            saved_text,
            restored: false,
            last_run: None,
        }
    }

    /// An untitled kernel holding `text`.
    pub fn untitled(text: &str) -> Self {
        Self::new(text.to_owned(), Origin::Untitled)
    }

    /// The kernel's source.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text, for the editor to change in place. Call `edited` when it changed.
    pub fn text_mut(&mut self) -> &mut String {
        &mut self.text
    }

    /// Records that the user changed the text: the last run no longer describes it.
    pub fn edited(&mut self) {
        self.last_run = None;
    }

    /// Replaces the whole text (from outside the editor), keeping the origin.
    pub fn set_text(&mut self, text: String) {
        if text != self.text {
            self.text = text;
            self.edited();
        }
    }

    /// Where the text came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The file it is saved to, if any.
    pub fn file_path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::File(path) => Some(path),
            _ => None,
        }
    }

    /// The file it came from (a .lua file or a PNG), if any.
    pub fn source_path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::File(path) | Origin::Png(path) => Some(path),
            _ => None,
        }
    }

    /// Marks the text as restored from an earlier session's autosave.
    pub fn mark_restored(&mut self) {
        self.restored = true;
    }

    /// True when the text came back from an earlier session's autosave.
    pub fn is_restored(&self) -> bool {
        self.restored
    }

    /// A short name: the file's name, the shipped kernel's name, or "untitled".
    pub fn name(&self) -> String {
        match &self.origin {
            Origin::File(path) | Origin::Png(path) => path.file_name().map_or_else(
                || path.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            ),
            Origin::Shipped(name) => name.clone(),
            Origin::Untitled => "untitled".to_owned(),
        }
    }

    /// True when the text differs from what it was opened or saved as (for a shipped
    /// kernel: from the shipped text; an untitled kernel is dirty once it has text).
    pub fn is_dirty(&self) -> bool {
        let clean = match &self.origin {
            Origin::File(_) | Origin::Png(_) => self.saved_text.as_deref(),
            Origin::Shipped(name) => shipped_kernel(name).map(|kernel| kernel.source),
            Origin::Untitled => Some(""),
        };
        clean != Some(self.text.as_str())
    }

    /// The window's title: the name, a dot when there are unsaved changes.
    pub fn title(&self) -> String {
        let dirty = if self.is_dirty() { " •" } else { "" };
        format!("{}{dirty} — moonbrot", self.name())
    }

    /// Records that the text was written to `path`.
    pub fn saved_to(&mut self, path: &Path) {
        self.origin = Origin::File(path.to_owned());
        self.saved_text = Some(self.text.clone());
    }

    /// Records that the file now holds `text` (another program wrote it): the editor takes
    /// it, and it counts as saved.
    pub fn reloaded(&mut self, text: String) {
        self.set_text(text);
        self.saved_text = Some(self.text.clone());
    }

    /// True when `text` is what the file held when it was last opened, saved or reloaded.
    pub fn is_saved_as(&self, text: &str) -> bool {
        self.saved_text.as_deref() == Some(text)
    }

    /// Records that the file holds exactly the editor's text (saved by another program).
    pub fn matches_file(&mut self) {
        self.saved_text = Some(self.text.clone());
    }

    /// Records that the file is gone (deleted, renamed away): the text counts as unsaved
    /// until Save writes it back.
    pub fn file_gone(&mut self) {
        if matches!(self.origin, Origin::File(_)) {
            self.saved_text = None;
        }
    }

    /// Records the outcome of running this text.
    pub fn record_run(&mut self, outcome: Result<KernelInfo, RenderError>) {
        self.last_run = Some(outcome);
    }

    /// What the last run of this text said, if it ran since it last changed.
    pub fn last_run(&self) -> Option<&Result<KernelInfo, RenderError>> {
        self.last_run.as_ref()
    }

    /// The error of the last run, if it failed.
    pub fn last_error(&self) -> Option<&RenderError> {
        self.last_run.as_ref().and_then(|run| run.as_ref().err())
    }

    /// The kernel's home view, as declared when it last ran (the default home before).
    pub fn home(&self) -> View {
        match &self.last_run {
            Some(Ok(info)) => info.home_or_default(),
            _ => default_home(),
        }
    }
}

/// The persisted form: the fields older versions wrote, each optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct StoredKernel {
    source: Option<String>,
    shipped_name: Option<String>,
    file_path: Option<PathBuf>,
    saved_source: Option<String>,
}

impl From<StoredKernel> for EditedKernel {
    fn from(stored: StoredKernel) -> Self {
        let Some(text) = stored.source else {
            return Self::default();
        };
        let origin = match (stored.file_path, stored.shipped_name) {
            (Some(path), _) => Origin::File(path),
            (None, Some(name)) => Origin::Shipped(name),
            (None, None) => Origin::Untitled,
        };
        let is_file = matches!(origin, Origin::File(_));
        Self {
            text,
            origin,
            saved_text: stored.saved_source.filter(|_| is_file),
            restored: false,
            last_run: None,
        }
    }
}

impl From<EditedKernel> for StoredKernel {
    fn from(kernel: EditedKernel) -> Self {
        // A PNG's kernel is remembered as an untitled text with its saved state: the PNG
        // is not a file its text can be saved back to.
        let (shipped_name, file_path) = match kernel.origin {
            Origin::Shipped(name) => (Some(name), None),
            Origin::File(path) => (None, Some(path)),
            Origin::Untitled | Origin::Png(_) => (None, None),
        };
        Self {
            source: Some(kernel.text),
            shipped_name,
            file_path,
            saved_source: kernel.saved_text,
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_shipped_kernel_is_clean_until_edited_and_a_saved_file_is_clean_again() {
        let mut kernel = EditedKernel::default();
        assert!(!kernel.is_dirty());
        assert_eq!(kernel.title(), "mandelbrot — moonbrot");
        kernel.text_mut().push_str("\n-- mine");
        kernel.edited();
        assert!(kernel.is_dirty());
        assert_eq!(kernel.title(), "mandelbrot • — moonbrot");
        kernel.saved_to(Path::new("/tmp/mine.lua"));
        assert!(!kernel.is_dirty());
        assert_eq!(kernel.name(), "mine.lua");
        assert_eq!(kernel.file_path(), Some(Path::new("/tmp/mine.lua")));
    }

    #[test]
    fn an_edit_forgets_the_last_run_and_its_home() {
        let mut kernel = EditedKernel::default();
        kernel.record_run(Err(RenderError::Cancelled));
        assert!(kernel.last_error().is_some());
        kernel.set_text("function pixel() end".to_owned());
        assert!(kernel.last_run().is_none());
        assert_eq!(kernel.home(), default_home());
    }

    #[test]
    fn the_stored_form_uses_the_field_names_of_older_versions() {
        let json = r#"{"source": "x = 1", "file_path": "/k.lua", "saved_source": "x = 0"}"#;
        let kernel: EditedKernel = serde_json::from_str(json).expect("reads");
        assert_eq!(kernel.text(), "x = 1");
        assert_eq!(kernel.origin(), &Origin::File(PathBuf::from("/k.lua")));
        assert!(kernel.is_dirty());
        let written = serde_json::to_value(&kernel).expect("writes");
        assert_eq!(written["source"], "x = 1");
        assert_eq!(written["file_path"], "/k.lua");
        let missing: EditedKernel = serde_json::from_str("{}").expect("reads");
        assert_eq!(missing, EditedKernel::default());
    }
}
