//! Nothing typed is lost, in any window, and a kernel that brought the app down does not
//! do it again.
//!
//! Each window keeps its own folder, `windows/NAME` in the state folder, and holds the lock
//! on its `lock` file while it runs (an advisory lock the system releases when the process
//! ends, however it ends). So two windows never write over each other's text, and at the
//! next start a folder no running window holds is the work of a window that closed or was
//! killed: the window that starts takes the newest such folder as its own and asks for the
//! others that hold unsaved text to be reopened, each in a window of its own ("hot exit").
//! Folders without unsaved text are removed.
//!
//! A window folder holds three files, written by the `moonbrot-autosave` thread through
//! `engine::atomic_file` (temporary file, sync, rename), so a kill or a power loss at any
//! moment leaves either the old file or the new one, never half of one:
//! - `kernel.lua`: the editor text, written within about two seconds of the last change
//!   whether or not the window draws frames (an idle window draws none);
//! - `settings.json`: the settings (view, size, palette...), written when eframe asks the
//!   app to save (every few seconds while it is used, and on exit);
//! - `rendering`: present while a render of the editor's kernel is in flight. If it is
//!   there at the next start, the app was closed, killed or crashed during a render, and it
//!   starts with automatic rendering paused (the safe start).
//!
//! A write that fails (a full disk, a read-only folder) is reported to the window, which
//! keeps saying so until a write succeeds again. A file that cannot be read is never
//! silently replaced: it is renamed aside (`NAME.unreadable-SECONDS`) and the window says
//! so. Temporary files of writes cut short by a kill (`.moonbrot-*.part`) are removed at
//! the next start: the file they were meant to replace is whole. The files of versions
//! that kept one set in the state folder itself are moved into a window folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::atomic_file::write_atomically;

use super::settings::Settings;

/// How long the autosave thread waits for typing to pause before it writes.
const COALESCE_DELAY: Duration = Duration::from_millis(1000);
/// How often writes that failed are tried again while nothing new comes.
const RETRY_DELAY: Duration = Duration::from_secs(2);
/// The largest kernel file read back (the engine refuses larger sources anyway).
const MAX_KERNEL_BYTES: u64 = 16 * 1024 * 1024;

const WINDOWS_FOLDER: &str = "windows";
const LOCK_FILE: &str = "lock";
const KERNEL_FILE: &str = "kernel.lua";
const SETTINGS_FILE: &str = "settings.json";
const RENDERING_MARKER: &str = "rendering";

/// What the last session left in the state folder.
#[derive(Debug, Default)]
pub struct Restored {
    /// The settings, with the editor text of the last session, if any could be read.
    pub settings: Option<Settings>,
    /// True when the last session ended while a render of its kernel was in flight.
    pub interrupted_render: bool,
    /// What could not be read, and where it was kept, for the window to show.
    pub problems: Vec<String>,
}

/// Reads what the last session left in `dir`. Unreadable files are moved aside.
pub fn restore(dir: &Path) -> Restored {
    remove_unfinished_writes(dir);
    let mut restored = Restored {
        interrupted_render: dir.join(RENDERING_MARKER).exists(),
        ..Restored::default()
    };
    let settings = read_or_keep_aside(dir, SETTINGS_FILE, &mut restored.problems, |bytes| {
        serde_json::from_slice::<Settings>(bytes).map_err(|error| error.to_string())
    });
    let kernel = read_or_keep_aside(dir, KERNEL_FILE, &mut restored.problems, |bytes| {
        if bytes.len() as u64 > MAX_KERNEL_BYTES {
            return Err(format!("it is larger than {MAX_KERNEL_BYTES} bytes"));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| "it is not UTF-8 text".to_owned())
    });
    restored.settings = match (settings, kernel) {
        (settings, Some(source)) => {
            let mut settings = settings.unwrap_or_default();
            settings.kernel.set_text(source);
            settings.kernel.mark_restored();
            Some(settings)
        }
        (settings, None) => settings,
    };
    restored
}

/// A window's own folder, locked while this window runs (the lock is released when this
/// is dropped, or by the system when the process ends).
#[derive(Debug)]
pub struct WindowFolder {
    path: PathBuf,
    /// Held open: the advisory lock lives as long as this handle.
    _lock: std::fs::File,
}

