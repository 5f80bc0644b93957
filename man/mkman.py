#!/usr/bin/env python3
"""Make a man page from a markdown template that pulls sections of README.md.

The README is the one source of the reference text (commands, tables, the
configuration keys); a template (man/*.md) only adds what a man page has and
the README has not: NAME, SYNOPSIS, FILES, SEE ALSO. A template line

    @include "## Heading" [from "TEXT"] [until "TEXT"]

is replaced by the body of that README section (below its heading, up to the
next heading of the same or a higher level), starting at the first line that
begins with the `from` text and stopping before the first line that begins
with the `until` text. A heading, `from` or `until` text that is not found
stops the build: a renamed README section must not leave a man page empty.

Usage: mkman.py TEMPLATE README VERSION_HEADER OUTPUT
"""
import os
import re
import shlex
import sys


def fail(msg):
    sys.exit(f"mkman: {msg}")


def section(readme, heading, start, until):
    level = len(heading) - len(heading.lstrip("#"))
    lines = readme.splitlines()
    try:
        i = lines.index(heading) + 1
    except ValueError:
        fail(f"README has no heading '{heading}'")
    body, fence = [], False
    for line in lines[i:]:
        if line.startswith("```"):
            fence = not fence
        m = re.match(r"(#+) ", line)
        if not fence and m and len(m.group(1)) <= level:
            break
        body.append(line)
    if start is not None:
        at = [k for k, ln in enumerate(body) if ln.startswith(start)]
        if not at:
            fail(f"README section '{heading}' has no line starting '{start}'")
        body = body[at[0]:]
    if until is not None:
        at = [k for k, ln in enumerate(body) if ln.startswith(until)]
        if not at:
            fail(f"README section '{heading}' has no line starting '{until}'")
        body = body[: at[0]]
    return body


def expand(template, readme):
    out = []
    for line in template.splitlines():
        if not line.startswith("@include "):
            out.append(line)
            continue
        words = shlex.split(line[len("@include "):])
        heading, start, until = words[0], None, None
        rest = words[1:]
        while rest:
            if len(rest) < 2 or rest[0] not in ("from", "until"):
                fail(f"bad directive: {line}")
            if rest[0] == "from":
                start = rest[1]
            else:
                until = rest[1]
            rest = rest[2:]
        out.extend(section(readme, heading, start, until))
    return out


def esc(text):
    """Roff-escape plain text (no markup)."""
    text = text.replace("\\", "\\e")
    return text


def breakable(text):
    """Let long words (paths, key lists, metric names) break after / , _ . | = & ? -:
    a narrow table column cannot hold them whole."""
    def split(m):
        word = re.sub(r"([/,_.|=&?-])(?=.)", r"\1\\:", m.group(0))
        return re.sub(r"(?<=[a-z])(?=[A-Z])", r"\\:", word)  # camelCase names

    return re.sub(r"\S{11,}", split, text)


def inline(text):
    """Markdown inline markup to roff: `code`, **bold**, *italic*, [text](link)."""
    parts = re.split(r"(`[^`]*`)", text)
    res = []
    for p in parts:
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            # \: lets a long path or list break after a / , _ or |
            code = breakable(esc(p[1:-1])).replace("-", "\\-")
            res.append("\\fB" + code + "\\fR")
            continue
        p = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", p)
        p = breakable(esc(p))
        p = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", p)
        p = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", p)
        res.append(p)
    return "".join(res)


def line_out(text):
    """A text line that roff must not take for a request."""
    text = text.strip()
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


# What a table may take, in ens: an 80-column terminal less the page's indent.
TABLE_WIDTH = 72


