//! Build script of `steward`: the link-time code layout of its programs (see
//! `build/code_layout.rs`).

include!("build/code_layout.rs");

fn main() {
    code_layout();
}
