"""A stack started in its own sessions (``make up``): out of the terminal's reach, so its
children must not outlive a parent that was killed outright."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import textwrap
from pathlib import Path

import psutil

#: A parent that starts nats-server in its own session, says so, and waits to be killed.
PARENT = textwrap.dedent(
    """
    import asyncio
    from pathlib import Path
    from switchboard_sim.stack import LocalStack

    async def main() -> None:
        stack = LocalStack(workdir=Path({workdir!r}), own_sessions=True)
        await stack.start_nats()
        print("UP", stack.children[0].pid, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_children_in_their_own_sessions_die_with_a_killed_parent(tmp_path: Path) -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PARENT.format(workdir=str(tmp_path)),
        stdout=asyncio.subprocess.PIPE,
    )
    assert parent.stdout is not None
    async with asyncio.timeout(30):
        line = (await parent.stdout.readline()).decode().split()
    assert line[:1] == ["UP"], line
    nats = psutil.Process(int(line[1]))
    try:
        assert nats.ppid() == parent.pid
        assert os.getsid(nats.pid) == nats.pid  # its own session: no terminal signal reaches it

        parent.send_signal(signal.SIGKILL)
        await parent.wait()
        _, alive = await asyncio.to_thread(psutil.wait_procs, [nats], timeout=10)
        assert not alive, "nats-server outlived its killed parent"
    finally:
        with contextlib.suppress(psutil.Error):  # an orphan is no child of ours: the guard
            nats.kill()  # would not see it
