"""agenthpo.heap: the garbage there is goes, what lives is kept out of later collections."""

import subprocess
import sys

# In a fresh process: freezing is for the whole process, and would outlive the test in pytest's.
CODE = """\
import gc, weakref
from agenthpo.heap import freeze_heap

class Node:
    pass

gc.disable()  # no automatic collection may do freeze_heap's work
live = Node(); live.me = live  # a cycle still in use
dead = Node(); dead.me = dead  # a garbage cycle
gone = weakref.ref(dead)
del dead
freeze_heap()
made_after = Node(); made_after.me = made_after
tracked = gc.get_objects()
print(gone() is None, any(o is live for o in tracked), any(o is made_after for o in tracked), gc.get_freeze_count() > 0)
"""


def test_freeze_heap_collects_the_garbage_and_keeps_what_lives_out_of_later_collections():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    collected, live_walked, new_walked, frozen = done.stdout.split()
    assert collected == "True"  # the garbage cycle was collected, not frozen
    assert live_walked == "False"  # a later collection does not walk what lived at the freeze
    assert new_walked == "True"  # it still walks what was made after it
    assert frozen == "True"
