"""Kernel objects as strace shows them: which object an fd decoration means, socket addresses, labels. Pure."""

from __future__ import annotations

import re
from typing import Optional

from .model import KernelObject
from .strace import Data, Raw, Struct, Target


def sockaddr(value: object) -> Optional[str]:
    """strace's struct sockaddr as a person writes the address: 127.0.0.1:80, [::1]:80, /a/path."""
    if not isinstance(value, Struct):
        return None
    family = str(value.fields.get("sa_family", ""))
    if family == "AF_UNIX":
        path = value.fields.get("sun_path")
        if isinstance(path, Data):
            return path.value.decode("utf-8", "backslashreplace")
        if isinstance(path, Raw) and path.startswith("@"):
            return str(path)
        return "(unnamed)"
    port = _call_argument(value.fields.get("sin_port") or value.fields.get("sin6_port"))
    if family == "AF_INET":
        host = _quoted(value.fields.get("sin_addr"))
        return f"{host}:{port}" if host and port else None
    if family == "AF_INET6":
        host = next((_quoted(item) for item in value.items if str(item).startswith("inet_pton")), None)
        host = host or _quoted(value.fields.get("sin6_addr"))
        return f"[{host}]:{port}" if host and port else None
    return None


def _call_argument(value: object) -> Optional[str]:
    match = re.search(r"\((\d+)\)", str(value or ""))
    return match.group(1) if match else None


def _quoted(value: object) -> Optional[str]:
    if isinstance(value, Data):
        return value.value.decode("ascii", "replace")
    match = re.search(r'"([^"]*)"', str(value or ""))
    return match.group(1) if match else None


def same_address(a: Optional[str], b: Optional[str]) -> bool:
    """Does a datagram sent to ``a`` reach a socket bound to ``b`` (0.0.0.0 and :: take any host)?"""
    if not a or not b:
        return False
    if a == b:
        return True
    host_a, _, port_a = a.rpartition(":")
    host_b, _, port_b = b.rpartition(":")
    return port_a == port_b and port_a.isdigit() and ("0.0.0.0" in (host_a, host_b) or "[::]" in (host_a, host_b))


def kind_of(target: Target) -> str:
    if target.kind == "unix":
        return "unix-stream" if target.socktype in ("stream", "seqpacket") else "unix-dgram"
    if target.kind == "path":
        if target.path and (target.path.startswith("/dev/pts/") or target.path == "/dev/tty"):
            return "terminal"
        return "file"
    return {"pipe": "pipe", "tcp": "tcp", "udp": "udp", "socket": "socket"}.get(target.kind, "other")


def object_key(target: Target) -> str:
    """The id of the object a decoration names, when nothing better (an fd table) says which it is."""
    if target.kind == "pipe":
        return f"pipe:{target.inode}"
    if target.kind == "unix" and target.inode is not None:
        return f"unix:{target.inode}"
    if target.kind in ("tcp", "udp", "socket"):
        if target.inode is not None:
            return f"{target.kind}:{target.inode}"
        return f"{target.kind}:{target.local}" + (f"->{target.remote}" if target.remote else "")
    if target.kind == "path":
        return f"path:{target.path}"
    return f"other:{target.text}"


def new_object(target: Target, key: str) -> KernelObject:
    kind = kind_of(target)
    obj = KernelObject(id=key, kind=kind, label="", inode=target.inode, path=target.path)
    if kind == "file":
        obj.interesting = False  # until the trace writes it, makes it, renames it or redirects to it
    elif kind == "other":
        obj.interesting = False
    update(obj, target)
    return obj


def update(obj: KernelObject, target: Optional[Target]) -> None:
    """What a later decoration tells about an object: a socket's addresses once bound or connected."""
    if target is None:
        return
    if target.kind in ("tcp", "udp"):
        obj.local = target.local or obj.local
        obj.remote = target.remote or obj.remote
    elif target.kind == "unix":
        obj.local = target.local or obj.local
        if target.peer is not None:
            obj.peer = f"unix:{target.peer}"
    elif target.kind == "path" and obj.kind in ("file", "fifo") and target.path:
        obj.path = target.path  # a file renamed while open shows its new name


def compatible(obj: KernelObject, target: Optional[Target]) -> bool:
    """Can this decoration be this object (or did the fd table miss a call)?"""
    if target is None:
        return True
    if target.kind == "pipe":
        return obj.kind == "pipe" and obj.inode == target.inode
    if target.kind == "unix":
        return obj.kind.startswith("unix") and (target.inode is None or obj.inode in (None, target.inode))
    if target.kind in ("tcp", "udp"):
        if obj.kind != target.kind:
            return False
        if target.inode is not None and obj.inode is not None:
            return obj.inode == target.inode
        return True
    if target.kind == "path":
        return obj.kind in ("file", "fifo", "terminal")
    if target.kind == "anon":  # each epoll, eventfd... made in the trace is an object of its own
        return obj.id == object_key(target) or obj.id.startswith(f"anon:{target.text}#")
    return obj.id == object_key(target)


def anon_key(target: Target, number: int) -> str:
    """The id of the ``number``-th anonymous object (an epoll, an eventfd) made in the trace."""
    return f"anon:{target.text}#{number}"


def name_objects(objects: dict) -> None:
    """Give every object a short label: pipe #1, FIFO requests, TCP #1 (both ends of one connection alike)."""
    counters: dict = {}
    pairs: dict = {}

    def number(kind: str, key: object) -> int:
        if key not in pairs:
            counters[kind] = counters.get(kind, 0) + 1
            pairs[key] = counters[kind]
        return pairs[key]

    made = sorted((o for o in objects.values() if o.created_by is not None), key=lambda o: o.created_by)
    for obj in made + [o for o in objects.values() if o.created_by is None]:
        base = (obj.path or "").rstrip("/").rsplit("/", 1)[-1] or obj.path or "?"
        if obj.kind == "pipe":
            obj.label = f"pipe #{number('pipe', obj.id)}"
        elif obj.kind == "fifo":
            obj.label = f"FIFO {base}"
        elif obj.kind in ("file", "terminal"):
            obj.label = f"{'file' if obj.kind == 'file' else 'terminal'} {base}"
        elif obj.kind == "unix-stream" and obj.listening:
            obj.label = f"unix listener {_base(obj.local)}"
        elif obj.kind == "unix-stream":
            key = frozenset({obj.id, obj.peer}) if obj.peer else obj.id
            obj.label = f"unix #{number('unix', ('unix', key))}"
        elif obj.kind == "tcp" and obj.listening:
            obj.label = f"TCP listener {obj.local or '?'}"
        elif obj.kind == "tcp":
            key = frozenset({obj.local, obj.remote}) if obj.remote else obj.id
            obj.label = f"TCP #{number('tcp', ('tcp', key))}"
        elif obj.kind == "udp":
            obj.label = f"UDP {obj.local or '#' + str(number('udp', obj.id))}"
        elif obj.kind == "unix-dgram":
            obj.label = f"unix dgram {_base(obj.local) or '#' + str(number('udg', obj.id))}"
        elif obj.id.startswith("anon:"):  # anon_inode:[eventpoll]#1 -> epoll #1
            what = obj.id.split("[", 1)[-1].split("]", 1)[0] if "[" in obj.id else obj.id.split(":")[-1]
            what = {"eventpoll": "epoll"}.get(what, what)
            obj.label = f"{what} #{number(what, obj.id)}"
        else:
            obj.label = obj.path or obj.id.split(":", 1)[-1]


def _base(path: Optional[str]) -> str:
    return (path or "").rsplit("/", 1)[-1]
