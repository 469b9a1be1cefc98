"""Agent workers with one real fault each, for the LiveKit tests:

    python -m fault_workers deaf          agents link their peer with livekit-agents' default
                                          participant kinds (no AGENT): the trap synthconv avoids
    python -m fault_workers ignore-first  the first dispatch offered is never answered, so that
                                          role's agent does not join until it is dispatched again

Both otherwise are `synthconv worker`. Agents run in job processes, which import this module to
find the entrypoint, so the fault is applied there too.
"""

from __future__ import annotations

import asyncio
import os
import sys

from livekit.agents import room_io

from synthconv.transport import livekit_agent


async def deaf_entrypoint(ctx) -> None:  # noqa: ANN001
    livekit_agent.link_options = lambda peer, *_: room_io.RoomOptions(participant_identity=peer,
                                                                      close_on_disconnect=False)
    await livekit_agent.entrypoint(ctx)


_offered: list[str] = []


async def ignore_first(req) -> None:  # noqa: ANN001
    _offered.append(req.job.id)
    if len(_offered) == 1:
        print("ignoring dispatch", req.job.id, flush=True)
        await asyncio.sleep(3600)  # neither accepts nor rejects
    else:
        await livekit_agent.on_request(req)


def main(fault: str) -> None:
    faults = {"deaf": {"entry": deaf_entrypoint}, "ignore-first": {"request": ignore_first}}
    server = livekit_agent.make_server(os.environ["LIVEKIT_URL"], os.environ["LIVEKIT_API_KEY"],
                                       os.environ["LIVEKIT_API_SECRET"], **faults[fault])
    asyncio.run(server.run())


if __name__ == "__main__":
    main(sys.argv[1])
