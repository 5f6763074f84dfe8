//! The spare descriptor: one file descriptor (on the null device) held while all is well.
//!
//! When `accept` fails because the process or the system is out of descriptors (EMFILE,
//! ENFILE), closing the spare lets the server accept one waiting connection and answer it
//! (a health check gets its answer, anything else a 503) instead of leaving every client
//! hanging in the backlog. The spare is reopened when that connection closes.

use std::fs::File;
use std::sync::Mutex;

/// The held descriptor, or `None` while it is lent to a connection (or could not be
/// reopened yet).
pub(super) struct Spare {
    state: Mutex<State>,
}

struct State {
    file: Option<File>,
    /// A connection accepted on the spare is open; the spare comes back when it closes.
    lent: bool,
}

impl Spare {
    pub(super) fn new() -> Spare {
        Spare {
            state: Mutex::new(State {
                file: open_null(),
                lent: false,
            }),
        }
    }

    /// Closes the spare so that its descriptor can be used; `false` when there was none.
    pub(super) fn lend(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.file.take() {
            Some(file) => {
                drop(file);
                state.lent = true;
                true
            }
            None => false,
        }
    }

    /// The lent descriptor is free again (or was never used): hold it again.
    pub(super) fn give_back(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.lent = false;
        if state.file.is_none() {
            state.file = open_null();
        }
    }

    /// Retries a reopen that failed while descriptors were short.
    pub(super) fn refill(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.file.is_none() && !state.lent {
            state.file = open_null();
        }
    }

    #[cfg(test)]
    pub(super) fn held(&self) -> bool {
        self.state.lock().unwrap().file.is_some()
    }
}

fn open_null() -> Option<File> {
    let path = if cfg!(windows) { "NUL" } else { "/dev/null" };
    File::open(path).ok()
}

/// Whether an accept error means "no descriptor left" (per process or system-wide).
pub(super) fn out_of_descriptors(err: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        matches!(
            Errno::from_io_error(err),
            Some(Errno::MFILE) | Some(Errno::NFILE)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = err;
        false
    }
}

/// Errors of one connection (it went away before we took it): retry at once.
pub(super) fn connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spare_is_lent_once_and_held_again_when_given_back() {
        let spare = Spare::new();
        assert!(spare.held());
        assert!(spare.lend());
        assert!(!spare.lend(), "one descriptor, one connection");
        spare.refill();
        assert!(!spare.held(), "not reopened while lent");
        spare.give_back();
        assert!(spare.held());
    }

    #[cfg(unix)]
    #[test]
    fn emfile_and_enfile_are_descriptor_shortages() {
        assert!(out_of_descriptors(&std::io::Error::from_raw_os_error(
            rustix::io::Errno::MFILE.raw_os_error()
        )));
        assert!(out_of_descriptors(&std::io::Error::from_raw_os_error(
            rustix::io::Errno::NFILE.raw_os_error()
        )));
        assert!(!out_of_descriptors(&std::io::Error::from(
            std::io::ErrorKind::ConnectionAborted
        )));
    }
}
