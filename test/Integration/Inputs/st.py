"""Minimal safetensors reading and writing in pure Python (float32 only).

An independent implementation for the integration tests, so that numbers the
project computes are checked against numbers computed without it.
"""
import json
import struct


def write_blobs(path, tensors):
    """tensors: name -> (shape, its float32 values as little-endian bytes)."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        shape, blob = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write(path, tensors):
    """tensors: name -> (shape, flat list of floats)."""
    write_blobs(path, {name: (shape, struct.pack("<%df" % len(values), *values))
                       for name, (shape, values) in tensors.items()})


def read_blobs(path):
    """Returns name -> (shape, its float32 values as little-endian bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        assert spec["dtype"] == "F32", spec
        begin, end = spec["data_offsets"]
        out[name] = (spec["shape"], body[begin:end])
    return out


def read(path):
    """Returns name -> (shape, flat list of floats)."""
    return {name: (shape, list(struct.unpack("<%df" % (len(blob) // 4), blob)))
            for name, (shape, blob) in read_blobs(path).items()}
