use super::OpenstackStore;

/// An image this upload created and has not finished. The upload either
/// keeps it or discards it (deleting it now); a guard dropped without
/// either (a panic) leaves the image to the store's clean-up at the end of
/// the run, so a queued or saving image never outlives the run.
pub struct CreatedImage<'a> {
    store: &'a OpenstackStore,
    id: String,
    keep: bool,
}

impl<'a> CreatedImage<'a> {
    pub fn new(store: &'a OpenstackStore, id: String) -> Self {
        Self {
            store,
            id,
            keep: false,
        }
    }

    /// The upload is complete: the image stays.
    pub fn keep(mut self) {
        self.keep = true;
    }

    /// The upload failed: delete the image now (or later, if that fails).
    pub fn discard(mut self) {
        self.keep = true;
        self.store.discard(&self.id);
    }
}

impl Drop for CreatedImage<'_> {
    /// No network here: the store's `finish` deletes it.
    fn drop(&mut self) {
        if !self.keep {
            self.store.remember_leftover(&self.id);
        }
    }
}
