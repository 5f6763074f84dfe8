//! Travel modes and the bit masks edges carry for them.

use std::fmt;
use std::str::FromStr;

/// How a user travels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Driving,
    Cycling,
    Walking,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Driving, Mode::Cycling, Mode::Walking];

    /// This mode's bit in a [`ModeMask`].
    pub const fn bit(self) -> ModeMask {
        ModeMask(match self {
            Mode::Driving => 1,
            Mode::Cycling => 2,
            Mode::Walking => 4,
        })
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Driving => "driving",
            Mode::Cycling => "cycling",
            Mode::Walking => "walking",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown mode {s:?}: expected driving, walking or cycling"))
    }
}

/// A set of modes, one bit each (driving 1, cycling 2, walking 4): the format stores it as
/// one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct ModeMask(pub u8);

impl ModeMask {
    pub const NONE: ModeMask = ModeMask(0);
    pub const ALL: ModeMask = ModeMask(7);
    /// Driving and cycling: what an untagged turn restriction applies to.
    pub const VEHICLES: ModeMask = ModeMask(3);

    pub const fn contains(self, mode: Mode) -> bool {
        self.0 & mode.bit().0 != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn set(&mut self, mode: Mode, on: bool) {
        if on {
            self.0 |= mode.bit().0;
        } else {
            self.0 &= !mode.bit().0;
        }
    }

    pub const fn union(self, other: ModeMask) -> ModeMask {
        ModeMask(self.0 | other.0)
    }

    pub const fn without(self, other: ModeMask) -> ModeMask {
        ModeMask(self.0 & !other.0)
    }
}
