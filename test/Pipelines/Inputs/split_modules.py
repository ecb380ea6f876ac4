"""Splits the modules dualpipe-compile --emit=mlir prints (one after the
other, each from a line starting with 'module' to its closing '}') into
the files given, in order. Fails if the counts differ."""
import sys

text = open(sys.argv[1]).read().splitlines(keepends=True)
modules, current = [], None
for line in text:
    if line.startswith("module"):
        current = []
        modules.append(current)
    if current is None:
        sys.exit("split_modules: text before the first module")
    current.append(line)
outputs = sys.argv[2:]
if len(modules) != len(outputs):
    sys.exit(f"split_modules: {len(modules)} modules, {len(outputs)} files")
for path, lines in zip(outputs, modules):
    open(path, "w").write("".join(lines))
