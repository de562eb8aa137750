"""The Voila server's kernel manager, with a lighter watcher of kernel activity (voila.json names it).

jupyter_server's manager follows every IOPub message of every kernel to know when it was last active (for the
idle culler): it checks the message's signature, parses its header, parent header and metadata with their dates,
and builds a debug log record for it (Voila's logger is at DEBUG; its handler then drops the record). On this
app's pages a Layer step sends ~50 widget messages, and that watcher took about 20 ms of the server's one thread
per step, as long as forwarding the messages to the browser. This one parses the two headers only (and the
content of status messages) and keeps the same rules: the culler sees the same ``last_activity`` and
``execution_state``. The signature is left unchecked, as on the websocket path: the messages come from the
server's own kernels over local sockets.
"""

from __future__ import annotations

import json

from jupyter_server._tz import utcnow
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

DELIMITER = b"<IDS|MSG>"  # the wire protocol: identities, delimiter, signature, header, parent, metadata, content


def read_activity(frames: list[bytes]) -> tuple[str, str | None, str | None]:
    """(msg_type, the parent's msg_type or None, the execution_state of a status message or None) of one
    message as it arrives on the wire (``frames``: its parts, identities first)."""
    start = frames.index(DELIMITER) + 2  # past the signature
    header, parent = json.loads(frames[start]), json.loads(frames[start + 1])
    state = json.loads(frames[start + 3])["execution_state"] if header["msg_type"] == "status" else None
    return header["msg_type"], parent.get("msg_type"), state


class ActivityKernelManager(AsyncMappingKernelManager):
    """AsyncMappingKernelManager whose activity watcher reads only the headers (see the module docstring)."""

    def start_watching_activity(self, kernel_id: str) -> None:
        kernel = self._kernels[kernel_id]
        kernel.reason = ""
        kernel.last_activity = utcnow()
        kernel._activity_stream = kernel.connect_iopub()
        kernel._activity_stream.on_recv(lambda frames: self.record_activity(kernel, frames))

    def record_activity(self, kernel, frames: list[bytes]) -> None:
        """jupyter_server's rules: tracked messages (and any while busy) mark activity; status messages set the
        execution state when their parent is tracked, and the first one after starting makes the kernel idle."""
        msg_type, parent_type, state = read_activity(frames)
        if (
            self.track_message_type(msg_type)
            or self.track_message_type(parent_type)
            or kernel.execution_state == "busy"
        ):
            self.last_kernel_activity = kernel.last_activity = utcnow()
        if state is None:
            return
        if self.track_message_type(parent_type):
            kernel.execution_state = state
        elif kernel.execution_state == "starting" and state != "starting":
            kernel.execution_state = "idle"
