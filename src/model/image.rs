use super::{Arch, Template};

/// `[image]`, validated.
#[derive(Debug)]
pub struct Image {
    pub prefix: String,
    pub arch: Arch,
    pub template: Template,
    /// Bytes; `None` keeps the base image's size.
    pub disk_size: Option<u64>,
    /// As written, for templates.
    pub disk_size_text: String,
}
