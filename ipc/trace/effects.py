"""What each call does to the fd tables and the kernel objects, replayed by ipc.trace.build. Pure.

pipe2 and socketpair make two ends; open, socket and accept one fd; dup,
dup2, dup3 and fcntl(F_DUPFD) copy an fd (sharing its open file
description); close and close_range drop them; bind, listen and connect
give a socket its addresses; mknod makes a FIFO; rename and unlink move and
drop paths. Used as a mixin of ipc.trace.build.Builder, whose tables,
objects and recorder it changes.
"""

from __future__ import annotations

import re
from typing import Optional

from .model import Call, FdEntry, FdPass, KernelObject
from .names import boring_path
from .objects import anon_key, new_object, sockaddr
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
        elif target is not None and target.kind == "anon":  # a new epoll, eventfd...: not the one made before
            key = anon_key(target, sum(1 for key in self.objects if key.startswith("anon:")) + 1)
            obj = self.objects[key] = new_object(target, key)
            obj.created_by = call.index
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
                call.fds.append(fd)  # the fds it closed, and what they were: a close of each
                call.objects.append(entry.object)
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

    # -- waits on a set of fds: poll, select, epoll -------------------------------------------------------
    def _on_epoll_ctl(self, call: Call, record: Syscall) -> None:
        """An epoll's interest list: fd -> (object, "read" | "write" ..., the data epoll_wait gives back)."""
        if len(record.args) < 3 or not isinstance(record.args[0], Fd) or not isinstance(record.args[2], Fd):
            return
        entry = self._entry(call.pid, record.args[0].number)
        fd = record.args[2]
        if entry is None:
            return
        interest = self.interest.setdefault(entry.object, {})
        interest.pop(fd.number, None)
        if "EPOLL_CTL_DEL" in str(record.args[1]):
            return
        event = record.args[3] if len(record.args) > 3 and isinstance(record.args[3], Struct) else None
        events = str(event.fields.get("events", "")) if event is not None else ""
        data = event.fields.get("data") if event is not None else None
        value = data.fields.get("u64") if isinstance(data, Struct) else None
        wants = [want for want, flags in (("read", ("EPOLLIN", "EPOLLPRI", "EPOLLRDHUP")), ("write", ("EPOLLOUT",)))
                 if any(flag in events for flag in flags)]  # fmt: skip
        watched = self._resolve(call.pid, fd, call)
        interest[fd.number] = (watched.id, wants, value)
        if watched.interesting:
            self.objects[entry.object].interesting = True  # an epoll on a pipe or a socket is part of the lesson

    def _watch(self, call: Call, record: Syscall) -> None:
        """What a poll-like call waits on (call.watched, its fds and objects) and what it found ready."""
        name, args = call.name, record.args
        watched: list = []
        if name in ("poll", "ppoll") and args and isinstance(args[0], list):
            for item in args[0]:
                fd = item.fields.get("fd") if isinstance(item, Struct) else None
                if not isinstance(fd, Fd):
                    return
                events = str(item.fields.get("events", ""))
                watched += [(fd.number, "read")] if "POLLIN" in events or "POLLPRI" in events else []
                watched += [(fd.number, "write")] if "POLLOUT" in events else []
            call.ready = [int(n) for n in re.findall(r"\{fd=(\d+), revents=", record.result_text)]
        elif name in ("select", "pselect6"):
            for index, want in ((1, "read"), (2, "write"), (3, "read")):
                if len(args) > index and isinstance(args[index], list):
                    watched += [(_number([item], 0), want) for item in args[index] if _number([item], 0) >= 0]
            call.ready = [int(n) for n in re.findall(r"\d+", " ".join(re.findall(r"\[([\d ]*)\]", record.result_text)))]
        elif name.startswith("epoll_"):
            entry = self._entry(call.pid, _number(args, 0))
            watched, by_data, fds, objects = self._interest(entry.object if entry is not None else None)
            events = args[1] if len(args) > 1 and isinstance(args[1], list) else []
            data = [item.fields.get("data") for item in events if isinstance(item, Struct)]
            values = [d.fields.get("u64") if isinstance(d, Struct) else None for d in data]
            call.ready = [by_data[v] for v in values if v in by_data] if record.ok else None
            call.fds += fds
            call.objects += objects
        else:
            return
        call.watched = watched
        if not record.ok:
            call.ready = None

    def _interest(self, epoll: Optional[str]) -> tuple:
        """An epoll's interest list as a wait uses it: (watched, data -> fd, fds, objects); worked out once for
        each state of the list (a busy server waits thousands of times on the same list)."""
        interest = self.interest.get(epoll, {}) if epoll is not None else {}
        key = (epoll, tuple(sorted(interest.items(), key=lambda item: item[0])))
        if self.interest_seen.get(epoll, (None,))[0] != key:
            watched = [(fd, want) for fd, (_, wants, _) in sorted(interest.items()) for want in wants]
            by_data = {value: fd for fd, (_, _, value) in interest.items() if value is not None}
            fds = sorted(interest)
            self.interest_seen[epoll] = (key, (watched, by_data, fds, [interest[fd][0] for fd in fds]))
        watched, by_data, fds, objects = self.interest_seen[epoll][1]
        return list(watched), by_data, list(fds), list(objects)

    # -- fds passed over a Unix socket (SCM_RIGHTS) --------------------------------------------------
    def _on_sendmsg(self, call: Call, record: Syscall) -> None:
        """The fds a sendmsg passes: the receiver gets each one's open file, its object and its end."""
        for fd in _passed(record):
            entry = self._entry(call.pid, fd.number)
            if entry is not None and call.index not in self.sent_fds:
                self.in_passing.setdefault(entry.object, []).append((call, fd.number, entry))
        self.sent_fds.add(call.index)

    def _on_recvmsg(self, call: Call, record: Syscall) -> None:
        """File descriptors passed over a Unix socket (SCM_RIGHTS) appear in the receiver's table, as the
        sender had them: the same object, the same end (a pipe's read end stays a read end), the same open file."""
        cloexec = "MSG_CMSG_CLOEXEC" in _flags(record)
        for fd in _passed(record):
            if fd.target is None:
                continue
            obj = self._object(fd.target)
            sent = self._sent(obj.id, call)
            if sent is None:
                self._new_fd(call, fd, obj, "both", cloexec)  # sent from outside the trace: which end is not known
                continue
            sender, number, entry = sent
            call.fds.append(fd.number)
            call.objects.append(obj.id)
            self._set(call.pid, fd.number, FdEntry(fd.number, obj.id, entry.end, cloexec, entry.open_file),
                      call.end_seq, call.index, "received")  # fmt: skip
            self.passes.append(FdPass(sender.index, call.index, sender.pid, call.pid, number, fd.number, obj.id,
                                      entry.end))  # fmt: skip

    def _sent(self, key: str, receiver: Call) -> Optional[tuple]:
        """The oldest passing of an fd on object ``key`` not yet received: (sendmsg call, its fd, its entry).
        A sendmsg whose return strace printed after the recvmsg's is found among the calls still to come."""
        if self.senders is None:  # the sendmsg calls that pass fds, once
            self.senders = [r for r in self.records if isinstance(r, Syscall) and r.name == "sendmsg" and r.ok
                            and _passed(r)]  # fmt: skip
        if not self.in_passing.get(key):
            for record in self.senders:
                if record.index in self.sent_fds or record.seq > (receiver.end_seq or receiver.seq):
                    continue
                sender = self.calls[record.index]
                if sender.pid in self.tables:
                    for fd in _passed(record):
                        entry = self._entry(sender.pid, fd.number)
                        if entry is not None:
                            self.in_passing.setdefault(entry.object, []).append((sender, fd.number, entry))
                    self.sent_fds.add(sender.index)
                    if self.in_passing.get(key):
                        break
        queue = self.in_passing.get(key)
        return queue.pop(0) if queue else None


def _passed(record: Syscall) -> list:
    """The fds a sendmsg or recvmsg passes: msg_control=[{cmsg_type=SCM_RIGHTS, cmsg_data=[5<pipe:[7]>]}]."""
    header = record.args[1] if len(record.args) > 1 and isinstance(record.args[1], Struct) else None
    control = header.fields.get("msg_control") if header is not None else None
    if not isinstance(control, list):
        return []
    return [
        fd
        for item in control
        if isinstance(item, Struct) and str(item.fields.get("cmsg_type")) == "SCM_RIGHTS"
        for fd in item.fields.get("cmsg_data", [])
        if isinstance(fd, Fd)
    ]


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
