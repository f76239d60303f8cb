"""The production channel layer: channels-redis's, plus `group_send_many` for the one publisher of events
(agents.runtime.events), which sends what has gathered since its last send in one go.

channels-redis's `group_send` costs two round trips to Redis before it knows whether anyone is in the group (drop
the expired members, read the rest), and most events of a busy server go to groups nobody is in: API clients do
not open websockets, only the ADE's open pages are members. `group_send_many` reads the members of every group of
the batch in one pipelined round trip per Redis host, and sends (with `group_send`, unchanged) only to the groups
that have members, in the batch's order."""

import time
from collections import defaultdict
from typing import Any

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer


class RedisChannelLayer(_RedisChannelLayer):  # type: ignore[misc]  # channels-redis has no type hints
    async def group_send_many(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        """Send each (group, message), in order, to the groups that have members (a member added meanwhile may
        miss the events read as memberless, as with `group_send`'s own read)."""
        by_connection: dict[int, list[str]] = defaultdict(list)
        for group in dict.fromkeys(group for group, _ in sends):
            self.require_valid_group_name(group)  # raises TypeError for a malformed name
            by_connection[self.consistent_hash(group)].append(group)
        members: dict[str, bool] = {}
        for index, groups in by_connection.items():
            pipe = self.connection(index).pipeline(transaction=False)
            expired = int(time.time()) - self.group_expiry
            for group in groups:
                pipe.zremrangebyscore(self._group_key(group), min=0, max=expired)
                pipe.zcard(self._group_key(group))
            counts = (await pipe.execute())[1::2]
            members.update((group, int(count) > 0) for group, count in zip(groups, counts, strict=True))
        for group, message in sends:
            if members[group]:
                await self.group_send(group, message)
