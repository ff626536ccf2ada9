use crate::recipe::RawArch;
use serde::Serialize;
use std::fmt;

/// CPU architecture of an image, named as GitHub's runner releases name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X64,
    Arm64,
}

impl Arch {
    /// The name QEMU, the kernel and Glance's `architecture` property use.
    pub fn machine(self) -> &'static str {
        match self {
            Arch::X64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X64 => "x64",
            Arch::Arm64 => "arm64",
        }
    }
}

impl From<RawArch> for Arch {
    fn from(raw: RawArch) -> Self {
        match raw {
            RawArch::X64 => Arch::X64,
            RawArch::Arm64 => Arch::Arm64,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
