"""The foundation, continued: the same exchange over Unix-domain sockets and datagrams."""

from . import Demo, Program

DEMOS: list[Demo] = []
