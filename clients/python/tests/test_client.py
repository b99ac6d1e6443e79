"""Unit tests of rtrec_client's retries and error decoding, without a server
(the example runs against a real one: clients.PythonExample). Run with
`python3 -m unittest discover -s clients/python/tests`."""
import unittest

import grpc

from rtrec_client import RtrecClient, RtrecError, Slate, SlateItem
from rtrec_client._proto.google.rpc import error_details_pb2, status_pb2
from rtrec_client._proto.rtrec.v1 import recommender_pb2 as pb
from rtrec_client.errors import from_rpc_error


def details(code, reason, retry_ms=None, violations=()):
    status = status_pb2.Status(code=code.value[0], message="refused")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain="rtrec.v1"))
    if retry_ms is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(retry_ms)
        status.details.add().Pack(retry)
    if violations:
        bad = error_details_pb2.BadRequest()
        for field, description in violations:
            bad.field_violations.add(field=field, description=description)
        status.details.add().Pack(bad)
    return (("grpc-status-details-bin", status.SerializeToString()),)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, message, metadata=()):
        super().__init__()
        self._code, self._message, self._metadata = code, message, metadata

    def code(self):
        return self._code

    def details(self):
        return self._message

    def trailing_metadata(self):
        return self._metadata


class FakeMethod:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, errors, answer):
        self.errors, self.answer, self.calls = list(errors), answer, []

    def __call__(self, request, timeout, metadata):
        self.calls.append((request, timeout, metadata))
        if self.errors:
            raise self.errors.pop(0)
        return self.answer


class ClientTest(unittest.TestCase):
    def client(self, **kwargs):
        self.waits = []
        channel = grpc.insecure_channel("127.0.0.1:1")  # never connected: calls are faked
        self.addCleanup(channel.close)
        return RtrecClient(channel=channel, sleep=self.waits.append, **kwargs)

    def test_decodes_reason_retry_delay_and_field_violations(self):
        error = from_rpc_error(FakeRpcError(
            grpc.StatusCode.INVALID_ARGUMENT, "k: must not be negative",
            details(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                    violations=[("k", "must not be negative")])))
        self.assertEqual(error.reason, "INVALID_ARGUMENT")
        self.assertEqual(error.field_violations, [("k", "must not be negative")])
        self.assertIsNone(error.retry_delay)
        self.assertFalse(error.retryable)
        overloaded = from_rpc_error(FakeRpcError(
            grpc.StatusCode.RESOURCE_EXHAUSTED, "overloaded",
            details(grpc.StatusCode.RESOURCE_EXHAUSTED, "OVERLOADED", retry_ms=250)))
        self.assertEqual(overloaded.reason, "OVERLOADED")
        self.assertAlmostEqual(overloaded.retry_delay, 0.25)
        self.assertTrue(overloaded.retryable)

    def test_retries_refusals_with_retry_info_waiting_at_least_the_servers_delay(self):
        rtrec = self.client(timeout=10.0, max_attempts=4)
        refusal = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full",
                               details(grpc.StatusCode.RESOURCE_EXHAUSTED, "QUEUE_FULL", retry_ms=300))
        method = FakeMethod([refusal, refusal], pb.RecommendResponse(request_id="r1"))
        rtrec._stub.Recommend = method
        slate = rtrec.recommend("u", k=3)
        self.assertEqual(slate.request_id, "r1")
        self.assertEqual(len(method.calls), 3)
        self.assertEqual(len(self.waits), 2)
        self.assertTrue(all(w >= 0.3 for w in self.waits), self.waits)
        request, timeout, _ = method.calls[0]
        self.assertEqual((request.user_id, request.k), ("u", 3))
        self.assertLessEqual(timeout, 10.0)

    def test_bad_requests_and_a_full_catalog_are_not_retried(self):
        rtrec = self.client()
        for code, reason in ((grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
                             (grpc.StatusCode.FAILED_PRECONDITION, "CATALOG_FULL")):
            method = FakeMethod([FakeRpcError(code, "no", details(code, reason))], None)
            rtrec._stub.Feedback = method
            with self.assertRaises(RtrecError) as caught:
                rtrec.feedback("u", "i")
            self.assertEqual(caught.exception.reason, reason)
            self.assertEqual(len(method.calls), 1)
        self.assertEqual(self.waits, [])

    def test_gives_up_when_the_delay_would_pass_the_deadline_or_attempts_run_out(self):
        rtrec = self.client(timeout=1.0)
        late = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "behind",
                            details(grpc.StatusCode.RESOURCE_EXHAUSTED, "LEARNER_BEHIND", retry_ms=5000))
        method = FakeMethod([late], None)
        rtrec._stub.Feedback = method
        with self.assertRaises(RtrecError) as caught:
            rtrec.feedback("u", "i")
        self.assertEqual(caught.exception.reason, "LEARNER_BEHIND")
        self.assertEqual(len(method.calls), 1)
        rtrec = self.client(timeout=60.0, max_attempts=2)
        down = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")
        method = FakeMethod([down, down, down], None)
        rtrec._stub.Recommend = method
        with self.assertRaises(RtrecError):
            rtrec.recommend("u")
        self.assertEqual(len(method.calls), 2)

    def test_report_slate_reports_every_shown_item_one_for_the_clicked(self):
        rtrec = self.client()
        method = FakeMethod([], pb.FeedbackResponse(joined=True))
        rtrec._stub.Feedback = method
        slate = Slate("r9", 3, [SlateItem("a", 1.0, 0.5), SlateItem("b", 0.5, 0.5)])
        results = rtrec.report_slate("u", slate, clicked={"b"})
        self.assertTrue(all(r.joined for r in results))
        sent = [(c[0].item_id, c[0].reward, c[0].event_type, c[0].request_id) for c in method.calls]
        self.assertEqual(sent, [("a", 0.0, pb.EVENT_TYPE_VIEW, "r9"), ("b", 1.0, pb.EVENT_TYPE_CLICK, "r9")])


if __name__ == "__main__":
    unittest.main()
