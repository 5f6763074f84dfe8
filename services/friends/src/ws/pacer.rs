//! When a connection's waiting frames are written: [`WritePacer`].

use std::time::Duration;

use tokio::time::Instant;

/// Frames a write may carry before it goes out regardless of the gap.
pub(super) const WRITE_FRAMES: usize = 128;

/// When the frames waiting for a connection are written: at most one write per `gap`, except
/// for replies to the client's own frames, which go at once.
pub(super) struct WritePacer {
    gap: Duration,
    last: Option<Instant>,
    /// A write is scheduled for then.
    scheduled: Option<Instant>,
    reply: bool,
}

pub(super) enum Write {
    Now,
    /// Arm the write timer for then.
    At(Instant),
    /// The timer is already armed.
    Pending,
}

impl WritePacer {
    pub(super) fn new(gap: Duration) -> WritePacer {
        WritePacer {
            gap,
            last: None,
            scheduled: None,
            reply: false,
        }
    }

    /// The client is waiting for an answer to its own frame.
    pub(super) fn reply(&mut self) {
        self.reply = true;
    }

    pub(super) fn waiting(&self) -> bool {
        self.scheduled.is_some()
    }

    /// The scheduled write's time has come.
    pub(super) fn due(&mut self) {
        self.scheduled = None;
        self.last = None;
    }

    /// What to do with `frames` waiting frames; `Now` means the caller writes them now.
    pub(super) fn next(&mut self, frames: usize) -> Write {
        let now = Instant::now();
        let reply = std::mem::take(&mut self.reply);
        let free = self.last.is_none_or(|last| now >= last + self.gap);
        if free || reply || frames >= WRITE_FRAMES {
            self.last = Some(now);
            self.scheduled = None;
            return Write::Now;
        }
        match self.scheduled {
            Some(_) => Write::Pending,
            None => {
                let at = self.last.map_or(now, |last| last + self.gap);
                self.scheduled = Some(at);
                Write::At(at)
            }
        }
    }
}
