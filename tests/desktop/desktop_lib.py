"""What the desktop tests share: checks that print one line each, waiting, the tray over
D-Bus (StatusNotifierWatcher → StatusNotifierItem → com.canonical.dbusmenu), the app's
window on the X display, and its WebKit processes. Used by drive.py and
tests/package/installed.py.
"""
import os
import re
import subprocess
import time

ENV = os.environ
STARTED = time.monotonic()


class Failed(Exception):
    pass


def log(msg):
    print(f"[{time.monotonic() - STARTED:6.1f}s] {msg}", flush=True)


def check(cond, what):
    if not cond:
        raise Failed(what)
    log(f"ok: {what}")


def wait_for(what, fn, timeout, every=0.25):
    """Polls fn until it returns something truthy; returns it, or fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Failed:
            raise
        except Exception as e:  # a transient error while polling is just "not yet"
            last = e
        if last and not isinstance(last, Exception):
            log(f"ok: {what}")
            return last
        time.sleep(every)
    raise Failed(f"{what} (not within {timeout}s; last: {last!r})")


# --- the tray over D-Bus ------------------------------------------------------------------

def gdbus(*args):
    # C.UTF-8: gdbus prints non-ASCII labels as "?" under a locale that is not installed.
    out = subprocess.run(["gdbus", "call", "--session", *args], capture_output=True,
                         text=True, timeout=10, env={**ENV, "LC_ALL": "C.UTF-8"})
    if out.returncode != 0:
        raise RuntimeError(f"gdbus {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip()


def prop(dest, path, iface, name):
    return gdbus("--dest", dest, "--object-path", path, "--method",
                 "org.freedesktop.DBus.Properties.Get", iface, name)


def tray_items():
    out = prop("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher",
               "org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems")
    return re.findall(r"'([^']+)'", out)


class TrayItem:
    """The app's StatusNotifierItem and its exported menu."""

    def __init__(self, entry):
        # An entry is "<bus name><object path>", e.g. ":1.42/org/ayatana/NotificationItem/x".
        slash = entry.index("/")
        self.dest, self.path = entry[:slash], entry[slash:]
        menu = prop(self.dest, self.path, "org.kde.StatusNotifierItem", "Menu")
        self.menu = re.search(r"objectpath '([^']+)'", menu).group(1)

    def icon(self):
        return prop(self.dest, self.path, "org.kde.StatusNotifierItem", "IconName")

    def layout(self):
        """{label: id} of the menu's items (separators have no label)."""
        out = gdbus("--dest", self.dest, "--object-path", self.menu, "--method",
                    "com.canonical.dbusmenu.GetLayout", "0", "int32 -1", "[]")
        items = {}
        for m in re.finditer(r"\((\d+), \{([^{}]*)\}, (?:@av )?\[\]\)", out):
            label = re.search(r"'label': <'((?:[^'\\]|\\.)*)'>", m.group(2))
            if label:
                items[label.group(1).replace("_", "")] = int(m.group(1))
        return items

    def click(self, label):
        items = self.layout()
        if label not in items:
            raise Failed(f"tray menu has no {label!r}: {sorted(items)}")
        gdbus("--dest", self.dest, "--object-path", self.menu, "--method",
              "com.canonical.dbusmenu.Event", str(items[label]), "clicked", "<0>", "0")
        log(f"clicked tray item {label!r}")


def find_tray():
    def ours():
        for entry in tray_items():
            try:
                item = TrayItem(entry)
                if "Quit" in item.layout():
                    return item
            except Exception:
                continue
        return None
    return wait_for("the tray item is registered with the StatusNotifierWatcher", ours, 20)


def descendants(pid):
    out, i = [pid], 0
    while i < len(out):
        for task in os.listdir(f"/proc/{out[i]}/task") if os.path.exists(f"/proc/{out[i]}") else []:
            try:
                out += [int(c) for c in open(f"/proc/{out[i]}/task/{task}/children").read().split()]
            except OSError:
                pass
        i += 1
    return out[1:]


def exe_name(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def web_processes(app_pid):
    """The app's WebKit web processes (what renders the page). By executable: a comm is
    cut to 15 characters ("WebKitWebProces")."""
    return [p for p in descendants(app_pid) if exe_name(p) == "WebKitWebProcess"]


def network_processes(app_pid):
    """The app's WebKit network processes (they serve web views: the app ends them once
    the window has been gone a few seconds)."""
    return [p for p in descendants(app_pid) if exe_name(p) == "WebKitNetworkProcess"]


def mapped_files(pid):
    """The files `pid` maps (shared libraries and the like), by path."""
    try:
        return {line.split(None, 5)[5].strip() for line in open(f"/proc/{pid}/maps")
                if len(line.split(None, 5)) == 6}
    except OSError:
        return set()


def gl_driver(files):
    """The EGL/GL driver files among `files`: Mesa's EGL, its DRI drivers, LLVM."""
    return sorted(f for f in files
                  if re.search(r"libEGL_mesa|_dri\.so|libgallium|libLLVM", os.path.basename(f)))


def environment(pid):
    """The environment `pid` was started with."""
    try:
        raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    except OSError:
        return {}
    return dict(e.decode(errors="replace").split("=", 1) for e in raw if b"=" in e)


def ok_badge_pixels():
    """Pixels of the OK badge's background (--ok-bg, #e6f4ec) in a capture of the Steward
    window: the dashboard painted rows of healthy providers. 0 without a window."""
    wid = window_visible()
    if not wid:
        return 0
    out = subprocess.run(["import", "-window", wid[0], "-depth", "8", "rgb:-"],
                         capture_output=True, timeout=30)
    # bytes.count is fast enough to poll with (a Python loop over the pixels took ~0.3 s);
    # a match straddling two pixels would need neighbours of exactly those values.
    return out.stdout.count(b"\xe6\xf4\xec")


def rss_mib(pid):
    """VmRSS of `pid` in MiB (0 when gone)."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def apps_running(app_bin):
    """PIDs of every running `app_bin` (any instance)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/exe") == app_bin:
                    out.append(int(d))
            except OSError:
                pass
    return out


def autostart_checked(tray):
    """Whether the tray's "Start at login" item is checked (its dbusmenu toggle-state)."""
    out = gdbus("--dest", tray.dest, "--object-path", tray.menu, "--method",
                "com.canonical.dbusmenu.GetLayout", "0", "int32 -1", "[]")
    for m in re.finditer(r"\((\d+), \{([^{}]*)\}, (?:@av )?\[\]\)", out):
        if "Start at login" in m.group(2):
            state = re.search(r"'toggle-state': <(\d+)>", m.group(2))
            return bool(state and state.group(1) == "1")
    raise Failed("the tray menu has no 'Start at login'")


def window_visible():
    out = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^Steward$"],
                         capture_output=True, text=True)
    return out.stdout.split()
