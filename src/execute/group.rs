//! A command's process group seen from outside: is it still alive, and is it still ours?
//!
//! Owns: reading `/proc` to find the members of a process group and the start time of a
//! process, so that after a crash Steward can tell whether a command it started (recorded
//! as pgid + the leader's start time) still runs. A pgid alone is not enough: once the
//! group is gone the number can be reused by an unrelated program. Linux never hands out
//! a pid that is still in use as a process group id, so while any member remains the
//! group is the same one; when the leader itself is still there, its start time must match.
//! Does not own: starting or killing commands (`runner`), or what to do about a group
//! found alive (the executor).

use std::path::Path;

/// One process from its `/proc/<pid>/stat` line; `None` when it is gone or unreadable.
struct Stat {
    /// A zombie has ended; only its exit status is left (and a container's init may never
    /// collect it).
    zombie: bool,
    pgrp: i32,
    start: u64,
}

fn stat(proc_dir: &Path) -> Option<Stat> {
    let line = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (field 3), ppid, pgrp (5), …, starttime (22).
    Some(Stat {
        zombie: *fields.first()? == "Z",
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// The start time of process `pid` (clock ticks since boot), to recognise it later.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat(&Path::new("/proc").join(pid.to_string())).map(|s| s.start)
}

/// Whether the process group `pgid`, whose leader started at `leader_start`, still has a
/// member. A process with pid `pgid` that started at another time means the number was
/// reused: not our group.
pub fn alive(pgid: i32, leader_start: Option<u64>) -> bool {
    if pgid <= 1 {
        return false;
    }
    if let Some(leader) = stat(&Path::new("/proc").join(pgid.to_string())) {
        if leader_start.is_some_and(|s| s != leader.start) {
            return false;
        }
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| n.parse::<u32>().is_ok())
            && stat(&e.path()).is_some_and(|s| s.pgrp == pgid && !s.zombie)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_running_group_is_alive_and_an_ended_one_is_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = start_ticks(pid).expect("a running process has a start time");
        assert!(alive(pid as i32, Some(start)));
        assert!(
            !alive(pid as i32, Some(start + 1)),
            "another start time: the pid was reused by something else"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!alive(pid as i32, Some(start)), "reaped: nothing is left");
    }

    #[test]
    fn a_group_whose_leader_left_lives_on_in_its_members() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("bg.pid");
        // The leader starts a background member and exits at once.
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("sleep 30 & echo $! > {}", pidfile.display()))
            .process_group(0)
            .spawn()
            .unwrap();
        let leader = status.id();
        let start = start_ticks(leader).unwrap();
        let out = status.wait_with_output().unwrap();
        assert!(out.status.success());
        let member: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            alive(leader as i32, Some(start)),
            "the member keeps the group"
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(member),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        // The member is reparented and reaped by init; wait for that to happen.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive(leader as i32, Some(start)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the group never ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn nonsense_groups_are_not_alive() {
        assert!(!alive(0, None));
        assert!(!alive(1, None), "init's group is never a command of ours");
        assert!(!alive(-5, None));
    }
}
