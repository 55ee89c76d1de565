"""What feedparser reads from feed files: one JSON line per file, for tests/it/feedparser.rs.

Usage: python dump.py BASE_URL < list-of-paths

Reads the paths (one per line) from stdin, parses each file with feedparser as if it had
been fetched from BASE_URL (its Content-Location, so relative links resolve the way ours
do), and prints, per file, in input order:

    {"path": ..., "items": [{"link": ..., "title": ...}, ...], "error": null | "..."}

`link` is feedparser's `entry.link` (which is the permalink guid when there is no link),
`title` its `entry.title`, both null when absent. One process for every file: feedparser's
import costs more than most parses.
"""

import io
import json
import sys

import feedparser


def entries(path, base):
    with open(path, "rb") as f:
        data = f.read()
    headers = {"content-location": base}
    # feedparser reads JSON Feed only when the server says it is JSON.
    if path.endswith(".json"):
        headers["content-type"] = "application/feed+json"
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    return [{"link": e.get("link"), "title": e.get("title")} for e in parsed.entries]


def main():
    base = sys.argv[1]
    out = sys.stdout
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        record = {"path": path, "items": [], "error": None}
        try:
            record["items"] = entries(path, base)
        except Exception as e:  # a feedparser crash is a figure, not a test failure
            record["error"] = f"{type(e).__name__}: {e}"
        out.write(json.dumps(record) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
