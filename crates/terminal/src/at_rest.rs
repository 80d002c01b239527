//! Secrets at rest (SPEC §6): the till's data folder holds its device token, the PIN
//! hashes of its branch and the queue, so the folder is `0700` and its files `0600`.
//! Checked at every start: a mode that is wider is narrowed (with a warning); one that
//! cannot be narrowed (another owner) is refused with a message that says what to do.

use std::path::Path;

use crate::db::DB_FILE;
use crate::error::{TerminalError, TerminalResult};

/// The data folder's mode.
pub const FOLDER_MODE: u32 = 0o700;
/// Each file's mode.
pub const FILE_MODE: u32 = 0o600;

/// Creates the folder (`0700`) if missing, narrows it if wider, and creates the
/// database file `0600` if missing, so SQLite's journal files inherit that mode.
pub fn prepare(dir: &Path) -> TerminalResult<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| TerminalError::Internal(format!("cannot create data folder {}: {e}", dir.display())))?;
    narrow(dir, FOLDER_MODE)?;
    let db = dir.join(DB_FILE);
    if !db.exists() {
        create_private(&db)?;
    }
    check_files(dir)
}

/// Narrows every database file of the folder (the database, its WAL and shared memory)
/// to `0600`.
pub fn check_files(dir: &Path) -> TerminalResult<()> {
    for name in [DB_FILE.to_string(), format!("{DB_FILE}-wal"), format!("{DB_FILE}-shm")] {
        let path = dir.join(name);
        if path.exists() {
            narrow(&path, FILE_MODE)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn create_private(path: &Path) -> TerminalResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map(|_| ())
        .map_err(|e| TerminalError::Internal(format!("cannot create {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> TerminalResult<()> {
    Ok(())
}

/// Narrows `path` to `mode` if any other bit is set.
#[cfg(unix)]
fn narrow(path: &Path, mode: u32) -> TerminalResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| TerminalError::Internal(format!("cannot read {}: {e}", path.display())))?;
    let now = meta.permissions().mode() & 0o777;
    if now & !mode == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        TerminalError::Internal(format!(
            "{} is readable by others (mode {now:o}) and cannot be narrowed to {mode:o} ({e}); \
             it holds the device token: run `chmod {mode:o} {}` as its owner, then start again",
            path.display(),
            path.display()
        ))
    })?;
    tracing::warn!(path = %path.display(), from = format!("{now:o}"), to = format!("{mode:o}"), "narrowed the mode of a till file");
    Ok(())
}

#[cfg(not(unix))]
fn narrow(_path: &Path, _mode: u32) -> TerminalResult<()> {
    Ok(())
}
