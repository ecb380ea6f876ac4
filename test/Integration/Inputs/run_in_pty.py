"""Runs a command with its stdout and stderr on a pseudo-terminal (as in an
interactive shell) and prints what it wrote, with the terminal controls
made visible: "\\r\\x1b[K" (return, erase the line) as <ERASE>, a "\\r" alone
as <CR>; "\\r\\n" is a line end.

usage: run_in_pty.py COMMAND ARGS..."""
import os
import pty
import subprocess
import sys

master, slave = pty.openpty()
proc = subprocess.Popen(sys.argv[1:], stdout=slave, stderr=slave)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the other side closed
        break
    if not chunk:
        break
    out += chunk
rc = proc.wait()
text = out.decode().replace("\r\n", "\n").replace("\r\x1b[K", "<ERASE>").replace("\r", "<CR>")
sys.stdout.write(text)
if not text.endswith("\n"):
    sys.stdout.write("<END>\n")
print("exit %d" % rc)
