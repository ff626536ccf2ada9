use crate::openstack::{Glance, Session};
use crate::step::StepResult;
use crate::targets::{GlanceLocation, StreamSource};
use std::io::Read;
use std::sync::Arc;

/// A server's snapshot in the build cloud's Glance, read as it streams to
/// each target.
pub struct SnapshotImage {
    pub session: Arc<Session>,
    pub location: GlanceLocation,
}

impl StreamSource for SnapshotImage {
    fn describe(&self) -> String {
        format!(
            "snapshot {} on cloud `{}`",
            self.location.image_id,
            self.session.cloud().name
        )
    }

    fn open(&self) -> StepResult<Box<dyn Read + Send>> {
        Glance::new(&self.session).download(&self.location.image_id)
    }

    fn glance_image(&self) -> Option<&GlanceLocation> {
        Some(&self.location)
    }
}
