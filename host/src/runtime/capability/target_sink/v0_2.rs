//! Contract 0.2's `target` import: record batches arrive as packed pages.
//! The page's length is checked against the limits before it is decoded,
//! so an oversized batch costs no decoding.

use crate::runtime::capability::PluginHost;
use crate::runtime::packed;
use crate::runtime::wit::v0_2::{target, types};
use crate::runtime::wit::WireObject;

impl PluginHost {
    /// Refuse an oversized page before decoding anything of it.
    fn check_page(&mut self, page: &[u8]) -> Result<(), String> {
        // The header is not data; a page's bytes bound what it decodes to.
        let size = page.len().saturating_sub(usersync_packed::HEADER_LEN);
        self.check_read(|| "a packed batch".to_string(), size)
    }

    fn objects(&mut self, page: &[u8]) -> Result<Vec<WireObject>, String> {
        self.check_page(page)?;
        packed::decode_objects(page).map_err(String::from)
    }
}

impl target::Host for PluginHost {
    fn put_users(&mut self, batch: Vec<u8>) -> Result<(), String> {
        self.check_page(&batch)?;
        self.with_sink(|s| s.put_user_page(batch))
    }

    fn put_groups(&mut self, batch: Vec<u8>) -> Result<(), String> {
        let batch = self.objects(&batch)?;
        self.with_sink(|s| s.put_groups(batch))
    }

    fn put_members(&mut self, page: Vec<u8>) -> Result<(), String> {
        self.check_payload("put-members", page.len())?;
        let (group, members) = packed::decode_members(&page).map_err(String::from)?;
        self.with_sink(|s| s.put_members(group, members))
    }

    fn remove(&mut self, kind: types::ObjectKind, ids: Vec<String>) -> Result<(), String> {
        PluginHost::remove(self, kind.into(), ids)
    }

    fn reject(&mut self, record_ref: String, message: String) {
        PluginHost::reject(self, record_ref, message)
    }

    fn checkpoint(&mut self, cursor: String) -> Result<(), String> {
        PluginHost::checkpoint(self, cursor)
    }

    fn known_users(&mut self, ids: Vec<String>) -> Result<Vec<bool>, String> {
        PluginHost::known_users(self, ids)
    }
}