impl WindowFolder {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What a starting window found in the state folder.
#[derive(Debug)]
pub struct Claimed {
    /// This window's folder, locked.
    pub folder: WindowFolder,
    /// What the window that last used that folder left in it.
    pub restored: Restored,
    /// Folders of other windows that ended with unsaved text: each is to be reopened in a
    /// window of its own (`moonbrot --recover-window FOLDER`).
    pub others: Vec<PathBuf>,
}

/// Takes a window folder in `state_dir` for a starting window: `wanted` if it is given and
/// no running window holds it, else the newest folder that no running window holds, else
/// a new one. See the module's documentation.
pub fn claim(state_dir: &Path, wanted: Option<&Path>) -> std::io::Result<Claimed> {
    let windows = state_dir.join(WINDOWS_FOLDER);
    std::fs::create_dir_all(&windows)?;
    move_single_window_layout(state_dir, &windows);
    if let Some(folder) = wanted.and_then(|wanted| try_lock_folder(wanted).ok().flatten()) {
        let restored = restore(folder.path());
        return Ok(Claimed {
            folder,
            restored,
            others: Vec::new(),
        });
    }
    let mut orphans: Vec<(SystemTime, WindowFolder)> = std::fs::read_dir(&windows)?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| try_lock_folder(&entry.path()).ok().flatten())
        .map(|folder| (last_written(folder.path()), folder))
        .collect();
    orphans.sort_by_key(|(written, _)| std::cmp::Reverse(*written));
    let mut orphans = orphans.into_iter().map(|(_, folder)| folder);
    let adopted = orphans.next();
    let mut others = Vec::new();
    for orphan in orphans {
        let path = orphan.path.clone();
        if has_unsaved_text(&path) {
            others.push(path);
        } else {
            // Nothing typed is in it: a view and settings only, like the adopted folder's.
            let _ = std::fs::remove_dir_all(&path);
        }
    }
    let folder = match adopted {
        Some(folder) => folder,
        None => new_window_folder(&windows)?,
    };
    let restored = restore(folder.path());
    Ok(Claimed {
        folder,
        restored,
        others,
    })
}

/// Locks `folder`'s lock file; None when a running window holds it.
fn try_lock_folder(folder: &Path) -> std::io::Result<Option<WindowFolder>> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(folder.join(LOCK_FILE))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(WindowFolder {
            path: folder.to_owned(),
            _lock: lock,
        })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// A new, empty, locked window folder in `windows`, named after the time and the process.
