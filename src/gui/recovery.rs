//! Nothing typed is lost, and a kernel that brought the app down does not do it again.
//!
//! The window keeps three files in its state folder, written by the `moonbrot-autosave`
//! thread through `engine::atomic_file` (temporary file, sync, rename), so a kill or a power
//! loss at any moment leaves either the old file or the new one, never half of one:
//! - `kernel.lua`: the editor text, written within about two seconds of the last change
//!   whether or not the window draws frames (an idle window draws none);
//! - `settings.json`: the settings (view, size, palette...), written when eframe asks the
//!   app to save (every few seconds while it is used, and on exit);
//! - `rendering`: present while a render of the editor's kernel is in flight. If it is
//!   there at the next start, the app was closed, killed or crashed during a render, and it
//!   starts with automatic rendering paused (the safe start).
//!
//! A file that cannot be read is never silently replaced: it is renamed aside
//! (`NAME.unreadable-SECONDS`) and the window says so. Temporary files of writes cut short
//! by a kill (`.moonbrot-*.part`) are removed at the next start: the file they were meant
//! to replace is whole.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::atomic_file::write_atomically;

use super::settings::Settings;

/// How long the autosave thread waits for typing to pause before it writes.
const COALESCE_DELAY: Duration = Duration::from_millis(1000);
/// The largest kernel file read back (the engine refuses larger sources anyway).
const MAX_KERNEL_BYTES: u64 = 16 * 1024 * 1024;

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

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        crate::engine::sync::lock(&self.pending)
    }
}

/// The autosave thread: the UI hands it what changed, it writes it. Stopped (after writing
/// what is pending) when dropped.
pub struct Autosave {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    last_settings: String,
    last_kernel: String,
    rendering: bool,
}

impl Autosave {
    /// Starts the thread writing into `dir` (created if missing).
    pub fn spawn(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("moonbrot-autosave".to_owned())
            .spawn(move || autosave_main(&dir, &thread_shared))?;
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

fn autosave_main(dir: &Path, shared: &Shared) {
    loop {
        let mut pending = shared.lock();
        while pending.kernel.is_none()
            && pending.settings.is_none()
            && pending.rendering.is_none()
            && !pending.stop
        {
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
        if let Some(rendering) = rendering {
            write_marker(dir, rendering);
        }
        if !stop {
            std::thread::sleep(COALESCE_DELAY);
        }
        let mut pending = shared.lock();
        let kernel = pending.kernel.take();
        let settings = pending.settings.take();
        let stop = pending.stop;
        drop(pending);
        // Failures are not reported: there is no one to tell from here, and the next
        // change tries again. The files are small.
        if let Some(kernel) = kernel {
            let _ = write_atomically(&dir.join(KERNEL_FILE), kernel.as_bytes());
        }
        if let Some(settings) = settings {
            let _ = write_atomically(&dir.join(SETTINGS_FILE), settings.as_bytes());
        }
        if stop {
            return;
        }
    }
}

fn write_marker(dir: &Path, rendering: bool) {
    let marker = dir.join(RENDERING_MARKER);
    if rendering {
        let _ = write_atomically(&marker, b"a render of kernel.lua was in flight\n");
    } else {
        let _ = std::fs::remove_file(marker);
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
}
