use super::OpenstackStore;

/// An image this upload created and has not finished: dropping the guard
/// (an error, a cancellation, a panic) deletes it, so a queued or saving
/// image never outlives the upload that made it. `keep` disarms it.
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

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The upload is complete: the image stays.
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for CreatedImage<'_> {
    fn drop(&mut self) {
        if !self.keep {
            self.store.discard(&self.id);
        }
    }
}