fn new_window_folder(windows: &Path) -> std::io::Result<WindowFolder> {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let process = std::process::id();
    for attempt in 0_u32.. {
        let path = windows.join(format!("{seconds}-{process}-{attempt}"));
        match std::fs::create_dir(&path) {
            Ok(()) => {
                if let Some(folder) = try_lock_folder(&path)? {
                    return Ok(folder);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other("no free window folder name"))
}

/// When the newest of a folder's files was written.
fn last_written(folder: &Path) -> SystemTime {
    [KERNEL_FILE, SETTINGS_FILE, LOCK_FILE]
        .iter()
        .filter_map(|name| std::fs::metadata(folder.join(name)).ok())
        .filter_map(|metadata| metadata.modified().ok())
        .max()
        .unwrap_or(UNIX_EPOCH)
}

/// True when the folder's kernel differs from where it came from (a file, a shipped
/// kernel), or cannot be read: then a window must show it before anything removes it.
fn has_unsaved_text(folder: &Path) -> bool {
    let kernel = folder.join(KERNEL_FILE);
    if !kernel.exists() {
        return false;
    }
    let restored = restore(folder);
    !restored.problems.is_empty()
        || restored
            .settings
            .is_some_and(|settings| settings.kernel.is_dirty())
}

/// Moves the files of versions that kept one window's files in the state folder itself
/// into a window folder of their own (unlocked, so the start takes it up like any other).
fn move_single_window_layout(state_dir: &Path, windows: &Path) {
    remove_unfinished_writes(state_dir);
    let names = [KERNEL_FILE, SETTINGS_FILE, RENDERING_MARKER];
    if !names.iter().any(|name| state_dir.join(name).exists()) {
        return;
    }
    let Ok(folder) = new_window_folder(windows) else {
        return;
    };
    for name in names {
        let from = state_dir.join(name);
        if from.exists() {
            let _ = std::fs::rename(&from, folder.path().join(name));
        }
    }
}

/// Deletes temporary files of atomic writes that a kill cut short.
fn remove_unfinished_writes(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".moonbrot-") && name.ends_with(".part") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Reads `dir/name` with `parse`; a file that exists but cannot be read or parsed is
/// renamed aside and described in `problems`.
fn read_or_keep_aside<T>(
    dir: &Path,
    name: &str,
    problems: &mut Vec<String>,
    parse: impl Fn(&[u8]) -> Result<T, String>,
) -> Option<T> {
    let path = dir.join(name);
    let outcome = match std::fs::read(&path) {
        Ok(bytes) => parse(&bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => Err(error.to_string()),
    };
    match outcome {
        Ok(value) => Some(value),
        Err(reason) => {
            let seconds = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            let aside = dir.join(format!("{name}.unreadable-{seconds}"));
            let kept = match std::fs::rename(&path, &aside) {
                Ok(()) => format!("it was kept as {}", aside.display()),
                Err(error) => format!("it could not be moved aside either: {error}"),
            };
            problems.push(format!(
                "the saved {name} could not be read ({reason}); {kept}"
            ));
            None
        }
    }
}

/// Work for the autosave thread.
#[derive(Default)]
struct Pending {
    kernel: Option<String>,
    settings: Option<String>,
    rendering: Option<bool>,
    stop: bool,
}

/// A write of the autosave that failed, kept until a write succeeds again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutosaveFailure {
    /// The window's folder the writes go to.
    pub folder: PathBuf,
    /// What the system said.
    pub error: String,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    failure: Mutex<Option<AutosaveFailure>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        crate::engine::sync::lock(&self.pending)
    }
}

/// Called on the autosave thread when a write starts or stops failing (the window asks for
/// a frame to show it).
pub type OnFailureChange = Box<dyn Fn() + Send>;

/// The autosave thread: the UI hands it what changed, it writes it into the window's
/// folder. Stopped (after writing what is pending) when dropped; the folder's lock is
/// released after that.
pub struct Autosave {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    last_settings: String,
    last_kernel: String,
    rendering: bool,
}

impl Autosave {
    /// Starts the thread writing into `folder`, which it keeps locked.
    pub fn spawn(
        folder: WindowFolder,
        on_failure_change: OnFailureChange,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            failure: Mutex::new(None),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("moonbrot-autosave".to_owned())
            .spawn(move || autosave_main(&folder, &thread_shared, &on_failure_change))?;
        Ok(Self {
            shared,
            thread: Some(thread),
            last_settings: String::new(),
            last_kernel: String::new(),
            rendering: false,
        })
    }

    /// The editor text now; written soon if it changed.
    pub fn offer_kernel(&mut self, source: &str) {
        if source == self.last_kernel {
            return;
        }
        source.clone_into(&mut self.last_kernel);
        self.shared.lock().kernel = Some(source.to_owned());
        self.shared.wake.notify_one();
    }

    /// The settings now; written soon if they changed.
    pub fn offer_settings(&mut self, settings: &Settings) {
        let Ok(json) = serde_json::to_string(settings) else {
            return;
        };
        if json == self.last_settings {
            return;
        }
        self.last_settings.clone_from(&json);
        self.shared.lock().settings = Some(json);
        self.shared.wake.notify_one();
    }

    /// Whether a render of the editor's kernel is in flight (kept on disk as a marker).
    pub fn set_rendering(&mut self, rendering: bool) {
        if rendering == self.rendering {
            return;
        }
        self.rendering = rendering;
        self.shared.lock().rendering = Some(rendering);
        self.shared.wake.notify_one();
    }

    /// The last write's failure, while writes fail.
    pub fn failure(&self) -> Option<AutosaveFailure> {
        crate::engine::sync::lock(&self.shared.failure).clone()
    }
}

impl Drop for Autosave {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread only writes small files; it never runs kernel code.
            let _ = thread.join();
        }
    }
}