def table(rows):
    """A markdown table as tbl. Short columns keep their natural width; long
    ones are text blocks sharing what is left of the line by their length."""
    # "\\|" is a | inside a cell
    cells = [[c.strip().replace("\0", "|") for c in r.replace("\\|", "\0").strip().strip("|").split("|")]
             for r in rows]
    # The second row is the |---|---| separator.
    head, body = cells[0], cells[2:]
    n = len(head)
    body = [(r + [""] * n)[:n] for r in body]
    plain = [[re.sub(r"[`*]", "", c) for c in r] for r in [head] + body]
    longest = [max(len(r[k]) for r in plain) for k in range(n)]
    # Text blocks only when the natural widths do not fit: longest columns first.
    wide = [False] * n
    for k in sorted(range(n), key=lambda k: -longest[k]):
        natural = sum(w for w, x in zip(longest, wide) if not x)
        if natural + 3 * n <= TABLE_WIDTH - 16 * sum(wide):
            break
        wide[k] = True
    left = TABLE_WIDTH - 3 * n - sum(w for w, x in zip(longest, wide) if not x)
    # weights capped, so that one long column does not starve the others
    weight = [min(w, 40) for w in longest]
    share = sum(w for w, x in zip(weight, wide) if x) or 1
    width = [max(12, left * w // share) if x else 0 for w, x in zip(weight, wide)]

    def cell(k, text):
        text = line_out(inline(text))
        return "T{\n" + text + "\nT}" if wide[k] else text

    fmt = ["l" + ("w(%dn)" % width[k] if wide[k] else "") for k in range(n)]
    out = [".TS", "allbox tab(\t);", " ".join(f.replace("l", "lb", 1) for f in fmt),
           " ".join(fmt) + "."]
    out.append("\t".join(cell(k, c) for k, c in enumerate(head)))
    for r in body:
        out.append("\t".join(cell(k, c) for k, c in enumerate(r)))
    out.append(".TE")
    return out


def to_roff(md, name, section_no, version):
    # The first line asks man for tbl; no date: the page is the same in every build.
    out = ["'\\\" t", '.TH "%s" "%s" "" "kvmpilot %s" "kvmpilot"' % (name.upper(), section_no, version),
           # ragged right and no hyphenation: tables and long option names read better
           ".ad l", ".nh"]
    i, para = 0, []

    def flush():
        if para:
            out.append(".PP")
            out.extend(line_out(inline(p)) for p in para)
            para.clear()

    while i < len(md):
        line = md[i]
        if line.startswith("```"):
            flush()
            out += [".PP", ".RS 4", ".nf"]
            i += 1
            while i < len(md) and not md[i].startswith("```"):
                out.append("\\&" + esc(md[i]).replace("-", "\\-"))
                i += 1
            out += [".fi", ".RE"]
            i += 1
            continue
        m = re.match(r"(#+) (.*)", line)
        if m:
            flush()
            title = inline(m.group(2))
            out.append((".SH " if len(m.group(1)) <= 2 else ".SS ") + '"' + title + '"')
            i += 1
            continue
        if line.startswith("|"):
            flush()
            rows = []
            while i < len(md) and md[i].startswith("|"):
                rows.append(md[i])
                i += 1
            out += table(rows)
            continue
        m = re.match(r"(\s*)(- |\d+\. )(.*)", line)
        if m and not m.group(1):
            flush()
            mark = "\\(bu" if m.group(2) == "- " else m.group(2).strip()
            item = [m.group(3)]
            indent = len(m.group(1)) + len(m.group(2))
            i += 1
            while (i < len(md) and md[i].strip() and
                   md[i].startswith(" " * min(indent, 2)) and
                   not re.match(r"\s*(- |\d+\. )", md[i])):
                item.append(md[i])
                i += 1
            out.append('.IP "%s" 4' % mark)
            out.extend(line_out(inline(x)) for x in item)
            continue
        if not line.strip():
            flush()
        else:
            para.append(line)
        i += 1
    flush()
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 5:
        fail("usage: mkman.py TEMPLATE README VERSION_HEADER OUTPUT")
    tpl_path, readme_path, hdr_path, out_path = sys.argv[1:]
    with open(tpl_path, encoding="utf-8") as f:
        template = f.read()
    with open(readme_path, encoding="utf-8") as f:
        readme = f.read()
    with open(hdr_path, encoding="utf-8") as f:
        m = re.search(r'#define\s+KVMPILOT_VERSION\s+"([^"]+)"', f.read())
    if not m:
        fail(f"no KVMPILOT_VERSION in {hdr_path}")
    # man/kvmpilot.conf.5.md -> name kvmpilot.conf, section 5
    base = tpl_path.rsplit("/", 1)[-1][: -len(".md")]
    name, section_no = base.rsplit(".", 1)
    roff = to_roff(expand(template, readme), name, section_no, m.group(1))
    with open(out_path + ".tmp", "w", encoding="utf-8") as f:
        f.write(roff)
    os.replace(out_path + ".tmp", out_path)


if __name__ == "__main__":
    main()
