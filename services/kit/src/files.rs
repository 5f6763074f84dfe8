//! Local files that hold secrets or personal data: `DATA_DIR`, the token secret and the
//! SQLite database (which keeps location history).
//!
//! The rules, and why:
//! - `DATA_DIR` is created with mode 0700. An existing one that others may write is refused
//!   (anyone could plant a secret or a database there before us); one that group or others
//!   may read or write but that we own is tightened to 0700 with a warning (older versions
//!   created it 0755, and refusing would break every upgrade; group access buys nothing
//!   since every file inside is 0600); one we do not own and cannot fix gets a warning.
//! - Database files are created 0600 and existing ones tightened to 0600 (SQLite gives its
//!   `-wal` and `-shm` files the mode of the database, so those follow).
//! - The secret file must be ours, 0600 or tighter and not blank, else start-up stops with
//!   the command that fixes it: a secret others could read may already be known, so only
//!   the operator can say whether to keep it (`chmod 600`) or rotate it (delete it).
//!
//! Unix only; elsewhere these are plain creates and reads.

use std::path::Path;

use anyhow::Context;

/// Creates `dir` (and missing parents) private to this user, or checks and tightens an
/// existing one (see the module documentation).
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
            return Ok(());
        }
        let meta = std::fs::metadata(dir)
            .with_context(|| format!("reading data directory {}", dir.display()))?;
        anyhow::ensure!(meta.is_dir(), "{} is not a directory", dir.display());
        let mode = meta.mode() & 0o7777;
        if mode & 0o002 != 0 {
            anyhow::bail!(
                "data directory {} is writable by others (mode {mode:04o}): another user could \
                 plant a token secret or a database in it. Use a directory of its own: set \
                 DATA_DIR to a path that does not exist yet (it is created with mode 0700), or \
                 check its contents and run `chmod 700 {}`",
                dir.display(),
                dir.display()
            );
        }
        if mode & 0o077 != 0 {
            if meta.uid() == effective_uid() {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("tightening {} to 0700", dir.display()))?;
                tracing::warn!(
                    dir = %dir.display(),
                    was = format!("{mode:04o}"),
                    "data directory was open to group or others; tightened to 0700"
                );
            } else {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format!("{mode:04o}"),
                    "data directory is open to group or others and not ours to change; \
                     its files are private (0600) but their names are not: chmod 700 it"
                );
            }
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))
    }
}

/// Creates `path` empty with mode 0600 unless it exists, so that whatever is written into
/// it later was never readable by others.
pub fn create_private_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .with_context(|| format!("creating {}", path.display()))
}

/// Sets `path` to 0600 when it exists and is open to group or others (warning once).
pub fn tighten_file(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => {
                return Err(err).with_context(|| format!("reading {}", path.display()));
            }
        };
        let mode = meta.mode() & 0o7777;
        if meta.is_file() && mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("tightening {} to 0600", path.display()))?;
            tracing::warn!(
                file = %path.display(),
                was = format!("{mode:04o}"),
                "file was open to group or others; tightened to 0600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A SQLite database and its `-wal`, `-shm` and `-journal` companions, tightened to 0600.
pub fn tighten_sqlite_files(database: &Path) -> anyhow::Result<()> {
    tighten_file(database)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = database.as_os_str().to_owned();
        companion.push(suffix);
        tighten_file(Path::new(&companion))?;
    }
    Ok(())
}

/// Reads a secret file, refusing one that group or others may read or write, that belongs
/// to another user, or that is blank; each refusal says how to fix it.
pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the token secret {} is open to group or others (mode {mode:04o}); whoever \
                 read it can sign admin tokens. If no one did, run `chmod 600 {}`; otherwise \
                 delete it and a new secret is generated at the next start (tokens issued so \
                 far stop working)",
                path.display(),
                path.display()
            );
        }
        if meta.uid() != effective_uid() {
            anyhow::bail!(
                "the token secret {} belongs to user {}, not to this user ({}); its owner \
                 chose the secret. Delete it to have a new one generated, or `chown` it",
                path.display(),
                meta.uid(),
                effective_uid()
            );
        }
    }
    let secret =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let secret = secret.trim();
    if secret.is_empty() {
        anyhow::bail!(
            "the token secret {} is blank; delete it to have a new one generated, or write a \
             secret into it (at least 32 random bytes, e.g. `openssl rand -hex 32`)",
            path.display()
        );
    }
    Ok(secret.to_string())
}

/// Publishes `contents` as `path` with mode 0600 unless `path` already exists: written to a
/// temporary file first, then hard-linked into place, so that no reader ever sees it blank
/// or half written, and a concurrent creator's file is never overwritten. `Ok(false)` when
/// `path` was already there.
pub fn publish_private_file(path: &Path, contents: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    let temporary = {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(
            ".{}.{:x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::path::PathBuf::from(name)
    };
    let written = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temporary)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err).with_context(|| format!("writing {}", path.display())),
    }
}

#[cfg(unix)]
fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_data_dir_is_private_and_missing_parents_too() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/var");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
    }

    #[test]
    fn a_readable_data_dir_of_ours_is_tightened_and_a_writable_one_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("var");
        std::fs::create_dir(&dir).unwrap();
        set_mode(&dir, 0o755);
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        set_mode(&dir, 0o770);
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        for loose in [0o777, 0o1777, 0o703] {
            set_mode(&dir, loose);
            let err = private_dir(&dir).unwrap_err().to_string();
            assert!(
                err.contains("writable by others") && err.contains("chmod 700"),
                "{err}"
            );
            assert_eq!(mode(&dir), loose, "a refused directory is left as it was");
        }
    }

    #[test]
    fn database_files_are_created_private_and_loose_ones_tightened() {
        let root = tempfile::tempdir().unwrap();
        let db = root.path().join("geo.sqlite3");
        create_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::fs::write(&db, b"data").unwrap();
        create_private_file(&db).unwrap();
        assert_eq!(
            std::fs::read(&db).unwrap(),
            b"data",
            "an existing file is kept"
        );
        let wal = root.path().join("geo.sqlite3-wal");
        std::fs::write(&wal, b"").unwrap();
        set_mode(&db, 0o644);
        set_mode(&wal, 0o666);
        tighten_sqlite_files(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
    }

    #[test]
    fn secret_files_open_to_others_or_blank_are_refused_with_the_fix() {
        let root = tempfile::tempdir().unwrap();
        let secret = root.path().join("jwt-secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        for loose in [0o666, 0o644, 0o640, 0o604, 0o620] {
            set_mode(&secret, loose);
            let err = read_secret_file(&secret).unwrap_err().to_string();
            assert!(
                err.contains("chmod 600") && err.contains("delete it"),
                "{err}"
            );
        }
        set_mode(&secret, 0o600);
        assert_eq!(read_secret_file(&secret).unwrap(), "s3cret");
        set_mode(&secret, 0o400);
        assert_eq!(read_secret_file(&secret).unwrap(), "s3cret");
        set_mode(&secret, 0o600);
        std::fs::write(&secret, " \n").unwrap();
        let err = read_secret_file(&secret).unwrap_err().to_string();
        assert!(err.contains("blank") && err.contains("delete it"), "{err}");
    }

    #[test]
    fn publishing_never_overwrites_and_leaves_no_temporary_file() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("jwt-secret");
        assert!(publish_private_file(&path, "first").unwrap());
        assert!(!publish_private_file(&path, "second").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
