//! Build script of `steward-desktop`: Tauri's, and the link-time code layout of the
//! engine it runs (see `build/code_layout.rs`).

include!("../build/code_layout.rs");

fn main() {
    code_layout();
    tauri_build::build()
}
