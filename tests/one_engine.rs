//! One engine per data dir: a second `steward serve` on a data dir in use refuses with a
//! clear error and touches nothing; the first goes on; once it stops, the dir is free.

mod common;

use common::serve::ServeCommand;
use std::path::PathBuf;

/// A temp dir with a config (no providers) and the path of a data dir in it.
fn lab() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = (dir.path().join("steward.toml"), dir.path().join("data"));
    std::fs::write(&config, "[probe]\ninterval = \"30s\"\n").unwrap();
    (dir, config, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_the_same_data_dir_refuses_and_the_first_goes_on() {
    let (dir, config, data) = lab();
    let serve = ServeCommand::new(&config, &data);
    let mut first = serve.start().await;

    let (status, stderr) = serve.start_refused().await;
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("already running on the data dir")
            && stderr.contains(&data.display().to_string())
            && stderr.contains(&format!("pid {}", first.pid())),
        "the error says what, where and who: {stderr}"
    );
    first.assert_alive_without_panic();
    first.get("/api/status").await;

    // Another data dir is another engine.
    let other = ServeCommand::new(&config, &dir.path().join("other"))
        .start()
        .await;
    other.stop().await;

    first.stop().await;
    let again = serve.start().await;
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_engine_leaves_no_stale_lock() {
    let (_dir, config, data) = lab();
    let serve = ServeCommand::new(&config, &data);
    let mut first = serve.start().await;
    first.kill9();
    assert!(
        data.join("steward.lock").exists(),
        "the file stays; the lock does not"
    );
    serve.start().await.stop().await;
}
