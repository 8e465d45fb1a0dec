//! The search resource a plugin holds: a tokio task reads and converts the
//! next page while the plugin works on this one, so the host's share of a
//! read (BER, UTF-8 checks, allocation, the next paged request) runs on
//! another core. At most `AHEAD` pages wait, each capped as `Reader` caps it.

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::search::{Entry, Reader, SyncOutcome};

/// Pages read ahead of the plugin (besides the one the task is building).
const AHEAD: usize = 1;

struct Page {
    entries: Result<Vec<Entry>, String>,
    /// On the page the search ended with: its content-sync outcome, if any.
    end: Option<Option<SyncOutcome>>,
}

/// An open search; dropping it (the plugin drops it, traps or is stopped)
/// closes the channel, and the task abandons the search on the server.
pub struct SearchHandle {
    pages: mpsc::Receiver<Page>,
    /// Set once the last page was handed out.
    end: Option<Option<SyncOutcome>>,
}

impl SearchHandle {
    /// Start reading `reader` ahead on `handle`'s runtime.
    pub fn spawn(reader: Reader, handle: &Handle) -> SearchHandle {
        let (tx, pages) = mpsc::channel(AHEAD);
        handle.spawn(read_ahead(reader, tx));
        SearchHandle { pages, end: None }
    }

    /// Up to one page of entries; empty when the search is done. Pages and
    /// errors come in the order `Reader::next_page` gave them.
    pub fn next_page(&mut self, handle: &Handle) -> Result<Vec<Entry>, String> {
        if self.end.is_some() {
            return Ok(Vec::new());
        }
        match handle.block_on(self.pages.recv()) {
            Some(page) => {
                self.end = page.end;
                page.entries
            }
            // The task ended without its last page: it panicked, or the
            // runtime is shutting down.
            None => Err("LDAP search failed while reading: the search was cut short".into()),
        }
    }

    /// How the content-sync search ended (after its last page).
    pub fn sync_done(&self) -> Option<SyncOutcome> {
        self.end.clone().flatten()
    }
}

async fn read_ahead(mut reader: Reader, tx: mpsc::Sender<Page>) {
    loop {
        let entries = tokio::select! {
            page = reader.next_page() => page,
            // Nobody will read on: stop waiting for the server.
            _ = tx.closed() => return reader.abandon().await,
        };
        let end = reader.finished().then(|| reader.sync_done());
        // After an error the stream has nothing more to give: stop there
        // rather than ask a failed connection again.
        let last = end.is_some() || entries.is_err();
        if tx.send(Page { entries, end }).await.is_err() || last {
            return reader.abandon().await; // a no-op after the last page
        }
    }
}
