"""Checking a pickle before unpickling it: its opcodes walked, nothing built.

Used by ``jaxgan.pth`` on files it did not write: a hostile pickle must not hang, crash
or exhaust memory. The walk bounds the number of opcodes and the nesting depth of every
value the unpickler would build, and fails on a declared length beyond the bytes
present, all with ``pickle.UnpicklingError``.
"""

from __future__ import annotations

import pickle
import pickletools

_MUTATORS = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"})
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})


def _pop_args(op, stack: list[int], marks: list[int]) -> list[int]:
  """Pops an opcode's arguments (per pickletools' stack effects) off a stack of depths."""
  before = op.stack_before
  items, below = [], len(before)
  if pickletools.markobject in before:
    if not marks:
      raise pickle.UnpicklingError(f"opcode {op.name} without a MARK")
    mark = marks.pop()
    items, below = stack[mark:], before.index(pickletools.markobject)
    del stack[mark:]
  if len(stack) - below < (marks[-1] if marks else 0):
    raise pickle.UnpicklingError(f"opcode {op.name} pops from an empty stack")
  popped = stack[len(stack) - below:]
  del stack[len(stack) - below:]
  return popped + items


def check_pickle(stream, max_depth: int = 100, max_ops: int = 10_000_000) -> None:
  """Walks one pickle's opcodes, building nothing, to bound what unpickling it will cost.

  pickletools reads each argument with ``stream.read(n)``, so a declared length beyond the
  bytes present fails here rather than making the unpickler allocate it. The walk mirrors
  the unpickler's stack and memo with an upper bound on the nesting depth of each value
  and refuses more than max_depth levels: CPython hashes nested tuples recursively in C,
  so a dict key of a million nested tuples (a 1 MB pickle) would overflow the C stack and
  kill the process; no later check could catch that. (A container mutated after the memo
  saw it keeps its older bound there; only lists, dicts and sets mutate, they are never
  hashed, and _Resolver bounds the depth it walks.)
  """
  stack: list[int] = []  # Depth bound of each value on the unpickler's stack.
  marks: list[int] = []
  memo: dict[int, int] = {}
  for n, (op, arg, _) in enumerate(pickletools.genops(stream), 1):
    if n > max_ops:
      raise pickle.UnpicklingError(f"the pickle has more than {max_ops} opcodes")
    if op.name == "MARK":
      marks.append(len(stack))
    elif op.name in _MEMO_GETS:
      if arg not in memo:
        raise pickle.UnpicklingError(f"the pickle reads memo entry {arg} before writing it")
      stack.append(memo[arg])
    elif op.name in _MEMO_PUTS or op.name == "DUP":
      if len(stack) <= (marks[-1] if marks else 0):
        raise pickle.UnpicklingError(f"opcode {op.name} on an empty stack")
      if op.name == "DUP":
        stack.append(stack[-1])
      else:
        memo[len(memo) if op.name == "MEMOIZE" else arg] = stack[-1]
    else:
      args = _pop_args(op, stack, marks)
      if op.stack_after:
        if op.name in _MUTATORS:
          depth = max([args[0]] + [1 + a for a in args[1:]])
        else:
          depth = 1 + max(args, default=-1)
        if depth > max_depth:
          raise pickle.UnpicklingError(
              f"the pickle nests objects more than {max_depth} levels deep")
        stack.append(depth)
