"""Human handoff: one state machine every channel uses (queue, routing, agents, tickets).

`bot.handoff.service.HandoffService` owns the life cycle; `bot.handoff.hook` plugs it into
the engine; `bot.server.handoff_api` serves the agent console and `GET /api/handoffs`.
"""
