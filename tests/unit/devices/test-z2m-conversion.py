#!/usr/bin/env python3
"""Our conversion of the frames in z2m/cases.json vs. Zigbee2MQTT's (z2m/z2m-output.json, produced
by z2m/convert.js from zigbee-herdsman-converters 26.105.0): the same keys, types and values."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    tool = sys.argv[1]
    ours = json.loads(subprocess.run([tool, os.path.join(HERE, "z2m", "cases.json")], check=True,
                                     capture_output=True, text=True).stdout)
    with open(os.path.join(HERE, "z2m", "z2m-output.json")) as f:
        theirs = json.load(f)
    failures = 0
    if len(ours) != len(theirs):
        print(f"{len(ours)} cases converted, Zigbee2MQTT has {len(theirs)}")
        return 1
    for a, b in zip(ours, theirs):
        # same keys, and each value of the same JSON type and value (bool is not a number here)
        same = a["payload"].keys() == b["payload"].keys() and all(
            type(a["payload"][k]) is type(b["payload"][k]) or
            (isinstance(a["payload"][k], (int, float)) and isinstance(b["payload"][k], (int, float))
             and not isinstance(a["payload"][k], bool) and not isinstance(b["payload"][k], bool))
            for k in a["payload"]) and all(a["payload"][k] == b["payload"][k] for k in a["payload"])
        if not same:
            print(f"{a['name']}:\n  ours {json.dumps(a['payload'], sort_keys=True)}\n  z2m  {json.dumps(b['payload'], sort_keys=True)}")
            failures += 1
    print(f"{len(ours) - failures} of {len(ours)} cases convert as Zigbee2MQTT does")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
