//! The one integration test binary: it runs the real `pipeline` executable
//! on real files and checks what a user would see.

mod accel;
mod arm64;
mod bounds;
mod broken_pipe;
mod build;
mod faults;
mod incremental;
mod init;
mod interrupt;
mod leftovers;
mod nova;
mod openstack;
mod plan;
mod schedule;
mod scripts;
mod scrub;
mod slow_cloud;
mod store;
mod support;
mod validate;
