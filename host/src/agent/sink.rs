//! The agent's `target`: every call the connector makes is encoded at once
//! and appended to the current batch; a full batch goes to the sender
//! (`send.rs`), which posts batches in order. A refusal from the server
//! (or a lost run) stops the connector at its next call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::Sender;

use super::protocol::{encode_bytes, Call, Object};
use crate::model::{ObjectKind, RecordError};
use crate::runtime::{PluginState, RunWarnings, Schedule, Seats, TargetSink, WireObject};

/// Why the run must stop, set by the sender or the beat.
pub type Stop = Arc<Mutex<Option<String>>>;

pub struct BatchSink {
    buf: Vec<u8>,
    /// Send a batch once it reaches this many bytes.
    target: usize,
    /// The server takes no batch larger than this.
    max: usize,
    out: Option<Sender<Vec<u8>>>,
    stop: Stop,
    fatal: Option<String>,
    /// Set with the first fatal error: nothing more is sent.
    failed: bool,
    state: HashMap<String, Option<Vec<u8>>>,
    stored: HashMap<String, Vec<u8>>,
    seats: Vec<(String, u32, u32)>,
}

const HEAD: &[u8] = b"{\"calls\":[";
const TAIL: &[u8] = b"]}";

impl BatchSink {
    pub fn new(
        target: usize,
        max: usize,
        out: Sender<Vec<u8>>,
        stop: Stop,
        stored: HashMap<String, Vec<u8>>,
        seats: Vec<(String, u32, u32)>,
    ) -> BatchSink {
        BatchSink {
            buf: HEAD.to_vec(),
            target: target.min(max),
            max,
            out: Some(out),
            stop,
            fatal: None,
            failed: false,
            state: HashMap::new(),
            stored,
            seats,
        }
    }

    fn fail(&mut self, msg: String) -> String {
        self.failed = true;
        self.fatal.get_or_insert_with(|| msg.clone());
        msg
    }

    fn stopped(&mut self) -> Result<(), String> {
        let why = self.stop.lock().ok().and_then(|s| s.clone());
        match why {
            Some(why) => Err(self.fail(why)),
            None => Ok(()),
        }
    }

    fn push(&mut self, call: &Call) -> Result<(), String> {
        self.stopped()?;
        let encoded = serde_json::to_vec(call).map_err(|e| self.fail(e.to_string()))?;
        self.push_encoded(encoded)
    }

    fn push_encoded(&mut self, encoded: Vec<u8>) -> Result<(), String> {
        if HEAD.len() + encoded.len() + TAIL.len() > self.max {
            return Err(self.fail(format!(
                "one call of the connector encodes to {} bytes, more than the server takes in a batch ({} bytes, server.agent_max_batch_kb)",
                encoded.len(),
                self.max
            )));
        }
        if self.buf.len() + 1 + encoded.len() + TAIL.len() > self.target {
            self.flush()?;
        }
        if self.buf.len() > HEAD.len() {
            self.buf.push(b',');
        }
        self.buf.extend_from_slice(&encoded);
        Ok(())
    }

    /// A `put-users` or `put-groups` batch, split into calls that fit a
    /// batch: each record is mapped on its own, so the split changes nothing.
    fn push_objects(&mut self, call: &str, batch: Vec<WireObject>) -> Result<(), String> {
        self.stopped()?;
        let head = format!("{{\"call\":\"{call}\",\"objects\":[");
        let room = self
            .target
            .saturating_sub(HEAD.len() + TAIL.len() + head.len() + 2);
        let mut chunk = head.clone().into_bytes();
        let mut empty = true;
        for object in batch {
            let one = serde_json::to_vec(&Object::from_wire(object))
                .map_err(|e| self.fail(e.to_string()))?;
            if !empty && chunk.len() + 1 + one.len() > room {
                chunk.extend_from_slice(b"]}");
                self.push_encoded(std::mem::replace(&mut chunk, head.clone().into_bytes()))?;
                empty = true;
            }
            if !empty {
                chunk.push(b',');
            }
            chunk.extend_from_slice(&one);
            empty = false;
        }
        chunk.extend_from_slice(b"]}");
        self.push_encoded(chunk)
    }

    /// Hand the batch so far to the sender (blocking while it is busy).
    fn flush(&mut self) -> Result<(), String> {
        if self.buf.len() == HEAD.len() {
            return Ok(());
        }
        let mut batch = std::mem::replace(&mut self.buf, HEAD.to_vec());
        batch.extend_from_slice(TAIL);
        let sent = self.out.as_ref().map(|o| o.blocking_send(batch));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => {
                self.stopped()?;
                Err(self.fail("the batch sender stopped".into()))
            }
        }
    }
}

