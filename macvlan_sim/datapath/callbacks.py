"""Delivery callbacks: per observation point, in batches.

A Python call per delivered frame caps throughput near 2 M frames/s, so consumers are handed
lists of :class:`~macvlan_sim.datapath.outcome.Reception`; :meth:`CallbackHub.register_each` wraps a
per-delivery function for convenience.

The contract when a callback raises (``docs/design.md``, "Callbacks"): the engine never stops
half-way through a frame. The exception is kept, every other copy of the frame is still decided,
counted, recorded in its outcome and handed to the other subscriptions; then the engine raises
:class:`CallbackError` (the callback's exception as ``__cause__``, the finished outcome as
``outcome``). KeyboardInterrupt and SystemExit are re-raised as they are, also after the frame.
A callback must not call back into the engine (``rx``, ``tx``, ``inject``, ``run_workqueue``,
``flush``): that would steal the copies of the frame being decided, so it is refused with
:class:`ReentryError`. Points and callables are checked when registered, not at first use.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from macvlan_sim.datapath.outcome import Reception
from macvlan_sim.model.errors import SimError

BatchCallback = Callable[[list[Reception]], None]
ALL_POINTS = "*"


class CallbackError(SimError):
    """A delivery callback raised; the frame was finished first. ``outcome`` is that frame's
    outcome (None when the callback ran from :meth:`CallbackHub.flush`), ``point`` the
    subscription's point, ``more`` how many further callback calls raised meanwhile."""

    def __init__(self, point: str, error: BaseException, outcome: Any = None, more: int = 0):
        extra = f" (and {more} more)" if more else ""
        super().__init__(f"callback for {point!r} raised {type(error).__name__}: {error}{extra}")
        self.point = point
        self.error = error
        self.outcome = outcome
        self.more = more


class ReentryError(SimError):
    """The engine was called from inside one of its own callbacks."""


@dataclass
class _Subscription:
    point: str
    callback: BatchCallback
    buffer: list[Reception] = field(default_factory=list)


class CallbackHub:
    """Buffers receptions per subscription and hands them over ``batch_size`` at a time.

    ``points``, when given, returns the observation points that exist (checked at
    registration)."""

    def __init__(
        self, batch_size: int = 4096, points: Callable[[], Collection[str]] | None = None
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")
        self.batch_size = batch_size
        self._points = points
        self._subs: list[_Subscription] = []
        self._failure: tuple[str, BaseException] | None = None
        self._more_failures = 0
        #: True while a callback runs: the engine refuses to be re-entered then.
        self.in_callback = False

    def register(self, point: str, callback: BatchCallback) -> None:
        """``point`` is a device name, ``NAME:stack``, ``wire``, or ``*`` for every point."""
        if not callable(callback):
            raise TypeError(f"a callback must be callable, not {type(callback).__name__}")
        if not isinstance(point, str):
            raise TypeError(f"a point is a string, not {type(point).__name__}")
        if point != ALL_POINTS and self._points is not None:
            known = self._points()
            if point not in known:
                raise SimError(
                    f"no observation point {point!r} (known: {', '.join(sorted(known))}, '*')"
                )
        self._subs.append(_Subscription(point, callback))

    def register_each(self, point: str, callback: Callable[[Reception], None]) -> None:
        if not callable(callback):
            raise TypeError(f"a callback must be callable, not {type(callback).__name__}")

        def each(batch: list[Reception]) -> None:
            for reception in batch:
                callback(reception)

        self.register(point, each)

    def __bool__(self) -> bool:
        return bool(self._subs)

    def publish(self, reception: Reception) -> None:
        for sub in self._subs:
            if sub.point == ALL_POINTS or sub.point == reception.point:
                sub.buffer.append(reception)
                if len(sub.buffer) >= self.batch_size:
                    self._hand_over(sub)

    def flush(self) -> None:
        """Hand every buffered reception over now (raising, afterwards, what a callback did)."""
        for sub in self._subs:
            if sub.buffer:
                self._hand_over(sub)
        self.raise_deferred()

    def _hand_over(self, sub: _Subscription) -> None:
        batch, sub.buffer = sub.buffer, []
        self.in_callback = True
        try:
            sub.callback(batch)
        except BaseException as exc:  # kept, re-raised once the frame is finished
            if self._failure is None:
                self._failure = (sub.point, exc)
            else:
                self._more_failures += 1
        finally:
            self.in_callback = False

    def raise_deferred(self, outcome: Any = None) -> None:
        """Raise what a callback raised since the last call, if anything."""
        if self._failure is None:
            return
        (point, exc), more = self._failure, self._more_failures
        self._failure, self._more_failures = None, 0
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise exc
        raise CallbackError(point, exc, outcome, more) from exc
