"""A loopback LiveKit-protocol server for tests, and the network-namespace helper it needs.

- `server.LoopbackServer`: signalling (/rtc), media and data relay (aiortc), Twirp RoomService and
  AgentDispatchService, and the agent worker protocol (/agent), enough for the real `livekit`
  SDK and real livekit-agents workers.
- `netns`: run a command inside a fresh network namespace (libwebrtc ignores loopback, so the
  server and every participant must share a namespace with a non-loopback interface).

Tested against livekit 1.1.21, livekit-agents 1.8.9, livekit-api 1.2.2, livekit-protocol 1.1.29
and aiortc 1.16.0. An SDK upgrade can change endpoints or the protocol: re-run
tests/test_livekit_loopback.py after one.
"""
