//! Writing files so that nothing is ever half-written: the bytes go to a temporary file in
//! the target's folder, are synced, then renamed over the target. A failure at any step
//! leaves the previous file as it was and no temporary file behind (dropping it deletes it).
//! Used for PNG exports, kernel saves and screenshots.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically. The file gets the permissions of the file it
/// replaces, or rw-r--r-- (temporary files are created private).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut temporary = tempfile::Builder::new()
        .prefix(".moonbrot-")
        .suffix(".part")
        .tempfile_in(&dir)?;
    // Through the plain file: the temporary's own writer adds its path to errors, and the
    // user should read about the file they chose, not one that is already gone.
    temporary.as_file_mut().write_all(bytes)?;
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
    Ok(())
}
