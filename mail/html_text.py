"""HTML mail bodies to plain text for snippets: a linear pre-pass keeps only bare,
terminated tags (html.parser, under html2text, is quadratic on unterminated constructs),
then html2text renders what is left without links, images, emphasis or tables."""

from __future__ import annotations

import re

import html2text

MAX_HTML = 64 * 1024  # characters of bare-tag HTML handed to html2text...
MAX_TEXT = 3000  # ...holding at most this much text (ten snippets of mail/parse.py)
MAX_INDENTING = 32  # list/quote tags kept: html2text indents each level, output grows as n^2
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_TAG = re.compile(r"(/?)([a-zA-Z][a-zA-Z0-9:-]*)")
_INDENTING = ("ul", "ol", "dl", "dd", "blockquote")
_RAW_END = {n: re.compile(rf"</{n}[\s/>]", re.I) for n in ("script", "style", "title", "template")}
_HIDDEN = ("head", *_RAW_END)


def _strip_html(html: str) -> str:
    """Linear pre-pass for html2text (html.parser is quadratic on unterminated constructs):
    only bare, terminated tags remain; comments, declarations and the contents of
    script/style/title/template go; a stray "<" becomes text; size and nesting are capped."""
    out: list[str] = []
    pos, size, next_gt, budget, text, indenting = 0, len(html), -1, MAX_HTML, 0, 0
    while pos < size and budget > 0 and text < MAX_TEXT:
        lt = html.find("<", pos)
        lt = size if lt < 0 else lt
        chunk = html[pos:lt][:MAX_TEXT]
        out.append(chunk)
        budget, text, pos = budget - len(chunk), text + len(chunk.strip()), lt
        tag = _TAG.match(html, lt + 1)
        if lt == size or html.startswith("<!--", lt):
            end = html.find("-->", lt + 4)
            pos = size if end < 0 else end + 3
            continue
        if not tag and not html.startswith(("<!", "<?", "</"), lt):
            out.append("&lt;")
            pos, budget, text = lt + 1, budget - 4, text + 1
            continue
        if next_gt <= lt:  # shared by every "<" before it: linear even with no ">" at all
            next_gt = html.find(">", lt)
            next_gt = size if next_gt < 0 else next_gt
        pos = next_gt + 1
        if not tag or next_gt == size:
            continue  # declaration, bogus comment or unterminated tag: dropped
        closing, name = tag[1], tag[2].lower()
        name = "p" if name in ("h1", "h2", "h3", "h4", "h5", "h6") else name  # no "# " marks
        indenting += name in _INDENTING
        if name in _HIDDEN:  # never handed over: html2text hides all text after a stray end
            if name in _RAW_END and not closing:
                end = _RAW_END[name].search(html, pos)
                pos = end.start() if end else size
        elif name not in _INDENTING or indenting <= MAX_INDENTING:
            out.append(f"<{closing}{name}>" + (" " if name in ("td", "th") else ""))
            budget -= len(name) + 4
    return "".join(out)


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text(bodywidth=0)
    for option in ("ignore_links", "ignore_images", "ignore_emphasis", "ignore_tables"):
        setattr(converter, option, True)
    converter.unicode_snob = True
    cleaned = _strip_html(html)
    try:
        return _MD_ESCAPE.sub(r"\1", converter.handle(cleaned))
    except Exception:
        return re.sub(r"<[^<>]*>", " ", cleaned)
