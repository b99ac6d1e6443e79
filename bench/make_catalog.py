#!/usr/bin/env python3
"""Writes a synthetic catalog of N items as rtrec's catalog JSONL, for the
catalog-size benches: 64 departments x 40 kinds x 30 qualities name each
item, so that the text tower's vectors cluster by department and kind
like a shop's.

    python3 bench/make_catalog.py N OUT.jsonl
"""
import json
import random
import sys

DEPARTMENTS = """tea coffee running cycling hiking camping climbing swimming yoga fitness
tennis golf skiing surfing fishing baking cooking grilling gardening houseplants
photography music guitar piano drums painting drawing knitting sewing pottery
woodworking tools lighting furniture bedding bath kitchen storage cleaning laundry
baby toys puzzles boardgames books comics stationery office computers phones
audio television gaming watches jewelry shoes bags outerwear knitwear denim
beauty skincare haircare fragrance pets aquarium""".split()
KINDS = """starter kit set pack bundle case cover stand holder rack bag bottle mug
cup pot pan knife board mat towel light lamp cable charger adapter speaker
headphones jacket shirt trousers socks gloves hat scarf boots sandals guide
manual refill""".split()
QUALITIES = """classic premium compact travel deluxe organic eco lightweight heavy-duty
waterproof wireless handmade vintage modern minimalist professional beginner
family kids outdoor indoor portable foldable insulated recycled bamboo steel
ceramic cotton wool leather""".split()


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    rng = random.Random(1)
    with open(out, "w") as f:
        for i in range(n):
            d = DEPARTMENTS[i % len(DEPARTMENTS)]
            k = KINDS[(i // len(DEPARTMENTS)) % len(KINDS)]
            q = rng.choice(QUALITIES)
            q2 = rng.choice(QUALITIES)
            title = f"{q} {d} {k}"
            text = f"A {q2}, {q} {k} for {d}. Item {i}."
            f.write(json.dumps({"item_id": f"item-{i:07d}", "title": title, "text": text,
                                "tags": [d, k]}) + "\n")


if __name__ == "__main__":
    main()
