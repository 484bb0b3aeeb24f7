//! The real binary's start-up checks, before any window: a bad config exits 2 with the
//! problem on stderr, even where no display is (the config is read before Tauri starts).

use std::process::Command;

#[test]
fn a_bad_config_exits_2_with_its_message_and_no_window() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[probe]\ninterval = \"soon\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_steward-desktop"))
        .arg("--config")
        .arg(&config)
        .env("STEWARD_DATA_DIR", dir.path().join("data"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("STEWARD_DEMO")
        .output()
        .expect("the app runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("the config is not valid") && stderr.contains("probe.interval"),
        "says what is wrong: {stderr}"
    );
    assert!(
        !dir.path().join("data").join("steward.lock").exists(),
        "no engine was started"
    );
}
