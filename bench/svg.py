"""Tiny SVG charts for bench/report.py (no matplotlib)."""
import math

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
          "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _nice_max(v):
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def _header(w, h, title):
    return ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">' % (w, h, w, h),
            '<rect width="100%" height="100%" fill="white"/>',
            '<text x="%d" y="20" text-anchor="middle" font-size="14" '
            'font-weight="bold">%s</text>' % (w / 2, _esc(title))]


def _legend(out, names, x, y):
    for i, n in enumerate(names):
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                   % (x, y + 18 * i, COLORS[i % len(COLORS)]))
        out.append('<text x="%d" y="%d">%s</text>' % (x + 18, y + 18 * i + 11, _esc(n)))


def line_chart(series, title, xlabel, ylabel, logy=False, w=720, h=420):
    """series: list of (name, [(x, y), ...]); x numeric."""
    L, R, T, B = 70, 190, 35, 50
    pw, ph = w - L - R, h - T - B
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts if y is not None]
    x0, x1 = min(xs), max(xs)
    if x0 == x1:
        x1 = x0 + 1
    if logy:
        lo = 10 ** math.floor(math.log10(max(min(ys), 1e-12)))
        hi = 10 ** math.ceil(math.log10(max(ys)))
        fy = lambda y: T + ph - ph * (math.log10(y) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        ticks = [lo * 10 ** k for k in range(int(round(math.log10(hi / lo))) + 1)]
    else:
        hi = _nice_max(max(ys))
        fy = lambda y: T + ph - ph * y / hi
        ticks = [hi * k / 5 for k in range(6)]
    fx = lambda x: L + pw * (x - x0) / (x1 - x0)
    out = _header(w, h, title)
    for t in ticks:
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, L + pw, fy(t), fy(t)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 5, fy(t) + 4, "%g" % t))
    for x in sorted(set(xs)):
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (fx(x), T + ph + 16, "%g" % x))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (L, T, pw, ph))
    out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % (L + pw / 2, h - 10, _esc(xlabel)))
    out.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>' % (T + ph / 2, _esc(ylabel)))
    for i, (name, pts) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        pts = [(x, y) for x, y in pts if y is not None]
        if not pts:
            continue
        d = " ".join("%s%.1f,%.1f" % ("M" if j == 0 else "L", fx(x), fy(y)) for j, (x, y) in enumerate(pts))
        out.append('<path d="%s" fill="none" stroke="%s" stroke-width="2"/>' % (d, c))
        for x, y in pts:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (fx(x), fy(y), c))
    _legend(out, [n for n, _ in series], L + pw + 15, T + 5)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def bar_chart(groups, names, values, title, ylabel, w=760, h=420):
    """groups: x labels; names: series; values[g][s] (None = missing)."""
    L, R, T, B = 70, 170, 35, 55
    pw, ph = w - L - R, h - T - B
    hi = _nice_max(max(v for row in values for v in row if v is not None))
    fy = lambda y: T + ph - ph * y / hi
    out = _header(w, h, title)
    for k in range(6):
        t = hi * k / 5
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, L + pw, fy(t), fy(t)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 5, fy(t) + 4, "%g" % t))
    gw = pw / len(groups)
    bw = gw * 0.8 / len(names)
    for g, label in enumerate(groups):
        gx = L + g * gw + gw * 0.1
        for s in range(len(names)):
            v = values[g][s]
            if v is None:
                continue
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                       % (gx + s * bw, fy(v), bw * 0.95, T + ph - fy(v), COLORS[s % len(COLORS)]))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (L + g * gw + gw / 2, T + ph + 16, _esc(label)))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (L, T, pw, ph))
    out.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>' % (T + ph / 2, _esc(ylabel)))
    _legend(out, names, L + pw + 15, T + 5)
    out.append("</svg>")
    return "\n".join(out) + "\n"
