#!/usr/bin/env python3
"""Records one impression and its feedback with rtrec_client, the way a
service uses rtrec: ask for a slate, show it, report every shown item (1 for
the clicked one, 0 for the rest), and read the error details of a bad call.

    python3 examples/record_impression.py --target 127.0.0.1:50051 [--token T]

Exits 0 when every step behaved as documented, 1 otherwise (CI runs it
against a real server: clients.PythonExample).
"""
import argparse
import os
import sys

import grpc

from rtrec_client import RtrecClient, RtrecError, messages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--token", default=os.environ.get("RTREC_TOKEN"))
    parser.add_argument("--user", default="example-user")
    args = parser.parse_args()

    with RtrecClient(args.target, token=args.token, timeout=5.0) as rtrec:
        rtrec.wait_until_serving(timeout=60)
        print("health:", rtrec.health(), "/ rtrec.v1.Recommender:", rtrec.health("rtrec.v1.Recommender"))

        slate = rtrec.recommend(args.user, k=5, query="green tea")
        print(f"slate {slate.request_id} from model v{slate.model_version}:")
        for item in slate.items:
            print(f"  {item.item_id:24s} score {item.score:+.3f} propensity {item.propensity:.3f}")
        if len(slate.items) != 5:
            print("expected 5 items", file=sys.stderr)
            return 1

        clicked = {slate.items[0].item_id}
        results = rtrec.report_slate(args.user, slate, clicked)
        joined = sum(r.joined for r in results)
        print(f"reported {len(results)} shown items (1 clicked, {len(results) - 1} not): {joined} joined")
        if joined != len(results):
            print("every report should join its impression", file=sys.stderr)
            return 1

        again = rtrec.feedback(args.user, slate.items[0].item_id, request_id=slate.request_id)
        print("the same click again: duplicate =", again.duplicate)
        if not again.duplicate:
            return 1

        # Organic events (no request_id) in one stream, as a high-volume
        # producer sends them.
        streamed = rtrec.stream_feedback(
            messages.FeedbackRequest(user_id=args.user, item_id=item.item_id, reward=1.0)
            for item in slate.items[:2])
        print(f"streamed 2 organic events: {streamed.accepted} accepted, {streamed.rejected} refused")
        if streamed.accepted != 2:
            return 1

        try:
            rtrec.recommend("", k=5)
            print("an empty user_id was accepted", file=sys.stderr)
            return 1
        except RtrecError as error:
            print(f"a bad request: {error}; field violations {error.field_violations}")
            if error.code != grpc.StatusCode.INVALID_ARGUMENT or \
                    ("user_id", "must not be empty") not in error.field_violations:
                print("expected INVALID_ARGUMENT with a BadRequest naming user_id", file=sys.stderr)
                return 1

        info = rtrec.model_info()
        metrics = {m.name: m.value for m in info.metrics}
        print(f"server: model v{info.model_version}, {info.impressions_logged} impressions logged, "
              f"{info.impressions_joined} feedback joined ({len(metrics)} metrics)")
        if metrics.get("rtrec_impressions_joined_total", 0) < len(results):
            return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
