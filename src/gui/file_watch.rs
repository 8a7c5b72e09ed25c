//! Following the kernel's file while another program edits it (`FileFollower`).
//!
//! Programmers keep kernels in files and edit them in their own editor. The window watches
//! the file's folder (not the file: editors often save by writing a temporary file and
//! renaming it over the original, which replaces the file a watch on it would follow) and
//! reports what the file now holds. Editors write in steps (truncate, then write), so the
//! `moonbrot-file-watch` thread waits for the folder to be quiet for a moment before it
//! reads the file; it reads it with the engine's own limits, off the UI thread.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use crate::engine::kernel::read_kernel_file;

/// How long the folder must be quiet before the file is read: long enough for an editor's
/// save in steps, short enough that a reload follows a save at once.
const QUIET_DELAY: Duration = Duration::from_millis(60);

/// What happened to the followed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Another program wrote it; its text now.
    Changed(String),
    /// It was deleted or renamed away.
    Gone,
    /// It changed but cannot be read as a kernel (why, for the user).
    Unreadable(String),
}

/// Watches one kernel file (and reports what it holds when the watch starts); dropping it
/// stops the watch and its thread.
pub struct FileFollower {
    path: PathBuf,
    changes: Receiver<FileChange>,
    /// Kept alive: dropping it ends the watch, which ends the thread.
    _watcher: notify::RecommendedWatcher,
}

impl FileFollower {
    /// Starts following `path`; `wake` is called (on another thread) after each change, so
    /// the window draws a frame to take it.
    pub fn follow(path: &Path, wake: impl Fn() + Send + 'static) -> Result<Self, String> {
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let Some(name) = path.file_name().map(ToOwned::to_owned) else {
            return Err(format!("{} is not a file", path.display()));
        };
        let (touched_sender, touched) = mpsc::channel::<()>();
        let touched_sender_for_start = touched_sender.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else {
                    return;
                };
                // Reads (ours included) touch the file too; only writes, creations, renames and
                // removals change what it holds.
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                if event
                    .paths
                    .iter()
                    .any(|changed| changed.file_name() == Some(name.as_os_str()))
                {
                    let _ = touched_sender.send(());
                }
            })
            .map_err(|error| error.to_string())?;
        watcher
            .watch(&folder, RecursiveMode::NonRecursive)
            .map_err(|error| format!("cannot watch {}: {error}", folder.display()))?;
        // Read once at the start: the file may have changed while no one watched it.
        let _ = touched_sender_for_start.send(());
        let (change_sender, changes) = mpsc::channel();
        let thread_path = path.to_owned();
        std::thread::Builder::new()
            .name("moonbrot-file-watch".to_owned())
            .spawn(move || report_changes(&thread_path, &touched, &change_sender, &wake))
            .map_err(|error| error.to_string())?;
        Ok(Self {
            path: path.to_owned(),
            changes,
            _watcher: watcher,
        })
    }

    /// The file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The latest change since the last call, if any (earlier ones are superseded).
    pub fn latest_change(&self) -> Option<FileChange> {
        self.changes.try_iter().last()
    }
}

/// The watch thread: after each burst of events, reads the file and reports what it holds.
/// Ends when the watcher (and so the sender of `touched`) is dropped.
fn report_changes(
    path: &Path,
    touched: &Receiver<()>,
    changes: &Sender<FileChange>,
    wake: &impl Fn(),
) {
    while touched.recv().is_ok() {
        loop {
            match touched.recv_timeout(QUIET_DELAY) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let change = if path.exists() {
            match read_kernel_file(path) {
                Ok(text) => FileChange::Changed(text),
                Err(error) => FileChange::Unreadable(error.to_string()),
            }
        } else {
            FileChange::Gone
        };
        if changes.send(change).is_err() {
            return;
        }
        wake();
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn next_change(follower: &FileFollower) -> Option<FileChange> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Some(change) = follower.latest_change() {
                return Some(change);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    #[test]
    fn a_file_read_at_the_start_rewritten_in_place_renamed_over_and_deleted_is_reported_each_time()
    {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("kernel.lua");
        std::fs::write(&path, "-- first").expect("write");
        let follower = FileFollower::follow(&path, || {}).expect("follow");
        // What it holds when the following starts.
        assert_eq!(
            next_change(&follower),
            Some(FileChange::Changed("-- first".to_owned()))
        );
        // A file beside it changes: nothing to report.
        std::fs::write(dir.path().join("other.lua"), "-- other").expect("write");
        std::thread::sleep(QUIET_DELAY * 4);
        assert_eq!(follower.latest_change(), None);

        std::fs::write(&path, "-- written in place").expect("write");
        assert_eq!(
            next_change(&follower),
            Some(FileChange::Changed("-- written in place".to_owned()))
        );
        let temporary = dir.path().join(".kernel.lua.swp");
        std::fs::write(&temporary, "-- renamed over").expect("write");
        std::fs::rename(&temporary, &path).expect("rename");
        assert_eq!(
            next_change(&follower),
            Some(FileChange::Changed("-- renamed over".to_owned()))
        );
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(next_change(&follower), Some(FileChange::Gone));
        std::fs::write(&path, [0xff, 0xfe]).expect("write");
        assert!(matches!(
            next_change(&follower),
            Some(FileChange::Unreadable(_))
        ));
    }
}