fn autosave_main(folder: &WindowFolder, shared: &Shared, on_failure_change: &OnFailureChange) {
    let dir = folder.path();
    // What failed to be written, kept to be tried again: a write that fails (a full disk)
    // is not forgotten when the user stops typing.
    let mut unwritten_kernel: Option<String> = None;
    let mut unwritten_settings: Option<String> = None;
    loop {
        let mut pending = shared.lock();
        while pending.kernel.is_none()
            && pending.settings.is_none()
            && pending.rendering.is_none()
            && !pending.stop
        {
            if unwritten_kernel.is_some() || unwritten_settings.is_some() {
                let (waited, _) = shared
                    .wake
                    .wait_timeout(pending, RETRY_DELAY)
                    .unwrap_or_else(PoisonError::into_inner);
                pending = waited;
                break;
            }
            pending = shared
                .wake
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // The marker first and at once: a render that hangs the process right after it
        // starts must leave it behind. Text waits for a pause in typing (unless stopping).
        let rendering = pending.rendering.take();
        let stop = pending.stop;
        drop(pending);
        let mut outcome = Ok(());
        if let Some(rendering) = rendering {
            outcome = write_marker(dir, rendering);
        }
        if !stop {
            std::thread::sleep(COALESCE_DELAY);
        }
        let mut pending = shared.lock();
        if let Some(kernel) = pending.kernel.take() {
            unwritten_kernel = Some(kernel);
        }
        if let Some(settings) = pending.settings.take() {
            unwritten_settings = Some(settings);
        }
        let stop = pending.stop;
        drop(pending);
        if let Some(kernel) = &unwritten_kernel {
            let written = write_atomically(&dir.join(KERNEL_FILE), kernel.as_bytes());
            if written.is_ok() {
                unwritten_kernel = None;
            }
            outcome = outcome.and(written);
        }
        if let Some(settings) = &unwritten_settings {
            let written = write_atomically(&dir.join(SETTINGS_FILE), settings.as_bytes());
            if written.is_ok() {
                unwritten_settings = None;
            }
            outcome = outcome.and(written);
        }
        let failure = outcome.err().map(|error| AutosaveFailure {
            folder: dir.to_owned(),
            error: error.to_string(),
        });
        let changed = {
            let mut shown = crate::engine::sync::lock(&shared.failure);
            let changed = *shown != failure;
            *shown = failure;
            changed
        };
        if changed {
            on_failure_change();
        }
        if stop {
            return;
        }
    }
}

fn write_marker(dir: &Path, rendering: bool) -> std::io::Result<()> {
    let marker = dir.join(RENDERING_MARKER);
    if rendering {
        write_atomically(&marker, b"a render of kernel.lua was in flight\n")
    } else {
        match std::fs::remove_file(marker) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_kernel_is_kept_aside_and_reported() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(KERNEL_FILE), [0xff, 0xfe, 0x00]).expect("write");
        let restored = restore(dir.path());
        assert!(restored.settings.is_none());
        assert_eq!(restored.problems.len(), 1, "{:?}", restored.problems);
        assert!(restored.problems[0].contains("not UTF-8"));
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert!(
            kept.iter()
                .any(|name| name.to_string_lossy().starts_with("kernel.lua.unreadable-")),
            "{kept:?}"
        );
    }

    #[test]
    fn the_saved_kernel_wins_over_the_settings_text() {
        let dir = tempfile::tempdir().expect("dir");
        let settings = Settings {
            kernel: crate::gui::edited_kernel::EditedKernel::untitled("old"),
            ..Settings::default()
        };
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            serde_json::to_string(&settings).expect("json"),
        )
        .expect("write");
        std::fs::write(dir.path().join(KERNEL_FILE), "typed last").expect("write");
        let restored = restore(dir.path());
        assert_eq!(
            restored
                .settings
                .map(|settings| settings.kernel.text().to_owned()),
            Some("typed last".to_owned())
        );
        assert!(!restored.interrupted_render);
    }

    #[test]
    fn a_start_removes_temporary_files_of_writes_cut_short_and_keeps_the_kernel() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(KERNEL_FILE), "whole").expect("write");
        let part = dir.path().join(".moonbrot-abc123.part");
        std::fs::write(&part, "half of a newer ker").expect("write");
        let restored = restore(dir.path());
        assert!(
            !part.exists(),
            "the cut-short temporary file is still there"
        );
        assert_eq!(
            restored
                .settings
                .map(|settings| settings.kernel.text().to_owned()),
            Some("whole".to_owned())
        );
    }

    fn kernel_in(folder: &Path) -> String {
        std::fs::read_to_string(folder.join(KERNEL_FILE)).unwrap_or_default()
    }

    #[test]
    fn two_running_windows_get_folders_of_their_own() {
        let dir = tempfile::tempdir().expect("dir");
        let first = claim(dir.path(), None).expect("first");
        let second = claim(dir.path(), None).expect("second");
        assert_ne!(first.folder.path(), second.folder.path());
        assert!(first.others.is_empty() && second.others.is_empty());
    }

    #[test]
    fn after_two_windows_end_the_next_start_takes_the_newest_and_reopens_the_other() {
        let dir = tempfile::tempdir().expect("dir");
        let first = claim(dir.path(), None).expect("first");
        let second = claim(dir.path(), None).expect("second");
        std::fs::write(
            first.folder.path().join(KERNEL_FILE),
            "-- typed in the first",
        )
        .expect("write");
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(
            second.folder.path().join(KERNEL_FILE),
            "-- typed in the second",
        )
        .expect("write");
        let (first_path, second_path) = (
            first.folder.path().to_owned(),
            second.folder.path().to_owned(),
        );
        drop((first, second));

        let restarted = claim(dir.path(), None).expect("restart");
        assert_eq!(restarted.folder.path(), second_path, "the newest is taken");
        assert_eq!(
            restarted
                .restored
                .settings
                .map(|settings| settings.kernel.text().to_owned()),
            Some("-- typed in the second".to_owned())
        );
        assert_eq!(restarted.others, vec![first_path.clone()]);
        // The reopened window takes up the folder it was given, with its text.
        let reopened = claim(dir.path(), Some(&first_path)).expect("reopen");
        assert_eq!(reopened.folder.path(), first_path);
        assert_eq!(kernel_in(reopened.folder.path()), "-- typed in the first");
    }

    #[test]
    fn a_folder_held_by_a_running_window_is_neither_taken_nor_reopened() {
        let dir = tempfile::tempdir().expect("dir");
        let running = claim(dir.path(), None).expect("running");
        std::fs::write(running.folder.path().join(KERNEL_FILE), "-- still typing").expect("write");
        let started = claim(dir.path(), Some(running.folder.path())).expect("start");
        assert_ne!(started.folder.path(), running.folder.path());
        assert!(started.others.is_empty());
        assert!(started.restored.settings.is_none());
    }

    #[test]
    fn folders_of_ended_windows_without_unsaved_text_are_removed() {
        let dir = tempfile::tempdir().expect("dir");
        let first = claim(dir.path(), None).expect("first");
        let second = claim(dir.path(), None).expect("second");
        let unchanged = crate::engine::kernel::default_kernel().source;
        std::fs::write(first.folder.path().join(KERNEL_FILE), unchanged).expect("write");
        let first_path = first.folder.path().to_owned();
        drop(first);
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(second.folder.path().join(KERNEL_FILE), unchanged).expect("write");
        drop(second);
        let restarted = claim(dir.path(), None).expect("restart");
        assert!(restarted.others.is_empty());
        assert!(!first_path.exists(), "the older, unchanged folder is gone");
    }

    #[test]
    fn the_files_of_the_single_window_layout_move_into_a_window_folder() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(KERNEL_FILE), "-- from an older moonbrot").expect("write");
        std::fs::write(dir.path().join(RENDERING_MARKER), "").expect("write");
        let claimed = claim(dir.path(), None).expect("claim");
        assert!(!dir.path().join(KERNEL_FILE).exists());
        assert_eq!(
            kernel_in(claimed.folder.path()),
            "-- from an older moonbrot"
        );
        assert!(claimed.restored.interrupted_render);
    }

    #[test]
    fn a_failed_write_is_reported_and_cleared_by_the_next_write_that_succeeds() {
        let dir = tempfile::tempdir().expect("dir");
        let claimed = claim(dir.path(), None).expect("claim");
        let folder = claimed.folder.path().to_owned();
        let (sender, receiver) = std::sync::mpsc::channel();
        let sender = Mutex::new(sender);
        let mut autosave = Autosave::spawn(
            claimed.folder,
            Box::new(move || {
                let _ = crate::engine::sync::lock(&sender).send(());
            }),
        )
        .expect("spawn");
        // The kernel's file turned into a folder: no write can replace it.
        std::fs::create_dir(folder.join(KERNEL_FILE)).expect("block");
        autosave.offer_kernel("-- typed while the disk refuses");
        receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("the failure is reported");
        let failure = autosave.failure().expect("failure kept");
        assert_eq!(failure.folder, folder);
        // The disk takes writes again: the text written, without more typing.
        std::fs::remove_dir(folder.join(KERNEL_FILE)).expect("unblock");
        receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("the recovery is reported");
        assert!(autosave.failure().is_none());
        assert_eq!(kernel_in(&folder), "-- typed while the disk refuses");
    }
}
