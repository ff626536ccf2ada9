//! This machine: processes, the accelerator, QEMU command lines and VMs.

pub mod accel;
mod accel_verdict;
pub mod accelerator;
pub mod capacity;
pub mod kvm_probe;
mod probe_error;
pub mod process;
pub mod qemu;
pub mod qemu_img;
mod qmp;
pub mod vm;

pub use probe_error::ProbeError;
