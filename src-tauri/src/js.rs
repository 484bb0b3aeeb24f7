//! The web view's JavaScript engine: its JIT only for a fleet that needs one.
//!
//! Owns: whether WebKit's web process compiles the page's JavaScript to machine code.
//! With a small fleet nothing in the page runs hot enough to pay for it: JavaScriptCore's
//! interpreter alone (`JSC_useJIT=0`, which the web process reads from its environment
//! when WebKit starts it) made the shown window 8-10 MiB smaller and no slower (50
//! providers: web process 186 → 177 MiB RSS, 0.52 → 0.45 % of a core). With thousands
//! of providers the JIT pays off (10,000: 1.4-1.8 % of a core against 2.5-2.7 % over
//! 40 s that hold a probe tick). So the JIT is off for fleets below [`JIT_FROM`]
//! providers, decided once at start from the config; a fleet that grows past it gets the
//! JIT at the next start. A `JSC_useJIT` already in the environment wins. Command probes
//! inherit the variable too (the executor's actions do not: it clears their environment);
//! it changes only programs that embed JavaScriptCore.
//! Does not own: the page itself (`ui/`), the web view's other settings (`window`).

/// JavaScriptCore's switch for all of its JIT tiers.
const JIT_VAR: &str = "JSC_useJIT";

/// The fleet size from which the page's JavaScript is compiled.
pub const JIT_FROM: usize = 1_000;

/// What [`configure`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jit {
    /// `JSC_useJIT=0` set: the web process interprets.
    Off,
    /// The fleet is large enough: JavaScriptCore's default (JIT on).
    On,
    /// The environment already says (`JSC_useJIT`): left as it is.
    AsSet,
}

/// The decision, from the fleet size and whether `JSC_useJIT` is already set. Pure.
pub fn decide(providers: usize, already_set: bool) -> Jit {
    if already_set {
        Jit::AsSet
    } else if providers >= JIT_FROM {
        Jit::On
    } else {
        Jit::Off
    }
}

/// Sets `JSC_useJIT=0` for the web processes WebKit will start, when [`decide`] says so.
/// Call before any thread exists: it changes the environment.
pub fn configure(providers: usize) -> Jit {
    let jit = decide(providers, std::env::var_os(JIT_VAR).is_some());
    if jit == Jit::Off {
        std::env::set_var(JIT_VAR, "0");
    }
    jit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_fleet_interprets_and_a_large_one_compiles() {
        assert_eq!(decide(0, false), Jit::Off);
        assert_eq!(decide(50, false), Jit::Off);
        assert_eq!(decide(JIT_FROM - 1, false), Jit::Off);
        assert_eq!(decide(JIT_FROM, false), Jit::On);
        assert_eq!(decide(10_000, false), Jit::On);
    }

    #[test]
    fn a_setting_in_the_environment_wins() {
        assert_eq!(decide(50, true), Jit::AsSet);
        assert_eq!(decide(10_000, true), Jit::AsSet);
    }
}
