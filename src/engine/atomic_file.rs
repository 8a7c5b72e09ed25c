//! Writing files so that nothing is ever half-written: the bytes go to a temporary file in
//! the target's folder, are synced, then renamed over the target. A failure at any step
//! leaves the previous file as it was and no temporary file behind (dropping it deletes it).
//! A process killed mid-write can leave a `.moonbrot-*.part` file, never a half-written
//! target; after the rename the folder is synced too, so a power loss keeps the new file.
//! Used for PNG exports, kernel saves, the window's autosave and screenshots.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically. The file gets the permissions of the file it
/// replaces, or rw-r--r-- (temporary files are created private).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Through the plain writer: the user should read about the file they chose, not the
    // temporary one, whose path the temporary's own writer adds to errors.
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// As `write_atomically`, for output too large to hold in memory: `write` streams the bytes
/// into the temporary file; only if it succeeds is the file synced and renamed over `path`.
pub fn write_atomically_with<E>(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<std::io::Error>,
{
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut temporary = tempfile::Builder::new()
        .prefix(".moonbrot-")
        .suffix(".part")
        .tempfile_in(&dir)?;
    {
        let mut buffered = std::io::BufWriter::new(temporary.as_file_mut());
        write(&mut buffered)?;
        buffered.flush()?;
    }
    temporary.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            std::fs::metadata(path).map_or(0o644, |existing| existing.permissions().mode() & 0o777);
        temporary
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    temporary.persist(path).map_err(|error| error.error)?;
    sync_folder(&dir);
    Ok(())
}

/// Makes the rename itself durable. Best effort: the file is already complete and in
/// place, and some file systems cannot sync a folder (they answer EINVAL), which is no
/// reason to report a save that worked as failed.
fn sync_folder(dir: &Path) {
    #[cfg(unix)]
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const WRITER_TARGET_VAR: &str = "MOONBROT_TEST_ATOMIC_WRITER_TARGET";
    const VERSION_BYTES: usize = 4 << 20;

    /// One version of the file: its number repeated to a fixed length, so a torn or
    /// mixed file is easy to tell from a whole one.
    fn version_bytes(version: u32) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(VERSION_BYTES);
        while bytes.len() < VERSION_BYTES {
            bytes.extend_from_slice(&version.to_le_bytes());
        }
        bytes
    }

    fn whole_version(bytes: &[u8]) -> Option<u32> {
        let first = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
        (bytes == version_bytes(first).as_slice()).then_some(first)
    }

    #[test]
    fn a_process_killed_mid_write_leaves_a_whole_file_every_time() {
        if let Some(target) = std::env::var_os(WRITER_TARGET_VAR) {
            // The child: rewrite the file, version after version, until it is killed.
            for version in 1.. {
                write_atomically(Path::new(&target), &version_bytes(version)).unwrap();
            }
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("kernel.lua");
        write_atomically(&target, &version_bytes(0)).unwrap();
        let mut last_version = 0;
        for round in 0..6_u64 {
            let mut writer = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "engine::atomic_file::tests::a_process_killed_mid_write_leaves_a_whole_file_every_time",
                    "--exact",
                    "--test-threads=1",
                ])
                .env(WRITER_TARGET_VAR, &target)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // Different moments of the write cycle from round to round.
            std::thread::sleep(std::time::Duration::from_millis(150 + 37 * round));
            writer.kill().unwrap(); // SIGKILL: no destructor runs, no temporary is removed
            writer.wait().unwrap();
            let bytes = std::fs::read(&target).unwrap();
            let version = whole_version(&bytes);
            assert!(
                version.is_some(),
                "round {round}: the file is torn ({} bytes)",
                bytes.len()
            );
            last_version = version.unwrap_or_default();
        }
        assert!(
            last_version > 0,
            "the writer never replaced the file: the test did not test anything"
        );
    }

    #[test]
    fn a_failed_write_leaves_the_previous_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("settings.json");
        write_atomically(&target, b"previous").unwrap();
        // A folder where the file should be: the rename fails after the bytes were written.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("inside"), b"keep").unwrap();
        assert!(write_atomically(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"previous");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}
