"""Private network namespace lifecycle, entering it safely, and SIGTERM-proof cleanup.

Safety rules this module enforces (the harness runs as root on a shared VM):

* every namespace gets a fresh unique name ``mvsim-<pid>-<start>-<random>`` (the owner's pid
  and its start time in clock ticks since boot) and is created with O_EXCL semantics, so we
  never adopt somebody else's namespace;
* :func:`remove_netns` refuses names that do not carry our prefix;
* the namespace is deleted on success, on any exception, on KeyboardInterrupt and on SIGTERM:
  :func:`sigterm_raises` *records* SIGTERM and SIGINT, and the harness acts on them in its
  main flow (:func:`raise_if_signalled`, called between setup steps, frames and polls), so a
  signal that lands while Python runs a callback whose exceptions it ignores (a ``__del__``, a
  weakref or GC callback) is not lost; a second signal of the same kind acts at once;
* a namespace left behind by a run that could not clean up (SIGKILL, a power cut) is found by
  the next run and removed (:func:`reap_stale`): its owner pid is dead, or belongs to a process
  started at another time (pid reuse);
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
    """``<prefix>-<pid>-<start>-<6 hex>``: the pid lets tests find a child's namespace, and
    pid plus start time let a later run tell whether the owner still lives."""
    pid = os.getpid()
    return f"{prefix}-{pid}-{_start_time(pid)}-{secrets.token_hex(3)}"


def _start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/PID/stat`` (clock ticks after boot), None when there is no such
    process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


def owner_alive(name: str) -> bool:
    """Whether the process that created namespace ``name`` still runs. Names without a start
    time (older runs) are judged by the pid alone."""
    parts = name.split("-")
    if len(parts) < 3 or parts[0] != PREFIX or not parts[1].isdigit():
        return True  # not a name we make: never judged stale
    pid = int(parts[1])
    started = _start_time(pid)
    if started is None:
        return False
    return not (len(parts) == 4 and parts[2].isdigit() and int(parts[2]) != started)


def reap_stale() -> list[str]:
    """Remove our namespaces whose owner is gone; returns their names (each is logged)."""
    removed = []
    for name in list_ours():
        if owner_alive(name):
            continue
        try:
            remove_netns(name)
        except OSError as exc:  # another run may be reaping it at the same moment
            log.warning("could not remove stale network namespace %s: %s", name, exc)
            continue
        log.warning("removed network namespace %s left by a run that was killed", name)
        removed.append(name)
    return removed


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


#: Signals received and not yet acted on (main thread only; see :func:`sigterm_raises`).
_pending: list[int] = []


def _exception_for(signum: int) -> BaseException:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return HarnessTerminated(f"signal {signum}")


def raise_if_signalled() -> None:
    """Act on a signal :func:`sigterm_raises` recorded: raise KeyboardInterrupt for SIGINT,
    :class:`HarnessTerminated` for SIGTERM. Called by the harness at every safe point."""
    if _pending:
        signum = _pending[0]
        _pending.clear()
        raise _exception_for(signum)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Record SIGTERM and SIGINT for the duration of the body; :func:`raise_if_signalled`
    turns them into exceptions in the main flow, and so does leaving the body.

    The handler itself never raises the first time: an exception raised from a signal handler
    surfaces wherever Python happens to be, and where that is a callback whose exceptions are
    ignored, the signal is lost. A second signal of the same kind raises at once, for a body
    stuck somewhere without a safe point. Only possible in the main thread (Python
    restriction); elsewhere the body runs unchanged. Previous handlers are restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def _record(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            # A fork()ed helper (pyroute2 opens namespace sockets from forked children and
            # SIGTERMs them when done) inherits this handler and the parent's whole Python
            # stack. Raising here would unwind that copied stack through *our* cleanup code;
            # die the way SIGTERM's default disposition would instead.
            os._exit(128 + signum)
        if signum in _pending:
            _pending.clear()
            raise _exception_for(signum)
        _pending.append(signum)

    previous = {sig: signal.signal(sig, _record) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except BaseException:
        _pending.clear()  # the run is unwinding anyway; a stale signal must not outlive it
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    raise_if_signalled()


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
    reap_stale()
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
