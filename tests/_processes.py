"""Helpers of the tests that run several JAX processes (gloo collectives on localhost)."""

import socket
import subprocess


def free_port() -> int:
    """A localhost port nothing listens on now (for the coordinator)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_processes(command: list[str], outs: list, timeout: float = 300, extra: tuple = ()) -> None:
    """Runs ``command + [out, pid, P, port, *extra]`` as P processes (one per entry of
    ``outs``), waits for all and checks each ended with exit 0 (its stderr's end as the message)."""
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [*command, str(out), str(pid), str(len(outs)), port, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid, out in enumerate(outs)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]


def flat(tree, prefix: str = "") -> dict:
    """A nested report as ``{"a/b/c": leaf}``."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in flat(value, f"{prefix}{key}/").items()}
    return {prefix.rstrip("/"): tree}
