#!/usr/bin/env python3
"""Checks the installed package's tray app on the throwaway desktop; run by run.sh.

Starts /usr/bin/steward-desktop --hidden (a login start): the tray registers, the engine
runs (the tray's status line counts the configured provider, healthy) with no window and
no WebKit web process, and gives back the code that ran only to start once start-up has
settled; Open brings the window up, with no GL driver in the app process; Quit ends it
cleanly.
Environment (set by run.sh): APP_CONFIG, APP_LOG, SERVICE_PORT.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../desktop"))
from desktop_lib import (Failed, check, find_tray, gl_driver, log,  # noqa: E402
                         mapped_files, wait_for, web_processes, window_visible)

APP = "/usr/bin/steward-desktop"


def main():
    log_file = open(os.environ["APP_LOG"], "ab")
    app = subprocess.Popen([APP, "--hidden", "--config", os.environ["APP_CONFIG"]],
                           stdout=log_file, stderr=log_file, cwd="/")
    try:
        tray = find_tray()
        wait_for("the installed app's engine probes: the tray says healthy, 1 provider",
                 lambda: "Steward: healthy — 1 provider" in tray.layout(), 20)
        check(app.poll() is None, "the app runs")
        check(not window_visible(), "started hidden: no window")
        check(not web_processes(app.pid), "started hidden: no WebKit web process")
        wait_for("started hidden, the app gives back the code that ran only to start",
                 lambda: any("start-up settled" in line
                             for line in open(os.environ["APP_LOG"], errors="replace")), 20)
        tray.click("Open Steward")
        wait_for("Open shows the window", window_visible, 20)
        wait_for("the window's web view runs", lambda: web_processes(app.pid), 10)
        files = mapped_files(app.pid)
        check(any("libwebkit2gtk" in f for f in files) and not gl_driver(files),
              f"the installed app maps WebKit but no GL driver ({gl_driver(files)})")
        tray.click("Quit")
        code = app.wait(timeout=20)
        check(code == 0, f"Quit exits 0 (exit {code})")
        return 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        log(f"FAILED: {e}")
        sys.exit(1)
    except Exception as e:
        log(f"FAILED: {type(e).__name__}: {e}")
        sys.exit(1)
