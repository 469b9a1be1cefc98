"""Somebody else's agent on the line (issue 28): what its calls measure and whether it met the
scenario's expectations.

- measure.py: response latency, yield after a barge-in, talking over, long silences, talk ratio
  and what the agent heard, all from the recorded tracks and turns;
- expect.py: the scenario's `under_test.expect`, each check pass / fail / not measured with its
  evidence;
- junit.py: a run's checks as JUnit XML for CI (`inspect RUN --junit FILE`).

The call itself (joining the room as an ordinary caller, dispatching the agent) is
transport/caller.py; what the caller says is engine/offline/reactive.py.
"""
