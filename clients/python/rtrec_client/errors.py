"""rtrec's errors as Python exceptions, with the google.rpc details decoded.

Every error rtrec answers carries a google.rpc.Status in the
"grpc-status-details-bin" trailer: ErrorInfo (a stable `reason`),
RetryInfo (`retry_delay`) where a retry can succeed, and BadRequest
(`field_violations`) on INVALID_ARGUMENT. See the README's "Errors" table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import grpc

try:  # googleapis-common-protos, when installed, owns the google.rpc names.
    from google.rpc import error_details_pb2 as _details_pb2  # type: ignore
    from google.rpc import status_pb2 as _status_pb2  # type: ignore
except ImportError:  # the subset shipped with this package
    from rtrec_client._proto.google.rpc import error_details_pb2 as _details_pb2
    from rtrec_client._proto.google.rpc import status_pb2 as _status_pb2

_DETAILS_KEY = "grpc-status-details-bin"
_RETRY_AFTER_KEY = "retry-after-ms"


@dataclass
class RtrecError(Exception):
    """A call rtrec refused, or that could not reach it."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    retry_delay: Optional[float] = None  # seconds; set when a retry can succeed
    field_violations: List[Tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.reason:
            text += f" [{self.reason}]"
        return text

    @property
    def retryable(self) -> bool:
        """True when the server said a retry can succeed (RetryInfo), or the
        server could not be reached."""
        return self.retry_delay is not None or (
            self.code == grpc.StatusCode.UNAVAILABLE and not self.reason)


def from_rpc_error(error: grpc.RpcError) -> RtrecError:
    """Decodes a grpc.RpcError (from a call) into an RtrecError."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    out = RtrecError(code=code, message=message or "")
    metadata = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in metadata or ():
        if key == _DETAILS_KEY:
            _decode_details(value, out)
        elif key == _RETRY_AFTER_KEY and out.retry_delay is None:
            try:
                out.retry_delay = int(value) / 1000.0
            except ValueError:
                pass
    return out


def _decode_details(blob: bytes, out: RtrecError) -> None:
    status = _status_pb2.Status()
    status.ParseFromString(blob)
    for any_detail in status.details:
        if any_detail.Is(_details_pb2.ErrorInfo.DESCRIPTOR):
            info = _details_pb2.ErrorInfo()
            any_detail.Unpack(info)
            out.reason = info.reason
        elif any_detail.Is(_details_pb2.RetryInfo.DESCRIPTOR):
            retry = _details_pb2.RetryInfo()
            any_detail.Unpack(retry)
            out.retry_delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
        elif any_detail.Is(_details_pb2.BadRequest.DESCRIPTOR):
            bad = _details_pb2.BadRequest()
            any_detail.Unpack(bad)
            out.field_violations = [(v.field, v.description) for v in bad.field_violations]
