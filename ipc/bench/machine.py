"""What machine the figures come from: CPU, cores, kernel, virtual or not, load, limits.

Read from /proc and /sys where there is one; what cannot be found is None,
never a guess. Nothing here prints.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from typing import Optional

SMALL_VM_WARNING = (
    "a virtual machine with few CPUs: its vCPUs are threads of a host that runs other work, "
    "so tails (p99, max) are unreliable, and pinning two processes to two vCPUs can make them "
    "worse, not better; each figure says its placement"
)


def describe() -> dict:
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    vm = virtualization()
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu_model": cpu_model(),
        "cpus_online": os.cpu_count(),
        "cpus_allowed": allowed,
        "kernel": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "virtualization": vm,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average": list(load_average()) if load_average() else None,
        "pipe_max_size": _read_int("/proc/sys/fs/pipe-max-size"),
        "socket_buffer_max": _read_int("/proc/sys/net/core/wmem_max"),
        "tmp_filesystem": filesystem_type(os.environ.get("TMPDIR") or "/tmp"),
        "cpu_frequency_governor": _read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
    }
    info["warnings"] = warnings(info)
    return info


def warnings(info: dict) -> list:
    found = []
    if info["virtualization"] and (info["cpus_online"] or 0) <= 4:
        found.append(SMALL_VM_WARNING)
    load = info["load_average"]
    if load and load[0] > 0.3 * (info["cpus_online"] or 1):
        found.append(
            f"the machine was busy (load average {load[0]:.2f} over the last minute on "
            f"{info['cpus_online']} CPUs): other work shares the CPUs, so figures are slower and "
            f"spread wider than on a quiet machine"
        )
    return found


def load_average() -> Optional[tuple]:
    try:
        return tuple(round(value, 2) for value in os.getloadavg())
    except OSError:
        return None


def cpu_model() -> Optional[str]:
    text = _read_text("/proc/cpuinfo")
    if text:
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model"):
                return " ".join(value.split())
    if sys.platform == "darwin":
        return _command(["sysctl", "-n", "machdep.cpu.brand_string"])
    return platform.processor() or None


def virtualization() -> Optional[str]:
    """The hypervisor's name if this is a VM ('kvm', 'vmware', ...), None on bare metal or if unknown."""
    answer = _command(["systemd-detect-virt", "--vm"])
    if answer:
        return None if answer == "none" else answer
    flags = _read_text("/proc/cpuinfo") or ""
    if " hypervisor" in flags:
        vendor = _read_text("/sys/class/dmi/id/sys_vendor")
        return (vendor or "unknown hypervisor").strip()
    return None


def filesystem_type(path: str) -> Optional[str]:
    """The type of the file system holding path (from /proc/mounts: the longest mount point that contains it)."""
    mounts = _read_text("/proc/mounts")
    if not mounts:
        return None
    path = os.path.realpath(path)
    best, kind = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def summary_line(info: dict) -> str:
    cpus = info["cpus_online"]
    allowed = info["cpus_allowed"]
    vm = f"a {info['virtualization']} VM" if info["virtualization"] else "not a VM (as far as can be seen)"
    load = info["load_average"]
    load_text = f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else "load average unknown"
    allowed_text = f", {len(allowed)} usable" if allowed and len(allowed) != cpus else ""
    return (
        f"{info['cpu_model'] or 'unknown CPU'}, {cpus} CPUs{allowed_text}, {info['kernel']}, {vm}, "
        f"{info['python']}; {load_text}; {info['date']}"
    )


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read().strip()
    except OSError:
        return None


def _read_int(path: str) -> Optional[int]:
    text = _read_text(path)
    return int(text) if text and text.isdigit() else None


def _command(argv: list) -> Optional[str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None
