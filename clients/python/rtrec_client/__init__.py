"""rtrec_client: the Python client of rtrec, the real-time learning
recommendation service. See README.md."""
from rtrec_client.client import (EventType, FeedbackResult, RtrecClient, Slate, SlateItem,
                                 StreamFeedbackResult)
from rtrec_client.errors import RtrecError
from rtrec_client._proto.rtrec.v1 import recommender_pb2 as messages

__version__ = "0.15.0"

__all__ = ["RtrecClient", "RtrecError", "EventType", "Slate", "SlateItem", "FeedbackResult",
           "StreamFeedbackResult", "messages", "__version__"]
