"""The raw clients of every mechanism, for the tests that talk to one server by hand.

They live in ipc.check.peers, beside the conformance suite that ``ipc check`` and
test_conformance.py share; this module only gives the tests their old names.
"""

from ipc.check.peers import DatagramPeer, FifoPeer, FilePeer, Peer, SocketPeer, StdioPeer, open_before, read_before

__all__ = ["DatagramPeer", "FifoPeer", "FilePeer", "Peer", "SocketPeer", "StdioPeer", "open_before", "read_before"]
