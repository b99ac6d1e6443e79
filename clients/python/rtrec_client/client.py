"""A thin, typed client for rtrec's gRPC API (rtrec.v1.Recommender).

    with RtrecClient("127.0.0.1:50051") as rtrec:
        slate = rtrec.recommend("user-1", k=5, query="green tea")
        rtrec.report_slate("user-1", slate, clicked={slate.items[0].item_id})

Every call has a deadline (`timeout`, seconds). Calls refused with a code a
retry can fix (UNAVAILABLE, or any refusal carrying google.rpc.RetryInfo:
queue full, overloaded, learner behind) are retried with exponential backoff
and jitter, waiting at least the server's retry delay, within the deadline.
Errors are raised as RtrecError (rtrec_client.errors) with the reason,
retry delay and field violations decoded.
"""
from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Sequence, Set, TypeVar

import grpc

from rtrec_client._proto.rtrec.v1 import recommender_pb2 as pb
from rtrec_client._proto.rtrec.v1 import recommender_pb2_grpc as pb_grpc
from rtrec_client.errors import RtrecError, from_rpc_error

T = TypeVar("T")


class EventType(enum.IntEnum):
    """What the user did with an item (rtrec.v1.EventType)."""

    VIEW = pb.EVENT_TYPE_VIEW
    CLICK = pb.EVENT_TYPE_CLICK
    PURCHASE = pb.EVENT_TYPE_PURCHASE
    DWELL = pb.EVENT_TYPE_DWELL
    DISMISS = pb.EVENT_TYPE_DISMISS


@dataclass(frozen=True)
class SlateItem:
    item_id: str
    score: float
    # The probability with which the policy showed this item here; logged for
    # off-policy learning and evaluation.
    propensity: float


@dataclass(frozen=True)
class Slate:
    request_id: str
    model_version: int
    items: List[SlateItem]

    @property
    def item_ids(self) -> List[str]:
        return [i.item_id for i in self.items]


@dataclass(frozen=True)
class FeedbackResult:
    joined: bool     # joined to the slate's logged impression
    late: bool       # the impression had closed
    duplicate: bool  # this (request, item) was reported before; not learned twice


@dataclass(frozen=True)
class StreamFeedbackResult:
    accepted: int
    rejected: int
    joined: int
    errors: List[str]


class RtrecClient:
    """A connection to one rtrec server. Thread-safe (gRPC channels are)."""

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        token: Optional[str] = None,
        timeout: float = 5.0,
        max_attempts: int = 4,
        initial_backoff: float = 0.05,
        max_backoff: float = 2.0,
        credentials: Optional[grpc.ChannelCredentials] = None,
        channel: Optional[grpc.Channel] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if channel is None:
            channel = (grpc.secure_channel(target, credentials) if credentials is not None
                       else grpc.insecure_channel(target))
        self._channel = channel
        self._stub = pb_grpc.RecommenderStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        # grpc.health.v1.Health/Check, encoded by hand (see generate.sh).
        self._health = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=_encode_health_request,
            response_deserializer=_decode_health_response)

    # ------------------------------------------------------------------ calls

    def recommend(self, user_id: str, *, k: int = 0, query: str = "",
                  candidates: Sequence[str] = (), context: Sequence[str] = (),
                  explore: bool = True, timeout: Optional[float] = None) -> Slate:
        """A ranked slate for `user_id` (k = 0: the server's policy.default_k)."""
        request = pb.RecommendRequest(user_id=user_id, k=k, query=query,
                                      candidate_item_ids=list(candidates),
                                      context_item_ids=list(context))
        if not explore:
            request.exploration = False
        response = self._call(self._stub.Recommend, request, timeout)
        return Slate(request_id=response.request_id, model_version=response.model_version,
                     items=[SlateItem(i.item_id, i.score, i.propensity) for i in response.items])

    def feedback(self, user_id: str, item_id: str, *, request_id: str = "",
                 reward: float = 1.0, event: EventType = EventType.CLICK,
                 timeout: Optional[float] = None) -> FeedbackResult:
        """Reports what `user_id` did with `item_id`; `request_id` joins it to
        the slate that showed it (empty: an organic event)."""
        request = pb.FeedbackRequest(request_id=request_id, user_id=user_id, item_id=item_id,
                                     reward=reward, event_type=int(event))
        response = self._call(self._stub.Feedback, request, timeout)
        return FeedbackResult(response.joined, response.late, response.duplicate)

    def report_slate(self, user_id: str, slate: Slate, clicked: Set[str], *,
                     timeout: Optional[float] = None) -> List[FeedbackResult]:
        """Reports every shown item, as bandit services are used: reward 1
        for the clicked ones, 0 for the ones seen and ignored."""
        return [
            self.feedback(user_id, item.item_id, request_id=slate.request_id,
                          reward=1.0 if item.item_id in clicked else 0.0,
                          event=EventType.CLICK if item.item_id in clicked else EventType.VIEW,
                          timeout=timeout)
            for item in slate.items
        ]

    def stream_feedback(self, events: Iterable[pb.FeedbackRequest], *,
                        timeout: Optional[float] = None) -> StreamFeedbackResult:
        """Many feedback events in one stream (not retried: a stream is not
        idempotent as a whole; the result says what was accepted)."""
        try:
            response = self._stub.StreamFeedback(iter(events), timeout=timeout or self._timeout,
                                                 metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return StreamFeedbackResult(response.accepted, response.rejected, response.joined,
                                    [f"#{e.index}: {e.message}" for e in response.errors])

    def model_info(self, *, timeout: Optional[float] = None) -> pb.ModelInfo:
        """The serving model, catalog and every counter (ModelInfo.metrics)."""
        return self._call(self._stub.GetModelInfo, pb.GetModelInfoRequest(), timeout)

    def health(self, service: str = "", *, timeout: Optional[float] = None) -> str:
        """"SERVING", "NOT_SERVING", ... for "" (the server) or
        "rtrec.v1.Recommender"."""
        status = self._call(self._health, service, timeout)
        return {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}.get(status, "UNKNOWN")

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        """Blocks until health is SERVING, or raises RtrecError."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.health(timeout=1.0) == "SERVING":
                    return
            except RtrecError:
                pass
            if time.monotonic() > deadline:
                raise RtrecError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                 f"not SERVING within {timeout} s")
            self._sleep(0.2)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "RtrecClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- retries

    def _call(self, method: Callable[..., T], request, timeout: Optional[float]) -> T:
        budget = timeout if timeout is not None else self._timeout
        deadline = time.monotonic() + budget
        backoff = self._initial_backoff
        for attempt in range(1, self._max_attempts + 1):
            remaining = deadline - time.monotonic()
            try:
                return method(request, timeout=max(remaining, 0.001), metadata=self._metadata)
            except grpc.RpcError as rpc_error:
                error = from_rpc_error(rpc_error)
            if attempt == self._max_attempts or not error.retryable:
                raise error
            # At least the server's delay; exponential with full jitter above it.
            wait = max(error.retry_delay or 0.0, random.uniform(0, backoff))
            backoff = min(backoff * 2, self._max_backoff)
            if time.monotonic() + wait >= deadline:
                raise error
            self._sleep(wait)
        raise AssertionError("unreachable")


def _encode_health_request(service: str) -> bytes:
    data = service.encode("utf-8")
    return (b"\x0a" + _varint(len(data)) + data) if data else b""


def _decode_health_response(blob: bytes) -> int:
    # HealthCheckResponse { ServingStatus status = 1; }: tag 0x08, varint.
    if len(blob) >= 2 and blob[0] == 0x08:
        return blob[1]
    return 0


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
