"""What each call does to the fd tables and the kernel objects, replayed by ipc.trace.build. Pure.

pipe2 and socketpair make two ends; open, socket and accept one fd; dup,
dup2, dup3 and fcntl(F_DUPFD) copy an fd (sharing its open file
description); close and close_range drop them; bind, listen and connect
give a socket its addresses; mknod makes a FIFO; rename and unlink move and
drop paths. Used as a mixin of ipc.trace.build.Builder, whose tables,
objects and recorder it changes.
"""

from __future__ import annotations

from typing import Optional

from .model import Call, FdEntry, KernelObject
from .names import boring_path
from .objects import new_object, sockaddr
from .strace import Data, Fd, Raw, Struct, Syscall


class Effects:
    # -- fds -------------------------------------------------------------------------------------
    def _new_fd(self, call: Call, fd: Fd, obj: KernelObject, end: str, cloexec: bool) -> None:
        call.fds.append(fd.number)
        call.objects.append(obj.id)
        self._set(
            call.pid,
            fd.number,
            FdEntry(fd.number, obj.id, end, cloexec, self._new_open_file()),
            call.end_seq,
            call.index,
            call.name,
        )

    def _on_pipe2(self, call: Call, record: Syscall) -> None:
        ends = record.args[0] if record.args and isinstance(record.args[0], list) else []
        if len(ends) == 2 and all(isinstance(e, Fd) and e.target for e in ends):
            obj = self._object(ends[0].target, call.index)
            cloexec = "O_CLOEXEC" in _flags(record)
            self._new_fd(call, ends[0], obj, "read", cloexec)
            self._new_fd(call, ends[1], obj, "write", cloexec)

    _on_pipe = _on_pipe2

    def _on_socketpair(self, call: Call, record: Syscall) -> None:
        ends = record.args[3] if len(record.args) > 3 and isinstance(record.args[3], list) else []
        if len(ends) == 2 and all(isinstance(e, Fd) and e.target for e in ends):
            first, second = (self._object(end.target, call.index) for end in ends)
            first.peer, second.peer = second.id, first.id
            for end, obj in zip(ends, (first, second)):
                self._new_fd(call, end, obj, "both", "SOCK_CLOEXEC" in _flags(record))

    def _open(self, call: Call, record: Syscall) -> None:
        target = record.result_fd.target
        flags = _flags(record)
        end = "write" if "O_WRONLY" in flags else "both" if "O_RDWR" in flags else "read"
        if call.name in ("socket", "accept", "accept4"):
            end = "both"
        if target is not None and target.kind == "path" and target.path in self.fifo_generation:
            obj = self.objects[self.paths[target.path]]
        elif (
            target is not None
            and target.kind == "path"
            and ("O_TRUNC" in flags or ("O_CREAT" in flags and target.path not in self.paths))
        ):
            obj = self._new_file(target, call)  # new content: a new object, so old bytes are not matched again
        else:
            obj = self._object(target, call.index) if target else self._unknown(record.result)
        if target is not None and target.kind == "path" and ("O_DIRECTORY" in flags or "O_PATH" in flags):
            obj.interesting = False
        self._new_fd(call, record.result_fd, obj, end, "CLOEXEC" in flags)
        if "O_APPEND" in flags:
            self.offsets[self.tables[call.pid][record.result].open_file] = None
        if call.name in ("accept", "accept4"):
            self.io.accepted(call, obj)
        if obj.kind == "fifo":
            self.io.fifo_opened(call, obj, end)

    def _new_file(self, target, call: Call) -> KernelObject:
        key = f"file:{target.path}#{len(self.objects)}"
        obj = new_object(target, key)
        obj.created_by, obj.interesting = call.index, not boring_path(target.path or "")
        self.objects[key] = obj
        self.paths[target.path] = key
        return obj

    def _copy(self, call: Call, old: int, new: int, cloexec: bool) -> None:
        entry = self.tables[call.pid].get(old)
        if entry is None or new < 0:
            return
        if new not in call.fds:
            call.fds.append(new)
        self._set(
            call.pid,
            new,
            FdEntry(new, entry.object, entry.end, cloexec, entry.open_file),
            call.end_seq,
            call.index,
            call.name,
        )

    def _on_dup(self, call: Call, record: Syscall) -> None:
        self._copy(call, _number(record.args, 0), record.result, False)

    def _on_dup2(self, call: Call, record: Syscall) -> None:
        if _number(record.args, 0) != record.result:
            self._copy(call, _number(record.args, 0), record.result, "O_CLOEXEC" in _flags(record))

    _on_dup3 = _on_dup2

    def _on_fcntl(self, call: Call, record: Syscall) -> None:
        command = str(record.args[1]) if len(record.args) > 1 else ""
        fd = _number(record.args, 0)
        if command.startswith("F_DUPFD"):
            self._copy(call, fd, record.result, command == "F_DUPFD_CLOEXEC")
        elif command == "F_SETFD" and (entry := self._entry(call.pid, fd)) is not None:
            cloexec = "FD_CLOEXEC" in _flags(record)
            if cloexec != entry.cloexec:
                self._set(
                    call.pid,
                    fd,
                    FdEntry(fd, entry.object, entry.end, cloexec, entry.open_file),
                    call.end_seq,
                    call.index,
                    "fcntl(F_SETFD)",
                )

    def _on_close(self, call: Call, record: Syscall) -> None:
        # As close() begins, the kernel takes the fd out of the table; what may take longer is releasing the
        # file. So another process's step while close() is still under way finds the fd already gone.
        self._set(call.pid, _number(record.args, 0), None, call.seq, call.index, "close")

    def _on_close_range(self, call: Call, record: Syscall) -> None:
        first, last = _number(record.args, 0), _number(record.args, 1)
        for fd, entry in sorted(self.tables[call.pid].items()):
            if first <= fd <= (last if last >= 0 else 1 << 31):
                if "CLOSE_RANGE_CLOEXEC" in _flags(record):
                    self._set(
                        call.pid,
                        fd,
                        FdEntry(fd, entry.object, entry.end, True, entry.open_file),
                        call.end_seq,
                        call.index,
                        "close_range(CLOEXEC)",
                    )
                else:
                    self._set(call.pid, fd, None, call.end_seq, call.index, "close_range")

    # -- sockets and paths -----------------------------------------------------------------------
    def _socket_arg(self, call: Call) -> Optional[KernelObject]:
        return self.objects[call.objects[0]] if call.objects else None

    def _on_bind(self, call: Call, record: Syscall) -> None:
        obj, address = self._socket_arg(call), sockaddr(record.args[1] if len(record.args) > 1 else None)
        if obj is not None and address:
            obj.local = obj.local if obj.kind in ("tcp", "udp") and address.endswith(":0") else address
            if address.startswith("/"):
                self.paths[address] = obj.id

    def _on_listen(self, call: Call, record: Syscall) -> None:
        if (obj := self._socket_arg(call)) is not None:
            obj.listening = True

    def _on_connect(self, call: Call, record: Syscall) -> None:
        obj, address = self._socket_arg(call), sockaddr(record.args[1] if len(record.args) > 1 else None)
        if obj is not None and (record.ok or record.errno == "EINPROGRESS"):
            obj.remote = obj.remote or address
            self.io.connected(call, obj)

    def _on_shutdown(self, call: Call, record: Syscall) -> None:
        if (obj := self._socket_arg(call)) is not None and "RD" != str(record.args[-1])[-2:]:
            self.io.shut(obj, call.end_seq, call.index, call.pid)

    def _on_mknodat(self, call: Call, record: Syscall) -> None:
        path = _path(record.args, 1 if call.name == "mknodat" else 0)
        if path and "S_IFIFO" in _flags(record):
            generation = self.fifo_generation[path] = self.fifo_generation.get(path, 0) + 1
            key = f"fifo:{path}#{generation}"
            self.objects[key] = KernelObject(key, "fifo", "", created_by=call.index, path=path)
            self.paths[path] = key
            call.objects.append(key)

    _on_mknod = _on_mknodat

    def _on_rename(self, call: Call, record: Syscall) -> None:
        old, new = (
            (_path(record.args, 0), _path(record.args, 1))
            if call.name == "rename"
            else (_path(record.args, 1), _path(record.args, 3))
        )
        if old in self.paths:
            key = self.paths.pop(old)
            self.paths[new] = key
            obj = self.objects[key]
            obj.path, obj.interesting = new, True
            call.objects.insert(0, key)
            if old in self.fifo_generation:
                self.fifo_generation[new] = self.fifo_generation.pop(old)

    _on_renameat = _on_renameat2 = _on_rename

    def _on_unlink(self, call: Call, record: Syscall) -> None:
        path = _path(record.args, 0 if call.name == "unlink" else 1)
        if path in self.paths:
            call.objects.insert(0, self.paths.pop(path))
            self.fifo_generation.pop(path, None)

    _on_unlinkat = _on_unlink

    def _on_lseek(self, call: Call, record: Syscall) -> None:
        if (entry := self._entry(call.pid, _number(record.args, 0))) is not None:
            self.offsets[entry.open_file] = record.result

    def _on_recvmsg(self, call: Call, record: Syscall) -> None:
        """File descriptors passed over a Unix socket (SCM_RIGHTS) appear in the receiver's table."""
        for fd in _fds(record.args, deep=True):
            if fd.target is not None and fd.number not in self.tables[call.pid]:
                self._new_fd(call, fd, self._object(fd.target), "both", False)


def _fds(values: list, deep: bool = False) -> list:
    """The fds among a call's arguments; ``deep`` also those inside structures (poll lists, SCM_RIGHTS)."""
    found = []
    for value in values:
        if isinstance(value, Fd):
            found.append(value)
        elif deep and isinstance(value, list):
            found.extend(_fds(value, deep))
        elif deep and isinstance(value, Struct):
            found.extend(_fds(list(value.fields.values()) + value.items, deep))
    return found


def _flags(record: Syscall) -> str:
    return " ".join(str(a) for a in record.args if isinstance(a, (Raw, Struct)))


def _number(args: list, index: int) -> int:
    value = args[index] if len(args) > index else -1
    return value.number if isinstance(value, Fd) else value if isinstance(value, int) else -1


def _path(args: list, index: int) -> Optional[str]:
    """A path argument made absolute with its directory fd's decoration (AT_FDCWD</cwd>)."""
    value = args[index] if len(args) > index else None
    if not isinstance(value, Data):
        return None
    path = value.value.decode("utf-8", "backslashreplace")
    directory = args[index - 1] if index > 0 else None
    if not path.startswith("/") and isinstance(directory, Fd) and directory.target and directory.target.path:
        path = directory.target.path.rstrip("/") + "/" + path
    return path
