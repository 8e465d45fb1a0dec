//! Contract 0.1's `target` import: record batches arrive typed.

use super::strings_size;
use crate::runtime::capability::PluginHost;
use crate::runtime::wit::v0_1::{target, types};

impl PluginHost {
    /// Refuse batches larger than the tenant's output cap.
    fn check_batch(&mut self, batch: &[types::SourceObject]) -> Result<(), String> {
        let size: usize = batch.iter().map(approx_size).sum();
        self.check_read(|| format!("batch of {} records", batch.len()), size)
    }
}

fn approx_size(o: &types::SourceObject) -> usize {
    let attrs: usize = o
        .attributes
        .iter()
        .map(|a| {
            a.name.len()
                + a.values
                    .iter()
                    .map(|v| match v {
                        types::AttrValue::Text(t) => t.len(),
                        types::AttrValue::Binary(b) => b.len(),
                    })
                    .sum::<usize>()
        })
        .sum();
    let refs: usize = o.member_of.iter().chain(&o.members).map(String::len).sum();
    o.id.len() + o.ref_key.len() + attrs + refs
}

impl target::Host for PluginHost {
    fn put_users(&mut self, batch: Vec<types::SourceObject>) -> Result<(), String> {
        self.check_batch(&batch)?;
        self.with_sink(|s| s.put_users(batch))
    }

    fn put_groups(&mut self, batch: Vec<types::SourceObject>) -> Result<(), String> {
        self.check_batch(&batch)?;
        self.with_sink(|s| s.put_groups(batch))
    }

    fn put_members(&mut self, group_ref: String, member_refs: Vec<String>) -> Result<(), String> {
        self.check_payload("put-members", group_ref.len() + strings_size(&member_refs))?;
        self.with_sink(|s| s.put_members(group_ref, member_refs))
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
}
