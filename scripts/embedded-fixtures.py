"""Writes the records the embedded fixture program reads (Embedded/FixtureRoundTrip) to stdout:
every fixture of Tests/AMQPCodecTests/FixtureTests.swift (kind 0 when the encoder must write
exactly those bytes, kind 1 when they are a legal larger encoding), then the Event Hubs message of
Embedded/Fixtures/eh-message.hex (kind 2). A record is its kind byte, a 4-byte little-endian
length and the bytes. Fails when a fixture cannot be read, so a new fixture form is not dropped
silently.

    python3 scripts/embedded-fixtures.py > records
"""
import pathlib
import re
import struct
import sys

root = pathlib.Path(__file__).resolve().parent.parent
swift = (root / "Tests/AMQPCodecTests/FixtureTests.swift").read_text()
table = swift[swift.index("let fixtures: [Fixture] = ["):]

# Fixture("name", "hex" + "hex"…, value[, canonical: false])
head = re.compile(r'Fixture\("((?:[^"\\]|\\.)*)",\s*((?:"[0-9a-fA-F]*"\s*(?:\+\s*)?)+),')
starts = [m.start() for m in re.finditer(r"\bFixture\(", table)]
records = []
for i, start in enumerate(starts):
    segment = table[start:starts[i + 1] if i + 1 < len(starts) else len(table)]
    match = head.match(segment)
    if not match:
        sys.exit(f"embedded-fixtures: cannot read the fixture at {segment[:80]!r}")
    hex_text = "".join(re.findall(r'"([0-9a-fA-F]*)"', match.group(2)))
    kind = 1 if "canonical: false" in segment else 0
    records.append((kind, bytes.fromhex(hex_text)))

message = "".join((root / "Embedded/Fixtures/eh-message.hex").read_text().split())
records.append((2, bytes.fromhex(message)))

if len(records) < 50:
    sys.exit(f"embedded-fixtures: only {len(records)} records; the fixture table has moved")
out = sys.stdout.buffer
for kind, data in records:
    out.write(struct.pack("<BI", kind, len(data)))
    out.write(data)
print(f"embedded-fixtures: {len(records)} records", file=sys.stderr)
