"""Concurrent Lua script calls coalesced into Redis pipelines, so a burst never waits on the connection pool.

One script call per request held one pooled connection for a full round trip; under a burst of
1,000 requests on a busy host the event loop takes long to come back to each reply, so 32
connections carried about 32 calls per loop turn and requests waiting for one were refused
(503 ``limits_unavailable``) though Redis was fine (``tests/limits/test_burst.py``). Here a call
joins a queue; at most ``lanes`` pipelines are in flight (one connection each), and each takes
every call queued when it starts (up to ``max_batch``). Alone, a call goes at once, as before;
under load the calls of one loop turn share one round trip.

Each script stays atomic on its own (a pipeline is not a transaction; nothing here needs one).
A pipeline that fails as a whole (timeout, connection lost) fails every call in it; nothing is
retried, except a call Redis refused with NOSCRIPT (it did not run: the script cache was flushed
or Redis restarted), which is sent once more after loading the script.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

# Calls per pipeline at most: Redis runs them one after another, and the last reply must still
# arrive within the socket timeout.
MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class _Call:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]
    answer: asyncio.Future[Any]


class ScriptBatcher:
    """Runs registered scripts through at most ``lanes`` pipelines at a time."""

    def __init__(self, redis: aioredis.Redis, *, lanes: int, max_batch: int = MAX_BATCH) -> None:
        self._redis = redis
        self._lanes = lanes
        self._max_batch = max_batch
        self._queue: list[_Call] = []
        self._busy = 0
        self._flights: set[asyncio.Task[None]] = set()  # referenced until done (the loop keeps weak ones)

    async def call(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's reply; RedisError when Redis refused it or could not be reached in time."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(script, keys, args, answer))
        self._dispatch()
        return await answer

    def _dispatch(self) -> None:
        while self._queue and self._busy < self._lanes:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            self._busy += 1
            flight = asyncio.create_task(self._fly(batch), name="vaultgate-limits-pipeline")
            self._flights.add(flight)
            flight.add_done_callback(self._flights.discard)

    async def _fly(self, batch: list[_Call]) -> None:
        try:
            replies = await self._send(batch)
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:
                for script in {id(batch[i].script): batch[i].script for i in missing}.values():
                    script.sha = await self._redis.script_load(script.script)
                again = await self._send([batch[i] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        except (RedisError, OSError) as exc:
            failure = exc if isinstance(exc, RedisError) else RedisError(type(exc).__name__)
            for call in batch:
                if not call.answer.done():
                    call.answer.set_exception(failure)
        except BaseException as exc:  # cancelled (shutdown): nobody may wait for ever
            for call in batch:
                if not call.answer.done():
                    call.answer.set_exception(RedisError(type(exc).__name__))
            raise
        else:
            for call, reply in zip(batch, replies, strict=True):
                if call.answer.done():  # its caller went away meanwhile
                    continue
                if isinstance(reply, Exception):
                    call.answer.set_exception(reply)
                else:
                    call.answer.set_result(reply)
        finally:
            self._busy -= 1
            self._dispatch()

    async def _send(self, batch: Sequence[_Call]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for call in batch:
            pipe.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
        return list(await pipe.execute(raise_on_error=False))
