"""The Voila server's activity watcher: a real kernel, watched as the idle culler sees it."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jupyter_client.session import Session
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

from server.activity import ActivityKernelManager, read_activity

ROOT = Path(__file__).resolve().parents[1]


def wire(session: Session, msg_type: str, content: dict, parent: dict | None = None) -> list[bytes]:
    """A message as the server's IOPub socket receives it (identities first)."""
    message = session.msg(msg_type, content, parent=parent or {})
    return [b"kernel.1234.iopub", *session.serialize(message)]


def test_a_message_is_read_from_its_headers():
    session = Session(key=b"secret")
    request = session.msg("comm_info_request", {})
    assert read_activity(wire(session, "status", {"execution_state": "busy"}, request)) == (
        "status",
        "comm_info_request",
        "busy",
    )
    assert read_activity(wire(session, "comm_msg", {"comm_id": "x", "data": {}})) == ("comm_msg", None, None)


async def watch_a_kernel(manager_class) -> dict:
    """What the culler sees of a real kernel: started, asked for comm info, running a cell, done."""
    manager = manager_class()
    kernel_id = await manager.start_kernel()
    kernel = manager.get_kernel(kernel_id)
    client = kernel.client()
    client.start_channels()
    seen = {}
    try:

        async def settle(seconds: float = 1.0) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await asyncio.sleep(0.05)

        await settle(2.0)
        seen["after start"] = kernel.execution_state
        before = kernel.last_activity
        client.comm_info()  # untracked: the culler must not count it as activity
        await settle()
        seen["comm info counted"] = kernel.last_activity != before
        seen["state after comm info"] = kernel.execution_state
        client.execute("import time; time.sleep(1.5)")
        await settle(0.7)
        seen["while running"] = kernel.execution_state
        await settle(2.0)
        seen["after running"] = kernel.execution_state
        seen["run counted"] = kernel.last_activity > before
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(kernel_id, now=True)
    return seen


def watched(manager_class) -> dict:
    """watch_a_kernel on an event loop of its own, in a thread (a test before may leave this one's loop running)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, watch_a_kernel(manager_class)).result()


def test_the_culler_sees_a_real_kernel_as_jupyter_servers_own_watcher_shows_it():
    ours = watched(ActivityKernelManager)
    assert ours == watched(AsyncMappingKernelManager)
    assert (ours["while running"], ours["after running"], ours["run counted"]) == ("busy", "idle", True)
    assert ours["comm info counted"] is False  # an info request is not a visitor's activity


def test_voila_json_names_this_manager():
    config = json.loads((ROOT / "voila.json").read_text())
    assert config["VoilaConfiguration"]["multi_kernel_manager_class"] == "server.activity.ActivityKernelManager"
