"""fork + pipe: the exchange between a parent and its child."""

from support import run_demo_once, run_program


def test_pipe_demo_through_the_harness():
    result = run_demo_once("pipe")
    assert result.ok, result.problems
    assert result.messages == 8
    pids = {line.pid for line in result.lines}
    assert len(pids) == 2  # the parent and the child it forked
    assert any("forked server child" in line.text for line in result.said("client"))


def test_pipe_demo_by_hand_with_its_own_messages():
    done = run_program("pipe_fork.py", "one", "two")
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert 'received "1 ONE"' in err and 'received "2 TWO"' in err
    assert "end of file" in err  # the child saw EOF only because both write ends were closed
