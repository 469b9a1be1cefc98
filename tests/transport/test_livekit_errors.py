"""Which LiveKit failures a run tries again (issue 27): a server node or its Redis briefly gone
is worth a fresh room; a request the server refuses as wrong is not."""

import aiohttp
import pytest
from livekit.api import TwirpError

from synthconv.errors import transient


@pytest.mark.parametrize("error", [
    # what create_dispatch answered while Redis restarted (tests/cluster, restart-redis)
    TwirpError("unknown", "could not get node for room: dial tcp 10.201.0.2:6379: i/o timeout", status=500),
    TwirpError("unavailable", "no nodes available", status=503),
    TwirpError("deadline_exceeded", "request timed out", status=408),
    aiohttp.ServerDisconnectedError(),  # the node the API call went to went away
])
def test_a_server_briefly_unable_is_retried(error):
    assert transient(error)


@pytest.mark.parametrize("error", [
    TwirpError("invalid_argument", "metadata size exceeds limits", status=400),
    TwirpError("unauthenticated", "invalid token", status=401),
    TwirpError("permission_denied", "no permissions to access the room", status=403),
])
def test_a_request_the_server_refuses_is_final(error):
    assert not transient(error)
