//! The search resource a plugin holds: a tokio task reads and converts the
//! next page while the plugin works on this one, so the host's share of a
//! read (BER, UTF-8 checks, allocation, the next paged request) runs on
//! another core. At most `AHEAD` pages wait, each capped as `Reader` caps it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::page::{Builder, Page as Entries, PageForm};
use super::search::{Reader, SyncOutcome};

/// Pages read ahead of the plugin (besides the one the task is building).
const AHEAD: usize = 1;

/// Most searches one plugin instance holds open at once. Each reads a page
/// ahead, so without a bound a plugin could hold host memory by opening
/// searches it never reads; a connector needs two or three (a group's
/// ranged members while the groups page on).
pub const MAX_OPEN_SEARCHES: usize = 16;

/// A broker's count of open searches.
#[derive(Default)]
pub struct OpenSearches(Arc<AtomicUsize>);

impl OpenSearches {
    /// One more open search, unless the plugin holds the most already.
    pub fn take(&self) -> Result<OpenSearch, String> {
        if self.0.fetch_add(1, Ordering::SeqCst) >= MAX_OPEN_SEARCHES {
            self.0.fetch_sub(1, Ordering::SeqCst);
            return Err(format!(
                "too many open searches: a plugin may hold {MAX_OPEN_SEARCHES} at once; read a search to its end or drop it before opening another"
            ));
        }
        Ok(OpenSearch(self.0.clone()))
    }
}

/// One count of [`OpenSearches`], given back when the search is dropped.
pub struct OpenSearch(Arc<AtomicUsize>);

impl Drop for OpenSearch {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Page {
    entries: Result<Entries, String>,
    /// On the page the search ended with: its content-sync outcome, if any.
    end: Option<Option<SyncOutcome>>,
}

/// An open search; dropping it (the plugin drops it, traps or is stopped)
/// closes the channel, and the task abandons the search on the server.
pub struct SearchHandle {
    pages: mpsc::Receiver<Page>,
    /// Set once the last page was handed out.
    end: Option<Option<SyncOutcome>>,
    /// The form of the empty pages after the last one.
    form: PageForm,
    _open: OpenSearch,
}

impl SearchHandle {
    /// Start reading `reader` ahead on `handle`'s runtime.
    pub fn spawn(reader: Reader, handle: &Handle, open: OpenSearch) -> SearchHandle {
        let (tx, pages) = mpsc::channel(AHEAD);
        let form = reader.form();
        handle.spawn(read_ahead(reader, tx));
        SearchHandle {
            pages,
            end: None,
            form,
            _open: open,
        }
    }

    /// Up to one page of entries; empty when the search is done. Pages and
    /// errors come in the order `Reader::next_page` gave them.
    pub fn next_page(&mut self, handle: &Handle) -> Result<Entries, String> {
        if self.end.is_some() {
            return Ok(Builder::new(self.form, 0).finish());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_holds_at_most_max_open_searches_and_gets_them_back_on_drop() {
        let open = OpenSearches::default();
        let mut held: Vec<_> = (0..MAX_OPEN_SEARCHES)
            .map(|_| open.take().unwrap())
            .collect();
        let refused = open.take().err().unwrap();
        assert!(refused.contains("too many open searches"), "{refused}");
        held.pop();
        assert!(open.take().is_ok(), "a dropped search frees its place");
    }
}
