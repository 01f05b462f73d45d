"""(to be written)"""

from . import Demo, Program

DEMOS: list[Demo] = []