impl Drop for BatchSink {
    /// The read is over: send what is left, then let the sender finish.
    fn drop(&mut self) {
        if !self.failed {
            let _ = self.flush();
        }
        self.out.take();
    }
}

impl TargetSink for BatchSink {
    fn put_users(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.push_objects("users", batch)
    }

    fn put_groups(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.push_objects("groups", batch)
    }

    fn put_members(&mut self, group: String, members: Vec<String>) -> Result<(), String> {
        // Members sent for one group add up, so a long list goes in parts.
        let per_call = (self.target / 2).max(1024);
        let mut part = Vec::new();
        let mut size = 0;
        for m in members {
            size += m.len() + 8;
            part.push(m);
            if size >= per_call {
                let members = std::mem::take(&mut part);
                self.push(&Call::Members {
                    group: group.clone(),
                    members,
                })?;
                size = 0;
            }
        }
        if !part.is_empty() {
            self.push(&Call::Members {
                group,
                members: part,
            })?;
        }
        Ok(())
    }

    fn remove(&mut self, kind: ObjectKind, ids: Vec<String>) -> Result<(), String> {
        self.push(&Call::Remove { kind, ids })
    }

    fn reject(&mut self, error: RecordError) {
        let _ = self.push(&Call::reject(error));
    }

    fn checkpoint(&mut self, cursor: String) -> Result<(), String> {
        self.push(&Call::Checkpoint { cursor })
    }

    fn take_fatal(&mut self) -> Option<String> {
        self.fatal.take()
    }
}

impl PluginState for BatchSink {
    fn state_get(&mut self, key: &str) -> Option<Vec<u8>> {
        match self.state.get(key) {
            Some(v) => v.clone(),
            None => self.stored.get(key).cloned(),
        }
    }

    fn state_set(&mut self, key: String, value: Option<Vec<u8>>) {
        let call = Call::State {
            key: key.clone(),
            value: value.as_deref().map(encode_bytes),
        };
        if self.push(&call).is_ok() {
            self.state.insert(key, value);
        }
    }
}

impl Schedule for BatchSink {
    fn run_again_in(&mut self, seconds: u32) {
        let _ = self.push(&Call::RunAgainIn { seconds });
    }
}

impl Seats for BatchSink {
    fn seats(&mut self) -> Vec<(String, u32, u32)> {
        self.seats.clone()
    }
}

impl RunWarnings for BatchSink {
    fn warn(&mut self, message: String) {
        let _ = self.push(&Call::Warn { message });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::Batch;
    use crate::runtime::{WireAttribute, WireKind, WireValue};

    fn user(i: usize) -> WireObject {
        WireObject {
            kind: WireKind::User,
            id: format!("u{i}"),
            ref_key: String::new(),
            enabled: true,
            attributes: vec![WireAttribute {
                name: "uid".into(),
                values: vec![WireValue::Text(format!("user-{i:04}-{}", "x".repeat(100)))],
            }],
            member_of: vec![],
            members: vec![],
        }
    }

    #[test]
    fn a_large_put_users_is_split_into_batches_that_fit_in_order() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1000);
        let stop: Stop = Arc::default();
        let mut sink = BatchSink::new(4096, 8192, tx, stop, HashMap::new(), vec![]);
        sink.put_users((0..300).map(user).collect()).unwrap();
        sink.put_members("g".into(), (0..2000).map(|i| format!("m{i}")).collect())
            .unwrap();
        sink.checkpoint("c1".into()).unwrap();
        drop(sink);
        let (mut users, mut members, mut batches) = (Vec::new(), 0, 0);
        let mut last = None;
        while let Ok(body) = rx.try_recv() {
            assert!(body.len() <= 8192, "{}", body.len());
            batches += 1;
            let batch: Batch = serde_json::from_slice(&body).unwrap();
            for call in batch.calls {
                match call {
                    Call::Users { objects } => users.extend(objects.into_iter().map(|o| o.id)),
                    Call::Members { members: m, .. } => members += m.len(),
                    Call::Checkpoint { cursor } => last = Some(cursor),
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!(batches > 5, "{batches}");
        assert_eq!(users, (0..300).map(|i| format!("u{i}")).collect::<Vec<_>>());
        assert_eq!(members, 2000);
        assert_eq!(last.as_deref(), Some("c1"), "the checkpoint comes last");
    }

    #[test]
    fn a_stop_from_the_server_stops_the_connector() {
        let (tx, _rx) = tokio::sync::mpsc::channel(10);
        let stop: Stop = Arc::default();
        let mut sink = BatchSink::new(4096, 8192, tx, stop.clone(), HashMap::new(), vec![]);
        *stop.lock().unwrap() = Some("batch 3: refused".into());
        let err = sink.put_users(vec![user(1)]).unwrap_err();
        assert!(err.contains("refused"), "{err}");
        assert!(sink.take_fatal().is_some());
    }
}
