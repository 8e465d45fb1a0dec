//! Notifications: a finished run is POSTed to the job's webhook as JSON.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::env::{TestEnv, CSV_SOURCE};

/// Accept one HTTP request on loopback and return its body.
async fn one_request(listener: TcpListener) -> String {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let len: usize = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + len {
                socket
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
                return text[head_end + 4..].to_string();
            }
        }
        if n == 0 {
            panic!("connection closed early");
        }
    }
}

#[tokio::test]
async fn a_finished_run_is_posted_to_the_webhook() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = TestEnv::new(
        &[("plugins", "csv"), ("plugins", "default-mapper")],
        &format!(
            "connector = \"csv\"\n[jobs.grants]\ninput_dir = \"data\"\n[jobs.notify]\nwebhook = \"http://127.0.0.1:{port}/hooks/usersync\"\n{CSV_SOURCE}"
        ),
    );
    env.write_csv("id,uid,active,groups\n1,ada,true,Staff\n");
    let server = tokio::spawn(one_request(listener));
    let report = env.sync().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&server.await.unwrap()).unwrap();
    assert_eq!(body["event"], "run_finished");
    assert_eq!(body["run_id"], report.run.id.as_str());
    assert_eq!(body["outcome"], "succeeded");
    assert_eq!(body["counts"]["created"], 1);
}
