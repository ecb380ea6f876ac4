"""What ties a manifest.json to its library, for tests that write or edit
manifests by hand (what dualpipe-compile does through
runtime/include/dualpipe/Runtime/Manifest.h):

  abi(m)            the "abi" text of manifest m (a dict): every entry
                    point's signature, as Manifest::abiSignature() writes it
  c_definition(m)   C source defining `const char dualpipe_step_abi[]` with
                    that text, for a library built by the test
  seal(dir)         rewrites DIR/manifest.json with the library's size and
                    SHA-256 and the abi text of the manifest as it now is

usage: manifest_seal.py seal DIR | manifest_seal.py check DIR
  seal   as seal(dir)
  check  exits 1 unless DIR/manifest.json's abi is abi() of it (the C++
         and this implementation agree) and its library's hash matches
"""
import hashlib
import json
import os
import sys


def tensor_type(a):
    return "%s[%s]" % (a["dtype"], "x".join(str(d) for d in a["shape"]))


def signature(name, args):
    return name + "(" + ", ".join(
        "%s %s %s" % (a["role"], a["name"], tensor_type(a)) for a in args) + ")"


def abi(m):
    args = list(m["arguments"])
    if m.get("mode") != "train":
        args += [dict(o, role="output", name="output%d" % i)
                 for i, o in enumerate(m.get("outputs", []))]
    parts = [signature(e, args) for e in m["entry_points"]]
    if m.get("reference_entry_point"):
        parts.append(signature(m["reference_entry_point"], args))
    if "optimizer" in m:
        parts.append(signature(m["optimizer"]["entry_point"],
                               m["optimizer"]["arguments"]))
    return ";".join(parts)


def c_definition(m):
    text = "".join(
        chr(b) if 0x20 <= b < 0x7f and chr(b) not in '"\\?' else "\\%03o" % b
        for b in abi(m).encode())
    return 'const char dualpipe_step_abi[] = "%s";\n' % text


def library_fields(path):
    data = open(path, "rb").read()
    return {"library_bytes": len(data),
            "library_sha256": hashlib.sha256(data).hexdigest()}


def seal(step_dir):
    path = os.path.join(step_dir, "manifest.json")
    m = json.load(open(path))
    m.update(library_fields(os.path.join(step_dir, m["library"])))
    m["abi"] = abi(m)
    with open(path, "w") as f:
        json.dump(m, f, indent=2, sort_keys=True)
        f.write("\n")
    return m


if __name__ == "__main__":
    command, step_dir = sys.argv[1], sys.argv[2]
    if command == "seal":
        seal(step_dir)
    elif command == "check":
        m = json.load(open(os.path.join(step_dir, "manifest.json")))
        lib = library_fields(os.path.join(step_dir, m["library"]))
        ok = m["abi"] == abi(m) and all(m[k] == v for k, v in lib.items())
        print("abi and library hash agree" if ok else "MISMATCH")
        sys.exit(0 if ok else 1)
    else:
        sys.exit("usage: manifest_seal.py seal|check DIR")
