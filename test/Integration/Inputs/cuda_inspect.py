"""Inspects a step.so built with dualpipe-compile --target=cuda, without a GPU.

Usage: cuda_inspect.py STEP.so LIBDIR [--load]

Prints the embedded CUDA objects (ELF files with the CUDA OS/ABI: machine
EM_CUDA, the SM architecture from e_flags) and, with --load, the no-device
status of libdualpipe_runtime_cuda and whether step.so loads (its global
constructors load every cubin through mgpuModuleLoad).
"""
import ctypes
import os
import struct
import sys

EM_CUDA = 190


def cubins(data):
    found = []
    start = 0
    while True:
        i = data.find(b"\x7fELF\x02\x01\x01\x41", start)  # ELFOSABI_CUDA
        if i < 0:
            return found
        start = i + 1
        machine = struct.unpack_from("<H", data, i + 18)[0]
        flags = struct.unpack_from("<I", data, i + 48)[0]
        abi = data[i + 8]
        # CUDA ELF ABI version 8 keeps the SM in bits 8..15 of e_flags; older
        # ones in bits 0..7.
        sm = (flags >> 8) & 0xFF if abi >= 8 else flags & 0xFF
        found.append((machine, sm))


def main():
    step, libdir = sys.argv[1], sys.argv[2]
    with open(step, "rb") as f:
        objects = cubins(f.read())
    machines = sorted({m for m, _ in objects})
    sms = sorted({s for _, s in objects})
    print("embedded CUDA objects:", len(objects) > 0)
    print("machines:", " ".join("EM_CUDA" if m == EM_CUDA else str(m) for m in machines))
    print("architectures:", " ".join("sm_%d" % s for s in sms))
    if "--load" in sys.argv:
        rt = ctypes.CDLL(os.path.join(libdir, "libdualpipe_runtime_cuda.so"))
        message = ctypes.create_string_buffer(512)
        status = rt.dualpipe_cuda_device_status(message, 512)
        print("device status:", status, message.value.decode())
        print("nccl version:", rt.dualpipe_cuda_nccl_version())
        print("cublas version:", rt.dualpipe_cuda_cublas_version())
        ctypes.CDLL(step)
        print("step.so loaded")


if __name__ == "__main__":
    main()
