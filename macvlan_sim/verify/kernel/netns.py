"""Private network namespace lifecycle, entering it safely, and SIGTERM-proof cleanup.

Safety rules this module enforces (the harness runs as root on a shared VM):

* every namespace gets a fresh unique name ``mvsim-<pid>-<random>`` and is created with
  O_EXCL semantics, so we never adopt somebody else's namespace;
* :func:`remove_netns` refuses names that do not carry our prefix;
* the namespace is deleted on success, on any exception, on KeyboardInterrupt and on SIGTERM
  (:func:`sigterm_raises` turns the signal into an exception so ``finally`` blocks run);
* :func:`entered` switches only the calling thread and verifies afterwards that the original
  namespace is back, because a thread left in the private namespace would silently run all
  later work (including other tests) there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from pyroute2 import netns as pr_netns

log = logging.getLogger(__name__)

#: Every namespace this package creates starts with this prefix; nothing else is ever deleted.
PREFIX = "mvsim"


class HarnessTerminated(BaseException):
    """Raised from the SIGTERM handler.

    A BaseException (like KeyboardInterrupt) so that ``except Exception`` blocks in the harness
    or in pyroute2 cannot swallow it: it must unwind to the cleanup code.
    """


def unique_name(prefix: str = PREFIX) -> str:
    """``<prefix>-<pid>-<6 hex>``: the pid lets tests find a child's namespace."""
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"


def netns_path(name: str) -> str:
    """Where iproute2/pyroute2 bind-mount a named namespace."""
    return os.path.join(pr_netns.NETNS_RUN_DIR, name)


def netns_exists(name: str) -> bool:
    """Whether the named namespace's mount point exists."""
    return os.path.exists(netns_path(name))


def list_ours(pid: int | None = None) -> list[str]:
    """Our namespaces currently mounted (optionally only those of one process id)."""
    want = f"{PREFIX}-{pid}-" if pid is not None else f"{PREFIX}-"
    return sorted(n for n in pr_netns.listnetns() if n.startswith(want))


def create_netns(name: str) -> None:
    """Create ``name``; refuse if it already exists so we never adopt a foreign namespace."""
    if not name.startswith(PREFIX + "-"):
        raise ValueError(f"refusing to create a namespace without the {PREFIX}- prefix: {name}")
    if netns_exists(name):
        raise FileExistsError(f"netns {name} already exists")
    pr_netns.create(name)
    if not netns_exists(name):
        raise OSError(f"netns {name} was not created")


def remove_netns(name: str) -> None:
    """Delete ``name`` (only ours). Devices inside die with it once no socket pins it."""
    if not name.startswith(PREFIX + "-"):
        raise ValueError(f"refusing to remove a namespace that is not ours: {name}")
    if netns_exists(name):
        pr_netns.remove(name)


def _current_ns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the body with the calling thread inside namespace ``name``.

    Used for the few things that must be *created* in the namespace from this process: packet
    sockets (they stay bound to the namespace they were created in) and the per-namespace
    sysctls under /proc/sys/net. Uses setns on an fd we opened, never by name with O_CREAT
    (pyroute2's pushns would create a missing namespace).
    """
    orig_ino = _current_ns_inode()
    orig_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target_fd = os.open(netns_path(name), os.O_RDONLY)
        try:
            pr_netns.setns(target_fd, flags=0)
        finally:
            os.close(target_fd)
        try:
            yield
        finally:
            pr_netns.setns(orig_fd, flags=0)
            if _current_ns_inode() != orig_ino:  # pragma: no cover - would be a kernel bug
                raise RuntimeError("failed to return to the original network namespace")
    finally:
        os.close(orig_fd)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`HarnessTerminated` for the duration of the body.

    Only possible in the main thread (Python restriction); elsewhere the body runs unchanged
    and SIGTERM keeps its previous disposition. The previous handler is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def _raise(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            # A fork()ed helper (pyroute2 opens namespace sockets from forked children and
            # SIGTERMs them when done) inherits this handler and the parent's whole Python
            # stack. Raising here would unwind that copied stack through *our* cleanup code;
            # die the way SIGTERM's default disposition would instead.
            os._exit(128 + signum)
        raise HarnessTerminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_deferred() -> Iterator[None]:
    """Block SIGTERM while the body runs (cleanup must not be interrupted half-way).

    A SIGTERM arriving meanwhile stays pending and is delivered when the mask is restored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def private_netns(*, keep: bool = False, prefix: str = PREFIX) -> Iterator[str]:
    """Create a fresh uniquely named namespace, yield its name, delete it on the way out.

    ``keep=True`` leaves it in place for debugging (its name is logged); the caller then owns
    it. Everything that holds a reference into the namespace (sockets, the rtnetlink socket)
    must be closed by the body before this exits, or the kernel keeps the namespace alive
    after the name is gone.
    """
    name = unique_name(prefix)
    creator = os.getpid()
    if netns_exists(name):  # checked before `try`: a foreign namespace must never be removed
        raise FileExistsError(f"netns {name} already exists")
    try:
        create_netns(name)
        yield name
    finally:
        # A fork()ed child unwinding a copy of the creator's stack (e.g. an interrupted
        # pyroute2 helper) must leave the namespace alone: the parent is still using it.
        if os.getpid() == creator:
            _cleanup(name, keep)


def _cleanup(name: str, keep: bool) -> None:
    with sigterm_deferred():
        if keep and netns_exists(name):
            log.warning("keeping network namespace %s (delete with: ip netns del %s)", name, name)
            return
        try:
            remove_netns(name)
        except OSError as exc:  # pragma: no cover - reported, never hidden
            log.error("could not remove network namespace %s: %s", name, exc)
            raise
