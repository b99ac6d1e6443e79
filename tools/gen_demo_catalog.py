#!/usr/bin/env python3
"""Writes data/demo_catalog.jsonl: a small synthetic shop catalog for the demo
and the tests (12 departments x 20 items, deterministic)."""
import json
import random

DEPARTMENTS = {
    "running": (["trail running shoes", "road running shoes", "running socks", "running jacket",
                 "hydration vest"], ["lightweight", "cushioned", "breathable", "waterproof", "reflective"]),
    "coffee": (["espresso beans", "pour-over kettle", "burr grinder", "french press", "cold brew kit"],
               ["single origin", "dark roast", "stainless", "ceramic", "organic"]),
    "scifi": (["space opera novel", "cyberpunk novel", "time travel novel", "first contact novel",
               "robot anthology"], ["award-winning", "classic", "debut", "illustrated", "bestselling"]),
    "jazz": (["bebop vinyl record", "cool jazz album", "jazz piano collection", "big band record",
              "saxophone live album"], ["remastered", "limited", "live", "deluxe", "original"]),
    "camping": (["two-person tent", "sleeping bag", "camping stove", "headlamp", "trekking poles"],
                ["ultralight", "four-season", "compact", "rechargeable", "carbon"]),
    "kitchen": (["chef knife", "cast iron skillet", "cutting board", "dutch oven", "mixing bowls"],
                ["japanese steel", "pre-seasoned", "walnut", "enameled", "nesting"]),
    "gaming": (["mechanical keyboard", "gaming mouse", "headset", "controller", "mouse pad"],
               ["rgb", "wireless", "low-latency", "ergonomic", "extended"]),
    "gardening": (["tomato seeds", "pruning shears", "raised bed", "watering can", "compost bin"],
                  ["heirloom", "bypass", "cedar", "galvanized", "rotating"]),
    "yoga": (["yoga mat", "yoga blocks", "meditation cushion", "yoga strap", "yoga leggings"],
             ["non-slip", "cork", "buckwheat", "cotton", "high-waisted"]),
    "photography": (["prime lens", "camera tripod", "camera bag", "memory card", "lens filter"],
                    ["fast aperture", "travel", "weatherproof", "high-speed", "polarizing"]),
    "baby": (["baby stroller", "baby carrier", "crib mattress", "baby monitor", "diaper bag"],
             ["foldable", "ergonomic", "organic", "video", "backpack"]),
    "tea": (["green tea", "oolong tea", "tea kettle", "tea infuser", "matcha whisk"],
            ["loose leaf", "roasted", "glass", "fine mesh", "bamboo"]),
}


def main():
    rng = random.Random(2024)
    lines = []
    for dept, (products, adjectives) in DEPARTMENTS.items():
        combos = [(a, p) for p in products for a in adjectives]
        rng.shuffle(combos)
        for i, (adj, prod) in enumerate(combos[:20]):
            item = {
                "item_id": f"{dept}-{i:03d}",
                "title": f"{adj.capitalize()} {prod}",
                "text": f"A {adj} {prod} from our {dept} department. "
                        f"Loved by customers who enjoy {dept}.",
                "tags": [dept, prod.split()[-1]],
            }
            lines.append(json.dumps(item, ensure_ascii=False))
    with open("data/demo_catalog.jsonl", "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
