"""Builds Zigbee OTA upgrade files (ZCL spec 11.4) for the tests, good ones and each kind of bad
one. The defaults are the ZNCZ04LM's: manufacturer 0x115F, image type 0x4018, the header string
of the real images (zigbee-OTA: 'ROUTERX-----JN5180--ENCRYPTED000')."""
import random
import struct

LUMI = 0x115F
PLUG_IMAGE_TYPE = 0x4018
IDENTIFIER = 0x0BEEF11E


def build(version, payload_size=4000, manufacturer=LUMI, image_type=PLUG_IMAGE_TYPE, header_version=0x0100,
          field_control=0, header_length=None, total_size=None, extra=b"", elements=None, seed=1,
          hw=(None, None), prefix=b""):
    """Returns the bytes of an OTA file: header (+ optional fields of field_control), then one
    upgrade image sub-element (tag 0) of payload_size pseudo-random bytes, unless elements (a
    list of (tag, data)) is given. header_length / total_size override the computed values;
    extra is appended after everything (not counted)."""
    opt = b""
    if field_control & 1:
        opt += b"\x01"
    if field_control & 2:
        opt += struct.pack("<Q", 0x00158D0001A2B301)
    if field_control & 4:
        lo, hi = hw
        opt += struct.pack("<HH", lo if lo is not None else 0, hi if hi is not None else 0xFFFF)
    rnd = random.Random(seed)
    if elements is None:
        elements = [(0, bytes(rnd.getrandbits(8) for _ in range(payload_size)))]
    body = b"".join(struct.pack("<HI", tag, len(data)) + data for tag, data in elements)
    hlen = 56 + len(opt) if header_length is None else header_length
    total = hlen + len(body) if total_size is None else total_size
    header = struct.pack("<IHHHHHIH32sI", IDENTIFIER, header_version, hlen, field_control, manufacturer,
                         image_type, version, 2, b"ROUTERX-----JN5180--ENCRYPTED000", total)
    return prefix + header + opt + body + extra


def bad_images(version):
    """(name, bytes, words expected in the error) for each kind of bad image."""
    good = build(version)
    return [
        ("not-ota.ota", bytes(range(256)) * 8, "not an OTA file"),
        ("empty.ota", b"", "empty file"),
        ("short-header.ota", good[:40], "truncated"),
        ("truncated.ota", good[:len(good) - 100], "truncated"),
        ("trailing.ota", build(version, extra=b"\0" * 10), "size mismatch"),
        ("header-version.ota", build(version, header_version=0x0200), "header version 0x0200"),
        ("header-length.ota", build(version, field_control=4, header_length=56), "header length 56"),
        ("field-control.ota", build(version, field_control=0x10), "field control 0x0010"),
        ("element-overflow.ota", build(version, elements=[(0, b"x" * 100)])[:-50] + b"", "truncated"),
        ("element-length.ota", build(version, elements=[(0, b"x" * 100)], total_size=56 + 6 + 60)[:56 + 6 + 60],
         "sub-element 0x0000"),
        ("no-element.ota", build(version, elements=[]), "no sub-element"),
    ]
