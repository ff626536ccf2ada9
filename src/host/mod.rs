//! This machine: processes, the accelerator, QEMU command lines.

pub mod accel;
pub mod capacity;
pub mod process;
pub mod qemu;
