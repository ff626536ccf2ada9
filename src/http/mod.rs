//! HTTP for every client in pipeline: agents, proxies and what a failure
//! means. Base downloads and the OpenStack session both use it.

pub mod agent;
pub mod failure;
pub mod progress_guard;
pub mod proxy;
