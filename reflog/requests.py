"""Typed requests: a request names the response it is answered with (no trio here: the sans-IO
core's messages are requests too).

A request class subclasses :class:`Request` parameterised by its response class, as Kafka pairs
every ``AbstractRequest`` with its ``AbstractResponse``::

    @attrs.frozen
    class ProduceRequest(Request[ProduceResponse]): ...

That pairing is what the typed seams use:

* a caller's ``await peers.call(dst, ProduceRequest(...))`` is typed ``ProduceResponse``, and
  :func:`expect_response` checks at run time that the decoded response is one (a mismatch
  raises :class:`~reflog.net.errors.RpcProtocolError`, never a wrong-typed value);
* a server registers one typed handler per request class in :class:`RequestHandlers`, which
  is itself an RPC :data:`~reflog.net.rpc.Handler`: it dispatches on the request's exact class,
  refuses a class it has no handler for with :class:`TypeError` (the RPC layer sends that back
  as an error response) and refuses a handler's answer of the wrong class the same way.

The response class must be defined before the request class (it is read when the request class
is created); a subclass of a request class inherits its response class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, get_args, get_origin

R_co = TypeVar("R_co", covariant=True)
R = TypeVar("R")
Q = TypeVar("Q", bound="Request[object]")


class Request(Generic[R_co]):
    """A request answered with an ``R_co`` (see the module docstring)."""

    __slots__ = ()
    _response_class: type[Any] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Request:
                (response,) = get_args(base)
                if not isinstance(response, type):
                    raise TypeError(f"{cls.__name__}: Request[...] takes a response class, not {response!r}")
                cls._response_class = response

    @classmethod
    def response_class(cls) -> type[Any]:
        """The class of this request's response; :class:`TypeError` if it was never named."""
        if cls._response_class is None:
            raise TypeError(f"{cls.__name__} does not name its response class (subclass Request[X])")
        return cls._response_class


def expect_response(request: Request[R], response: object) -> R:
    """``response``, checked to be what ``request`` is answered with.

    Raises :class:`RpcProtocolError` when it is not (a server that answered another request's
    response, or a bug in its handler), so no caller ever holds a wrong-typed response.
    """
    expected = type(request).response_class()
    if not isinstance(response, expected):
        # Imported here: importing reflog.net loads trio, and the sans-IO core (whose messages
        # are Requests) must not (REP-46).
        from reflog.net.errors import RpcProtocolError  # noqa: PLC0415

        raise RpcProtocolError(
            f"{type(request).__name__} was answered with a {type(response).__name__},"
            f" not a {expected.__name__}"
        )
    result: R = response
    return result


class RequestHandlers:
    """A typed dispatch table: one handler per request class, usable as an RPC handler.

    ``RequestHandlers().on(FetchRequest, broker.fetch).on(ProduceRequest, broker.produce)``;
    then ``await handlers(request)`` (or ``serve_rpc_listener(listener, handlers)``) runs the
    handler registered for ``type(request)`` exactly. Raises :class:`TypeError` for a request of
    a class with no handler, and for a handler whose answer is not the request's response class;
    exceptions of the handler propagate unchanged.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: dict[type[Any], Callable[[Any], Awaitable[object]]] = {}

    def on(self, kind: type[Q], handler: Callable[[Q], Awaitable[object]]) -> RequestHandlers:
        """Register ``handler`` for requests of class ``kind`` (replacing any earlier one); returns self."""
        kind.response_class()  # a request class that names no response is refused here, not later
        self._handlers[kind] = handler
        return self

    @property
    def kinds(self) -> frozenset[type[Any]]:
        """The request classes served."""
        return frozenset(self._handlers)

    async def __call__(self, request: object) -> object:
        handler = self._handlers.get(type(request))
        if handler is None or not isinstance(request, Request):
            raise TypeError(f"{self.name} does not serve {type(request).__name__}")
        response = await handler(request)
        expected = type(request).response_class()
        if not isinstance(response, expected):
            raise TypeError(
                f"{self.name} answered {type(request).__name__} with a {type(response).__name__},"
                f" not a {expected.__name__}"
            )
        return response


__all__ = ["Request", "RequestHandlers", "expect_response"]
