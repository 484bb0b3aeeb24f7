// Link-time code layout, shared by the build scripts of `steward` and `steward-desktop`
// (each `include!`s this file).
//
// The functions the engine runs at start and on every probe tick are listed in
// `build/hot-functions.txt` (made by `scripts/hot-functions.sh` from a run under
// callgrind). The linker places them first and together, so the code an idle engine keeps
// resident is those few MiB instead of pages spread over the whole text: the kernel maps
// code 64 KiB around each page that runs. Symbols the file names that a build does not
// have are skipped, so a stale list costs memory, never a failed link.
//
// Only for x86_64 Linux with rustc >= 1.90, whose default linker there is LLD (which
// takes `--symbol-ordering-file`; GNU ld does not). `STEWARD_CODE_LAYOUT=off` leaves the
// linker's default layout.

fn code_layout() {
    println!("cargo:rerun-if-env-changed=STEWARD_CODE_LAYOUT");
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = if manifest.join("build/hot-functions.txt").exists() {
        manifest
    } else {
        manifest.join("..")
    };
    let list = root.join("build/hot-functions.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    let off = std::env::var("STEWARD_CODE_LAYOUT").is_ok_and(|v| v == "off");
    let target = std::env::var("TARGET").unwrap_or_default();
    if off || target != "x86_64-unknown-linux-gnu" || !list.exists() || !lld_by_default() {
        return;
    }
    let list = list.canonicalize().unwrap_or(list);
    println!(
        "cargo:rustc-link-arg=-Wl,--symbol-ordering-file={}",
        list.display()
    );
    println!("cargo:rustc-link-arg=-Wl,--no-warn-symbol-ordering");
}

/// rustc 1.90 or later: it links x86_64 Linux programs with its own LLD by default.
fn lld_by_default() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-V").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let version = String::from_utf8_lossy(&out.stdout);
    let mut parts = version
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
